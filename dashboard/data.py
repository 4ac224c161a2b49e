"""Every dataset the app shows: cached reads of the named queries on the snapshot published now.

The only module with ``st.cache_*``. Each cached function takes plain hashable arguments: the
snapshot path (it carries the snapshot id, so a newly published snapshot misses every old entry) and
every filter that scopes the result. The connection is a ``cache_resource`` per snapshot, opened
read-only with DuckDB's default configuration (DuckDB refuses a second instance of the same file with
other settings); Streamlit sessions are threads and a DuckDB connection is not thread-safe, so each
read takes its own ``cursor()``. The analyst sandbox attaches the snapshot to a private instance.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from dashboard.filters import Filters
from etl.sandbox import SandboxResult, run_sandboxed
from etl.settings import Settings
from etl.warehouse import Snapshot, connect, current_snapshot
from queries import run_query

TTL = "1h"  # entries are keyed by snapshot, so the TTL only bounds memory, never freshness
MANY = 256
FEW = 32
NETWORK = "network"


def data_dir() -> Path:
    return Settings.from_env().data_dir


def snapshot() -> Snapshot | None:
    """The snapshot published now (resolved on every run, so a new load is picked up without a restart)."""
    return current_snapshot(data_dir())


@st.cache_resource(max_entries=3, show_spinner=False)
def _connection(snapshot_path: str) -> duckdb.DuckDBPyConnection:
    return connect(snapshot_path, read_only=True)


def read(snapshot_path: str, name: str, params: dict | None = None) -> pd.DataFrame:
    """Run the named query ``name`` on the snapshot with bound parameters (uncached; one cursor per read)."""
    cursor = _connection(snapshot_path).cursor()
    try:
        return run_query(cursor, name, params or {})
    finally:
        cursor.close()


# --- Filter choices ---------------------------------------------------------------------------------------

@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def months(snapshot_path: str) -> list[str]:
    frame = read(snapshot_path, "kpis_by_month")
    return [pd.Timestamp(m).strftime("%Y-%m") for m in frame["month"]]


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def clinicians(snapshot_path: str) -> pd.DataFrame:
    return read(snapshot_path, "clinician_outcomes")[["clinic_id", "clinician_id"]]


# --- Filtered marts (every sidebar filter applies) --------------------------------------------------------

@st.cache_data(ttl=TTL, max_entries=MANY, show_spinner=False)
def kpis(snapshot_path: str, f: Filters) -> pd.DataFrame:
    return read(snapshot_path, "kpis_by_month", f.params())


@st.cache_data(ttl=TTL, max_entries=MANY, show_spinner=False)
def satisfaction_by_session(snapshot_path: str, f: Filters) -> pd.DataFrame:
    return read(snapshot_path, "satisfaction_by_session_number", f.params())


@st.cache_data(ttl=TTL, max_entries=MANY, show_spinner=False)
def course_completion(snapshot_path: str, f: Filters) -> pd.DataFrame:
    frame = read(snapshot_path, "course_completion", f.params())
    return frame.assign(finished=frame["completed"] + frame["dropped_out"])  # the dropout rate's denominator


@st.cache_data(ttl=TTL, max_entries=MANY, show_spinner=False)
def setting_rates(snapshot_path: str, f: Filters, setting: str) -> pd.DataFrame:
    return read(snapshot_path, "side_effect_rate_by_setting", {**f.params(), "setting": setting})


@st.cache_data(ttl=TTL, max_entries=MANY, show_spinner=False)
def side_effect_types(snapshot_path: str, f: Filters) -> pd.DataFrame:
    return read(snapshot_path, "side_effect_types_by_skin_type", f.params())


# --- Model results (fitted per scope: the network, or a clinic that has its own fit) ----------------------

@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def model_scope(snapshot_path: str, clinic_id: str | None) -> str:
    """The clinic's own fit when the warehouse has one, else the network's."""
    if clinic_id and not read(snapshot_path, "model_summaries", {"scope": clinic_id}).empty:
        return clinic_id
    return NETWORK


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def model_summaries(snapshot_path: str, scope: str) -> pd.DataFrame:
    return read(snapshot_path, "model_summaries", {"scope": scope})


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def model_effects(snapshot_path: str, scope: str) -> pd.DataFrame:
    return read(snapshot_path, "model_effects", {"scope": scope})


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def model_po_check(snapshot_path: str, scope: str) -> pd.DataFrame:
    return read(snapshot_path, "model_po_check", {"scope": scope})


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def model_curves(snapshot_path: str, scope: str) -> pd.DataFrame:
    return read(snapshot_path, "model_curves", {"scope": scope})


@st.cache_data(ttl=TTL, max_entries=MANY, show_spinner=False)
def explorer(snapshot_path: str, scope: str, fitzpatrick: int, indication: str, treatment_area: str,
             crystal_type: str | None) -> pd.DataFrame:
    frame = read(snapshot_path, "settings_explorer", {
        "scope": scope, "fitzpatrick": fitzpatrick, "indication": indication, "treatment_area": treatment_area,
        "crystal_type": crystal_type})
    # A refresh may store the reference profile twice under one crystal label; the rows are identical.
    return frame.drop_duplicates(["crystal_type", "vacuum_kpa", "passes"]).reset_index(drop=True)


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def course_curves(snapshot_path: str, scope: str, indication: str) -> pd.DataFrame:
    return read(snapshot_path, "course_curves", {"scope": scope, "indication": indication})


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def course_summaries(snapshot_path: str, scope: str) -> pd.DataFrame:
    return read(snapshot_path, "course_summaries", {"scope": scope})


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def course_dropout(snapshot_path: str, scope: str, indication: str | None) -> pd.DataFrame:
    return read(snapshot_path, "course_dropout", {"scope": scope, "indication": indication})


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def funnel(snapshot_path: str, unit_type: str, clinic_id: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Units and limits of the network's risk-adjusted funnel (units of one clinic when given)."""
    units = read(snapshot_path, "funnel_units", {"unit_type": unit_type, "clinic_id": clinic_id})
    return units, read(snapshot_path, "funnel_limits", {"unit_type": unit_type})


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def funnel_summaries(snapshot_path: str) -> pd.DataFrame:
    return read(snapshot_path, "funnel_summaries")


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def spc_points(snapshot_path: str, unit: str | None, chart: str) -> pd.DataFrame:
    return read(snapshot_path, "spc_points", {"unit": unit, "chart": chart})


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def spc_verdicts(snapshot_path: str, unit: str) -> pd.DataFrame:
    return read(snapshot_path, "spc_verdicts", {"unit": unit})


# --- Load history and data quality ------------------------------------------------------------------------

@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def load_batches(snapshot_path: str) -> pd.DataFrame:
    return read(snapshot_path, "load_batches")


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def quarantine_summary(snapshot_path: str, clinic_id: str | None) -> pd.DataFrame:
    return read(snapshot_path, "quarantine_summary", {"clinic_id": clinic_id})


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def quarantine_records(snapshot_path: str, clinic_id: str | None) -> pd.DataFrame:
    return read(snapshot_path, "quarantine_records", {"clinic_id": clinic_id})


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def freshness(snapshot_path: str, clinic_id: str | None) -> pd.DataFrame:
    return read(snapshot_path, "data_freshness", {"clinic_id": clinic_id})


# --- The SQL page -----------------------------------------------------------------------------------------

@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def named_query(snapshot_path: str, name: str, params: tuple[tuple[str, object], ...]) -> pd.DataFrame:
    """An analyst's named query with the values typed on the SQL page (checked and bound by the loader)."""
    return read(snapshot_path, name, dict(params))


def sandboxed(snapshot_path: str, sql: str) -> SandboxResult:
    """Free SQL through the sandbox; never cached (it has its own time and memory limits)."""
    return run_sandboxed(sql, Path(snapshot_path), max_rows=10_000, timeout_s=10.0)


# --- Monthly reports --------------------------------------------------------------------------------------

@st.cache_data(ttl=TTL, max_entries=8, show_spinner=False)
def report_files(snapshot_path: str, month: str, clinic_id: str | None, formats: tuple[str, ...],
                 min_cell: int | None) -> tuple[tuple[str, bytes], ...]:
    """The month's report files (name, bytes) for a clinic or the network, built in a temporary folder.

    ``snapshot_path`` keys the cache: a new snapshot builds new files.
    """
    import tempfile

    from dashboard.report import build_report

    with tempfile.TemporaryDirectory(prefix="derma-report-") as folder:
        paths = build_report(Settings.from_env(), month, clinic_id, Path(folder), formats, min_cell)
        return tuple((p.name, p.read_bytes()) for p in paths)
