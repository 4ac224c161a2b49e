"""The warehouse on disk: the one place that opens DuckDB, published snapshots and the current link.

Layout of a data directory::

    warehouse.duckdb        symlink to the current snapshot (what analysts open, read-only)
    snapshots/<id>.duckdb   published snapshots, never written after publication
    snapshots/.building-*   a load in progress (removed by the next load if the last one died)
    .load.lock              held by the one load that may run at a time
    .work/                  private spill folder (mode 0700) of a running load: pseudonymised rows only
                            (the patient number is replaced as the file is read); wiped at the end
                            of every load and, after a killed one, at the start of the next

A load never writes a published file: it copies the current snapshot, applies the batch to the
copy, checkpoints it and swaps the link with an atomic rename. Readers therefore never meet a lock
and never see a half-load; a reader that keeps its connection keeps reading the snapshot it opened,
so long-lived readers resolve the link (``current_snapshot``) and reconnect when it changes.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

CURRENT_LINK = "warehouse.duckdb"
SNAPSHOT_DIR = "snapshots"
BUILDING_PREFIX = ".building-"
LOCK_FILE = ".load.lock"
WORK_DIR = ".work"


def crash_point(name: str) -> None:
    """Die here, as ``kill -9`` would, when ``DERMA_CRASH_AT`` names this point.

    Crash-safety tests use it to stop a load at every step deterministically; unset, it does nothing.
    """
    if os.environ.get("DERMA_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


class WarehouseError(RuntimeError):
    """The warehouse cannot be opened or published; the message says why in one line."""


@dataclass(frozen=True)
class Snapshot:
    """One published, immutable warehouse state."""

    snapshot_id: str
    path: Path


def current_snapshot(data_dir: Path) -> Snapshot | None:
    """The snapshot ``<data_dir>/warehouse.duckdb`` names now, or ``None`` before the first load."""
    link = Path(data_dir) / CURRENT_LINK
    if not link.exists():
        return None
    target = link.resolve()
    return Snapshot(snapshot_id=target.stem, path=target)


def list_snapshots(data_dir: Path) -> list[Snapshot]:
    """Published snapshots, oldest first (ids sort by time)."""
    folder = Path(data_dir) / SNAPSHOT_DIR
    if not folder.is_dir():
        return []
    paths = sorted(p for p in folder.glob("*.duckdb") if not p.name.startswith("."))
    return [Snapshot(p.stem, p) for p in paths]


def connect(
    path: Path | str, read_only: bool = True, config: dict | None = None
) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file. Every database connection of the product is made here."""
    try:
        return duckdb.connect(str(path), read_only=read_only, config=config or {})
    except duckdb.Error as exc:
        raise WarehouseError(f"cannot open the warehouse {path}: {str(exc).splitlines()[0]}") from None


def connect_memory(config: dict | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB: where raw rows live while a load checks and pseudonymises them."""
    return duckdb.connect(":memory:", config=config or {})


#: A snapshot that is a lake's view database (``derma serve --lake``) names the lake's folder here.
LAKE_SOURCE = "lake_source"


def allow_lake_files(con: duckdb.DuckDBPyConnection, catalog: str) -> None:
    """Before external access goes off: let the engine read the lake's Parquet, and nothing else.

    A lake's view database reads its data from Parquet under the lake's folder; with external access
    off those reads are refused unless the folder is an allowed directory. A warehouse snapshot has no
    ``lake_source`` and nothing is allowed.
    """
    found = con.execute(
        "select count(*) from information_schema.tables where table_catalog = ? and table_name = ?",
        [catalog, LAKE_SOURCE],
    ).fetchone()[0]
    if not found:
        return
    roots = [r[0] for r in con.execute(f'select root from "{catalog}".{LAKE_SOURCE}').fetchall()]
    con.execute("set allowed_directories = ?", [roots])


def connect_attached(path: Path | str, alias: str, config: dict | None = None) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB with the file attached read-only as its default catalog ``alias``.

    DuckDB keeps one database instance per file and process and refuses to open that file again with
    another configuration, so a connection that needs settings of its own (the analyst sandbox) could
    not coexist with the app's connection to the same snapshot. Attaching the file to a fresh
    in-memory instance gives it its own settings and leaves the app's instance alone.
    """
    if not alias.isidentifier():
        raise ValueError(f"catalog alias must be a plain identifier, not {alias!r}")
    con = None
    try:
        con = duckdb.connect(":memory:", config=config or {})
        con.execute(f'ATTACH ? AS "{alias}" (READ_ONLY)', [str(path)])
        con.execute(f'USE "{alias}"')
    except duckdb.Error as exc:
        if con is not None:
            con.close()
        raise WarehouseError(f"cannot open the warehouse {path}: {str(exc).splitlines()[0]}") from None
    return con


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None):
    """The single value of a one-row, one-column query (fetched completely, leaving no open result)."""
    rows = con.execute(sql, params or {}).fetchall()
    return rows[0][0] if rows else None


def required_snapshot(data_dir: Path) -> Snapshot:
    """The current snapshot, or a WarehouseError saying nothing has been loaded yet."""
    snapshot = current_snapshot(data_dir)
    if snapshot is None:
        raise WarehouseError(f"no warehouse in {data_dir} yet: load data with 'derma ingest' first")
    return snapshot


def connect_current(data_dir: Path) -> tuple[Snapshot, duckdb.DuckDBPyConnection]:
    """Open the current snapshot read-only (resolved, so the connection is pinned to it)."""
    snapshot = required_snapshot(data_dir)
    return snapshot, connect(snapshot.path, read_only=True)


@contextmanager
def load_lock(data_dir: Path) -> Iterator[None]:
    """Hold the data directory's load lock; the kernel frees it if the process dies."""
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    handle = open(Path(data_dir) / LOCK_FILE, "a+")  # noqa: SIM115 - held for the block
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WarehouseError(f"another load is running in {data_dir}; try again when it ends") from None
        yield
    finally:
        handle.close()


def clear_leftovers(data_dir: Path) -> int:
    """Remove what a killed load left behind (unpublished copies, spill files); return how many files.

    Called under the load lock at the start and end of every load, so no other load's files are
    touched. The count lets the next load say that it found (and removed) an interrupted one's files.
    """
    removed = 0
    folder = Path(data_dir) / SNAPSHOT_DIR
    if folder.is_dir():
        for stale in folder.glob(BUILDING_PREFIX + "*"):
            stale.unlink(missing_ok=True)
            removed += 1
    work = Path(data_dir) / WORK_DIR
    if work.is_dir():
        removed += sum(1 for p in work.rglob("*") if not p.is_dir())
        shutil.rmtree(work, ignore_errors=True)
    return removed


def start_building(data_dir: Path, snapshot_id: str) -> Path:
    """Copy the current snapshot (or nothing, on first load) to a private building file."""
    folder = Path(data_dir) / SNAPSHOT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    building = folder / f"{BUILDING_PREFIX}{snapshot_id}.duckdb"
    current = current_snapshot(data_dir)
    if current is not None:
        shutil.copyfile(current.path, building)
    return building


def work_dir(data_dir: Path) -> Path:
    path = Path(data_dir) / WORK_DIR
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def publish(data_dir: Path, building: Path, snapshot_id: str, keep: int) -> Snapshot:
    """Make ``building`` the current snapshot atomically, then prune old snapshots.

    The file is fsynced before the rename and the link is swapped with ``os.replace`` of a fresh
    symlink, so a crash at any point leaves either the old or the new snapshot current.
    """
    data_dir = Path(data_dir)
    final = data_dir / SNAPSHOT_DIR / f"{snapshot_id}.duckdb"
    fsync_path(building)
    crash_point("before_rename")
    os.replace(building, final)
    crash_point("after_rename")
    tmp_link = data_dir / f".{CURRENT_LINK}.{snapshot_id}.tmp"
    tmp_link.unlink(missing_ok=True)
    os.symlink(Path(SNAPSHOT_DIR) / final.name, tmp_link)
    crash_point("before_link_swap")
    os.replace(tmp_link, data_dir / CURRENT_LINK)
    crash_point("after_link_swap")
    fsync_path(data_dir / SNAPSHOT_DIR)
    fsync_path(data_dir)
    prune_snapshots(data_dir, keep)
    return Snapshot(snapshot_id, final)


def prune_snapshots(data_dir: Path, keep: int) -> list[Snapshot]:
    """Delete all but the newest ``keep`` snapshots; the current one is never deleted.

    A reader that still has a pruned file open keeps reading it (the inode lives until closed).
    """
    current = current_snapshot(data_dir)
    snapshots = list_snapshots(data_dir)
    removed = []
    for snap in snapshots[: max(0, len(snapshots) - max(1, keep))]:
        if current is not None and snap.path == current.path:
            continue
        snap.path.unlink(missing_ok=True)
        Path(str(snap.path) + ".wal").unlink(missing_ok=True)
        removed.append(snap)
    return removed


def fsync_path(path: Path | str) -> None:
    """Flush a file's data, or a folder's entries (a rename inside it), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
