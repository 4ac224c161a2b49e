"""Marts: staging views and rollup tables rebuilt from ``queries/`` into the snapshot being built."""

from __future__ import annotations

import hashlib

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


def build_marts(con: duckdb.DuckDBPyConnection, catalog: str = "wh") -> list[str]:
    """Create every ``staging/`` view and rebuild every ``marts/`` table in ``catalog``.

    The folder is the layer and the file stem the object name, so analysts find
    ``stg_sessions`` in ``queries/staging/stg_sessions.sql``. Views are defined with
    unqualified names, so they work when the snapshot is opened under any catalog name.
    Returns the objects built, in order.
    """
    built = []
    con.execute(f"use {catalog}")
    try:
        for query in list_queries("staging"):
            con.execute(f"create or replace view {query.name} as\n{query.sql}")
            built.append(query.name)
        for query in list_queries("marts"):
            con.execute(f"create or replace table {query.name} as\n{query.sql}")
            built.append(query.name)
        con.execute("insert or replace into schema_info values ('marts_fingerprint', $f)", {"f": marts_fingerprint()})
    finally:
        con.execute("use memory")
    return built
