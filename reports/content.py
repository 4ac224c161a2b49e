"""What a monthly report says: the named queries for one month and scope, as tables, figures and sentences.

Every number comes from a named query (``queries/analyses``) through ``run_query``; figures come from
``charts.figures`` and the KPI tiles from ``charts.tiles``. A clinic's report reads only that clinic's
rows, shows other clinics only as anonymous funnel points, and never reads patient keys.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from dataclasses import dataclass, replace

import pandas as pd
import plotly.graph_objects as go

from charts import figures as plots
from charts import tiles as kpis
from etl.access import NETWORK
from queries import run_query
from reports.suppression import Rate, Table, suppress

SETTINGS = ("vacuum_kpa", "passes", "particle_flow")
PROFILE = {"fitzpatrick": 3, "indication": "wrinkles", "treatment_area": "face"}
PROFILE_TEXT = "skin type III, wrinkles, face, corundum crystals"
KPI_COUNTS = ("sessions", "patients", "answered", "satisfied", "outcome_known", "side_effect_sessions")
KPI_RATES = (
    Rate("response_rate", "answered", "sessions", ("response_rate_delta_prev", "response_rate_delta_year")),
    Rate(
        "pct_satisfied",
        "satisfied",
        "answered",
        ("pct_satisfied_low", "pct_satisfied_high", "pct_satisfied_delta_prev", "pct_satisfied_delta_year"),
    ),
    Rate(
        "side_effect_rate",
        "side_effect_sessions",
        "outcome_known",
        (
            "side_effect_rate_low",
            "side_effect_rate_high",
            "side_effect_rate_delta_prev",
            "side_effect_rate_delta_year",
        ),
    ),
)
ANOTHER_CLINIC = "another clinic"


@dataclass(frozen=True)
class Figure:
    title: str
    figure: go.Figure
    caption: str


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str
    paragraphs: tuple[str, ...] = ()
    figures: tuple[Figure, ...] = ()
    tables: tuple[Table, ...] = ()
    tiles: tuple[kpis.Tile, ...] = ()


@dataclass(frozen=True)
class Content:
    scope: str
    month: str
    title: str
    empty: bool
    sections: tuple[Section, ...]
    stamp: tuple[tuple[str, str], ...]
    min_cell: int | None


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """First and last day of a ``YYYY-MM`` month; ValueError (one line) for anything else."""
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month or ""):
        raise ValueError(f"bad month {month!r}: expected YYYY-MM, e.g. 2026-10")
    year, number = int(month[:4]), int(month[5:])
    return dt.date(year, number, 1), dt.date(year, number, calendar.monthrange(year, number)[1])


def _shift(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _pct(value) -> str:
    return "–" if value is None or pd.isna(value) else f"{100 * float(value):.1f}%"


def _table(key, title, frame, formats, **rules) -> Table:
    columns = [c for c in formats if c in frame]
    return Table(key, title, frame[columns].reset_index(drop=True), {c: formats[c] for c in columns}, **rules)


class _Reader:
    """Runs named queries for one scope and month; ``clinic_id`` is None for the network."""

    def __init__(self, con, month: str, clinic_id: str | None, min_cell: int | None) -> None:
        self.con, self.month, self.clinic_id, self.min_cell = con, month, clinic_id, min_cell
        self.first, self.last = month_bounds(month)
        self.scope = clinic_id or NETWORK

    def q(self, name: str, **params) -> pd.DataFrame:
        return run_query(self.con, name, params)

    def hide(self, table: Table) -> Table:
        return suppress(table, self.min_cell)


def _kpi_section(r: _Reader, trends: Table) -> tuple[Section, Section]:
    frame, mask = trends.frame, trends.hidden_mask()
    months = list(frame["month"].dt.date)
    now = months.index(r.first)
    prev_month, year_month = _shift(r.first, -1), _shift(r.first, -12)
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
            f"Changes are against {_shift(r.first, -1):%B %Y} and {year_month:%B %Y}. Rates leave unknowns out of their "
            "denominators and carry Wilson 95% intervals; most month-to-month changes are noise (the control charts "
            "below say which are not).",
        ),
        tiles=tuple(shown),
        tables=(table,),
    )
    return kpi, _changes_section(r, frame, mask, now, at.get(prev_month))


def _newcombe(p1, l1, h1, p0, l0, h0) -> tuple[float, float]:
    """95% interval of p1 - p0 from the two Wilson intervals (Newcombe's hybrid score method)."""
    d = p1 - p0
    return d - math.sqrt((p1 - l1) ** 2 + (h0 - p0) ** 2), d + math.sqrt((h1 - p1) ** 2 + (p0 - l0) ** 2)


def _changes_section(r: _Reader, frame, mask, now: int, prev: int | None) -> Section:
    if prev is None:
        return Section(
            "changes",
            "What changed since last month",
            (f"There is no data for {_shift(r.first, -1):%B %Y} to compare with.",),
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
                f"from {_pct(old[rate])} to {_pct(cur[rate])} (95% CI of the change {100 * low:+.1f} to "
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


def _trends(r: _Reader) -> Table:
    frame = r.q("kpis_by_month", date_from=_shift(r.first, -12), date_to=r.last, clinic_id=r.clinic_id)
    formats = {
        "month": "month",
        **{c: "int" for c in KPI_COUNTS},
        "response_rate": "pct",
        "pct_satisfied": "pct",
        "pct_satisfied_low": "pct",
        "pct_satisfied_high": "pct",
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
        _table("Trends", "Monthly KPIs, 13 months", frame, formats, counts=KPI_COUNTS, rates=KPI_RATES)
    )
    # A count's change against another month gives that month's count back: hide it with either month.
    mask, months = table.hidden_mask().copy(), list(table.frame["month"])
    for i, month in enumerate(months):
        for column, lag in (("sessions", 1), ("patients", 1), ("sessions", 12), ("patients", 12)):
            suffix = "prev" if lag == 1 else "year"
            other = pd.Timestamp(_shift(month.date(), -lag))
            if mask.at[i, column] or (other in months and mask.at[months.index(other), column]):
                mask.at[i, f"{column}_delta_{suffix}"] = True
    return replace(table, hidden=mask)


def _spc_section(r: _Reader) -> Section:
    verdicts = r.q("spc_verdicts", unit=r.scope)
    paragraphs = [f"{row.measure.capitalize()}: {row.verdict}." for row in verdicts.itertuples()] or [
        "No control charts have been computed for this snapshot (run `derma models`)."
    ]
    figures = []
    for chart, percent, what in (
        ("side_effects_p_prime", True, "Side-effect rate (Laney p′ chart)"),
        ("satisfaction_xmr", False, "Mean satisfaction (XmR chart)"),
    ):
        points = r.q("spc_points", unit=r.scope, chart=chart)
        points = points[points["month"] <= pd.Timestamp(r.last)]
        if r.min_cell and chart == "side_effects_p_prime":
            points = points[points["events"].fillna(0) >= r.min_cell]
        if not points.empty:
            figures.append(
                Figure(
                    what,
                    plots.spc(points, percent),
                    "Each month's value against the centre line "
                    "and 3-sigma limits of a frozen baseline; orange diamonds mark special causes.",
                )
            )
    latest = r.q("spc_points", unit=r.scope)["month"].max()
    if pd.notna(latest) and latest.date() != r.first:
        paragraphs.append(
            f"The verdicts read the latest charted month ({latest:%B %Y}), which is not {r.first:%B %Y}."
        )
    return Section("control", "Control charts", tuple(paragraphs), tuple(figures))


def _side_effects(r: _Reader) -> Section:
    frame = r.q("side_effect_types_by_skin_type", date_from=r.first, date_to=r.last, clinic_id=r.clinic_id)
    table = r.hide(
        _table(
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


def _course_section(r: _Reader, model_scope: str) -> Section:
    start = _shift(r.first, -11)
    frame = r.q("satisfaction_by_session_number", date_from=start, date_to=r.last, clinic_id=r.clinic_id)
    table = r.hide(
        _table(
            "Course",
            "Satisfaction by session number (12 months)",
            frame,
            {
                "session_number": "level",
                "sessions": "int",
                "answered": "int",
                "satisfied": "int",
                "pct_satisfied": "pct",
                "pct_satisfied_low": "pct",
                "pct_satisfied_high": "pct",
                "mean_rating": "num",
            },
            counts=("sessions", "answered", "satisfied"),
            rates=(
                Rate(
                    "pct_satisfied",
                    "satisfied",
                    "answered",
                    ("pct_satisfied_low", "pct_satisfied_high", "mean_rating"),
                ),
            ),
        )
    )
    figures = []
    visible = table.visible_rows()
    if plots.enough(visible, "answered"):
        figures.append(
            Figure(
                "Satisfied by session number",
                plots.rate_points(
                    visible,
                    "session_number",
                    "pct_satisfied",
                    "satisfied",
                    "answered",
                    x_title="session number",
                    y_title="% satisfied",
                ),
                f"Share of answered surveys rated 4–5 at each session, {start:%b %Y} – "
                f"{r.first:%b %Y}, with Wilson 95% intervals.",
            )
        )
    curves = r.q("course_curves", scope=model_scope, indication="all")
    if r.min_cell:
        curves = curves[(curves["at_risk"] >= r.min_cell) & (curves["satisfied"] >= r.min_cell)]
    summary = r.q("course_summaries", scope=model_scope)
    median = summary.loc[summary["indication"] == "all", "median_text"]
    paragraphs = []
    if not median.empty:
        paragraphs.append(
            f"Median sessions until a patient is first satisfied ({model_scope} fit, all data): "
            f"{median.iat[0]}."
        )
    if not curves.empty:
        figures.append(
            Figure(
                "Courses satisfied by session (Kaplan–Meier)",
                plots.km_curve(curves, median.iat[0] if not median.empty else None),
                "Share of courses with a first 4–5 rating by each session, with its 95% band.",
            )
        )
    return Section("course", "Satisfaction over the course", tuple(paragraphs), tuple(figures), (table,))


def _effects_section(r: _Reader, model_scope: str) -> Section:
    effects = r.q("model_effects", scope=model_scope)
    effects = effects[effects["term"].isin(SETTINGS)].sort_values(["model", "term"])
    table = r.hide(
        _table(
            "Effects",
            "Adjusted effects of the settings",
            effects,
            {
                "model": "text",
                "term": "text",
                "label": "text",
                "unit": "text",
                "estimate": "ratio",
                "ci_low": "ratio",
                "ci_high": "ratio",
                "p_value": "num",
                "n": "int",
            },
            counts=("n",),
        )
    )
    paragraphs = [
        f"Odds ratios from the {model_scope} models, adjusted for skin type, indication, area, crystal, "
        "session number and pre-care, with cluster-robust 95% intervals (1 = no difference)."
    ]
    for row in table.frame.itertuples():
        what = "the odds of any side effect" if row.model == "side_effects" else "the odds of a higher rating"
        paragraphs.append(
            f"{row.label} ({row.unit}): {what} × {row.estimate:.2f} (95% CI {row.ci_low:.2f}–"
            f"{row.ci_high:.2f})."
        )
    figures = (
        [
            Figure(
                "Adjusted effects", plots.forest(table.frame), "Odds ratios with 95% intervals on a log axis."
            )
        ]
        if not table.frame.empty
        else []
    )
    explorer = r.q("settings_explorer", scope=model_scope, **PROFILE)
    crystal = "corundum" if "corundum" in set(explorer["crystal_type"]) else None
    if not explorer.empty:
        figures.append(
            Figure(
                f"Settings trade-off for {PROFILE_TEXT}",
                plots.tradeoff(explorer.drop_duplicates(["crystal_type", "vacuum_kpa", "passes"]), crystal),
                f"Predicted chance of a 4–5 rating against side-effect risk per session over vacuum and passes, for "
                f"one common profile ({PROFILE_TEXT}).",
            )
        )
    return Section("effects", "Settings: effects and trade-off", tuple(paragraphs), tuple(figures), (table,))


FUNNEL_FORMATS = {
    "unit_type": "text",
    "unit": "text",
    "n_sessions": "int",
    "observed": "int",
    "expected": "num",
    "oe_ratio": "ratio",
    "oe_low": "ratio",
    "oe_high": "ratio",
    "flag": "text",
    "reading": "text",
}


def _funnel_section(r: _Reader) -> Section:
    figures, tables, paragraphs = [], [], []
    for unit_type in ("clinic", "clinician"):
        units = r.q("funnel_units", unit_type=unit_type)
        limits = r.q("funnel_limits", unit_type=unit_type)
        if units.empty:
            continue
        if r.clinic_id:
            own = units["clinic_id"] == r.clinic_id
            if unit_type == "clinician":
                units = units[own]
            else:  # the others stay as anonymous points, without their counts or words
                units = units.assign(
                    unit=units["unit"].where(own, ANOTHER_CLINIC),
                    clinic_id=units["clinic_id"].where(own, ANOTHER_CLINIC),
                    reading=units["reading"].where(own, ""),
                )
        rules = {
            "counts": ("n_sessions", "observed"),
            "rates": (Rate("oe_ratio", "observed", None, ("oe_low", "oe_high")),),
        }
        table = r.hide(
            _table(
                "Funnel",
                "Risk-adjusted side effects (observed ÷ expected)",
                units[units["unit"] != ANOTHER_CLINIC],
                FUNNEL_FORMATS,
                **rules,
            )
        )
        tables.append(table)
        drawn = r.hide(
            _table(
                "drawn", "", units.reset_index(drop=True), {**FUNNEL_FORMATS, "clinic_id": "text"}, **rules
            )
        ).visible_rows()
        if not drawn.empty:
            figures.append(
                Figure(
                    f"Funnel plot: {unit_type}s",
                    plots.funnel(drawn, limits, highlight=r.clinic_id),
                    "Each point is a unit's observed ÷ expected side effects given its case mix; "
                    "points inside the funnel are within chance. No ranking is implied.",
                )
            )
        for row in table.frame.itertuples():
            if row.flag != "within":
                paragraphs.append(f"{row.unit}: {row.reading}.")
    if len(tables) == 2:
        tables = [
            replace(
                tables[0],
                frame=pd.concat([tables[0].frame, tables[1].frame], ignore_index=True),
                hidden=pd.concat([tables[0].hidden_mask(), tables[1].hidden_mask()], ignore_index=True),
            )
        ]
    intro = (
        "Other clinics appear as unnamed points; only this clinic and its clinicians are named."
        if r.clinic_id
        else "Every clinic and clinician of the network, in alphabetical order (not ranked)."
    )
    return Section(
        "funnel",
        "Fair comparison (risk-adjusted funnel)",
        (
            intro,
            "Fitted on all months of the network (risk adjustment needs the whole picture).",
            *(paragraphs or ["All units are within the expected range."]),
        ),
        tuple(figures),
        tuple(tables),
    )


def _quality_section(r: _Reader, others: tuple[str, ...]) -> Section:
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
        _table(
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
        _table(
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


def collect(
    con,
    month: str,
    clinic_id: str | None,
    *,
    min_cell: int | None,
    snapshot_id: str,
    version: str,
    generated_at: str,
) -> Content:
    """Everything a report for ``month`` and ``clinic_id`` (None = network) shows."""
    r = _Reader(con, month, clinic_id, min_cell)
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
    trends = _trends(r)
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
    kpi, changes = _kpi_section(r, trends)
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
        _spc_section(r),
        _side_effects(r),
        _course_section(r, model_scope),
        _effects_section(r, model_scope),
        _funnel_section(r),
        _quality_section(r, others),
    )
    return Content(r.scope, month, title, False, sections, stamp, min_cell)
