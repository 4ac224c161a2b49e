"""Notes and targets on the control charts: what a refresh passes the charts, and redrawing them when these change.

A process change rebases a unit's control charts from its month on, and a side-effect-rate target is
drawn on the p′ chart with its assurance icon, so the charts depend on the user data as well as on
the sessions. Each stored verdict carries ``chart_inputs``: the rebase months and target it was
drawn with. When the notes or targets change, only the control charts are out of date (the other
model results do not read them): :func:`redraw_charts` recomputes the charts (and their alerts, which
restart at a rebase too) of the latest run of a scope and publishes them, leaving every other model
result as it was. ``derma notes``/``derma targets`` and the dashboard's forms redraw at once;
``derma models`` redraws whatever is still out of date.
"""

from __future__ import annotations

import json

import duckdb
import pandas as pd

from analysis.spc import Target as ChartTarget
from etl.access import NETWORK
from etl.load import amend_snapshot
from etl.schema_upgrade import add_missing_columns, insert_frame
from etl.settings import Settings
from etl.userdata import MEASURES, UserData, read
from etl.warehouse import connect_current
from queries import run_query

CHARTS = ("side_effects_p_prime", "satisfaction_xmr")
#: The measure whose target each control chart draws (the satisfaction chart is a mean rating: none).
CHART_MEASURE = {chart: measure for measure, (_, chart) in MEASURES.items() if chart}


def chart_inputs(userdata: UserData, units: list[str]) -> tuple[dict, dict, dict]:
    """Rebase months per unit, chart targets per (unit, chart), and the stamp of each (unit, chart)."""
    rebase, targets, stamps = {}, {}, {}
    for unit in units:
        months = userdata.rebase_months(unit)
        if months:
            rebase[unit] = months
        for chart in CHARTS:
            measure = CHART_MEASURE.get(chart)
            target = userdata.target(unit, measure) if measure else None
            if target is not None:
                targets[(unit, chart)] = ChartTarget(target.value, target.direction)
            stamps[(unit, chart)] = stamp(months, target)
    return rebase, targets, stamps


def stamp(months, target) -> str:
    """What a chart was drawn with, as canonical text (compared to tell an out-of-date chart)."""
    return json.dumps(
        {
            "rebase": list(months),
            "target": None if target is None else [round(target.value, 12), target.direction],
        },
        sort_keys=True,
    )


def stamped(verdicts: pd.DataFrame, stamps: dict) -> pd.DataFrame:
    """The verdicts with the ``chart_inputs`` each chart was drawn with."""
    if verdicts.empty:
        return verdicts
    keys = zip(verdicts["unit"], verdicts["chart"], strict=True)
    return verdicts.assign(chart_inputs=[stamps.get(k, stamp((), None)) for k in keys])


def units_of(series: pd.DataFrame, scope: str) -> list[str]:
    return [scope] if scope != NETWORK else list(dict.fromkeys(series["unit"]))


def out_of_date(settings: Settings, scope: str) -> list[tuple[str, str]]:
    """The (unit, chart) of ``scope``'s latest run drawn with other notes or targets than now recorded."""
    _snapshot, con = connect_current(settings.data_dir)
    try:
        return _behind(con, read(settings), scope)
    finally:
        con.close()


def _behind(con: duckdb.DuckDBPyConnection, userdata: UserData, scope: str) -> list[tuple[str, str]]:
    verdicts = run_query(con, "spc_verdicts", {"scope": scope})
    if verdicts.empty:
        return []
    _, _, stamps = chart_inputs(userdata, list(dict.fromkeys(verdicts["unit"])))
    drawn = verdicts.get("chart_inputs", pd.Series([None] * len(verdicts), index=verdicts.index))
    return [
        (unit, chart)
        for unit, chart, was in zip(verdicts["unit"], verdicts["chart"], drawn, strict=True)
        if was != stamps[(unit, chart)] and not (pd.isna(was) and stamps[(unit, chart)] == stamp((), None))
    ]


def redraw_charts(settings: Settings, scope: str = NETWORK) -> str | None:
    """Redraw the control charts of ``scope``'s latest run when notes or targets changed; the new snapshot id.

    None when nothing was out of date (or the scope has no model results yet: its first refresh
    draws the charts with the notes and targets then recorded).
    """
    from derma.fitting import _control_charts
    from derma.refresh import load_inputs

    userdata = read(settings)
    _snapshot, con = connect_current(settings.data_dir)
    try:
        if not _behind(con, userdata, scope):
            return None
        run_id = run_query(con, "spc_verdicts", {"scope": scope})["run_id"].iat[0]
        sessions = load_inputs(con, scope)
        series = run_query(con, "monthly_series", {"scope": scope})
    finally:
        con.close()
    rebase, targets, stamps = chart_inputs(userdata, units_of(series, scope))
    tables = _control_charts(series, sessions, scope, rebase=rebase, targets=targets)
    tables["spc_verdicts"] = stamped(tables["spc_verdicts"], stamps)

    def write(target: duckdb.DuckDBPyConnection) -> None:
        add_missing_columns(target)
        for table, frame in tables.items():
            target.execute(f"delete from {table} where run_id = $r", {"r": run_id})
            if frame.empty:
                continue
            insert_frame(target, table, frame.assign(run_id=run_id))

    return amend_snapshot(settings, write).snapshot_id


def redraw_all(settings: Settings) -> list[str]:
    """Redraw every scope's out-of-date charts (the network's and each clinic's own fit); the scopes redrawn."""
    _snapshot, con = connect_current(settings.data_dir)
    try:
        scopes = [
            r[0] for r in con.execute("select distinct scope from stg_model_runs where is_latest").fetchall()
        ]
    finally:
        con.close()
    return [scope for scope in sorted(scopes) if redraw_charts(settings, scope)]


def annotations(userdata: UserData, scope: str) -> list[dict]:
    """The notes in force for ``scope`` as ``derma models --format json`` prints them (oldest first)."""
    keys = ("id", "day", "month", "scope", "clinic_id", "clinician_id", "text", "process_change")
    out = []
    for note in userdata.notes_for(scope):
        entry = note.as_dict()
        entry["month"] = note.month
        entry["rebases"] = note.process_change and note.clinician_id is None
        out.append({k: entry[k] for k in (*keys, "rebases")})
    return out


def targets_of(userdata: UserData, scope: str) -> list[dict]:
    """The targets in force for ``scope`` (a clinic's own, else the network's) as plain records."""
    units = [NETWORK] if scope == NETWORK else [scope]
    found = []
    for unit in units:
        for measure in MEASURES:
            target = userdata.target(unit, measure)
            if target is not None:
                found.append({**target.as_dict(), "applies_to": unit})
    if scope == NETWORK:
        found += [{**t.as_dict(), "applies_to": t.clinic_id} for t in userdata.targets if t.clinic_id]
    return found
