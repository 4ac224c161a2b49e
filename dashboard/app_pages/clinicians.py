"""Clinicians & clinics: risk-adjusted funnel plots and control charts per clinic, read in plain words; no ranking."""

import streamlit as st

from charts import labels, model_figures
from dashboard import data
from dashboard.app_pages import _common as ui

READING = (
    "**How to read a funnel plot.** Each point is one clinician (or clinic). Its height is observed ÷ expected side "
    "effects, where *expected* comes from its own patients' skin types, indications, areas, pre-care and session "
    "numbers, and the crystal and device used. Clinicians are compared with colleagues in their own clinic, so a "
    "clinic's level (from whatever no export records) is not held against them; clinics are compared with the "
    "network. Points with few expected events sit to the left, where the funnel is wide because chance alone "
    "moves them a lot. A point **inside the lines** is consistent with its case mix. A point above the upper line "
    "had more side effects than its case mix predicts, beyond chance; below the lower line, fewer. Points are not "
    "ranked, and a point outside the lines is a reason to look closer, not a verdict."
)

src, f = ui.context()
st.title("Clinicians & clinics")
summary = data.funnel_summaries(src)
if not ui.models_ready(summary, data.NETWORK):
    st.stop()
st.info(READING, icon=":material/help:")

for unit_type, clinic, highlight in (
    ("clinician", f.clinic_id, f.clinician_id),
    ("clinic", None, f.clinic_id),
):
    units, limits = data.funnel(src, unit_type, clinic)
    ui.chart(
        f"{unit_type.capitalize()}s: side effects against case mix",
        f"Observed ÷ expected side effects per "
        f"{unit_type} against expected events, with 95% (dashed) and 99.8% (solid) limits; diamonds lie outside "
        "the 99.8% limits and a ringed point is the one selected in the sidebar.",
        model_figures.funnel,
        units,
        f"clinicians_funnel_{unit_type}",
        highlight=highlight,
        limits=limits,
    )
    for row in summary[summary["unit_type"] == unit_type].to_dict("records"):
        st.caption(" ".join(labels.funnel_words(row)))
        for note in row["notes"] if row["notes"] is not None else []:
            st.caption(f"{unit_type.capitalize()} funnel: {note}")

st.subheader("Control charts per month")
st.caption(
    "A control chart shows whether a month is within the usual range of variation. Grey lines are the "
    "centre and the control limits; an orange diamond marks a special cause (a point beyond the limits, "
    "a run of 8 on one side, a trend of 6 or 2 of 3 near a limit) worth investigating."
)
left, right = st.columns(2)
with left:
    ui.chart(
        "Side-effect rate (Laney p′ chart)",
        "Monthly side-effect rate per clinic with its centre line and "
        "3-sigma limits adjusted for month-to-month variation.",
        model_figures.spc,
        data.spc_points(src, f.clinic_id, "side_effects_p_prime"),
        "clinicians_spc_side_effects",
        percent=True,
    )
with right:
    ui.chart(
        "Mean satisfaction (XmR chart)",
        "Monthly mean rating (1–5) per clinic with its centre line and "
        "3-sigma limits from the month-to-month moving range.",
        model_figures.spc,
        data.spc_points(src, f.clinic_id, "satisfaction_xmr"),
        "clinicians_spc_satisfaction",
        percent=False,
    )
st.caption(
    "Funnels and control charts are fitted on all months of the whole network; only the clinic filter "
    "(and the clinician highlight) applies here."
)
