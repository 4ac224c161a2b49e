"""The lake on disk: the folders and manifest ``derma export`` writes, read by the engines and updated by them.

A lake is an export folder (``etl/export.py``): ``_manifest.json`` and one folder per table, hive-
partitioned by ``clinic_id`` where the table has one. The engines read ``sessions`` (and the small
``load_batches`` and ``quarantined_files``) and write the marts back. Tables an engine rebuilds are
written beside the lake first; each then replaces its folder in one rename, and the manifest is
rewritten last (atomically), so a reader sees a table whole or not at all and a failed build leaves the
lake as it was. Builds of one lake take turns on a lock file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from etl.export import MANIFEST, ExportError, describe_file, exchange_paths, read_back, read_manifest
from etl.warehouse import fsync_path

#: Lake tables the marts read under another name: the mart reads ``quarantine``'s file and clinic.
READ_AS = {"quarantined_files": "quarantine"}
#: Files an engine writes beside the data that are not part of the lake (Spark's markers and checksums).
NOT_DATA = ("_SUCCESS", ".crc")


class LakeError(RuntimeError):
    """The folder is not a lake, or a table cannot be read or written; the message says which and why."""


@dataclass(frozen=True)
class LakeTable:
    name: str
    path: Path
    columns: tuple[tuple[str, str], ...]  # (name, DuckDB type) as the manifest states them
    partition_by: tuple[str, ...]
    files: tuple[Path, ...]


@dataclass(frozen=True)
class Lake:
    """An export folder opened as a lake: its manifest and tables."""

    path: Path
    manifest: dict

    @classmethod
    def open(cls, path: Path | str) -> Lake:
        root = Path(path).absolute()
        if not (root / MANIFEST).is_file():
            raise LakeError(f"{root} is not a lake: no {MANIFEST} (write one with 'derma export --out')")
        try:
            manifest = read_manifest(root)
        except ExportError as exc:
            raise LakeError(str(exc)) from None
        if "sessions" not in manifest.get("tables", {}):
            raise LakeError(f"{root} holds no sessions table: export the warehouse again with 'derma export'")
        return cls(root, manifest)

    def tables(self) -> list[LakeTable]:
        return [self.table(name) for name in self.manifest["tables"]]

    def table(self, name: str) -> LakeTable:
        entry = self.manifest["tables"].get(name)
        if entry is None:
            raise LakeError(f"the lake {self.path} has no table '{name}'")
        return LakeTable(
            name,
            self.path / name,
            tuple((c["name"], c["type"]) for c in entry["columns"]),
            tuple(entry["partition_by"]),
            tuple(self.path / f["path"] for f in entry["files"]),
        )


@contextlib.contextmanager
def locked(lake: Lake) -> Iterator[None]:
    """Hold the lake's build lock (the kernel frees it if the process dies)."""
    try:
        handle = open(lake.path.parent / f".{lake.path.name}.export.lock", "a+")  # noqa: SIM115 - held
    except OSError as exc:
        raise LakeError(f"cannot lock the lake {lake.path}: {exc.strerror or exc}") from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def staging_folder(lake: Lake) -> Path:
    """A new hidden folder beside the lake for the tables being built (same file system: renames are atomic)."""
    folder = lake.path.parent / f".{lake.path.name}.build-{uuid.uuid4().hex[:12]}"
    folder.mkdir()
    return folder


def clear_leftovers(lake: Lake) -> None:
    """Remove what a killed build left beside the lake (only called under the lock)."""
    for leftover in lake.path.parent.glob(f".{lake.path.name}.build-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def tidy(folder: Path) -> None:
    """Remove an engine's marker and checksum files from a written table folder."""
    for path in list(folder.rglob("*")):
        if path.is_file() and (path.name in NOT_DATA or path.name.endswith(NOT_DATA[1])):
            path.unlink()


def describe_table(folder: Path, root: Path, partition_by: tuple[str, ...]) -> dict:
    """The manifest entry of a written table folder: rows, columns as DuckDB reads them, files with sha256."""
    files = sorted(folder.rglob("*.parquet"))
    con = duckdb.connect()
    try:
        rows, types = read_back(con, files, partition_by)
    finally:
        con.close()
    return {
        "rows": rows,
        "columns": [{"name": n, "type": t} for n, t in types],
        "partition_by": list(partition_by),
        "files": [
            {"path": f.path, "bytes": f.bytes, "sha256": f.sha256}
            for f in (describe_file(root, p) for p in files)
        ],
    }


def replace_tables(
    lake: Lake, staged: Path, entries: dict[str, dict], built_by: dict, record: str = "marts_built"
) -> Lake:
    """Put the staged table folders into the lake, one rename each, then the updated manifest.

    ``entries`` are the tables' manifest entries with paths relative to ``staged`` (as the lake will hold
    them); ``built_by`` is recorded in the manifest under ``record`` with the time. Returns the lake as it
    now is.
    """
    for name in entries:
        new, old = staged / name, lake.path / name
        fsync_tree(new)
        if not old.exists():
            os.replace(new, old)
        elif not exchange_paths(new, old):  # no atomic exchange here: move the old one aside first
            aside = staged / f".old-{name}"
            os.replace(old, aside)
            os.replace(new, old)
    manifest = dict(lake.manifest)
    manifest["tables"] = {**manifest["tables"], **entries}
    manifest[record] = {**built_by, "at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    temporary = lake.path / f".{MANIFEST}.{uuid.uuid4().hex[:8]}"
    temporary.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    fsync_path(temporary)
    os.replace(temporary, lake.path / MANIFEST)
    fsync_path(lake.path)
    shutil.rmtree(staged, ignore_errors=True)  # now holds the replaced folders
    return Lake(lake.path, manifest)


def fsync_tree(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            fsync_path(os.path.join(folder, name))
        fsync_path(Path(folder))


def quoted(path: Path | str) -> str:
    """A path as a SQL string literal (single quotes doubled)."""
    return "'" + str(path).replace("'", "''") + "'"
