"""Re-sent files: bytes already loaded are not read again when re-applying them could change nothing.

Each case compares with what a full re-load would do; the short cut is taken only when the two must agree.
"""

from __future__ import annotations

import datetime as dt

from etl.load import ingest
from etl.warehouse import connect_current
from tests.helpers import TODAY, row, write_csv


def rows_of(settings) -> list[tuple]:
    _, con = connect_current(settings.data_dir)
    try:
        return con.execute(
            "select clinic_id, session_id, satisfaction, vacuum_kpa, session_number, source_file "
            "from sessions order by all"
        ).fetchall()
    finally:
        con.close()


def quarantine_of(settings, batch_id: str) -> list[tuple]:
    _, con = connect_current(settings.data_dir)
    try:
        return con.execute(
            'select file, "row", "column", reason from quarantine where batch_id = ? order by all', [batch_id]
        ).fetchall()
    finally:
        con.close()


def export(tmp_path, name: str, sessions: list[dict]):
    return write_csv(tmp_path / "in" / name, sessions)


def test_an_unchanged_file_is_accounted_for_without_being_read_again(settings, tmp_path):
    path = export(
        tmp_path,
        "ETB-01_2026-10.csv",
        [
            row(session_id="S1"),
            row(session_id="S2", session_date="2026-10-02"),
            row(session_id="S3", passes="x"),  # quarantined
        ],
    )
    first = ingest([path], settings, today=TODAY).files[0]
    stored = rows_of(settings)
    again = ingest([path], settings, today=TODAY)
    result = again.files[0]
    assert first.same_as_batch is None and result.same_as_batch is not None
    assert (result.rows, result.inserted, result.updated, result.unchanged, result.quarantined) == (
        3,
        0,
        0,
        2,
        1,
    )
    assert rows_of(settings) == stored
    before = [q for q in quarantine_of(settings, again.batch_id)]
    assert len(before) == 1 and before[0][:3] == ("ETB-01_2026-10.csv", 3, "passes")


def test_a_file_resent_after_a_correction_is_loaded_in_full_and_wins_again(settings, tmp_path):
    original = export(
        tmp_path,
        "ETB-01_2026-10.csv",
        [row(session_id="S1", satisfaction="2"), row(session_id="S2", session_date="2026-10-03")],
    )
    ingest([original], settings, today=TODAY)
    correction = write_csv(
        tmp_path / "fix" / "ETB-01_2026-10_fix.csv", [row(session_id="S1", satisfaction="5")]
    )
    ingest([correction], settings, today=TODAY)
    assert ("ETB-01", "S1", 5) in [r[:3] for r in rows_of(settings)]
    resent = ingest([original], settings, today=TODAY).files[0]
    assert resent.same_as_batch is None and resent.updated == 1  # the later file wins, as a full load would
    assert ("ETB-01", "S1", 2) in [r[:3] for r in rows_of(settings)]


def test_a_file_after_a_change_earlier_in_the_same_batch_is_loaded_in_full(settings, tmp_path):
    original = export(tmp_path, "ETB-01_2026-10.csv", [row(session_id="S1", satisfaction="2")])
    ingest([original], settings, today=TODAY)
    correction = write_csv(tmp_path / "a" / "0_fix.csv", [row(session_id="S1", satisfaction="5")])
    batch = ingest([correction, original], settings, today=TODAY)
    assert [f.same_as_batch for f in batch.files] == [None, None]
    assert [r[:3] for r in rows_of(settings)] == [("ETB-01", "S1", 2)]  # the later file of the batch wins


def test_a_change_to_another_clinic_or_month_keeps_the_short_cut(settings, tmp_path):
    october = export(tmp_path, "ETB-01_2026-10.csv", [row(session_id="S1")])
    ingest([october], settings, today=TODAY)
    other = write_csv(
        tmp_path / "b" / "HAM-03_2026-10.csv",
        [row(clinic_id="HAM-03", clinician_id="HAM-03-A1", session_id="S1")],
    )
    november = write_csv(
        tmp_path / "b" / "ETB-01_2026-11.csv", [row(session_id="S9", session_date="2026-11-02")]
    )
    ingest([other, november], settings, today=TODAY)
    assert ingest([october], settings, today=TODAY).files[0].same_as_batch is not None


def test_rows_set_aside_for_a_date_rule_are_checked_again_on_a_later_day(settings, tmp_path):
    path = export(
        tmp_path,
        "ETB-01_2026-11.csv",
        [row(session_id="S1", session_date="2026-11-20"), row(session_id="S2", session_date="2026-11-28")],
    )
    first = ingest([path], settings, today=TODAY).files[0]
    assert (first.inserted, first.quarantined) == (1, 1)  # 28 November is still in the future
    later = ingest([path], settings, today=TODAY + dt.timedelta(days=7)).files[0]
    assert later.same_as_batch is None and (later.inserted, later.unchanged, later.quarantined) == (1, 1, 0)


def test_a_renamed_copy_counts_as_unchanged_under_its_own_name(settings, tmp_path):
    path = export(tmp_path, "ETB-01_2026-10.csv", [row(session_id="S1"), row(session_id="S2", passes="x")])
    ingest([path], settings, today=TODAY)
    copy = write_csv(
        tmp_path / "again" / "ETB-01_2026-10_resent.csv",
        [row(session_id="S1"), row(session_id="S2", passes="x")],
    )
    batch = ingest([copy], settings, today=TODAY)
    assert batch.files[0].same_as_batch is not None
    assert [q[0] for q in quarantine_of(settings, batch.batch_id)] == ["ETB-01_2026-10_resent.csv"]
