"""Every dataset the app shows, for the user signed in: cached reads of the named queries on the snapshot now.

The only module with ``st.cache_*``, and the one door to the warehouse. Who the user is comes from
:func:`principal` on every run (Streamlit's OIDC sign-in, a trusted proxy header, or the local admin
when no sign-in is configured); what they may see is a :class:`Source`: the published snapshot and
the clinics they are limited to. Every read goes through :func:`read`, which serves a limited user
from the scoped warehouse of ``etl.access`` (row policies as views), so no page, filter, URL
parameter or cached entry can return another clinic's rows. Each cached function takes the source
first, so caches are keyed by snapshot *and* scope; a new snapshot misses every old entry.

Connections are a ``cache_resource`` per snapshot (and per scope); Streamlit sessions are threads and
a DuckDB connection is not thread-safe, so each read takes its own ``cursor()``. The analyst sandbox
attaches the snapshot to a private instance. Page views, named and free queries, downloads and
reports are written to the audit log (``etl.audit``); when it cannot be written the action is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from dashboard import signin
from dashboard.auditing import log, log_once
from dashboard.filters import Filters
from etl import audit
from etl.access import (
    LOCAL_ADMIN,
    NETWORK,
    AccessConfig,
    AccessDenied,
    Principal,
    load_roles,
    scoped_connection,
)
from etl.sandbox import SandboxError, SandboxResult, run_sandboxed
from etl.settings import Settings
from etl.warehouse import Snapshot, connect, current_snapshot
from queries import run_query

TTL = "1h"  # entries are keyed by snapshot, so the TTL only bounds memory, never freshness
MANY = 256
FEW = 32


@dataclass(frozen=True)
class Source:
    """What a read may touch: a published snapshot and the clinics the user is limited to (None = all)."""

    snapshot: str
    clinics: tuple[str, ...] | None = None

    @property
    def everyone(self) -> str:
        """What "no clinic filter" means for this source, in words."""
        if self.clinics is None:
            return "the whole network"
        return self.clinics[0] if len(self.clinics) == 1 else f"your clinics ({', '.join(self.clinics)})"

    def home_unit(self, clinic_id: str | None) -> str:
        """The unit a page shows when no clinic is chosen: the user's only clinic, else the network."""
        if clinic_id:
            return clinic_id
        return self.clinics[0] if self.clinics and len(self.clinics) == 1 else NETWORK


def settings() -> Settings:
    return Settings.from_env()


def data_dir() -> Path:
    return settings().data_dir


def snapshot() -> Snapshot | None:
    """The snapshot published now (resolved on every run, so a new load is picked up without a restart)."""
    return current_snapshot(data_dir())


# --- Who is signed in -------------------------------------------------------------------------------------


@st.cache_data(ttl=60, max_entries=4, show_spinner=False)
def _roles(path: str, modified_ns: int) -> AccessConfig:  # noqa: ARG001 - the file's mtime keys the cache
    return load_roles(Path(path))


def roles() -> AccessConfig:
    path = settings().roles_file
    try:
        modified = path.stat().st_mtime_ns
    except OSError:
        modified = 0
    return _roles(str(path), modified)


def principal() -> Principal | None:
    """The user of this run: the local admin without sign-in, else whom the roles file says (None = not signed in).

    Raises ``etl.access.AccessError`` when the roles file is missing or broken (nobody gets in then).
    """
    if signin.sign_in_mode() == "local":
        return LOCAL_ADMIN
    who = signin.identity()
    return None if who is None else roles().principal(who)


def source(user: Principal, current: Snapshot) -> Source:
    """The part of the snapshot ``user`` may read."""
    if not user.known:
        raise AccessDenied(f"{user.identity} has no access")
    return Source(str(current.path), None if user.all_clinics else user.clinics)


# --- The audit log ----------------------------------------------------------------------------------------


def audit_records(user: Principal, since=None) -> pd.DataFrame:
    """The audit log for an admin, newest first (without the chain hashes)."""
    user.require(user.can_audit, "read the audit log")
    path = settings().audit_path
    try:
        state = path.stat()
        version = (state.st_size, state.st_mtime_ns)
    except FileNotFoundError:
        version = (0, 0)
    return _audit_frame(str(path), version, since)


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def _audit_frame(path: str, version: tuple[int, int], since) -> pd.DataFrame:  # noqa: ARG001 - version keys it
    """The log read and its chain checked once per (size, mtime): every admin rerun would re-read it all."""
    records = audit.read(Path(path), since)
    frame = pd.DataFrame(
        records, columns=["at", "who", "role", "via", "action", "what", "params", "rows", "outcome"]
    )
    frame["params"] = frame["params"].map(lambda p: ", ".join(f"{k}={v}" for k, v in (p or {}).items()))
    return frame.iloc[::-1].reset_index(drop=True)


# --- Reads ------------------------------------------------------------------------------------------------


@st.cache_resource(max_entries=3, show_spinner=False)
def _connection(snapshot_path: str) -> duckdb.DuckDBPyConnection:
    return connect(snapshot_path, read_only=True)


@st.cache_resource(max_entries=16, show_spinner=False)
def _scoped_connection(snapshot_path: str, clinics: tuple[str, ...]) -> duckdb.DuckDBPyConnection:
    threads = max(1, min(2, os.cpu_count() or 1))
    return scoped_connection(snapshot_path, clinics, threads=threads)


def read(src: Source, name: str, params: dict | None = None) -> pd.DataFrame:
    """Run the named query ``name`` with bound parameters on what ``src`` may see (uncached; a cursor per read).

    The one path every dashboard read takes: a user limited to some clinics reads the scoped warehouse,
    whatever page, filter or parameter asked.
    """
    con = _connection(src.snapshot) if src.clinics is None else _scoped_connection(src.snapshot, src.clinics)
    cursor = con.cursor()
    try:
        return run_query(cursor, name, params or {})
    finally:
        cursor.close()


# --- Filter choices ---------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def months(src: Source) -> list[str]:
    frame = read(src, "filter_months")
    return [pd.Timestamp(m).strftime("%Y-%m") for m in frame["month"]]


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def clinicians(src: Source) -> pd.DataFrame:
    return read(src, "filter_clinicians")


# --- Filtered marts (every sidebar filter applies) --------------------------------------------------------


@st.cache_data(ttl=TTL, max_entries=MANY, show_spinner=False)
def kpis(src: Source, f: Filters) -> pd.DataFrame:
    return read(src, "kpis_by_month", f.params())


@st.cache_data(ttl=TTL, max_entries=MANY, show_spinner=False)
def satisfaction_by_session(src: Source, f: Filters) -> pd.DataFrame:
    return read(src, "satisfaction_by_session_number", f.params())


@st.cache_data(ttl=TTL, max_entries=MANY, show_spinner=False)
def course_completion(src: Source, f: Filters) -> pd.DataFrame:
    frame = read(src, "course_completion", f.params())
    return frame.assign(finished=frame["completed"] + frame["dropped_out"])  # the dropout rate's denominator


@st.cache_data(ttl=TTL, max_entries=MANY, show_spinner=False)
def setting_rates(src: Source, f: Filters, setting: str) -> pd.DataFrame:
    return read(src, "side_effect_rate_by_setting", {**f.params(), "setting": setting})


@st.cache_data(ttl=TTL, max_entries=MANY, show_spinner=False)
def side_effect_types(src: Source, f: Filters) -> pd.DataFrame:
    return read(src, "side_effect_types_by_skin_type", f.params())


# --- Model results (fitted per scope: the network, or a clinic that has its own fit) ----------------------


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def model_scope(src: Source, clinic_id: str | None) -> str:
    """The clinic's own fit when the warehouse has one, else the network's (a limited user's only clinic by default)."""
    clinic_id = clinic_id or (src.clinics[0] if src.clinics and len(src.clinics) == 1 else None)
    if clinic_id and (
        src.clinics is not None or not read(src, "model_summaries", {"scope": clinic_id}).empty
    ):
        return clinic_id  # a limited user never falls back to the network's fit (it is not theirs to see)
    return NETWORK


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def model_summaries(src: Source, scope: str) -> pd.DataFrame:
    return read(src, "model_summaries", {"scope": scope})


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def model_effects(src: Source, scope: str) -> pd.DataFrame:
    return read(src, "model_effects", {"scope": scope})


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def model_po_check(src: Source, scope: str) -> pd.DataFrame:
    return read(src, "model_po_check", {"scope": scope})


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def model_curves(src: Source, scope: str) -> pd.DataFrame:
    return read(src, "model_curves", {"scope": scope})


@st.cache_data(ttl=TTL, max_entries=MANY, show_spinner=False)
def explorer(
    src: Source, scope: str, fitzpatrick: int, indication: str, treatment_area: str, crystal_type: str | None
) -> pd.DataFrame:
    frame = read(
        src,
        "settings_explorer",
        {
            "scope": scope,
            "fitzpatrick": fitzpatrick,
            "indication": indication,
            "treatment_area": treatment_area,
            "crystal_type": crystal_type,
        },
    )
    # A refresh may store the reference profile twice under one crystal label; the rows are identical.
    return frame.drop_duplicates(["crystal_type", "vacuum_kpa", "passes"]).reset_index(drop=True)


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def course_curves(src: Source, scope: str, indication: str) -> pd.DataFrame:
    return read(src, "course_curves", {"scope": scope, "indication": indication})


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def course_summaries(src: Source, scope: str) -> pd.DataFrame:
    return read(src, "course_summaries", {"scope": scope})


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def course_dropout(src: Source, scope: str, indication: str | None) -> pd.DataFrame:
    return read(src, "course_dropout", {"scope": scope, "indication": indication})


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def funnel(src: Source, unit_type: str, clinic_id: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Units and limits of the network's risk-adjusted funnel (units of one clinic when given)."""
    units = read(src, "funnel_units", {"unit_type": unit_type, "clinic_id": clinic_id})
    return units, read(src, "funnel_limits", {"unit_type": unit_type})


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def funnel_summaries(src: Source) -> pd.DataFrame:
    return read(src, "funnel_summaries")


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def spc_points(src: Source, unit: str | None, chart: str) -> pd.DataFrame:
    return read(src, "spc_points", {"unit": unit, "chart": chart})


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def spc_verdicts(src: Source, unit: str) -> pd.DataFrame:
    return read(src, "spc_verdicts", {"unit": unit})


# --- Load history and data quality ------------------------------------------------------------------------


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def load_batches(src: Source) -> pd.DataFrame:
    return read(src, "load_batches")


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def quarantine_summary(src: Source, clinic_id: str | None) -> pd.DataFrame:
    return read(src, "quarantine_summary", {"clinic_id": clinic_id})


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def quarantine_records(src: Source, clinic_id: str | None) -> pd.DataFrame:
    return read(src, "quarantine_records", {"clinic_id": clinic_id})


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def freshness(src: Source, clinic_id: str | None) -> pd.DataFrame:
    return read(src, "data_freshness", {"clinic_id": clinic_id})


# --- The SQL page -----------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL, max_entries=FEW, show_spinner=False)
def _named_query(src: Source, name: str, params: tuple[tuple[str, object], ...]) -> pd.DataFrame:
    return read(src, name, dict(params))


def named_query(
    user: Principal, src: Source, name: str, params: tuple[tuple[str, object], ...]
) -> pd.DataFrame:
    """A named query with the values typed on the SQL page (checked and bound by the loader), on ``src``."""
    user.require(user.can_named_queries, "run named queries")
    frame = _named_query(src, name, params)
    log_once(user, "query", "query", name, dict(params), len(frame))
    return frame


def sandboxed(user: Principal, src: Source, sql: str) -> SandboxResult:
    """Free SQL through the sandbox for admins and analysts (who see every clinic); never cached."""
    user.require(user.can_free_sql and src.clinics is None, "run free SQL")
    try:
        outcome = run_sandboxed(sql, Path(src.snapshot), max_rows=10_000, timeout_s=10.0)
    except SandboxError:
        log(user, "sql", audit.redact_sql(sql), outcome="refused")
        raise
    log(user, "sql", audit.redact_sql(sql), rows=len(outcome.frame))
    return outcome


# --- Monthly reports --------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL, max_entries=8, show_spinner=False)
def _report_files(
    src: Source, month: str, clinic_id: str | None, formats: tuple[str, ...], min_cell: int | None
) -> tuple[tuple[str, bytes], ...]:
    import tempfile

    from reports.build import build_report

    with tempfile.TemporaryDirectory(prefix="derma-report-") as folder:
        paths = build_report(
            settings(), month, clinic_id, Path(folder), formats, min_cell, clinics=src.clinics
        )
        return tuple((p.name, p.read_bytes()) for p in paths)


def report_files(
    user: Principal,
    src: Source,
    month: str,
    clinic_id: str | None,
    formats: tuple[str, ...],
    min_cell: int | None,
) -> tuple[tuple[str, bytes], ...]:
    """The month's report files (name, bytes) for a clinic or the network, built from what ``src`` may see.

    A user limited to some clinics may only build their clinics' reports, and those are built on the
    scoped warehouse (so a clinic report shows no network figures to them). The source keys the cache.
    """
    user.require(user.can_report(clinic_id), f"build the report of {clinic_id or 'the network'}")
    files = _report_files(src, month, clinic_id, formats, min_cell)
    log_once(
        user,
        "report",
        "report",
        clinic_id or NETWORK,
        {"month": month, "formats": list(formats), "min_cell": min_cell},
        None,
    )
    return files
