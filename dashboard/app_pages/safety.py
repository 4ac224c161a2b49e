"""Settings & safety: dose-response curves, side-effect rates by setting and type, the settings explorer."""

import streamlit as st

from charts import figures, model_figures, style
from dashboard import data, filters
from dashboard.app_pages import _common as ui
from dashboard.app_pages import _drill as drill

SETTINGS = {
    "vacuum_band": "Vacuum",
    "passes": "Passes",
    "flow_band": "Particle flow",
    "crystal_type": "Crystal",
}
RISK = {
    "side_effect_risk_by_vacuum": "by vacuum (kPa)",
    "side_effect_risk_by_passes": "by passes",
    "side_effect_risk_by_flow": "by particle flow (%)",
}
SATISFIED = {"satisfied_by_session_number": "by session number", "satisfied_by_vacuum": "by vacuum (kPa)"}

src, f = ui.context()
st.title("Settings & safety")
st.caption(f"Showing {f.describe(src.everyone)}.")

setting = st.segmented_control(
    "Side-effect rate by",
    list(SETTINGS),
    format_func=SETTINGS.get,
    default="vacuum_band",
    key="safety_setting",
    required=True,
)
rates = data.setting_rates(src, f, setting)
band_title = "Side-effect rate by setting"
band_caption = (
    "Share of sessions with any side effect at each setting level, with 95% intervals; sessions without "
    "follow-up are left out (n = sessions with a known outcome; hollow if under 30)."
)
band_options = {
    "x": "level",
    "rate": "side_effect_rate",
    "numerator": "side_effect_sessions",
    "denominator": "outcome_known",
    "x_title": SETTINGS[setting].lower(),
    "y_title": "side-effect rate",
    "colour": style.ORANGE,
}
if rates.empty or not style.enough(rates, "outcome_known", ui.MIN_N):
    ui.chart(
        band_title,
        band_caption,
        figures.rate_points,
        rates,
        "safety_by_setting",
        n="outcome_known",
        **band_options,
    )
else:
    points = drill.selectable(
        band_title, band_caption, figures.rate_points(rates, **band_options), "safety_by_setting"
    )
    drill.panel(ui.user(), src, drill.from_band(points, setting, f, list(rates["level"])), "safety_drill")
ui.chart(
    "Side-effect types by skin type",
    "Each panel is one kind of side effect: its rate per skin type (Fitzpatrick I–VI) with 95% intervals.",
    figures.side_effect_types,
    data.side_effect_types(src, f),
    "safety_types",
    n="outcome_known",
    minimum=7 * 30,
)

scope = data.model_scope(src, f.clinic_id)
st.subheader("Dose-response (adjusted models)")
if ui.models_ready(data.model_summaries(src, scope), scope):
    ui.scope_note(scope, f)
    curves = data.model_curves(src, scope)
    ui.chart(
        "Predicted side-effect risk",
        "Predicted chance of any side effect in a session as one setting changes "
        "and the others stay at typical values, with 95% bands.",
        model_figures.model_curves,
        curves,
        "safety_risk",
        curves=RISK,
    )
    ui.chart(
        "Predicted chance of a 4–5 rating",
        "Predicted chance that a patient rates the session 4–5 by session "
        "number and by vacuum, other factors at typical values, with 95% bands.",
        model_figures.model_curves,
        curves,
        "safety_satisfied",
        curves=SATISFIED,
        colour=style.GREEN,
    )

    st.subheader("Settings explorer")
    a, b, c, d = st.columns(4)
    skin = a.selectbox(
        "Skin type",
        filters.SKIN_TYPES,
        index=(f.fitzpatrick or 2) - 1,
        key="safety_skin_type",
        format_func=lambda v: filters.label("fitzpatrick", v),
    )
    indication = b.selectbox(
        "Indication",
        filters.CHOICES["indication"],
        key="safety_indication",
        index=filters.CHOICES["indication"].index(f.indication or "wrinkles"),
        format_func=lambda v: filters.label("indication", v),
    )
    area = c.selectbox(
        "Area",
        filters.CHOICES["treatment_area"],
        key="safety_area",
        index=filters.CHOICES["treatment_area"].index(f.treatment_area or "face"),
        format_func=lambda v: filters.label("treatment_area", v),
    )
    grid = data.explorer(src, scope, skin, indication, area, None)
    crystal = d.selectbox(
        "Crystal",
        sorted(grid["crystal_type"].unique()) or [None],
        key="safety_crystal",
        format_func=lambda v: filters.label("crystal_type", v),
    )
    vacuum = st.slider("Vacuum range (kPa)", 10, 70, (10, 70), step=5, key="safety_vacuum_range")
    ui.chart(
        "Satisfaction against side-effect risk",
        "Each line is one number of passes; moving along it raises "
        "the vacuum from the lowest to the highest setting shown: up and to the left is the better trade-off.",
        model_figures.tradeoff,
        grid,
        "safety_explorer",
        crystal=crystal,
        vacuum_range=vacuum,
    )
    st.caption(
        "Predictions come from the fitted models for a patient with the chosen profile at the average clinic of "
        "the network (or in your clinic, for a clinic's own fit); hover a point for its 95% intervals. They "
        "describe how past sessions with these settings went, within clinics. They are not a promise of what "
        "changing a setting will do: settings were chosen for patients, and what drove the choice can differ."
    )
