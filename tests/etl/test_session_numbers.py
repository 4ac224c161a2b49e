"""Derived session numbers: which patients are renumbered after a load, and that nothing else moves."""

from __future__ import annotations

import duckdb

from etl.load import ingest
from tests.helpers import TODAY, row, write_csv


def numbers(settings) -> dict[str, int]:
    con = duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True)
    try:
        return dict(con.sql("select session_id, session_number from sessions").fetchall())
    finally:
        con.close()


def test_a_session_moved_to_another_patient_renumbers_the_patient_it_left(tmp_path, settings):
    rows = [row(session_id=s, session_date=d) for s, d in [("a", "2026-10-01"), ("b", "2026-10-08")]]
    rows.append(row(session_id="c", session_date="2026-10-15"))
    write_csv(tmp_path / "oct.csv", rows)
    ingest([tmp_path / "oct.csv"], settings, today=TODAY)
    assert numbers(settings) == {"a": 1, "b": 2, "c": 3}
    # The clinic corrects b: it was another patient's session.
    write_csv(tmp_path / "fix.csv", [row(session_id="b", session_date="2026-10-08", patient_id="PN10000002")])
    ingest([tmp_path / "fix.csv"], settings, today=TODAY)
    assert numbers(settings) == {"a": 1, "b": 1, "c": 2}


def test_an_unnumbered_session_is_counted_after_the_patients_numbered_ones(tmp_path, settings):
    numbered = [
        row(session_id="a", session_date="2026-09-01", session_number="1"),
        row(session_id="b", session_date="2026-09-15", session_number="2"),
    ]
    write_csv(tmp_path / "sep.csv", numbered)
    ingest([tmp_path / "sep.csv"], settings, today=TODAY)
    write_csv(tmp_path / "oct.csv", [row(session_id="c", session_date="2026-10-01")])
    ingest([tmp_path / "oct.csv"], settings, today=TODAY)
    assert numbers(settings) == {"a": 1, "b": 2, "c": 3}


def test_a_patient_numbered_by_the_clinic_keeps_its_numbers_when_another_patient_is_derived(
    tmp_path, settings
):
    rows = [
        row(session_id="told1", session_date="2026-10-01", session_number="7"),
        row(session_id="told2", session_date="2026-10-08", session_number="9"),
        row(session_id="x", patient_id="PN10000002", session_date="2026-10-03"),
        row(session_id="y", patient_id="PN10000002", session_date="2026-10-02"),
    ]
    write_csv(tmp_path / "oct.csv", rows)
    ingest([tmp_path / "oct.csv"], settings, today=TODAY)
    assert numbers(settings) == {"told1": 7, "told2": 9, "x": 2, "y": 1}
