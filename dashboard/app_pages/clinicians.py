"""Clinicians & clinics: risk-adjusted funnel plots and control charts per clinic, read in plain words; no ranking."""

import streamlit as st

from charts import annotate, labels, model_figures
from dashboard import data, userdata
from dashboard.app_pages import _common as ui
from dashboard.app_pages import _drill as drill

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

SPC_READING = (
    "Each point is a month. **Grey** points vary as usual (common cause). **Blue** points are a special cause "
    "for the better and **orange** ones for the worse: a month beyond a control limit, 7 months in a row on one "
    "side of the centre line, 7 months each higher (or lower) than the one before, or 2 of 3 months close to a "
    "limit. Special causes are reasons to look and turn up by chance in a few per cent of months. The **red "
    "triangle** is an alert: after allowing for the patients treated, side effects (or answers of 1–3) have run "
    "above the clinic's own usual level for long enough that chance alone would do this about once in 30 years "
    "per chart. An alert asks the manager to investigate. Limits restart where a change to the process is recorded."
)

src, f = ui.context()
st.title("Clinicians & clinics")
summary = data.funnel_summaries(src)
if not ui.models_ready(summary, data.NETWORK):
    st.stop()
st.info(READING, icon=":material/help:")

user = ui.user()
picks = []
for unit_type, clinic, highlight in (
    ("clinician", f.clinic_id, f.clinician_id),
    ("clinic", None, f.clinic_id),
):
    units, limits = data.funnel(src, unit_type, clinic)
    title = f"{unit_type.capitalize()}s: side effects against case mix"
    caption = (
        f"Observed ÷ expected side effects per {unit_type} against expected events, with 95% (dashed) and "
        "99.8% (solid) limits; diamonds lie outside the 99.8% limits and a ringed point is the one selected in "
        "the sidebar."
    )
    if units.empty:
        ui.chart(title, caption, model_figures.funnel, units, f"clinicians_funnel_{unit_type}")
    else:
        fig = model_figures.funnel(units, highlight=highlight, limits=limits)
        points = drill.selectable(title, caption, fig, f"clinicians_funnel_{unit_type}")
        picks.append(
            drill.from_funnel(points, unit_type, dict(zip(units["unit"], units["clinic_id"], strict=True)))
        )
    for row in summary[summary["unit_type"] == unit_type].to_dict("records"):
        st.caption(" ".join(labels.funnel_words(row)))
        for note in row["notes"] if row["notes"] is not None else []:
            st.caption(f"{unit_type.capitalize()} funnel: {note}")
drill.panel(user, src, next((p for p in picks if p), None), "clinicians_funnel_drill")

st.subheader("Control charts per month")
st.caption(SPC_READING)
spc_picks = []
for chart, percent, title, caption in (
    (
        "side_effects_p_prime",
        True,
        "Side-effect rate (Laney p′ chart)",
        "Monthly side-effect rate per clinic with its centre line and 3-sigma limits (adjusted for "
        "month-to-month variation); the icons say what the latest month shows; purple lines are notes, solid "
        "ones process changes (the limits restart there).",
    ),
    (
        "satisfaction_xmr",
        False,
        "Mean satisfaction (XmR chart)",
        "Monthly mean rating (1–5) per clinic with its centre line and 3-sigma limits from the "
        "month-to-month moving range; the alert counts answers of 1–3; purple lines are notes.",
    ),
):
    points = data.spc_points(src, f.clinic_id, chart)
    if points.empty:
        ui.chart(title, caption, model_figures.spc, points, f"clinicians_spc_{chart}")
        continue
    units = list(dict.fromkeys(points["unit"]))
    notes = {unit: userdata.chart_notes(user, unit) for unit in units}
    fig = annotate.spc_with_notes(points, percent, notes)
    spc_picks.append(
        drill.from_spc(drill.selectable(title, caption, fig, f"clinicians_spc_{chart}"), fig, units)
    )
drill.panel(user, src, next((p for p in spc_picks if p), None), "clinicians_spc_drill")
st.caption(
    "Funnels and control charts are fitted on all months of the whole network; only the clinic filter "
    "(and the clinician highlight) applies here."
)
