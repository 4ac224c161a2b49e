"""``derma audit`` and the records the CLI's own commands leave: who asked what, never of whom."""

from __future__ import annotations

import datetime as dt
import getpass
import json

import pytest
from click.testing import CliRunner

from derma.cli import main
from etl.warehouse import connect_current

SQL = "select count(*) as n from sessions where patient_key = 'x'"


@pytest.fixture
def log(tmp_path, monkeypatch):
    path = tmp_path / "audit" / "audit.jsonl"
    monkeypatch.setenv("DERMA_AUDIT_FILE", str(path))
    return path


@pytest.fixture
def derma(sample_warehouse):
    runner = CliRunner()

    def run(*args: str, exit_code: int = 0):
        done = runner.invoke(main, [*args, "--data-dir", str(sample_warehouse.data_dir)])
        assert done.exit_code == exit_code, done.output
        return done

    return run


@pytest.fixture(scope="module")
def patient_keys(sample_warehouse) -> list[str]:
    _, con = connect_current(sample_warehouse.data_dir)
    try:
        return [
            r[0]
            for r in con.execute("select distinct patient_key from sessions order by 1 limit 5").fetchall()
        ]
    finally:
        con.close()


def test_query_and_sql_leave_records_with_the_user_rows_and_redacted_sql(log, derma, patient_keys):
    kpis = json.loads(derma("query", "kpis_by_month", "-p", "clinic_id=ETB-01", "--format", "json").output)
    derma("sql", SQL)
    derma(
        "sql",
        f"select clinic_id, passes from sessions where patient_key = '{patient_keys[0]}' and passes > 20",
    )
    derma("query", "--list")  # listing reads nothing: no record
    records = json.loads(derma("audit", "--format", "json").output)
    assert [(r["action"], r["what"], r["rows"]) for r in records] == [
        ("query", "kpis_by_month", len(kpis)),
        ("sql", "select count(*) as n from sessions where patient_key = ?", 1),
        ("sql", "select clinic_id, passes from sessions where patient_key = ? and passes > ?", 0),
    ]
    assert all(
        r["who"] == getpass.getuser() and r["role"] == "cli" and r["via"] == "cli" and r["outcome"] == "ok"
        for r in records
    )
    assert records[0]["params"] == {"clinic_id": "ETB-01"}
    assert all("prev" not in r for r in records)
    text = log.read_text()
    assert "'x'" not in text
    assert not [key for key in patient_keys if key in text]


def test_a_refused_statement_is_recorded_as_refused(log, derma):
    derma("sql", "select * from read_csv('/etc/passwd')", exit_code=1)
    [record] = json.loads(derma("audit", "--format", "json").output)
    assert (record["action"], record["outcome"], record["rows"]) == ("sql", "refused", None)
    assert record["what"] == "select * from read_csv(?)"


def test_quarantine_is_recorded_as_an_export(log, derma):
    rows = json.loads(derma("quarantine", "--format", "json").output)
    [record] = json.loads(derma("audit", "--format", "json").output)
    assert (record["action"], record["what"], record["params"], record["rows"]) == (
        "export",
        "quarantine",
        {"batch": None},
        len(rows),
    )


def test_since_filters_by_day(log, derma):
    derma("query", "kpis_by_month", "--format", "json")
    today = dt.datetime.now(dt.UTC).date()
    assert len(json.loads(derma("audit", "--since", today.isoformat(), "--format", "json").output)) == 1
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    assert json.loads(derma("audit", "--since", tomorrow, "--format", "json").output) == []


def test_a_bad_since_is_a_usage_error(log, derma):
    assert "Invalid value for '--since'" in derma("audit", "--since", "24/11/2026", exit_code=2).output


def test_text_format_lists_the_records(log, derma):
    assert "No audit records." in derma("audit").output
    derma("query", "kpis_by_month", "-p", "clinic_id=ETB-01", "--format", "json")
    out = derma("audit").output
    assert "kpis_by_month" in out and "ETB-01" in out and getpass.getuser() in out
    assert "1 record(s)" in out


def test_a_tampered_log_fails_with_one_line_naming_the_line(log, derma):
    derma("query", "kpis_by_month", "--format", "json")
    derma("query", "kpis_by_month", "--format", "json")
    first, second = log.read_text().splitlines()
    log.write_text(first.replace('"rows":', '"rows":1') + "\n" + second + "\n")
    done = derma("audit", exit_code=1)
    assert done.output.strip().count("\n") == 0
    assert done.output.startswith("derma: audit log") and "line 2 does not follow line 1" in done.output


def test_a_command_that_cannot_be_accounted_for_shows_nothing(tmp_path, monkeypatch, derma):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("DERMA_AUDIT_FILE", str(blocker / "audit.jsonl"))
    done = derma("query", "kpis_by_month", "--format", "json", exit_code=1)
    assert done.output.startswith("derma: cannot write the audit log") and "month" not in done.output


def test_each_written_report_file_is_recorded(log, derma, tmp_path):
    written = derma(
        "report",
        "--month",
        "2026-10",
        "--clinic",
        "ETB-01",
        "--formats",
        "html,xlsx",
        "--out",
        str(tmp_path / "out"),
    ).output.split()
    records = json.loads(derma("audit", "--format", "json").output)
    assert [r["what"] for r in records] == [p.rsplit("/", 1)[-1] for p in written]
    assert all(
        r["action"] == "report"
        and r["params"]
        == {"month": "2026-10", "clinic": "ETB-01", "min_cell": None, "formats": ["html", "xlsx"]}
        for r in records
    )


def test_a_report_that_cannot_be_accounted_for_is_not_left_behind(tmp_path, monkeypatch, derma):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("DERMA_AUDIT_FILE", str(blocker / "audit.jsonl"))
    derma("report", "--month", "2026-10", "--formats", "html", "--out", str(tmp_path / "out"), exit_code=1)
    assert list((tmp_path / "out").iterdir()) == []


def test_models_all_clinics_is_documented_and_excludes_clinic(derma):
    assert "own clinic's fit" in " ".join(CliRunner().invoke(main, ["models", "--help"]).output.split())
    assert "not both" in derma("models", "--all-clinics", "--clinic", "ETB-01", exit_code=2).output
