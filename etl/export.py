"""Parquet exports of a snapshot's marts: hive-partitioned by clinic, written whole or not at all.

Layout of an export folder::

    _manifest.json                      snapshot, time, software version; per table rows, columns, files
    <table>/clinic_id=<id>/data_0.parquet   a table with a clinic_id column, one folder per clinic
    <table>/data_0.parquet              a table without one (e.g. monthly_patients)

The partition column lives only in the folder names (hive style), as DuckDB writes it; readers restore
it (DuckDB ``hive_partitioning``, DataFusion ``table_partition_cols``) with the type the manifest gives.
Values are percent-encoded in folder names, which DuckDB and DataFusion both decode. An empty table
is an empty folder: a reader that infers the schema from files takes it from the manifest instead.

Rows are written in a fixed order by one writer thread from a read-only snapshot, so two exports of one
snapshot hold the same bytes per file (only ``exported_at`` in the manifest differs). The export is
written into a hidden sibling folder and renamed into place at the end: a failed export leaves the
destination as it was. A killed one may leave that hidden ``.<name>.export-*`` folder behind; the next
export to the same destination removes it (exports to one destination take turns on a lock file).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from etl.batch import software_version
from etl.marts import marts_are_current
from etl.warehouse import WarehouseError, connect_attached, fsync_path, scalar
from queries import list_queries

MANIFEST = "_manifest.json"
MANIFEST_VERSION = 1
PARTITION_COLUMN = "clinic_id"
#: Besides every mart: the sessions themselves (patient keys are pseudonyms; raw numbers never reach
#: the warehouse), and what the marts read besides them, so the export is a lake every mart can be rebuilt
#: from (``derma marts --lake``): the load history and which clinics' rows each quarantined file held.
EXTRA_TABLES = ("sessions", "load_batches", "quarantined_files")
#: Tables exported as a query of the warehouse rather than whole: the quarantine's rejected values and
#: patient keys stay in the warehouse; a file's name and clinic are all a mart needs.
SOURCES = {
    "quarantined_files": "select distinct file, clinic_id from quarantine where clinic_id is not null",
}
#: A table's natural order when all columns would be needlessly slow to sort by (the grain's key).
ORDER_KEYS = {"sessions": ("clinic_id", "session_id")}
#: Types Parquet cannot hold as integers (DuckDB would write DOUBLE): exported exactly as BIGINT, and a
#: value out of range fails the export instead of losing digits.
NARROWED = {"HUGEINT": "BIGINT", "UHUGEINT": "UBIGINT"}
_TEMP_PREFIX = ".export-"


class ExportError(RuntimeError):
    """The export cannot be written; the message says why in one line, and nothing was changed."""


@dataclass(frozen=True)
class ExportedFile:
    path: str  # relative to the export folder, with '/' separators
    bytes: int
    sha256: str


@dataclass(frozen=True)
class ExportedTable:
    name: str
    rows: int
    columns: tuple[tuple[str, str], ...]  # (name, DuckDB type as exported), warehouse column order
    warehouse_types: tuple[tuple[str, str], ...]  # only columns whose type was narrowed
    partition_by: tuple[str, ...]
    files: tuple[ExportedFile, ...]

    def to_dict(self) -> dict:
        narrowed = dict(self.warehouse_types)
        return {
            "rows": self.rows,
            "columns": [
                {"name": n, "type": t, **({"warehouse_type": narrowed[n]} if n in narrowed else {})}
                for n, t in self.columns
            ],
            "partition_by": list(self.partition_by),
            "files": [{"path": f.path, "bytes": f.bytes, "sha256": f.sha256} for f in self.files],
        }


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    snapshot_id: str
    exported_at: str
    software_version: str
    marts_fingerprint: str | None
    marts_current: bool
    tables: tuple[ExportedTable, ...]

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def files(self) -> int:
        return sum(len(t.files) for t in self.tables)

    def manifest(self) -> dict:
        return {
            "manifest_version": MANIFEST_VERSION,
            "snapshot": self.snapshot_id,
            "exported_at": self.exported_at,
            "software_version": self.software_version,
            "marts_fingerprint": self.marts_fingerprint,
            "marts_current": self.marts_current,
            "tables": {t.name: t.to_dict() for t in self.tables},
        }


def exportable_tables() -> list[str]:
    """Every mart (``queries/marts/*.sql``) and ``sessions``, in export order."""
    return [q.name for q in list_queries("marts")] + list(EXTRA_TABLES)


def export_marts(
    snapshot_path: Path | str,
    out_dir: Path | str,
    *,
    tables: Iterable[str] | None = None,
    overwrite: bool = False,
    memory_limit: str | None = None,
    threads: int = 1,
) -> ExportResult:
    """Write the snapshot's marts and sessions to ``out_dir`` as Parquet, with ``_manifest.json``.

    ``tables`` limits the export to some of :func:`exportable_tables` (default: all). An existing
    non-empty ``out_dir`` is refused unless ``overwrite`` is set and it holds an earlier export (a
    ``_manifest.json``): then it is replaced in one step. ``memory_limit`` bounds the private DuckDB
    instance that sorts and writes (it spills into the export's temporary folder).

    With ``threads=1`` (the default) two exports of one snapshot are byte-identical file by file.
    DuckDB's partitioned writer does not keep the ORDER BY across threads (each thread appends its
    share of a partition as it finishes), so more threads write faster but the row order inside a
    partition, and with it the bytes, can differ between runs; the rows themselves are the same.
    Raises :class:`ExportError` (or :class:`~etl.warehouse.WarehouseError` for an unreadable snapshot).
    """
    snapshot_path = Path(snapshot_path).resolve()
    out = Path(out_dir).absolute()
    names = _chosen(tables)
    _check_destination(out, overwrite)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        lock = open(out.parent / f".{out.name}.export.lock", "a+")  # noqa: SIM115 - held for the export
    except OSError as exc:
        raise ExportError(f"cannot write the export to {out}: {exc.strerror or exc}") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one export per destination; the kernel frees it if we die
        for leftover in out.parent.glob(f".{out.name}{_TEMP_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)  # a killed export's folder (none runs but ours)
        return _export_locked(snapshot_path, out, names, memory_limit, threads)


def _export_locked(
    snapshot_path: Path, out: Path, names: list[str], memory_limit: str | None, threads: int
) -> ExportResult:
    staging = out.parent / f".{out.name}{_TEMP_PREFIX}{uuid.uuid4().hex[:12]}"
    try:
        staging.mkdir()
    except OSError as exc:
        raise ExportError(f"cannot write the export to {out}: {exc.strerror or exc}") from None
    try:
        config = {"memory_limit": memory_limit} if memory_limit else {}
        config["temp_directory"] = str(staging / ".spill")
        config["threads"] = max(1, int(threads))
        if not snapshot_path.is_file():
            raise WarehouseError(f"cannot open the warehouse {snapshot_path}: no such file")
        con = connect_attached(snapshot_path, "wh", config)
        try:
            con.execute("set enable_progress_bar = false")
            fingerprint, current = _fingerprint(con)
            written = tuple(_export_table(con, name, staging) for name in names)
        finally:
            con.close()
        shutil.rmtree(staging / ".spill", ignore_errors=True)
        result = ExportResult(
            out, snapshot_path.stem, _now(), software_version(), fingerprint, current, written
        )
        _write_manifest(staging / MANIFEST, result.manifest())
        _fsync_tree(staging)
        _swap_in(staging, out)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):  # disk full, permissions: one line for the user, nothing left behind
            raise ExportError(f"cannot write the export to {out}: {exc.strerror or exc}") from None
        raise
    return result


def read_manifest(out_dir: Path | str) -> dict:
    """The manifest of an export folder."""
    path = Path(out_dir) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path} is not a readable export manifest: {exc}") from None


def _chosen(tables: Iterable[str] | None) -> list[str]:
    known = exportable_tables()
    if tables is None:
        return known
    wanted = list(dict.fromkeys(tables))
    unknown = [t for t in wanted if t not in known]
    if unknown:
        raise ExportError(
            f"cannot export '{unknown[0]}': not a mart or sessions (tables: {', '.join(known)})"
        )
    if not wanted:
        raise ExportError("no tables to export")
    return [t for t in known if t in wanted]


def _check_destination(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ExportError(f"cannot export to {out}: it is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ExportError(f"{out} is not empty; use --overwrite to replace an earlier export")
        if not (out / MANIFEST).is_file():
            # --overwrite replaces an export, never an arbitrary folder someone pointed at by mistake.
            raise ExportError(
                f"{out} is not empty and holds no earlier export ({MANIFEST}); not replacing it"
            )


def _fingerprint(con) -> tuple[str | None, bool]:
    """The hash of the SQL that built the snapshot's marts, and whether it is today's queries/marts."""
    value = scalar(con, "select value from schema_info where key = 'marts_fingerprint'")
    return value, marts_are_current(con, "wh")


def _export_table(con, name: str, staging: Path) -> ExportedTable:
    relation = f"({SOURCES[name]})" if name in SOURCES else f'"{name}"'
    described = con.execute(f"describe select * from {relation}").fetchall()
    if not described:
        raise ExportError(f"the snapshot has no table '{name}'")
    columns = [(row[0], row[1]) for row in described]
    narrowed = tuple((n, t) for n, t in columns if t in NARROWED)
    select = ", ".join(
        f'cast("{n}" as {NARROWED[t]}) as "{n}"' if t in NARROWED else f'"{n}"' for n, t in columns
    )
    keys = ORDER_KEYS.get(name)
    order = ", ".join(f'"{k}"' for k in keys) if keys else "all"
    partition = (PARTITION_COLUMN,) if any(n == PARTITION_COLUMN for n, _ in columns) else ()
    folder = staging / name
    source = f"select {select} from {relation} order by {order}"
    try:
        if partition:
            nulls = scalar(con, f'select count(*) from {relation} where "{PARTITION_COLUMN}" is null')
            if nulls:
                # Engines disagree on the null partition (__HIVE_DEFAULT_PARTITION__): refuse, don't diverge.
                raise ExportError(
                    f"table '{name}' has {nulls} row(s) without a {PARTITION_COLUMN}; cannot partition"
                )
            con.execute(
                f"copy ({source}) to $path (format parquet, compression zstd, "
                f"partition_by ({PARTITION_COLUMN}))",
                {"path": str(folder)},
            )
            folder.mkdir(exist_ok=True)  # an empty table writes no partition
        else:
            folder.mkdir()
            con.execute(
                f"copy ({source}) to $path (format parquet, compression zstd)",
                {"path": str(folder / "data_0.parquet")},
            )
    except duckdb.Error as exc:
        raise ExportError(f"cannot export '{name}': {str(exc).splitlines()[0]}") from None
    files = sorted(p for p in folder.rglob("*.parquet"))
    rows, exported_types = read_back(con, files, partition)
    expected = scalar(con, f"select count(*) from {relation}")
    if rows != expected:
        raise ExportError(f"table '{name}': wrote {rows} rows but the snapshot holds {expected}")
    types = dict(exported_types)
    exported = tuple((n, types.get(n, NARROWED.get(t, t))) for n, t in columns)  # no files: as written
    return ExportedTable(
        name, rows, exported, narrowed, partition, tuple(describe_file(staging, p) for p in files)
    )


def read_back(con, files: list[Path], partition: tuple[str, ...]) -> tuple[int, list[tuple[str, str]]]:
    """Rows and column types of the written files, as a reader sees them (the manifest states these)."""
    if not files:
        return 0, []
    paths = [str(p) for p in files]
    hive = {"hive_partitioning": bool(partition)}
    if partition:
        hive["hive_types"] = {c: "VARCHAR" for c in partition}
    args = ", ".join(f"{k} := ${k}" for k in hive)
    relation = f"read_parquet($paths, {args})"
    values = {"paths": paths, **hive}
    rows = scalar(con, f"select count(*) from {relation}", values)
    types = [(r[0], r[1]) for r in con.execute(f"describe select * from {relation}", values).fetchall()]
    return rows, types


def describe_file(root: Path, path: Path) -> ExportedFile:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return ExportedFile(path.relative_to(root).as_posix(), path.stat().st_size, digest.hexdigest())


def _write_manifest(path: Path, manifest: dict) -> None:
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _swap_in(staging: Path, out: Path) -> None:
    """Put the finished export at ``out`` in one step; a replaced earlier export is then deleted."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        os.replace(staging, out)  # rename(2) replaces an empty folder
        fsync_path(out.parent)
        return
    if exchange_paths(staging, out):
        shutil.rmtree(staging, ignore_errors=True)  # now holds the earlier export
        fsync_path(out.parent)
        return
    # No atomic exchange here (not Linux, or the file system lacks it): move the old one aside first.
    aside = out.parent / f".{out.name}{_TEMP_PREFIX}old-{uuid.uuid4().hex[:12]}"
    os.replace(out, aside)
    try:
        os.replace(staging, out)
    except OSError:
        os.replace(aside, out)
        raise
    shutil.rmtree(aside, ignore_errors=True)
    fsync_path(out.parent)


def exchange_paths(a: Path, b: Path) -> bool:
    """Swap two paths atomically with Linux ``renameat2(RENAME_EXCHANGE)``; False where unsupported."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError, TypeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _fsync_tree(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            fsync_path(os.path.join(folder, name))
        fsync_path(Path(folder))
