"""Spill files: a load killed while DuckDB spills leaves no raw patient number, and the next load says so."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from etl import warehouse
from etl.load import ingest
from tests.helpers import TODAY, derma, row, write_csv

ROWS = 600_000
RAW = re.compile(rb"PN9\d{7}")  # every patient number of the big file, and nothing else, matches


def big_export(path: Path) -> Path:
    """An export of ROWS sessions, one patient number each (PN9000000 ...), written by DuckDB."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(
        f"""copy (select 'ETB-01' as clinic_id, 'B' || i as session_id, 'PN9' || lpad(i::varchar, 7, '0') as patient_id,
                  'K' || (i % 40) as clinician_id, date '2026-09-01' + (i % 29)::int as session_date,
                  'corundum' as crystal_type, 20 + i % 30 as vacuum_kpa, 1 + i % 4 as passes,
                  'face' as treatment_area, 'wrinkles' as indication, 1 + i % 6 as fitzpatrick,
                  50 as particle_flow, 'Derma model ' || (i % 13) as device_model
                  from range({ROWS}) r(i)) to '{path}' (header)"""
    )
    con.close()
    return path


def raw_numbers_under(folder: Path) -> list[str]:
    leaks = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink() and RAW.search(path.read_bytes()):
            leaks.append(str(path.relative_to(folder)))
    return leaks


def test_a_load_killed_while_spilling_leaves_no_raw_patient_number_and_the_next_load_says_so(
    tmp_path, settings
):
    path = big_export(tmp_path / "in" / "ETB-01_2026-09.csv")
    assert RAW.search(path.read_bytes()[:4096])  # the scan below looks for what the file holds
    env = {
        **os.environ,
        "DERMA_DATA_DIR": str(settings.data_dir),
        "DERMA_SECRET_KEY": "spill-test-key",
        "DERMA_MEMORY_LIMIT": "64MB",
        "DERMA_THREADS": "2",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "derma.cli", "ingest", str(path), "--skip-models"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    work = settings.data_dir / warehouse.WORK_DIR
    spilled: list[Path] = []
    deadline = time.monotonic() + 240
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            spilled = (
                [p for p in work.rglob("*") if p.is_file() and p.stat().st_size > 0] if work.is_dir() else []
            )
            if spilled:
                time.sleep(0.3)  # let it spill some more, then kill it as the OOM killer or a reboot would
                break
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
    assert spilled, (
        f"the load never spilled under a 64MB limit, so this test proves nothing: {stderr[-500:]!r}"
    )
    left = [p for p in work.rglob("*") if p.is_file()]
    assert left, "a killed load's spill files are what this test is about"
    assert raw_numbers_under(settings.data_dir) == []  # every byte left under the data dir

    # The next load removes the leftovers before it starts, and says that it did.
    small = write_csv(tmp_path / "next" / "ETB-01_2026-10.csv", [row(session_id="N1")])
    done = derma(
        "ingest",
        str(small),
        "--skip-models",
        data_dir=settings.data_dir,
        env={"DERMA_SECRET_KEY": "spill-test-key"},
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"removed \d+ file\(s\) left in the work folder by an interrupted load", done.stdout)
    assert not work.exists()


def test_a_load_that_finds_no_leftovers_reports_none(tmp_path, settings):
    result = ingest([write_csv(tmp_path / "a.csv", [row()])], settings, today=TODAY)
    assert result.cleared_leftovers == 0 and result.to_dict()["cleared_leftovers"] == 0
