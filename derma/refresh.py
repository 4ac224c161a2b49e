"""Model refresh: fit every model on the current snapshot and publish the results with it.

Published snapshots are immutable, so a refresh publishes an amended copy (same sessions, plus the
model tables) through the same copy-and-swap as a load. Each run records the data batch it was
fitted on; results are *stale* when a newer batch has been loaded since.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass

import duckdb
import pandas as pd

from derma.annotations import chart_inputs, stamped, units_of
from etl.access import NETWORK
from etl.batch import LoadError, new_batch_id, software_version
from etl.load import amend_snapshot
from etl.schema_upgrade import add_missing_columns, insert_frame
from etl.settings import Settings
from etl.userdata import read as read_userdata
from etl.warehouse import connect_current, scalar
from queries import run_query

MODEL_TABLES = (
    "model_runs",
    "model_summaries",
    "model_effects",
    "model_curves",
    "model_po_check",
    "settings_explorer",
    "funnel_units",
    "funnel_limits",
    "funnel_summaries",
    "spc_points",
    "spc_verdicts",
    "course_curves",
    "course_summaries",
    "course_dropout",
)


INPUT_COLUMNS = (
    "clinic_id",
    "patient_key",
    "clinician_id",
    "session_date",
    "crystal_type",
    "device_model",
    "vacuum_kpa",
    "passes",
    "treatment_area",
    "indication",
    "fitzpatrick",
    "particle_flow",
    "session_number",
    "reported_session_number",
    "pre_care_followed",
    "satisfaction",
    "follow_up_done",
    "any_side_effect",
)


RUNS_KEPT_PER_SCOPE = 2


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
    return scalar(
        con, "select max(run_id) from stg_model_runs where scope = $scope and is_fresh", {"scope": scope}
    )


def load_inputs(con: duckdb.DuckDBPyConnection, scope: str) -> pd.DataFrame:
    """The sessions of ``scope`` with the models' columns, through Arrow.

    DuckDB's ``.df()`` builds Python strings row by row: 23 s and 7 GB peak for 10M sessions. Arrow
    hands pandas the columns as they are (1.6 s, 2.7 GB); three columns are then given the dtypes
    ``.df()`` gave (datetime, nullable integer, nullable boolean), so the models see the same frame.
    """
    columns = ", ".join(
        "session_date::timestamp as session_date" if c == "session_date" else c for c in INPUT_COLUMNS
    )
    table = con.sql(
        f"select {columns} from sessions where $scope = 'network' or clinic_id = $scope",
        params={"scope": scope},
    ).to_arrow_table()
    frame = table.to_pandas()
    return frame.astype({"satisfaction": "Int32", "any_side_effect": "boolean"})


def fit_on_snapshot(
    path, scope: str, series: pd.DataFrame, memory_limit: str | None, rebase=None, targets=None
):
    """Every model table of ``scope`` fitted where the snapshot's sessions are (a private read-only DuckDB).

    The sessions never come into Python whole: the models are fitted from sums the engine computes
    (``derma.lake``); what Python holds is a few categorical codes per session for the funnels and
    alerts (linear in the sessions, about 330 MB at 10M) and the course tables. The engine gets half
    of ``memory_limit`` (the other half is for those reads, made while it is open) and spills beyond
    it into its private temporary folder (mode 0700); it is closed before the pandas stages run.
    """
    from derma.fitting import model_tables
    from derma.lake.engines import DuckDBEngine
    from derma.lake.results import read_everything

    engine = DuckDBEngine.over_snapshot(path, memory_limit=half_of(memory_limit))
    try:
        inputs, total = read_everything(engine, scope)
    finally:
        engine.close()  # its memory is given back before the funnels and alerts work on the sessions
    return model_tables(scope=scope, series=series, rebase=rebase, targets=targets, **inputs), total


_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4}
_UNITS.update({"kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4})


def half_of(limit: str | None) -> str | None:
    """Half of a DuckDB memory limit such as ``2GB`` (in MB); the limit itself when it is not a size."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]+)\s*", limit or "")
    if not match or match.group(2).lower() not in _UNITS:
        return limit
    return f"{max(1, int(float(match.group(1)) * _UNITS[match.group(2).lower()] / 2 / 1000**2))}MB"


def refresh_models(settings: Settings, scope: str = NETWORK, force: bool = False) -> ModelRun | None:
    """Fit the models for ``scope`` unless fresh results exist; publish them. None when nothing to do."""
    snapshot, con = connect_current(settings.data_dir)
    try:
        existing = fresh_run(con, scope)
        if existing and not force:
            return None
        batch = latest_batch(con)
        if scope != NETWORK and not scalar(
            con, "select count(*) from sessions where clinic_id = $c", {"c": scope}
        ):
            raise LoadError(f"no sessions for clinic '{scope}' in the warehouse")
        series = run_query(con, "monthly_series", {"scope": scope})
    finally:
        con.close()
    started = time.perf_counter()
    run_id = new_batch_id(dt.datetime.now(dt.UTC).replace(tzinfo=None))
    rebase, targets, stamps = chart_inputs(read_userdata(settings), units_of(series, scope))
    tables, n_sessions = fit_on_snapshot(snapshot.path, scope, series, settings.memory_limit, rebase, targets)
    tables["spc_verdicts"] = stamped(tables["spc_verdicts"], stamps)
    seconds = time.perf_counter() - started
    tables["model_runs"] = run_record(run_id, scope, batch or "", seconds, n_sessions)

    def write(target: duckdb.DuckDBPyConnection) -> None:
        add_missing_columns(target)  # a snapshot from an older version lacks the newer result columns
        _prune_runs(target, scope)
        insert_results(target, tables, run_id)

    published = amend_snapshot(settings, write)
    return ModelRun(run_id, scope, batch or "", seconds, published.snapshot_id)


def run_record(run_id: str, scope: str, batch: str, seconds: float, n_sessions: int) -> pd.DataFrame:
    """The ``model_runs`` row of a fit: what was fitted, on which data batch, how long it took."""
    return pd.DataFrame(
        [
            {
                "run_id": run_id,
                "scope": scope,
                "data_batch_id": batch,
                "fitted_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
                "software_version": software_version(),
                "seconds": seconds,
                "n_sessions": n_sessions,
            }
        ]
    )


def insert_results(target: duckdb.DuckDBPyConnection, tables: dict[str, pd.DataFrame], run_id: str) -> None:
    """Append each result frame to its model table, column by column as the table has them."""
    for table, frame in tables.items():
        if frame is None or frame.empty:
            continue
        insert_frame(target, table, frame.assign(run_id=run_id))


def _prune_runs(con: duckdb.DuckDBPyConnection, scope: str) -> None:
    old = [
        r[0]
        for r in con.execute(
            "select run_id from model_runs where scope = $s order by run_id desc offset $k",
            {"s": scope, "k": RUNS_KEPT_PER_SCOPE - 1},
        ).fetchall()
    ]
    for table in MODEL_TABLES:
        con.execute(f"delete from {table} where list_contains($old, run_id)", {"old": old})
