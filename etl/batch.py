"""A batch's vocabulary: its files and their counts, the files a path names, ids and fingerprints."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from etl.escaping import shown_name
from etl.readers import RejectedFile, detect_format

#: Quarantine records a dry run hands back (all of them count; the first are shown).
PREVIEW_RECORDS = 1_000


class LoadError(RuntimeError):
    """The batch failed as a whole; nothing was published. The message is one line."""


@dataclass(frozen=True)
class FileResult:
    file: str
    status: str
    reason: str | None
    rows: int
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    format: str = ""
    sha256: str = ""
    ignored_columns: tuple[str, ...] = ()
    dropped_columns: tuple[str, ...] = ()
    #: The batch whose load of the same bytes these counts come from, when the file was not read again.
    same_as_batch: str | None = None
    #: The mapping that read the file (its ``[source].name`` and the SHA-256 of its text), if one did.
    mapping: str | None = None
    mapping_sha256: str | None = None
    #: Quarantine records per reason code (a row that breaks two rules counts under both), by code.
    reasons: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "status": self.status,
            "reason": self.reason,
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "quarantined": self.quarantined,
            "format": self.format,
            "sha256": self.sha256,
            "ignored_columns": list(self.ignored_columns),
            "dropped_columns": list(self.dropped_columns),
            "same_as_batch": self.same_as_batch,
            "mapping": None
            if self.mapping is None
            else {"name": self.mapping, "sha256": self.mapping_sha256},
            "reasons": dict(self.reasons),
        }


@dataclass(frozen=True)
class BatchResult:
    batch_id: str
    snapshot: str | None  # None for a dry run: nothing was published
    files: tuple[FileResult, ...]
    skipped: tuple[str, ...] = field(default=())
    #: Files an interrupted earlier load had left in the work folder, removed before this one began.
    cleared_leftovers: int = 0
    #: A dry run: everything a load does, then nothing published.
    dry_run: bool = False
    #: A dry run's quarantine records (file, row, column, value, reason; patient numbers masked), the
    #: first :data:`PREVIEW_RECORDS` of them; a real load stores them instead (``derma quarantine``).
    quarantine: tuple[tuple, ...] = ()

    @property
    def totals(self) -> dict[str, int]:
        keys = ("rows", "inserted", "updated", "unchanged", "quarantined")
        return {k: sum(getattr(f, k) for f in self.files) for k in keys}

    @property
    def any_rejected(self) -> bool:
        return any(f.status == "rejected" for f in self.files)

    def to_dict(self) -> dict:
        out = {
            "batch_id": self.batch_id,
            "snapshot": self.snapshot,
            "dry_run": self.dry_run,
            "files": [f.to_dict() for f in self.files],
            "totals": self.totals,
            "cleared_leftovers": self.cleared_leftovers,
        }
        if self.dry_run:
            keys = ("file", "row", "column", "value", "reason")
            out["quarantine"] = [dict(zip(keys, record, strict=True)) for record in self.quarantine]
        return out


def software_version() -> str:
    try:
        return version("derma-outcomes")
    except PackageNotFoundError:
        return "0+unknown"


def collect_files(paths: Iterable[Path]) -> tuple[list[Path], list[str]]:
    """Expand folders (recursively, sorted); files named on the command line are always tried.

    Returns the export files and the names of files inside folders that are not exports.
    """
    files: list[Path] = []
    skipped: list[str] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if any(part.startswith(".") for part in child.relative_to(path).parts):
                    continue
                (files.append(child) if detect_format(child) else skipped.append(shown_name(child)))
        elif path.exists() or path.is_symlink():
            files.append(path)  # not necessarily a regular file: the load rejects it by name
        else:
            raise LoadError(f"{shown_name(path)}: no such file or folder")
    return files, skipped


def regular_file_digest(path: Path) -> str:
    """The sha256 of a regular file; RejectedFile for anything else (a FIFO or device would never end).

    The file is opened without blocking and checked on the open descriptor, so a name swapped for a
    FIFO between listing and reading cannot hang the load either.
    """
    name = shown_name(path.name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise RejectedFile(f"{name}: cannot be opened ({exc.strerror or type(exc).__name__})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}
            what = kind.get(stat.S_IFMT(mode), "a socket" if stat.S_ISSOCK(mode) else "not a file")
            raise RejectedFile(f"{name}: not a regular file ({what}); only regular files are read")
        os.set_blocking(fd, True)
        digest = hashlib.sha256()
        with os.fdopen(fd, "rb", closefd=False) as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    except OSError as exc:
        raise RejectedFile(f"{name}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    finally:
        os.close(fd)


def new_batch_id(now: dt.datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(3)
