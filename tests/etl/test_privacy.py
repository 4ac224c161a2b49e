"""Patient numbers stop at the door: not in any table, file byte, quarantine record or message."""

from __future__ import annotations

import stat
from pathlib import Path

import duckdb
import pytest

from etl.load import ingest
from etl.pseudonym import SecretKeyError, load_secret_key, pseudonymise
from etl.settings import Settings
from tests.helpers import TODAY, derma, row, write_csv

RAW_IDS = [f"PN{70000000 + i * 7:08d}" for i in range(300)]


def all_bytes(folder: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in folder.rglob("*") if p.is_file()]


def load_with_bad_rows(tmp_path, settings):
    rows = [
        row(session_id=f"S{i}", patient_id=pid, session_date="2026-10-02") for i, pid in enumerate(RAW_IDS)
    ]
    rows[3]["passes"] = "99"  # quarantined: the record names the row but masks the patient
    rows[4]["session_date"] = "tomorrow"
    rows[5]["patient_id"] = "PN 7000-0035!"  # odd formats are still pseudonymised, never stored raw
    path = write_csv(tmp_path / "in" / "ETB-01_2026-10.csv", rows)
    ingest([path], settings, today=TODAY)
    ingest([path], settings, today=TODAY)  # a second snapshot and lineage rows
    return path


def test_the_byte_scan_would_find_a_stored_patient_number(tmp_path):
    # Control: DuckDB files keep short strings readable, so the scan below is a real check.
    con = duckdb.connect(str(tmp_path / "control.duckdb"))
    con.execute("create table t as select unnest($ids) as pid", {"ids": RAW_IDS})
    con.close()
    data = (tmp_path / "control.duckdb").read_bytes()
    assert sum(pid.encode() in data for pid in RAW_IDS) == len(RAW_IDS)


def test_no_raw_patient_number_in_any_file_under_the_data_dir(tmp_path, settings):
    load_with_bad_rows(tmp_path, settings)
    files = all_bytes(settings.data_dir)
    assert any(p.suffix == ".duckdb" for p, _ in files)
    for path, data in files:
        leaked = [pid for pid in [*RAW_IDS, "PN 7000-0035!"] if pid.encode() in data]
        assert not leaked, f"{path} holds raw patient numbers"


def test_no_table_holds_a_raw_patient_number_and_quarantine_masks_it(tmp_path, settings):
    load_with_bad_rows(tmp_path, settings)
    rows = [row(session_id="Q", patient_id="PN99999999", passes="x")]
    write_csv(tmp_path / "q.csv", rows)
    bad_patient = [row(session_id="R", patient_id="PN99999998", session_date="never")]
    write_csv(tmp_path / "r.csv", bad_patient)
    ingest([tmp_path / "q.csv", tmp_path / "r.csv"], settings, today=TODAY)
    con = duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True)
    tables = [r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()]
    for table in tables:
        text = con.sql(f"select * from {table}").df().to_csv()
        assert not any(pid in text for pid in [*RAW_IDS, "PN99999999", "PN99999998"]), table
    keys = con.execute(
        "select distinct patient_key from quarantine where session_id in ('Q', 'R')"
    ).fetchall()
    assert keys and all(k[0].startswith("pk_") for k in keys)


def test_a_patient_number_in_a_quarantined_patient_column_is_masked(tmp_path, settings):
    # A patient number with a problem in its own column (here: a duplicate key) is never echoed.
    rows = [row(session_id="D", patient_id="PN55555555"), row(session_id="D", patient_id="PN55555556")]
    write_csv(tmp_path / "d.csv", rows)
    ingest([tmp_path / "d.csv"], settings, today=TODAY)
    con = duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True)
    text = con.sql("select * from quarantine").df().to_csv()
    assert "PN5555555" not in text


def test_messages_and_cli_output_never_show_a_patient_number(tmp_path, settings):
    path = load_with_bad_rows(tmp_path, settings)
    outputs = []
    for args in (
        ["ingest", str(path), "--skip-models"],
        ["ingest", str(path), "--format", "json", "--skip-models"],
        ["quarantine"],
        ["quarantine", "--format", "csv"],
        ["batches"],
    ):
        done = derma(*args, data_dir=settings.data_dir)
        outputs.append(done.stdout + done.stderr)
    assert not any(pid in out for out in outputs for pid in RAW_IDS)


def test_the_same_patient_in_the_same_clinic_always_gets_the_same_pseudonym():
    key = b"k" * 32
    assert pseudonymise(key, "ETB-01", "PN1") == pseudonymise(key, "ETB-01", "PN1")
    assert pseudonymise(key, "ETB-01", "PN1") != pseudonymise(key, "MUC-02", "PN1")
    assert pseudonymise(key, "A1", "23") != pseudonymise(key, "A", "123")
    assert pseudonymise(b"other", "ETB-01", "PN1") != pseudonymise(key, "ETB-01", "PN1")


def test_the_key_file_is_created_private_on_first_use(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", secret_key_file=tmp_path / "cfg" / "secret.key")
    key = load_secret_key(settings)
    assert len(key) == 64
    assert stat.S_IMODE((tmp_path / "cfg" / "secret.key").stat().st_mode) == 0o600
    assert load_secret_key(settings) == key


def test_the_key_file_may_not_live_in_the_data_dir(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", secret_key_file=tmp_path / "data" / "secret.key")
    with pytest.raises(SecretKeyError, match="inside the data directory"):
        load_secret_key(settings)


def test_the_key_from_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("DERMA_SECRET_KEY", "from-env")
    assert load_secret_key(Settings.from_env(data_dir=tmp_path)) == b"from-env"


@pytest.mark.parametrize("key", [b"k" * 32, b"x" * 100, "schlüssel".encode()], ids=["short", "long", "utf8"])
def test_the_pseudonym_computed_in_sql_as_the_file_is_read_equals_the_python_one(key):
    from etl.pseudonym import hmac_params, pseudonym_sql

    con = duckdb.connect()
    pairs = [("ETB-01", "PN1"), ("A1", "23"), ("MUC-02", "Pät 7\u00e9")]
    got = con.execute(
        f"select {pseudonym_sql('c', 'p')} from (select unnest($c) as c, unnest($p) as p)",
        {**hmac_params(key), "c": [c for c, _ in pairs], "p": [p for _, p in pairs]},
    ).fetchall()
    assert [g[0] for g in got] == [pseudonymise(key, c, p) for c, p in pairs]


def test_a_load_under_another_key_is_refused_with_one_line_and_changes_nothing(tmp_path, settings):
    path = write_csv(tmp_path / "a.csv", [row(session_id="S1")])
    derma("ingest", str(path), "--skip-models", data_dir=settings.data_dir, env={"DERMA_SECRET_KEY": "one"})
    before = (settings.data_dir / "warehouse.duckdb").resolve()
    other = write_csv(tmp_path / "b.csv", [row(session_id="S2")])
    refused = derma(
        "ingest", str(other), "--skip-models", data_dir=settings.data_dir, env={"DERMA_SECRET_KEY": "two"}
    )
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "pseudonym key is not the one the warehouse" in refused.stderr
    assert (settings.data_dir / "warehouse.duckdb").resolve() == before  # nothing published
    again = derma(
        "ingest", str(other), "--skip-models", data_dir=settings.data_dir, env={"DERMA_SECRET_KEY": "one"}
    )
    assert again.returncode == 0


def test_the_warehouse_records_a_fingerprint_of_the_key_and_never_the_key(tmp_path, settings):
    from dataclasses import replace

    from etl.pseudonym import key_fingerprint

    key = "a-secret-key-that-must-not-be-stored-0123456789abcdef"
    settings = replace(settings, secret_key=key)
    ingest([write_csv(tmp_path / "a.csv", [row()])], settings, today=TODAY)
    con = duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True)
    info = dict(con.execute("select key, value from schema_info").fetchall())
    con.close()
    assert info["key_fingerprint"] == key_fingerprint(key.encode()) and len(info["key_fingerprint"]) == 16
    assert key_fingerprint(b"another key") != info["key_fingerprint"]
    for path, data in all_bytes(settings.data_dir):
        assert key.encode() not in data, path
