"""``derma serve --lake``: the dashboard over a lake, through a small DuckDB file of views over its Parquet.

The dashboard reads a published snapshot (``etl.warehouse.current_snapshot``). For a lake, a private data
folder gets one "snapshot" holding no data: the warehouse's schema with each table the lake has replaced
by a read-only view over the lake's Parquet (a table the lake lacks stays empty, in the warehouse's
shape), the marts as views, the staging views, and ``lake_source``, the lake's folder. Every reader then
works unchanged, and so does the per-clinic scoping (``etl.access.scoped_connection`` defines its row
policies on these views and lets the engine read files under the lake's folder only).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from importlib import resources
from pathlib import Path

import duckdb

from derma.lake.layout import Lake, quoted
from derma.lake.marts import referenced_tables
from etl.warehouse import CURRENT_LINK, SNAPSHOT_DIR
from queries import list_queries

#: Lake tables shown under the warehouse's name of the table they come from.
WAREHOUSE_NAMES = {"quarantined_files": "quarantine"}
LAKE_SOURCE = "lake_source"


def lake_data_dir(lake_path: Path | str, parent: Path | None = None) -> Path:
    """A data folder whose current snapshot is the lake's view database (made once per lake state)."""
    lake = Lake.open(lake_path)
    state = hashlib.sha256(
        (str(lake.path) + (lake.path / "_manifest.json").read_text(encoding="utf-8")).encode()
    ).hexdigest()[:12]
    data_dir = Path(parent or tempfile.mkdtemp(prefix="derma-lake-")) / "data"
    snapshots = data_dir / SNAPSHOT_DIR
    snapshots.mkdir(parents=True, exist_ok=True)
    target = snapshots / f"lake-{state}.duckdb"
    if not target.exists():
        staged = snapshots / f".lake-{state}.{os.getpid()}.duckdb"
        staged.unlink(missing_ok=True)
        write_view_database(lake, staged)
        staged.replace(target)
    link = data_dir / CURRENT_LINK
    staged_link = data_dir / f".{CURRENT_LINK}.{os.getpid()}"
    staged_link.unlink(missing_ok=True)
    staged_link.symlink_to(target.relative_to(data_dir))
    staged_link.replace(link)
    return data_dir


def write_view_database(lake: Lake, path: Path) -> None:
    """The warehouse's schema over the lake: the lake's tables as views, the others empty."""
    con = duckdb.connect(str(path))
    try:
        con.execute(resources.files("etl").joinpath("schema.sql").read_text(encoding="utf-8"))
        tables = _schema_tables(con)
        for name in lake.manifest["tables"]:
            table = lake.table(name)
            target = WAREHOUSE_NAMES.get(name, name)
            source = _read(table)
            if target in tables:
                # The warehouse's columns in its order: those the lake lacks read as NULL.
                have = {c for c, _ in table.columns}
                columns = ", ".join(
                    f'"{c}"' if c in have else f'cast(null as {kind}) as "{c}"' for c, kind in tables[target]
                )
                con.execute(f'drop table "{target}"')
                con.execute(f'create view "{target}" as select {columns} from {source}')
            else:
                con.execute(f'create view "{target}" as select * from {source}')
        present = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
        for query in list_queries("staging"):
            if referenced_tables(query.sql) <= present:
                con.execute(f'create or replace view "{query.name}" as\n{query.sql}')
        con.execute(f"create table {LAKE_SOURCE} (root varchar)")
        con.execute(f"insert into {LAKE_SOURCE} values (?)", [str(lake.path) + os.sep])
        con.execute("checkpoint")
    finally:
        con.close()


def _schema_tables(con) -> dict[str, list[tuple[str, str]]]:
    rows = con.execute(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'main' order by table_name, ordinal_position"
    ).fetchall()
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in rows:
        tables.setdefault(table, []).append((column, kind))
    return tables


def _read(table) -> str:
    if not table.files:
        columns = ", ".join(f'cast(null as {t}) as "{c}"' for c, t in table.columns)
        return f"(select {columns} where false)"
    files = "[" + ", ".join(quoted(f) for f in table.files) + "]"
    options = ""
    if table.partition_by:
        types = ", ".join(f"{quoted(c)}: 'VARCHAR'" for c in table.partition_by)
        options = f", hive_partitioning = true, hive_types = {{{types}}}"
    return f"read_parquet({files}{options})"
