"""Loads asked for by the dashboard: staged files in a private folder, the load in a child process that holds the key.

The dashboard's upload page (``dashboard/uploads.py``) hands over the uploaded exports; they are
streamed to a fresh temporary folder of mode 0700 (files 0600) and removed when the load returns,
whatever happened. The load (a dry run for the preview, the real one for the commit) runs in
``python -m derma.load_worker`` with the memory and time limits below, so the Streamlit process never
reads the pseudonym key and a load that runs wild ends that child, not the dashboard.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from etl.confine import memory_bytes, run_confined
from etl.escaping import shown_name
from etl.settings import Settings

#: Address space of the loading child beyond the load's memory limit (Python, Arrow, an Excel child).
LOAD_HEADROOM = 2 * 1024 * 2**20
#: CPU seconds and wall-clock seconds one load from the dashboard may take.
LOAD_CPU_SECONDS = 3_600
LOAD_WALL_SECONDS = 3_600
#: The most bytes a load's JSON report may have (a dry run's quarantine preview is capped at 1,000 records).
MAX_REPORT = 16 * 2**20
#: Copy uploads in chunks of this size (never the whole file in a second buffer).
CHUNK = 1 * 2**20


class UploadError(ValueError):
    """An upload cannot be staged or loaded; the message is one line for the page."""


@dataclass(frozen=True)
class Upload:
    """One uploaded file: the name it was sent with and a readable stream of its bytes."""

    name: str
    stream: BinaryIO


def safe_name(name: str) -> str:
    """The file's own name without any folder; refused when empty, hidden or not one line."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if (
        not base
        or base.startswith(".")
        or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in base)
        or len(base) > 255
    ):
        raise UploadError(f"{shown_name(name)}: not a usable file name; rename the file and upload it again")
    return base


@contextmanager
def staged(uploads: list[Upload]) -> Iterator[list[Path]]:
    """The uploads as files in a private temporary folder (0700; files 0600), removed when the block ends."""
    names = [safe_name(u.name) for u in uploads]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UploadError(f"{shown_name(twice[0])}: uploaded twice; a batch holds each file name once")
    folder = Path(tempfile.mkdtemp(prefix="derma-upload-"))
    try:
        os.chmod(folder, 0o700)
        paths = []
        for upload, name in zip(uploads, names, strict=True):
            path = folder / name
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                upload.stream.seek(0)
                shutil.copyfileobj(upload.stream, handle, CHUNK)
            paths.append(path)
        yield paths
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class MappingChoice:
    """How the uploads are read: matched by name (``None``s), a saved mapping's path, or a mapping's text."""

    path: Path | None = None
    text: str | None = None
    source: str = "edited mapping"

    def request(self) -> dict | None:
        if self.path is not None:
            return {"path": str(self.path)}
        if self.text is not None:
            return {"text": self.text, "source": self.source}
        return None


def run_load(settings: Settings, paths: list[Path], mapping: MappingChoice, *, dry_run: bool) -> dict:
    """Load (or dry-run) ``paths`` into the warehouse of ``settings`` in the loading child; its JSON report.

    Raises :class:`UploadError` with the child's one line when the batch failed as a whole.
    """
    request = {
        "data_dir": str(settings.data_dir),
        "paths": [str(p) for p in paths],
        "mapping": mapping.request(),
        "dry_run": dry_run,
    }
    return _run(settings, request)


def refresh_models_now(settings: Settings) -> dict:
    """Refit the network's models on the current snapshot in the loading child (as ``derma models --refresh``)."""
    return _run(settings, {"data_dir": str(settings.data_dir), "action": "refresh"})


def _run(settings: Settings, request: dict) -> dict:
    import json

    outcome = run_confined(
        "derma.load_worker",
        request,
        memory_bytes=memory_bytes(settings.memory_limit) + LOAD_HEADROOM,
        cpu_seconds=LOAD_CPU_SECONDS,
        wall_seconds=LOAD_WALL_SECONDS,
        max_output=MAX_REPORT,
    )
    if outcome.error is not None:
        raise UploadError(outcome.error)
    whole = "a batch is published whole or not at all: the Data quality page shows whether it was"
    if outcome.timed_out or outcome.killed_by == signal.SIGXCPU:
        raise UploadError(
            f"the load took longer than {LOAD_WALL_SECONDS // 60} minutes and was stopped; {whole}"
        )
    if not outcome.ok:
        raise UploadError(f"the load ended unexpectedly (out of memory, or stopped); {whole}")
    return json.loads(outcome.output)
