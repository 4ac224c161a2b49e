"""The audit log: a hash chain that shows edits, removals and reordering; no patient keys; safe appends."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing
import stat

import pytest

from etl.audit import FIELDS, AuditError, append, read, redact_sql


def write(path, n: int, **overrides) -> list[dict]:
    values = {"who": "ana", "role": "analyst", "via": "cli", "action": "query", "what": "kpis_by_month"}
    return [append(path, **{**values, "rows": i, **overrides}) for i in range(n)]


def lines(path) -> list[bytes]:
    return path.read_bytes().splitlines()


def test_appended_records_read_back_in_order_with_a_chain(tmp_path):
    log = tmp_path / "logs" / "audit.jsonl"
    written = write(log, 3, params={"clinic_id": "ETB-01"})
    records = read(log)
    assert records == written
    assert [r["rows"] for r in records] == [0, 1, 2]
    assert list(json.loads(lines(log)[0])) == list(FIELDS)
    assert records[0]["prev"] == ""
    assert records[1]["prev"] == hashlib.sha256(lines(log)[0]).hexdigest()
    assert dt.datetime.strptime(records[0]["at"], "%Y-%m-%dT%H:%M:%SZ")


def test_a_missing_log_reads_as_empty(tmp_path):
    assert read(tmp_path / "nothing.jsonl") == []


def test_the_log_file_is_private_to_its_owner(tmp_path):
    log = tmp_path / "audit.jsonl"
    write(log, 1)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_an_edited_line_breaks_the_chain_at_the_next_line(tmp_path):
    log = tmp_path / "audit.jsonl"
    write(log, 5)
    rows = lines(log)
    rows[2] = rows[2].replace(b'"rows":2', b'"rows":0')
    log.write_bytes(b"\n".join(rows) + b"\n")
    with pytest.raises(AuditError, match=r"audit\.jsonl line 4 does not follow line 3: the log was edited"):
        read(log)


def test_a_removed_middle_line_breaks_the_chain(tmp_path):
    log = tmp_path / "audit.jsonl"
    write(log, 5)
    rows = lines(log)
    del rows[2]
    log.write_bytes(b"\n".join(rows) + b"\n")
    with pytest.raises(AuditError, match="line 3 does not follow line 2"):
        read(log)


def test_a_swapped_pair_breaks_the_chain(tmp_path):
    log = tmp_path / "audit.jsonl"
    write(log, 5)
    rows = lines(log)
    rows[1], rows[2] = rows[2], rows[1]
    log.write_bytes(b"\n".join(rows) + b"\n")
    with pytest.raises(AuditError, match="line 2 does not follow line 1"):
        read(log)


def test_removing_the_first_records_is_detected(tmp_path):
    log = tmp_path / "audit.jsonl"
    write(log, 3)
    log.write_bytes(b"\n".join(lines(log)[1:]) + b"\n")
    with pytest.raises(AuditError, match="line 1 does not start the log"):
        read(log)


def test_a_line_that_is_not_a_record_is_named(tmp_path):
    log = tmp_path / "audit.jsonl"
    write(log, 2)
    with log.open("ab") as handle:
        handle.write(b"not json\n")
    with pytest.raises(AuditError, match="line 3 is not an audit record"):
        read(log)


def test_params_drop_patient_keys_and_become_plain_json(tmp_path):
    log = tmp_path / "audit.jsonl"
    record = append(
        log,
        who="ana",
        role=None,
        via="dashboard",
        action="download",
        what="sessions.csv",
        params={
            "patient_key": "p-123",
            "Patient_ID": "PN1",
            "date_from": dt.date(2026, 1, 31),
            "at": dt.datetime(2026, 2, 1, 9, 30),
            "clinics": ("ETB-01", "ETB-02"),
            "filters": {"patient": "p-9", "area": "face"},
            "note": "n" * 500,
        },
        rows=12,
    )
    params = read(log)[0]["params"]
    assert params == record["params"]
    assert set(params) == {"date_from", "at", "clinics", "filters", "note"}
    assert params["date_from"] == "2026-01-31" and params["at"] == "2026-02-01T09:30:00"
    assert params["clinics"] == ["ETB-01", "ETB-02"] and params["filters"] == {"area": "face"}
    assert len(params["note"]) == 200
    text = log.read_text()
    assert "p-123" not in text and "PN1" not in text and "p-9" not in text


def test_numpy_and_pandas_scalars_are_stored_as_plain_values(tmp_path):
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    log = tmp_path / "audit.jsonl"
    append(
        log,
        who="ana",
        role=None,
        via="cli",
        action="query",
        what="q",
        rows=np.int64(4),
        params={
            "n": np.int64(3),
            "x": np.float64(0.5),
            "nan": np.float64("nan"),
            "ok": np.bool_(True),
            "day": pd.Timestamp("2026-03-01"),
            "missing": pd.NaT,
        },
    )
    record = read(log)[0]
    assert record["rows"] == 4
    assert record["params"] == {
        "n": 3,
        "x": 0.5,
        "nan": None,
        "ok": True,
        "day": "2026-03-01T00:00:00",
        "missing": None,
    }


def test_long_what_is_cut(tmp_path):
    log = tmp_path / "audit.jsonl"
    assert len(append(log, who="a", role=None, via="cli", action="sql", what="x" * 1000)["what"]) == 300


@pytest.mark.parametrize("field", ["action", "via", "outcome"])
def test_an_unknown_action_via_or_outcome_is_a_programming_error(tmp_path, field):
    values = {"who": "a", "role": None, "via": "cli", "action": "query", "what": "q", field: "nope"}
    with pytest.raises(ValueError, match=field):
        append(tmp_path / "audit.jsonl", **values)
    assert not (tmp_path / "audit.jsonl").exists()


def test_a_log_that_cannot_be_written_is_an_audit_error_naming_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(AuditError, match=r"cannot write the audit log .*file/audit\.jsonl"):
        write(blocker / "audit.jsonl", 1)


def test_a_cut_off_last_line_stops_further_appends(tmp_path):
    log = tmp_path / "audit.jsonl"
    write(log, 2)
    log.write_bytes(log.read_bytes()[:-10])
    with pytest.raises(AuditError, match="last line is incomplete"):
        write(log, 1)
    with pytest.raises(AuditError, match="line 2 is incomplete"):
        read(log)


def test_since_keeps_records_of_that_utc_day_and_later(tmp_path):
    log = tmp_path / "audit.jsonl"
    write(log, 2)
    today = dt.datetime.now(dt.UTC).date()
    assert len(read(log, since=today)) == 2
    assert len(read(log, since=today - dt.timedelta(days=3))) == 2
    assert read(log, since=today + dt.timedelta(days=1)) == []


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "select * from sessions where patient_key = 'abc' and passes > 3",
            "select * from sessions where patient_key = ? and passes > ?",
        ),
        (
            "select count(*)\n  from sessions\twhere patient_key = 'PN 1234 56' -- the one\n and vacuum_kpa >= -12.5",
            "select count(*) from sessions where patient_key = ? and vacuum_kpa >= ?",
        ),
        (
            "select vacuum_kpa - 1, passes-2, x'AF', 0x1F, 1.5e-3, 'it''s' from sessions",
            "select vacuum_kpa - ?, passes-?, ?, ?, ?, ? from sessions",
        ),
        (
            "select \"patient_key\", clinic_id from sessions /* 'secret' */ where clinic_id in ('ETB-01', 'ETB-02')",
            'select "patient_key", clinic_id from sessions where clinic_id in (?, ?)',
        ),
        (
            "select 'naïve café' as label, satisfaction from sessions where satisfaction = 5",
            "select ? as label, satisfaction from sessions where satisfaction = ?",
        ),
    ],
)
def test_redact_sql_masks_literals_and_keeps_identifiers(sql, expected):
    assert redact_sql(sql) == expected


def test_redact_sql_is_cut_to_500_characters():
    assert len(redact_sql("select " + ", ".join(f"col_{i}" for i in range(500)))) == 500


def _append_many(path, n: int, worker: str, barrier) -> None:
    barrier.wait()
    for i in range(n):
        append(path, who=worker, role=None, via="cli", action="query", what=f"q{i}", rows=i)


def test_two_processes_appending_at_once_leave_an_intact_chain(tmp_path):
    log = tmp_path / "audit.jsonl"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    workers = [ctx.Process(target=_append_many, args=(log, 200, name, barrier)) for name in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]
    records = read(log)
    assert len(records) == 400 and len(lines(log)) == 400
    for name in ("a", "b"):
        assert [r["rows"] for r in records if r["who"] == name] == list(range(200))
