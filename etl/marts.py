"""Marts: staging views and rollup tables rebuilt from ``queries/`` into the snapshot being built."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import duckdb

from queries import list_queries


def marts_fingerprint() -> str:
    """Hash of every staging and mart definition: a snapshot built with other SQL needs a rebuild."""
    digest = hashlib.sha256()
    for layer in ("staging", "marts"):
        for query in list_queries(layer):
            digest.update(f"{layer}/{query.name}\n{query.sql}\n".encode())
    return digest.hexdigest()


def marts_are_current(con: duckdb.DuckDBPyConnection, catalog: str = "wh") -> bool:
    rows = con.execute(f"select value from {catalog}.schema_info where key = 'marts_fingerprint'").fetchall()
    return bool(rows) and rows[0][0] == marts_fingerprint()


#: Marts whose every row depends only on its own clinic's sessions (every aggregate groups by
#: ``clinic_id``; ``stg_sessions`` is row by row): a batch rebuilds only the clinics it changed.
#: A test compares an incremental rebuild with a full one, table by table.
BY_CLINIC = (
    "monthly_outcomes",
    "patient_months",
    "settings_bands",
    "session_number_outcomes",
    "patient_courses",
    "unit_patients",
)


def build_marts(
    con: duckdb.DuckDBPyConnection, catalog: str = "wh", clinics: Sequence[str] | None = None
) -> list[str]:
    """Create every ``staging/`` view and rebuild every ``marts/`` table in ``catalog``.

    The folder is the layer and the file stem the object name, so analysts find
    ``stg_sessions`` in ``queries/staging/stg_sessions.sql``. Views are defined with
    unqualified names, so they work when the snapshot is opened under any catalog name.
    With ``clinics``, the marts of :data:`BY_CLINIC` are rebuilt for those clinics only (their
    other rows cannot change); the rest, which compare across the network, are rebuilt whole.
    Returns the objects built, in order.
    """
    built = []
    con.execute(f"use {catalog}")
    try:
        for query in list_queries("staging"):
            con.execute(f"create or replace view {query.name} as\n{query.sql}")
            built.append(query.name)
        for query in list_queries("marts"):
            if clinics is not None and query.name in BY_CLINIC:
                params = {"c": list(clinics)}
                con.execute(f"delete from {query.name} where list_contains($c::varchar[], clinic_id)", params)
                con.execute(
                    f"insert into {query.name} select * from (\n{query.sql}\n) "
                    "where list_contains($c::varchar[], clinic_id)",
                    params,
                )
            else:
                con.execute(f"create or replace table {query.name} as\n{query.sql}")
            built.append(query.name)
        con.execute(
            "insert or replace into schema_info values ('marts_fingerprint', $f)", {"f": marts_fingerprint()}
        )
    finally:
        con.execute("use memory")
    return built
