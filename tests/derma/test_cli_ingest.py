"""The ``derma`` command line as scripts use it: JSON shapes, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import derma, row, write_csv


@pytest.fixture
def exports(tmp_path):
    write_csv(
        tmp_path / "in" / "ETB-01_2026-09.csv",
        [row(session_id="S1", session_date="2026-09-03"), row(session_id="S2", passes="12")],
    )
    (tmp_path / "in" / "broken.csv").write_text("clinic_id\nETB-01\n", encoding="utf-8")
    (tmp_path / "in" / "README.txt").write_text("not an export", encoding="utf-8")
    return tmp_path / "in"


def test_ingest_json_has_the_documented_shape_and_exits_1_when_a_file_is_rejected(tmp_path, exports):
    done = derma(
        "ingest", str(exports), "--format", "json", "--skip-models", data_dir=tmp_path / "d", check_exit=1
    )
    out = json.loads(done.stdout)
    assert set(out) >= {"batch_id", "snapshot", "files", "totals"}
    files = {f["file"]: f for f in out["files"]}
    assert set(files) == {"ETB-01_2026-09.csv", "broken.csv"}
    good, bad = files["ETB-01_2026-09.csv"], files["broken.csv"]
    assert {
        k: good[k] for k in ("status", "reason", "rows", "inserted", "updated", "unchanged", "quarantined")
    } == {
        "status": "loaded",
        "reason": None,
        "rows": 2,
        "inserted": 1,
        "updated": 0,
        "unchanged": 0,
        "quarantined": 1,
    }
    assert bad["status"] == "rejected" and "missing required column" in bad["reason"]
    assert all(bad[k] == 0 for k in ("inserted", "updated", "unchanged", "quarantined"))
    assert out["totals"] == {"rows": 2, "inserted": 1, "updated": 0, "unchanged": 0, "quarantined": 1}


def test_ingest_exits_0_when_the_batch_committed_with_quarantined_rows(tmp_path):
    write_csv(tmp_path / "a.csv", [row(session_id="S1"), row(session_id="S2", passes="12")])
    done = derma("ingest", str(tmp_path / "a.csv"), "--skip-models", data_dir=tmp_path / "d", check_exit=0)
    assert "published snapshot" in done.stdout


def test_batches_and_quarantine_json(tmp_path, exports):
    derma("ingest", str(exports), "--skip-models", data_dir=tmp_path / "d")
    batches = json.loads(derma("batches", "--format", "json", data_dir=tmp_path / "d", check_exit=0).stdout)
    assert len(batches) == 1 and len(batches[0]["files"]) == 2
    assert all(len(f["sha256"]) == 64 for f in batches[0]["files"])
    records = json.loads(
        derma("quarantine", "--format", "json", data_dir=tmp_path / "d", check_exit=0).stdout
    )
    assert records == [
        {
            "batch_id": batches[0]["batch_id"],
            "file": "ETB-01_2026-09.csv",
            "row": 2,
            "column": "passes",
            "value": "12",
            "reason": "out_of_range",
        }
    ]
    only = json.loads(
        derma("quarantine", "--batch", "nope", "--format", "json", data_dir=tmp_path / "d").stdout
    )
    assert only == []


@pytest.mark.parametrize(
    "args",
    [
        ["ingest", "/no/such/file.csv"],
        ["batches"],
        ["quarantine"],
    ],
    ids=["missing_input", "no_warehouse_batches", "no_warehouse_quarantine"],
)
def test_a_user_error_is_one_line_on_stderr_with_exit_1_and_no_traceback(tmp_path, args):
    done = derma(*args, data_dir=tmp_path / "empty", check_exit=1)
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("derma: ")
    assert "Traceback" not in done.stderr


def test_a_usage_error_exits_2(tmp_path):
    done = derma("ingest", "--format", "yaml", "x.csv", data_dir=tmp_path)
    assert done.returncode == 2


def test_the_installed_command_exits_1_with_one_line_as_a_real_process(tmp_path):
    """End to end as cron sees it: a separate process, its exit status and its stderr."""
    env = {**os.environ, "DERMA_DATA_DIR": str(tmp_path / "empty")}
    done = subprocess.run(
        [sys.executable, "-m", "derma.cli", "batches"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert done.stderr.startswith("derma: ") and done.stderr.count("\n") == 1
