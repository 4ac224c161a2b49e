"""Marts: staging views and rollup tables rebuilt from ``queries/`` into the snapshot being built."""

from __future__ import annotations

import duckdb

from queries import list_queries


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
    finally:
        con.execute("use memory")
    return built
