"""Models: what each model estimates, what it is adjusted for, the odds ratios with intervals, the checks."""

import streamlit as st

from charts import model_figures
from dashboard import data
from dashboard.app_pages import _common as ui

EFFECT_COLUMNS = {
    "label": st.column_config.TextColumn("term"),
    "unit": st.column_config.TextColumn("per"),
    "estimate": st.column_config.NumberColumn("odds ratio", format="%.2f"),
    "ci_low": st.column_config.NumberColumn("95% CI low", format="%.2f"),
    "ci_high": st.column_config.NumberColumn("95% CI high", format="%.2f"),
    "p_value": st.column_config.NumberColumn("p", format="%.3g"),
    "n": st.column_config.NumberColumn("n sessions", format="%d"),
}
PO_COLUMNS = ["label", "cut", "binary_or", "binary_ci_low", "binary_ci_high", "po_or", "verdict"]

src, f = ui.context()
st.title("Models")
scope = data.model_scope(src, f.clinic_id)
summaries = data.model_summaries(src, scope)
if not ui.models_ready(summaries, scope):
    st.stop()
ui.scope_note(scope, f)
effects = data.model_effects(src, scope)

TITLES = {
    "side_effects": "Side effects",
    "satisfaction": "Satisfaction (total association)",
    "satisfaction_direct": "Satisfaction, side effects held fixed (direct association)",
}


def texts(value) -> list[str]:
    return [] if value is None or not len(value) else list(value)


st.info(
    "These odds ratios describe the clinics' recorded practice: how outcomes differ between sessions with "
    "different settings, **within the same clinic** and for similar patients. They are not a promise of what "
    "changing a setting will do.",
    icon=":material/info:",
)
for model in summaries.itertuples():
    st.subheader(f"{TITLES.get(model.model, model.model)}: {model.outcome}")
    st.markdown(
        f"**Status:** `{model.status}` · **n:** {model.n_sessions:,} sessions, {model.n_patients:,} "
        f"patients, {model.n_events:,} {'events' if model.model == 'side_effects' else 'ratings of 4–5'}"
    )
    if getattr(model, "estimand", None):
        st.markdown(f"**What an odds ratio here means.** {model.estimand}")
    adjusted = texts(getattr(model, "adjusted_for", None))
    if adjusted:
        st.markdown("**Adjusted for:** " + "; ".join(adjusted) + ".")
    st.caption(f"Method: {model.method}")
    for check in texts(getattr(model, "checks", None)):
        st.caption(f"Check: {check}")
    for warning in texts(model.warnings):
        st.warning(warning, icon=":material/warning:")
    mine = effects[effects["model"] == model.model]
    st.dataframe(
        mine,
        column_order=list(EFFECT_COLUMNS),
        column_config=EFFECT_COLUMNS,
        hide_index=True,
        key=f"models_effects_{model.model}",
    )
    ui.chart(
        "Adjusted odds ratios",
        "Each row is one factor's adjusted odds ratio with its 95% interval; 1 means "
        "no difference, and intervals crossing 1 are compatible with no effect.",
        model_figures.forest,
        mine,
        f"models_forest_{model.model}",
    )

st.subheader("Proportional-odds check (satisfaction model)")
st.caption(
    "The satisfaction model assumes a factor shifts the odds of a higher rating equally at every cut. Each "
    "row compares a separate yes/no model at one cut with that shared estimate; *departs* means the shared "
    "estimate falls outside the cut's own interval."
)
po_check = data.model_po_check(src, scope)
st.dataframe(
    po_check,
    column_order=PO_COLUMNS,
    hide_index=True,
    key="models_po_check",
    column_config=ui.headers(
        po_check,
        {c: st.column_config.NumberColumn(format="%.2f") for c in PO_COLUMNS if "or" in c or "ci" in c},
    ),
)
st.caption(
    "Models use all months of the scope; the sidebar's date and dimension filters do not apply to them."
)
