"""The report's sections about the month itself: KPIs, what changed, trends, side effects, data quality."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd

from charts import figures as plots
from charts import tiles as kpis
from reports.content import (
    ANOTHER_CLINIC,
    KPI_COUNTS,
    KPI_RATES,
    Figure,
    Reader,
    Section,
    pct,
    shift,
    table_of,
)
from reports.suppression import Rate, Table


def kpi_section(r: Reader, trends: Table) -> tuple[Section, Section]:
    frame, mask = trends.frame, trends.hidden_mask()
    months = list(frame["month"].dt.date)
    now = months.index(r.first)
    prev_month, year_month = shift(r.first, -1), shift(r.first, -12)
    at = {m: months.index(m) for m in (prev_month, year_month) if m in months}
    row = frame.iloc[now]
    _, tiles = kpis.latest_tiles(frame.iloc[: now + 1])
    uses = {
        "Sessions": ("sessions",),
        "Patients": ("patients",),
        "Survey response": ("answered", "sessions"),
        "% satisfied": ("satisfied", "answered"),
        "Side-effect rate": ("side_effect_sessions", "outcome_known"),
    }
    shown = []
    for tile in tiles:
        cols = uses[tile.label]
        if mask.iloc[now][list(cols)].any():
            tile = kpis.Tile(
                tile.label,
                f"<{r.min_cell}",
                None,
                None,
                f"fewer than {r.min_cell} behind this figure (hidden by the min-cell rule)",
                tile.help,
            )
        else:
            if prev_month not in at or mask.iloc[at[prev_month]][list(cols)].any():
                tile = replace(tile, delta_prev=None)
            if year_month not in at or mask.iloc[at[year_month]][list(cols)].any():
                tile = replace(tile, delta_year=None)
        shown.append(tile)
    specs = (
        ("Sessions", "sessions", None, "sessions", "int"),
        ("Patients", "patients", None, "patients", "int"),
        ("Survey response", "response_rate", None, "answered", "pct"),
        ("% satisfied", "pct_satisfied", "pct_satisfied", "satisfied", "pct"),
        ("Side-effect rate", "side_effect_rate", "side_effect_rate", "side_effect_sessions", "pct"),
    )
    records, hidden = [], []
    for label, column, interval, count, unit in specs:

        def value(i, col=column):
            return None if i is None else frame.iloc[i][col]

        def gone(i, col=column, cnt=count):
            return i is not None and bool(mask.iloc[i][col] or mask.iloc[i][cnt])

        p, y = at.get(prev_month), at.get(year_month)
        rec = {
            "kpi": label,
            "unit": "count" if unit == "int" else "rate",
            "value": value(now),
            "ci_low": row[f"{interval}_low"] if interval else None,
            "ci_high": row[f"{interval}_high"] if interval else None,
            "previous_month": value(p),
            "change_vs_previous": row[f"{column}_delta_prev"],
            "same_month_last_year": value(y),
            "change_vs_last_year": row[f"{column}_delta_year"],
        }
        records.append(rec)
        hidden.append(
            {
                "kpi": False,
                "unit": False,
                "value": gone(now),
                "ci_low": gone(now),
                "ci_high": gone(now),
                "previous_month": gone(p),
                "change_vs_previous": (gone(now) or gone(p)) and p is not None,
                "same_month_last_year": gone(y),
                "change_vs_last_year": (gone(now) or gone(y)) and y is not None,
            }
        )
    table = Table(
        "KPIs",
        f"KPIs for {r.first:%B %Y}",
        pd.DataFrame(records).astype(object),
        {
            "kpi": "text",
            "unit": "text",
            "value": "by_unit",
            "ci_low": "pct",
            "ci_high": "pct",
            "previous_month": "by_unit",
            "change_vs_previous": "by_unit_delta",
            "same_month_last_year": "by_unit",
            "change_vs_last_year": "by_unit_delta",
        },
        hidden=pd.DataFrame(hidden),
    )
    kpi = Section(
        "kpis",
        f"KPIs for {r.first:%B %Y}",
        (
            f"Changes are against {shift(r.first, -1):%B %Y} and {year_month:%B %Y}. Rates leave unknowns out of their "
            "denominators and carry Wilson 95% intervals; most month-to-month changes are noise (the control charts "
            "below say which are not).",
        ),
        tiles=tuple(shown),
        tables=(table,),
    )
    return kpi, changes_section(r, frame, mask, now, at.get(prev_month))


def _newcombe(p1, l1, h1, p0, l0, h0) -> tuple[float, float]:
    """95% interval of p1 - p0 from the two Wilson intervals (Newcombe's hybrid score method)."""
    d = p1 - p0
    return d - math.sqrt((p1 - l1) ** 2 + (h0 - p0) ** 2), d + math.sqrt((h1 - p1) ** 2 + (p0 - l0) ** 2)


def changes_section(r: Reader, frame, mask, now: int, prev: int | None) -> Section:
    if prev is None:
        return Section(
            "changes",
            "What changed since last month",
            (f"There is no data for {shift(r.first, -1):%B %Y} to compare with.",),
        )
    lines = []
    cur, old = frame.iloc[now], frame.iloc[prev]
    for label, rate, num, den in (
        ("% satisfied", "pct_satisfied", "satisfied", "answered"),
        ("Side-effect rate", "side_effect_rate", "side_effect_sessions", "outcome_known"),
    ):
        if (
            mask.iloc[now][[rate, num]].any()
            or mask.iloc[prev][[rate, num]].any()
            or min(cur[den], old[den]) < kpis.MIN_N
        ):
            continue
        low, high = _newcombe(
            cur[rate],
            cur[f"{rate}_low"],
            cur[f"{rate}_high"],
            old[rate],
            old[f"{rate}_low"],
            old[f"{rate}_high"],
        )
        d = cur[rate] - old[rate]
        verb = "rose" if d > 0 else "fell" if d < 0 else "stayed"
        clear = "a clear change" if low > 0 or high < 0 else "within what chance alone could give"
        lines.append(
            (
                abs(d) / max(high - low, 1e-9),
                f"{label} {verb} by {abs(100 * d):.1f} percentage points, "
                f"from {pct(old[rate])} to {pct(cur[rate])} (95% CI of the change {100 * low:+.1f} to "
                f"{100 * high:+.1f} pp; {clear}).",
            )
        )
    for label, column in (("Sessions", "sessions"), ("Patients", "patients")):
        if mask.iloc[now][column] or mask.iloc[prev][column] or not old[column]:
            continue
        change = cur[column] / old[column] - 1
        lines.append(
            (
                abs(change),
                f"{label}: {int(cur[column]):,} against {int(old[column]):,} "
                f"({100 * change:+.0f}%); counts have no sampling interval.",
            )
        )
    lines.sort(key=lambda item: -item[0])
    text = tuple(t for _, t in lines) or (
        "Nothing can be compared for this month (too few data or hidden by the min-cell rule).",
    )
    return Section("changes", "What changed since last month", ("Largest changes first:", *text))


def trend_table(r: Reader) -> Table:
    frame = r.q("kpis_by_month", date_from=shift(r.first, -12), date_to=r.last, clinic_id=r.clinic_id)
    formats = {
        "month": "month",
        **{c: "int" for c in KPI_COUNTS},
        "response_rate": "pct",
        "response_rate_low": "pct",
        "response_rate_high": "pct",
        "pct_satisfied": "pct",
        "pct_satisfied_low": "pct",
        "pct_satisfied_high": "pct",
        "pct_satisfied_worst": "pct",
        "pct_satisfied_best": "pct",
        "mean_rating": "num",
        "side_effect_rate": "pct",
        "side_effect_rate_low": "pct",
        "side_effect_rate_high": "pct",
        "sessions_delta_prev": "int",
        "patients_delta_prev": "int",
        "response_rate_delta_prev": "pp",
        "pct_satisfied_delta_prev": "pp",
        "side_effect_rate_delta_prev": "pp",
        "sessions_delta_year": "int",
        "patients_delta_year": "int",
        "response_rate_delta_year": "pp",
        "pct_satisfied_delta_year": "pp",
        "side_effect_rate_delta_year": "pp",
    }
    table = r.hide(
        table_of("Trends", "Monthly KPIs, 13 months", frame, formats, counts=KPI_COUNTS, rates=KPI_RATES)
    )
    # A count's change against another month gives that month's count back: hide it with either month.
    mask, months = table.hidden_mask().copy(), list(table.frame["month"])
    for i, month in enumerate(months):
        for column, lag in (("sessions", 1), ("patients", 1), ("sessions", 12), ("patients", 12)):
            suffix = "prev" if lag == 1 else "year"
            other = pd.Timestamp(shift(month.date(), -lag))
            if mask.at[i, column] or (other in months and mask.at[months.index(other), column]):
                mask.at[i, f"{column}_delta_{suffix}"] = True
    return replace(table, hidden=mask)


def side_effects_section(r: Reader) -> Section:
    frame = r.q("side_effect_types_by_skin_type", date_from=r.first, date_to=r.last, clinic_id=r.clinic_id)
    table = r.hide(
        table_of(
            "Side effects",
            "Side effects by type and skin type",
            frame,
            {
                "side_effect": "text",
                "fitzpatrick": "level",
                "events": "int",
                "outcome_known": "int",
                "rate": "pct",
                "rate_low": "pct",
                "rate_high": "pct",
            },
            counts=("events", "outcome_known"),
            rates=(Rate("rate", "events", "outcome_known", ("rate_low", "rate_high")),),
            group_by=("side_effect",),
        )
    )
    visible = table.visible_rows()
    figures = (
        (
            Figure(
                "Side effects by type and skin type",
                plots.side_effect_types(visible),
                "The share of sessions with a known outcome that had each side effect, by skin type, with "
                "Wilson 95% intervals.",
            ),
        )
        if not visible.empty
        else ()
    )
    return Section("side-effects", "Side effects", (f"Sessions of {r.first:%B %Y} only.",), figures, (table,))


def quality_section(r: Reader, others: tuple[str, ...]) -> Section:
    files = r.q("month_load_files", date_from=r.first, date_to=r.last, clinic_id=r.clinic_id)
    quarantine = r.q("quarantine_summary", clinic_id=r.clinic_id)
    keys = set(zip(files["batch_id"], files["file"], strict=True))
    for other in others:  # a shared file may be named after another clinic
        files["file"] = files["file"].str.replace(other, ANOTHER_CLINIC, regex=False)
    inside = pd.Series(
        [k in keys for k in zip(quarantine["batch_id"], quarantine["file"], strict=True)],
        index=quarantine.index,
        dtype=bool,
    )
    quarantine = quarantine[inside]
    reasons = quarantine.groupby("reason", as_index=False)[["rows_quarantined", "rule_breaks"]].sum()
    counts = ("sessions_stored", "file_rows", "inserted", "updated", "unchanged", "quarantined")
    file_table = r.hide(
        table_of(
            "Data quality",
            "Files behind this month's sessions",
            files,
            {
                "loaded_at": "datetime",
                "batch_id": "text",
                "file": "text",
                "format": "text",
                **{c: "int" for c in counts},
            },
            counts=counts,
            row_groups=(("inserted", "updated", "unchanged", "quarantined"),),
        )
    )
    reason_table = r.hide(
        table_of(
            "Quarantine",
            "Quarantined rows by reason (this clinic's rows in those files)"
            if r.clinic_id
            else "Quarantined rows by reason (in those files)",
            reasons,
            {"reason": "text", "rows_quarantined": "int", "rule_breaks": "int"},
            counts=("rows_quarantined", "rule_breaks"),
        )
    )
    text = (
        f"{len(files)} file(s) in {files['batch_id'].nunique()} load batch(es) hold the {r.first:%B %Y} sessions "
        "of this report. Late corrections are the rows a load updated (a session stored before and corrected "
        "by a later file)."
    )
    if not r.min_cell:
        text += (
            f" Sessions stored: {int(files['sessions_stored'].sum()):,}; rows quarantined in those files: "
            f"{int(files['quarantined'].sum()):,}; late corrections: {int(files['updated'].sum()):,}."
        )
    return Section("quality", "Data quality", (text,), (), (file_table, reason_table))
