"""The generator's messy exports in every format: every planted defect is found, counts add up, re-runs are no-ops."""

from __future__ import annotations

import duckdb
import pytest

from etl.load import ingest
from sample_data.generator import generate_sessions
from sample_data.writer import write_exports
from tests.helpers import TODAY

FORMATS = ["csv", "xlsx", "parquet", "jsonl"]


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory):
    """One folder, four clinics' exports in four formats, with every quarantine reason planted."""
    root = tmp_path_factory.mktemp("mixed")
    frame = generate_sessions(clinics=4, patients=160, months=3, seed=5, end_month="2026-10")
    planted = []
    for i, fmt in enumerate(FORMATS):
        clinic = sorted(frame["clinic_id"].unique())[i]
        result = write_exports(
            frame[frame["clinic_id"] == clinic], root / fmt, fmt=fmt, messy_rate=0.08, seed=i
        )
        planted += [(p.file, p.row, p.column, p.reason) for p in result.planted]
    return root, planted


def test_a_mixed_folder_loads_with_counts_that_add_up_and_every_planted_defect_quarantined(
    mixed_folder, settings
):
    root, planted = mixed_folder
    result = ingest([root], settings, today=TODAY)
    assert {f.format for f in result.files} == set(FORMATS)
    assert all(f.status == "loaded" for f in result.files), [f.reason for f in result.files if f.reason]
    for f in result.files:
        assert f.inserted + f.updated + f.unchanged + f.quarantined == f.rows
    con = duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True)
    stored = {
        (file, r, reason)
        for file, r, reason in con.execute('select file, "row", reason from quarantine').fetchall()
    }
    expected = {(file, r, reason) for file, r, _, reason in planted if reason != "identical_repeat"}
    assert {p[3] for p in planted} >= {
        "missing_required",
        "bad_type",
        "bad_date",
        "future_date",
        "out_of_range",
        "unknown_category",
        "inconsistent",
        "duplicate_in_file",
        "identical_repeat",
    }
    assert expected <= stored, sorted(expected - stored)[:10]
    planted_rows = {(file, r) for file, r, _, reason in planted if reason != "identical_repeat"}
    assert {(file, r) for file, r, _ in stored} == planted_rows, "nothing clean is quarantined"
    assert result.totals["quarantined"] == len(planted_rows)
    assert result.totals["unchanged"] == sum(1 for p in planted if p[3] == "identical_repeat")


def test_reloading_the_mixed_folder_changes_nothing(mixed_folder, settings):
    root, _ = mixed_folder
    first = ingest([root], settings, today=TODAY)
    again = ingest([root], settings, today=TODAY)
    assert again.totals["inserted"] == again.totals["updated"] == 0
    assert again.totals["unchanged"] == first.totals["inserted"] + first.totals["unchanged"]
    assert again.totals["quarantined"] == first.totals["quarantined"]
