"""Bring an older snapshot's tables up to ``etl/schema.sql``: add the columns it lacks, keep every row."""

from __future__ import annotations

from importlib import resources

import duckdb

from etl.warehouse import connect_memory


def declared_columns() -> dict[str, list[tuple[str, str]]]:
    """Every table of ``etl/schema.sql`` with its columns and types, in order, as a fresh warehouse has them."""
    ddl = resources.files("etl").joinpath("schema.sql").read_text(encoding="utf-8")
    fresh = connect_memory()
    try:
        fresh.execute(ddl)
        rows = fresh.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_catalog = current_database() order by table_name, ordinal_position"
        ).fetchall()
    finally:
        fresh.close()
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in rows:
        tables.setdefault(table, []).append((column, kind))
    return tables


def add_missing_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Add to the connection's default catalog every column ``etl/schema.sql`` declares and a table lacks.

    A snapshot written by an older version keeps its rows; the new columns are NULL in them. Tables
    the schema does not declare, and columns it no longer declares, are left alone. Returns the
    ``table.column`` names added.
    """
    present: dict[str, set[str]] = {}
    for table, column in con.execute(
        "select table_name, column_name from information_schema.columns "
        "where table_catalog = current_database() and table_schema = current_schema()"
    ).fetchall():
        present.setdefault(table, set()).add(column)
    added = []
    for table, columns in declared_columns().items():
        if table not in present:
            continue
        for column, kind in columns:
            if column not in present[table]:
                # Names and types come from our own schema file, never from input.
                con.execute(f'alter table "{table}" add column "{column}" {kind}')
                added.append(f"{table}.{column}")
    return added


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame) -> None:
    """Append a pandas frame to ``table`` by the table's own column order (columns it lacks are NULL).

    ``table`` is one of our own schema's names, never input.
    """
    columns = [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_name = $t "
            "order by ordinal_position",
            {"t": table},
        ).fetchall()
    ]
    con.register("_frame", frame.reindex(columns=columns))
    try:
        con.execute(f"insert into {table} select * from _frame")
    finally:
        con.unregister("_frame")
