"""Overview: this month's KPIs against last month and last year, the monthly trends, the control-chart verdict."""

import streamlit as st

from charts import annotate, figures, style
from charts import tiles as kpis
from dashboard import data, userdata
from dashboard.app_pages import _common as ui
from dashboard.app_pages import _drill as drill
from dashboard.filters import Filters

src, f = ui.context()
st.title("Overview")
st.caption(f"Showing {f.describe(src.everyone)}.")
frame = data.kpis(src, f)
if frame.empty:
    st.info(ui.NOT_ENOUGH, icon=":material/info:")
    st.stop()

month, tiles = kpis.latest_tiles(frame)
st.subheader(f"{month:%B %Y}")
for column, tile in zip(st.columns(len(tiles)), tiles, strict=True):
    with column:
        st.metric(
            tile.label,
            tile.value,
            delta=tile.delta_prev,
            delta_color="off",
            help=tile.help,
            border=True,
            delta_description=f"vs {kpis.month_before(month, 1)}",
        )
        year = tile.delta_year or "no data"
        st.caption(f"{tile.note}  \nvs {kpis.month_before(month, 12)}: {year}")
st.caption(
    "Changes from month to month are shown in grey on purpose: most are noise. "
    "The control charts below say whether a change is real."
)

left, right = st.columns([2, 3])
with left:
    ui.chart(
        "Sessions and patients per month",
        "Bars count sessions and the line counts distinct patients treated each month.",
        figures.monthly_volume,
        frame,
        "overview_volume",
        n="sessions",
    )
unit = src.home_unit(f.clinic_id)
user = ui.user()
mine = userdata.visible(user)
targets = [t for t in (mine.target(unit, m) for m in annotate.MEASURE_COUNTS) if t is not None]
verdicts = annotate.target_verdicts(
    data.kpis(src, Filters(clinic_id=f.clinic_id)), [t.as_dict() for t in targets], mine.rebase_months(unit)
)
with right:
    rates_title = "Satisfaction and side effects per month"
    rates_caption = (
        "Each line is a monthly rate with its 95% confidence band; hollow points are months with fewer than 30 "
        "answers or known outcomes; purple lines are notes, green dash-dot lines targets."
    )
    if not style.enough(frame, "answered", ui.MIN_N):
        ui.chart(rates_title, rates_caption, figures.monthly_rates, frame, "overview_rates", n="answered")
        month_pick = None
    else:
        fig = annotate.rates_with_notes(frame, userdata.chart_notes(user, unit, f.clinician_id), verdicts)
        month_pick = drill.from_month(drill.selectable(rates_title, rates_caption, fig, "overview_rates"), f)
drill.panel(user, src, month_pick, "overview_drill")
for row in verdicts.itertuples():
    st.caption(
        f"Target for {row.label}: {row.value:.1%} ({'or more' if row.direction == 'increase' else 'or less'}) — {row.words}."
    )

st.subheader(f"Control charts and alerts: {unit}")
verdicts = data.spc_verdicts(src, unit)
if verdicts.empty:
    st.info(ui.NO_MODELS, icon=":material/model_training:")
for row in verdicts.itertuples():
    show = st.warning if kpis.attention(row.verdict) else st.info
    show(f"**{row.measure.capitalize()}** — {row.verdict}", icon=":material/monitoring:")
st.caption(
    "An **alert** (shown in yellow) means that, after allowing for the patients treated, side effects or "
    "dissatisfied patients have run above this unit's own usual level for long enough that chance alone would do "
    "this about once in 30 years per chart: investigate what changed. A special cause on the chart without an alert "
    "is worth a look but is often chance. Verdicts cover all months of the network or the selected clinic; the "
    "other filters do not apply. See *Clinicians & clinics* for the charts."
)
