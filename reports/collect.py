"""What a monthly report says, gathered: every section for one month and scope, in order."""

from __future__ import annotations

import pandas as pd

from charts import figures as plots
from etl.access import NETWORK
from etl.userdata import UserData
from reports.content import Content, Figure, Reader, Section
from reports.sections_models import course_section, effects_section, funnel_section, spc_section
from reports.sections_month import kpi_section, quality_section, side_effects_section, trend_table
from reports.sections_notes import mark_figures, notes_section


def collect(
    con,
    month: str,
    clinic_id: str | None,
    *,
    min_cell: int | None,
    snapshot_id: str,
    version: str,
    generated_at: str,
    userdata: UserData | None = None,
) -> Content:
    """Everything a report for ``month`` and ``clinic_id`` (None = network) shows.

    ``userdata`` holds the recorded notes and targets: the report lists its scope's and marks its charts.
    """
    r = Reader(con, month, clinic_id, min_cell)
    clinics = tuple(sorted(r.q("data_freshness")["clinic_id"]))
    others = tuple(c for c in clinics if c != clinic_id) if clinic_id else ()
    title = f"{'Network' if clinic_id is None else f'Clinic {clinic_id}'} · monthly report · {r.first:%B %Y}"
    summaries = r.q("model_summaries", scope=clinic_id) if clinic_id else pd.DataFrame()
    model_scope = clinic_id if clinic_id and not summaries.empty else NETWORK
    summaries = r.q("model_summaries", scope=model_scope)
    batches = r.q("load_batches")["batch_id"].drop_duplicates().tolist()
    stamp = (
        ("Data snapshot", snapshot_id),
        (
            "Load batches included",
            f"{len(batches)}: " + ", ".join(batches[-5:]) + (" …" if len(batches) > 5 else ""),
        ),
        (
            "Model run",
            f"{summaries['run_id'].iat[0]} ({model_scope} fit)"
            if not summaries.empty
            else "no model results",
        ),
        (
            "Filters",
            f"{'clinic ' + clinic_id if clinic_id else 'whole network'}; {r.first:%B %Y}"
            f"{f'; counts below {min_cell} suppressed' if min_cell else ''}",
        ),
        ("Generated (UTC)", generated_at),
        ("Software version", version),
    )
    trends = trend_table(r)
    if r.first not in set(trends.frame["month"].dt.date):
        note = Section(
            "empty",
            "No data for this month",
            (
                f"No sessions were recorded for {'the network' if clinic_id is None else clinic_id} in "
                f"{r.first:%B %Y}, so there is nothing to report for it.",
            ),
        )
        return Content(r.scope, month, title, True, (note,), stamp, min_cell)
    kpi, changes = kpi_section(r, trends)
    visible = trends.visible_rows(("sessions", "patients"))
    figures = (
        [
            Figure(
                "Sessions and patients per month",
                plots.monthly_volume(visible),
                "Bars count sessions and the line distinct patients per month.",
            )
        ]
        if not visible.empty
        else []
    )
    rates = trends.visible_rows(("satisfied", "side_effect_sessions"))
    if not rates.empty:
        figures.append(
            Figure(
                "Satisfaction and side effects per month",
                plots.monthly_rates(rates),
                "Monthly rates with 95% bands; hollow points are months with fewer than 30 answers.",
            )
        )
    trend = Section("trends", "12-month trends", (), tuple(figures), (trends,))
    sections = (
        kpi,
        changes,
        trend,
        spc_section(r),
        side_effects_section(r),
        course_section(r, model_scope),
        effects_section(r, model_scope),
        funnel_section(r),
        quality_section(r, others),
        notes_section(r, userdata),
    )
    mark_figures(sections, r, userdata)
    return Content(r.scope, month, title, False, sections, stamp, min_cell)
