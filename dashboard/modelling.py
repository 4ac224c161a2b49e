"""Model refresh: fit every model on the current snapshot and publish the results with it.

Published snapshots are immutable, so a refresh publishes an amended copy (same sessions, plus the
model tables) through the same copy-and-swap as a load. Each run records the data batch it was
fitted on; results are *stale* when a newer batch has been loaded since.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from dataclasses import dataclass

import duckdb
import pandas as pd

from dashboard.jsonvalues import plain, records
from etl.contract import INDICATIONS, TREATMENT_AREAS
from etl.load import amend_snapshot, new_batch_id, software_version
from etl.settings import Settings
from etl.warehouse import connect_current, scalar

NETWORK = "network"
MODEL_TABLES = ("model_runs", "model_summaries", "model_effects", "model_curves", "model_po_check",
                "settings_explorer", "funnel_units", "funnel_limits", "funnel_summaries", "spc_points",
                "spc_verdicts", "course_curves", "course_summaries", "course_dropout")
INPUT_COLUMNS = ("clinic_id", "patient_key", "clinician_id", "session_date", "crystal_type", "vacuum_kpa", "passes",
                 "treatment_area", "indication", "fitzpatrick", "particle_flow", "session_number",
                 "pre_care_followed", "satisfaction", "follow_up_done", "any_side_effect")
RUNS_KEPT_PER_SCOPE = 2
#: The proportional-odds check refits five models; above this many sessions it runs on a random
#: sample of whole patients (a screening diagnostic; the satisfaction model itself uses every row).
PO_CHECK_MAX_SESSIONS = 200_000


@dataclass(frozen=True)
class ModelRun:
    run_id: str
    scope: str
    data_batch_id: str
    seconds: float
    snapshot: str


def latest_batch(con: duckdb.DuckDBPyConnection) -> str | None:
    return scalar(con, "select max(batch_id) from load_batches")


def fresh_run(con: duckdb.DuckDBPyConnection, scope: str) -> str | None:
    """The newest run of ``scope`` fitted on the latest data batch, or None (missing or stale)."""
    return scalar(con, "select max(run_id) from stg_model_runs where scope = $scope and is_fresh", {"scope": scope})


def load_inputs(con: duckdb.DuckDBPyConnection, scope: str) -> pd.DataFrame:
    """The sessions of ``scope`` with the models' columns, through Arrow.

    DuckDB's ``.df()`` builds Python strings row by row: 23 s and 7 GB peak for 10M sessions. Arrow
    hands pandas the columns as they are (1.6 s, 2.7 GB); three columns are then given the dtypes
    ``.df()`` gave (datetime, nullable integer, nullable boolean), so the models see the same frame.
    """
    columns = ", ".join("session_date::timestamp as session_date" if c == "session_date" else c
                        for c in INPUT_COLUMNS)
    table = con.sql(f"select {columns} from sessions where $scope = 'network' or clinic_id = $scope",
                    params={"scope": scope}).to_arrow_table()
    frame = table.to_pandas()
    return frame.astype({"satisfaction": "Int32", "any_side_effect": "boolean"})


def refresh_models(settings: Settings, scope: str = NETWORK, force: bool = False) -> ModelRun | None:
    """Fit the models for ``scope`` unless fresh results exist; publish them. None when nothing to do."""
    snapshot, con = connect_current(settings.data_dir)
    try:
        existing = fresh_run(con, scope)
        if existing and not force:
            return None
        batch = latest_batch(con)
        if scope != NETWORK and not scalar(con, "select count(*) from sessions where clinic_id = $c", {"c": scope}):
            from etl.load import LoadError

            raise LoadError(f"no sessions for clinic '{scope}' in the warehouse")
        sessions = load_inputs(con, scope)
    finally:
        con.close()
    started = time.perf_counter()
    run_id = new_batch_id(dt.datetime.now(dt.UTC).replace(tzinfo=None))
    tables = fit_everything(sessions, scope)
    seconds = time.perf_counter() - started
    tables["model_runs"] = pd.DataFrame([{
        "run_id": run_id, "scope": scope, "data_batch_id": batch or "",
        "fitted_at": dt.datetime.now(dt.UTC).replace(tzinfo=None), "software_version": software_version(),
        "seconds": seconds, "n_sessions": len(sessions)}])

    def write(target: duckdb.DuckDBPyConnection) -> None:
        _prune_runs(target, scope)
        for table, frame in tables.items():
            if frame is None or frame.empty:
                continue
            frame = frame.copy()
            frame["run_id"] = run_id
            columns = [r[0] for r in target.execute(
                "select column_name from information_schema.columns where table_name = $t "
                "order by ordinal_position", {"t": table}).fetchall()]
            target.register("_frame", frame.reindex(columns=columns))
            target.execute(f"insert into {table} select * from _frame")
            target.unregister("_frame")

    published = amend_snapshot(settings, write)
    return ModelRun(run_id, scope, batch or "", seconds, published.snapshot_id)


def _prune_runs(con: duckdb.DuckDBPyConnection, scope: str) -> None:
    old = [r[0] for r in con.execute(
        "select run_id from model_runs where scope = $s order by run_id desc offset $k",
        {"s": scope, "k": RUNS_KEPT_PER_SCOPE - 1}).fetchall()]
    for table in MODEL_TABLES:
        con.execute(f"delete from {table} where list_contains($old, run_id)", {"old": old})


def fit_everything(sessions: pd.DataFrame, scope: str) -> dict[str, pd.DataFrame]:
    """Every model result for one scope, as frames shaped like the warehouse's model tables."""
    from analysis.curves import fit_outcome_models, model_curves
    from analysis.satisfaction import check_proportional_odds

    fits = fit_outcome_models(sessions)
    results = [fits.side_effects, fits.satisfaction]
    tables = {
        "model_summaries": pd.DataFrame([{
            "model": r.name, "outcome": r.outcome, "method": r.method, "status": r.status,
            "n_sessions": r.n_sessions, "n_patients": r.n_patients, "n_events": r.n_events,
            "warnings": list(r.warnings)} for r in results]),
        "model_effects": pd.DataFrame([{"model": r.name, **e.to_dict()} for r in results for e in r.effects]),
        "model_curves": pd.DataFrame([{
            "curve": c.name, "x_name": c.x, "y_name": c.y, "x": p.x, "estimate": p.estimate, "ci_low": p.ci_low,
            "ci_high": p.ci_high, "n": p.n, "reference": json.dumps(c.reference, default=str), "note": c.note}
            for c in model_curves(fits) for p in c.points]),
        "model_po_check": _po_check(sessions, check_proportional_odds),
        "settings_explorer": _explorer(fits, sessions),
    }
    tables.update(_funnels(sessions, scope))
    tables.update(_control_charts(sessions, scope))
    tables.update(_courses(sessions))
    return tables


def patient_sample(sessions: pd.DataFrame, max_sessions: int) -> tuple[pd.DataFrame, str]:
    """A reproducible random sample of whole patients holding about ``max_sessions`` sessions."""
    if len(sessions) <= max_sessions:
        return sessions, f"all {len(sessions)} sessions"
    share = max_sessions / len(sessions)
    # A hash of the pseudonym is a fixed, uniform draw per patient: the same patients every run.
    draw = pd.util.hash_pandas_object(sessions["patient_key"], index=False).to_numpy() % 1_000_000
    sample = sessions[draw < share * 1_000_000].reset_index(drop=True)
    return sample, (f"a random {share:.0%} of patients ({len(sample)} of {len(sessions)} sessions; "
                    "whole patients, so clustering is kept)")


def _po_check(sessions: pd.DataFrame, check) -> pd.DataFrame:
    sample, note = patient_sample(sessions, PO_CHECK_MAX_SESSIONS)
    frame = check(sample)
    return frame.assign(checked_on=note)


def _explorer(fits, sessions: pd.DataFrame) -> pd.DataFrame:
    """The settings trade-off for every skin type x indication x area seen in the data."""
    from analysis.explorer import explore_settings

    if fits.side_effect_fit is None and fits.satisfaction_fit is None:
        return pd.DataFrame()
    seen = sessions[["fitzpatrick", "indication", "treatment_area"]].drop_duplicates()
    crystals = [None] + (["diamond_tip"] if (sessions["crystal_type"] == "diamond_tip").any() else [])
    frames = []
    for row in seen.itertuples(index=False):
        if row.indication not in INDICATIONS or row.treatment_area not in TREATMENT_AREAS:
            continue
        done = set()
        for crystal in crystals:
            grid = explore_settings(fits, int(row.fitzpatrick), row.indication, row.treatment_area, crystal)
            label = crystal or grid.attrs.get("reference", {}).get("crystal_type", "default")
            if label in done:  # the reference crystal may itself be the diamond tip: one grid per label
                continue
            done.add(label)
            frames.append(grid.assign(fitzpatrick=int(row.fitzpatrick), indication=row.indication,
                                      treatment_area=row.treatment_area, crystal_type=label))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _funnels(sessions: pd.DataFrame, scope: str) -> dict[str, pd.DataFrame]:
    from analysis.case_mix import fit_case_mix
    from analysis.funnel import funnel

    expected = fit_case_mix(sessions)
    units, limits, summaries = [], [], []
    unit_types = ["clinician_id"] + (["clinic_id"] if scope == NETWORK else [])
    clinic_of = sessions.groupby("clinician_id")["clinic_id"].agg(lambda s: s.mode().iat[0])
    for unit in unit_types:
        result = funnel(sessions, expected, unit=unit)
        kind = unit.removesuffix("_id")
        frame = result.units.assign(unit_type=kind)
        frame["clinic_id"] = frame["unit"].map(clinic_of) if kind == "clinician" else frame["unit"]
        units.append(frame)
        limits.append(result.curve.assign(unit_type=kind))
        summaries.append(pd.DataFrame([{
            "unit_type": kind, "status": result.status, "method": result.method, "adjustment": result.adjustment,
            "phi": _num(result.phi), "tau2": _num(result.tau2), "overdispersion_p": _num(result.overdispersion_p),
            "n_units": result.n_units, "notes": list(result.notes)}]))
    return {"funnel_units": pd.concat(units, ignore_index=True), "funnel_limits": pd.concat(limits, ignore_index=True),
            "funnel_summaries": pd.concat(summaries, ignore_index=True)}


def _num(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def monthly_series(sessions: pd.DataFrame) -> pd.DataFrame:
    """Per unit (network and each clinic) and month: side-effect events / known, mean rating."""
    frame = sessions.assign(month=pd.to_datetime(sessions["session_date"]).dt.to_period("M").dt.to_timestamp(),
                            known=sessions["any_side_effect"].notna(),
                            event=sessions["any_side_effect"].fillna(False).astype(bool))
    parts = []
    for unit, group in [(NETWORK, frame), *frame.groupby("clinic_id")]:
        agg = group.groupby("month").agg(events=("event", "sum"), n=("known", "sum"),
                                         rating=("satisfaction", "mean"), answered=("satisfaction", "count"))
        parts.append(agg.reset_index().assign(unit=unit))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _control_charts(sessions: pd.DataFrame, scope: str) -> dict[str, pd.DataFrame]:
    from analysis.spc import laney_p_chart, xmr_chart

    series = monthly_series(sessions)
    points, verdicts = [], []
    units = [scope] if scope != NETWORK else list(dict.fromkeys(series["unit"]))
    for unit in units:
        data = series[series["unit"] == unit]
        charts = (
            ("side_effects_p_prime", laney_p_chart(data[data["n"] > 0][["month", "events", "n"]])),
            ("satisfaction_xmr", xmr_chart(data[data["answered"] > 0][["month", "rating"]]
                                           .rename(columns={"rating": "value"}))),
        )
        for chart, result in charts:
            points.append(result.points.assign(unit=unit, chart=chart, measure=result.measure))
            verdicts.append({"unit": unit, "chart": chart, "measure": result.measure, "status": result.status,
                             "verdict": result.verdict, "notes": list(result.notes)})
    frame = pd.concat([p for p in points if not p.empty], ignore_index=True) if any(
        not p.empty for p in points) else pd.DataFrame()
    return {"spc_points": frame, "spc_verdicts": pd.DataFrame(verdicts)}


def _courses(sessions: pd.DataFrame) -> dict[str, pd.DataFrame]:
    from analysis.courses import dropout_by_session
    from analysis.time_to_satisfied import sessions_to_satisfied

    curves, summaries = [], []
    groups = [("all", sessions), *sessions.groupby("indication")]
    for indication, group in groups:
        km = sessions_to_satisfied(group)
        curves.append(km.table.assign(indication=indication))
        summaries.append({"indication": indication, "n_courses": km.n_courses, "n_satisfied": km.n_satisfied,
                          "median": _num(km.median), "median_low": _num(km.median_low),
                          "median_high": _num(km.median_high), "median_text": km.median_text,
                          "notes": list(km.notes)})
    dropout = dropout_by_session(sessions, by="indication")
    return {"course_curves": pd.concat(curves, ignore_index=True), "course_summaries": pd.DataFrame(summaries),
            "course_dropout": dropout}


def model_report(settings: Settings, scope: str = NETWORK) -> dict:
    """The latest model results for ``scope`` in the shape ``derma models --format json`` prints."""
    from queries import run_query

    snapshot, con = connect_current(settings.data_dir)
    try:
        values = {"scope": scope}
        summaries = run_query(con, "model_summaries", values)
        if summaries.empty:
            from etl.load import LoadError

            raise LoadError(f"no model results for scope '{scope}' yet: run 'derma models --refresh'")
        effects = run_query(con, "model_effects", values)
        curves = run_query(con, "model_curves", values)
        run = con.execute("select run_id, scope, data_batch_id, fitted_at, seconds, is_fresh from stg_model_runs "
                          "where is_latest and scope = $s", {"s": scope}).df().iloc[0]
        report = {
            "snapshot": snapshot.snapshot_id,
            "scope": scope,
            "run": {k: plain(v) for k, v in run.items()},
            "models": [_model_entry(row, effects[effects["model"] == row["model"]]) for _, row in summaries.iterrows()],
            "curves": [_curve_entry(name, group) for name, group in curves.groupby("curve", sort=False)],
            "proportional_odds": records(run_query(con, "model_po_check", values).drop(
                columns=["run_id", "scope", "data_batch_id", "fitted_at", "is_fresh"])),
            "funnel": {kind: records(run_query(con, "funnel_units", {**values, "unit_type": kind})[
                ["unit", "clinic_id", "n_sessions", "observed", "expected", "oe_ratio", "oe_low", "oe_high", "flag",
                 "reading"]]) for kind in ("clinician", "clinic")},
            "control_charts": records(run_query(con, "spc_verdicts", values)[
                ["unit", "chart", "measure", "status", "verdict"]]),
            "courses": records(run_query(con, "course_summaries", values)[
                ["indication", "n_courses", "n_satisfied", "median", "median_low", "median_high", "median_text"]]),
        }
    finally:
        con.close()
    return report


def _model_entry(row: pd.Series, effects: pd.DataFrame) -> dict:
    return {
        "name": row["model"], "outcome": row["outcome"], "method": row["method"], "status": row["status"],
        "n_sessions": plain(row["n_sessions"]), "n_patients": plain(row["n_patients"]),
        "n_events": plain(row["n_events"]), "warnings": list(row["warnings"] if row["warnings"] is not None
                                                                     else []),
        "effects": records(effects[["term", "label", "unit", "scale", "estimate", "ci_low", "ci_high", "p_value"]]),
    }


def _curve_entry(name: str, group: pd.DataFrame) -> dict:
    first = group.iloc[0]
    return {"name": name, "x": first["x_name"], "y": first["y_name"],
            "reference": json.loads(first["reference"]) if first["reference"] else {}, "note": first["note"],
            "points": records(group[["x", "estimate", "ci_low", "ci_high"]])}
