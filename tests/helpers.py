"""What tests build and drive: one valid session row, export files, and the ``derma`` command in-process."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

FIELDS = [
    "clinic_id",
    "session_id",
    "patient_id",
    "clinician_id",
    "session_date",
    "crystal_type",
    "vacuum_kpa",
    "passes",
    "treatment_area",
    "indication",
    "fitzpatrick",
    "particle_flow",
    "satisfaction",
    "side_effects",
    "follow_up_done",
    "pre_care_followed",
]
#: The "today" of every test load, so date rules do not move with the calendar.
TODAY = dt.date(2026, 11, 24)
ROOT = Path(__file__).parents[1]
SAMPLE = ROOT / "sample_data" / "sample"


def row(**overrides) -> dict:
    """One valid session row (canonical names); keyword arguments replace or add columns."""
    base = {
        "clinic_id": "ETB-01",
        "session_id": "S1",
        "patient_id": "PN10000001",
        "clinician_id": "ETB-01-K1",
        "session_date": "2026-10-01",
        "crystal_type": "corundum",
        "vacuum_kpa": "30",
        "passes": "3",
        "treatment_area": "face",
        "indication": "wrinkles",
        "fitzpatrick": "2",
        "particle_flow": "60",
        "satisfaction": "4",
        "side_effects": "",
        "follow_up_done": "true",
        "pre_care_followed": "true",
    }
    base.update(overrides)
    return base


def write_csv(
    path: Path,
    rows: list[dict],
    *,
    delimiter: str = ",",
    header: list[str] | None = None,
    bom: bool = False,
    gz: bool = False,
) -> Path:
    """Rows as a CSV export (optionally with a byte-order mark or gzip-compressed)."""
    header = header or list(rows[0].keys())
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        for r in rows:
            writer.writerow([r.get(h, "") for h in header])
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Run:
    """What a ``derma`` command printed and how it exited."""

    returncode: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


def derma(
    *args: str, data_dir: Path | None = None, env: dict[str, str] | None = None, check_exit: int | None = None
) -> Run:
    """Run ``derma ARGS`` in-process with click's ``CliRunner`` (stdout and stderr kept apart).

    ``data_dir`` sets ``DERMA_DATA_DIR``; ``env`` adds variables for the run only. Use a subprocess
    instead only where a kill, a signal or a separate process is what the test is about.
    """
    from derma.cli import main

    extra = dict(env or {})
    if data_dir is not None:
        extra["DERMA_DATA_DIR"] = str(data_dir)
    result = CliRunner().invoke(main, list(args), env=extra, catch_exceptions=False)
    run = Run(result.exit_code, result.stdout, result.stderr)
    if check_exit is not None:
        assert run.returncode == check_exit, (run.returncode, run.stderr, run.stdout[-2000:])
    return run


def derma_env(settings) -> dict[str, str]:
    """The environment that points a subprocess at ``settings``' data dir and key."""
    env = {**os.environ, "DERMA_DATA_DIR": str(settings.data_dir)}
    if settings.secret_key:
        env["DERMA_SECRET_KEY"] = settings.secret_key
    return env
