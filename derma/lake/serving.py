"""``derma serve --lake``: the dashboard over a lake, through a small DuckDB file of views over its Parquet.

The dashboard reads a published snapshot (``etl.warehouse.current_snapshot``). For a lake, the lake's
own data folder (kept between serves, see ``lake_data_dir``) gets one "snapshot" holding no data: the
warehouse's schema with each table the lake has replaced by a read-only view over the lake's Parquet (a
table the lake lacks stays empty, in the warehouse's shape), the marts as views, the staging views, and
``lake_source``, the lake's folder. Every reader then
works unchanged, and so does the per-clinic scoping (``etl.access.scoped_connection`` defines its row
policies on these views and lets the engine read files under the lake's folder only).
"""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path

import duckdb

from derma.lake.layout import Lake, LakeError, quoted
from derma.lake.marts import referenced_tables
from etl.warehouse import CURRENT_LINK, SNAPSHOT_DIR, current_snapshot
from queries import list_queries

#: Lake tables shown under the warehouse's name of the table they come from.
WAREHOUSE_NAMES = {"quarantined_files": "quarantine"}
LAKE_SOURCE = "lake_source"


#: Where each served lake's data folder lives unless ``--data-dir`` names one: ``$XDG_DATA_HOME`` (or
#: ``~/.local/share``) ``/derma/lakes/<lake folder's name>-<hash of its resolved path>``.
LAKES_FOLDER = Path("derma") / "lakes"
VIEW_PREFIX = "lake-"


def lake_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or ""
    root = Path(base) if Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / LAKES_FOLDER


def default_data_dir(lake: Lake) -> Path:
    """The lake's own data folder: the same lake (by resolved path) always gets the same one."""
    where = lake.path.resolve()
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in where.name)[:40] or "lake"
    return lake_home() / f"{name}-{hashlib.sha256(str(where).encode()).hexdigest()[:12]}"


def lake_data_dir(lake_path: Path | str, data_dir: Path | None = None) -> Path:
    """The data folder ``derma serve --lake`` runs on: its current snapshot is the lake's view database.

    The folder is kept between serves: it also holds what the dashboard records there (notes, targets,
    the audit log), so a lake served again shows them again. The view database is made once per state of
    the lake (its path and manifest); when the lake has changed, the new one becomes current and the
    older ones are removed (a server still reading one keeps its open file). A folder holding a
    warehouse is refused, so that a lake is never published over a warehouse's snapshots.
    """
    lake = Lake.open(lake_path)
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir(lake)
    current = current_snapshot(data_dir)
    if current is not None and not current.path.name.startswith(VIEW_PREFIX):
        raise LakeError(
            f"{data_dir} holds a warehouse: serve a lake from a folder of its own "
            "(leave out --data-dir to use the lake's default one)"
        )
    state = hashlib.sha256(
        (str(lake.path) + (lake.path / "_manifest.json").read_text(encoding="utf-8")).encode()
    ).hexdigest()[:12]
    snapshots = data_dir / SNAPSHOT_DIR
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    snapshots.mkdir(exist_ok=True)
    target = snapshots / f"{VIEW_PREFIX}{state}.duckdb"
    if not target.exists():
        staged = snapshots / f".{VIEW_PREFIX}{state}.{os.getpid()}.duckdb"
        staged.unlink(missing_ok=True)
        try:
            write_view_database(lake, staged)
        except BaseException:
            staged.unlink(missing_ok=True)
            Path(f"{staged}.wal").unlink(missing_ok=True)
            raise
        staged.replace(target)
    link = data_dir / CURRENT_LINK
    staged_link = data_dir / f".{CURRENT_LINK}.{os.getpid()}"
    staged_link.unlink(missing_ok=True)
    staged_link.symlink_to(target.relative_to(data_dir))
    staged_link.replace(link)
    _prune_views(snapshots, keep=target)
    return data_dir


def _prune_views(snapshots: Path, keep: Path) -> None:
    """Remove the view databases of the lake's earlier states, and staged ones whose writer is gone."""
    for old in snapshots.glob(f"{VIEW_PREFIX}*.duckdb"):
        if old != keep:
            old.unlink(missing_ok=True)
            Path(f"{old}.wal").unlink(missing_ok=True)
    for staged in snapshots.glob(f".{VIEW_PREFIX}*.duckdb"):
        pid = staged.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not _running(int(pid)):
            staged.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
