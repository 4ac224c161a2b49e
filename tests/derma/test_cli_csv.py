"""CSV and table outputs of the CLI: formula-like text is neutralised, control characters are escaped."""

from __future__ import annotations

import csv
import io

import pytest

from etl.load import ingest
from tests.helpers import TODAY, derma, row, write_csv

FORMULA = '=HYPERLINK("http://evil.example","click")'


@pytest.fixture
def loaded(tmp_path, settings):
    rows = [
        row(session_id="S1", clinician_id=FORMULA),
        row(session_id="S2", clinician_id="+SUM(1,2)"),
        row(session_id="S3", clinician_id="@cmd", passes="-3"),  # quarantined: its value is '-3'
        row(session_id="S4", clinician_id="K1", crystal_type="=1+1"),  # quarantined: unknown category
    ]
    ingest([write_csv(tmp_path / "ETB-01_2026-10.csv", rows)], settings, today=TODAY)
    return settings


def cells(text: str) -> list[str]:
    return [value for line in csv.reader(io.StringIO(text)) for value in line]


def test_sql_csv_output_neutralises_formulas_but_keeps_numbers(loaded):
    done = derma(
        "sql",
        "select clinician_id, passes, -passes as negative from sessions order by session_id",
        "--format",
        "csv",
        data_dir=loaded.data_dir,
        check_exit=0,
    )
    got = cells(done.stdout)
    assert "'" + FORMULA in got and "'+SUM(1,2)" in got
    assert not [v for v in got if v.startswith(("=", "+", "@"))]
    assert "-3" in got  # a negative *number* stays a number


def test_quarantine_csv_output_neutralises_offending_values(loaded):
    done = derma("quarantine", "--format", "csv", data_dir=loaded.data_dir, check_exit=0)
    got = cells(done.stdout)
    assert "'=1+1" in got and "'-3" in got  # text values, even numeric-looking ones, get the prefix
    assert not [v for v in got if v.startswith(("=", "+", "-", "@", "\t", "\r"))]


def test_query_csv_output_neutralises_formulas(loaded):
    done = derma("query", "filter_clinicians", "--format", "csv", data_dir=loaded.data_dir, check_exit=0)
    got = cells(done.stdout)
    assert "'" + FORMULA in got and not [v for v in got if v.startswith(("=", "+", "@"))]


def test_the_table_output_escapes_control_characters(loaded):
    done = derma(
        "sql", "select 'a' || chr(10) || 'fake line' || chr(27) || '[2J' as x", data_dir=loaded.data_dir
    )
    assert done.returncode == 0
    assert "a\\nfake line\\x1b[2J" in done.stdout and "\x1b" not in done.stdout
    assert not any(line.startswith("fake line") for line in done.stdout.splitlines())
