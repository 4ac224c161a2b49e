"""Hostile rows: each is quarantined for its own reason, named by file, row and column, and the batch loads."""

from __future__ import annotations

import gzip

import duckdb
import pytest

from etl.load import ingest
from tests.helpers import FIELDS, TODAY, derma, row, write_csv

PATIENT = "PN47110815"


def quarantine(settings) -> list[dict]:
    con = duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True)
    try:
        frame = con.sql('select * from quarantine order by file, "row", "column"').df()
    finally:
        con.close()
    return frame.to_dict("records")


def stored_text(settings) -> str:
    """Every value of every table of the current snapshot, as text."""
    con = duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True)
    try:
        tables = [r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()]
        return "\n".join(con.sql(f'select * from "{t}"').df().to_csv() for t in tables)
    finally:
        con.close()


def test_a_row_missing_a_field_is_one_bad_shape_record_holding_none_of_its_values(tmp_path, settings):
    # The red team's row: one field missing, so the patient number shifted into the session_id column.
    path = write_csv(tmp_path / "in" / "ETB-01_2026-10.csv", [row(session_id="S1"), row(session_id="S2")])
    shifted = row(session_id="S3", patient_id=PATIENT)
    short = [shifted[f] for f in FIELDS if f != "session_id"]  # the session id was never written
    long = [*[row(session_id="S4", patient_id="PN47110816")[f] for f in FIELDS], "EXTRA"]
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(",".join(short) + "\n" + ",".join(long) + "\n")
    result = ingest([path], settings, today=TODAY)
    f = result.files[0]
    assert (f.rows, f.inserted, f.quarantined) == (4, 2, 2)
    records = quarantine(settings)
    assert [(r["row"], r["column"], r["reason"]) for r in records] == [
        (3, "(record)", "bad_shape"),
        (4, "(record)", "bad_shape"),
    ]
    assert [r["value"] for r in records] == ["fewer fields than the header", "more fields than the header"]
    assert all(r["clinic_id"] is None and r["session_id"] is None for r in records)
    # No column of any table, and no output of `derma quarantine`, holds the shifted patient numbers.
    assert PATIENT not in stored_text(settings) and "PN47110816" not in stored_text(settings)
    for fmt in ("text", "csv", "json"):
        shown = derma("quarantine", "--format", fmt, data_dir=settings.data_dir, check_exit=0)
        assert PATIENT not in shown.stdout and "bad_shape" in shown.stdout


NUMBERS = [
    ("passes_past_int64", {"passes": "1e19"}, "passes"),
    ("passes_with_twenty_digits", {"passes": "99999999999999999999"}, "passes"),
    ("passes_past_int32", {"passes": "3000000000"}, "passes"),
    ("birth_year_hugely_negative", {"birth_year": "-9e18"}, "birth_year"),
    ("fitzpatrick_past_double", {"fitzpatrick": "1e400"}, "fitzpatrick"),
    ("vacuum_past_double", {"vacuum_kpa": "-1e400"}, "vacuum_kpa"),
    ("satisfaction_past_int32", {"satisfaction": "4294967296"}, "satisfaction"),
    ("session_number_past_int64", {"session_number": "18446744073709551616"}, "session_number"),
    ("particle_flow_past_double", {"particle_flow": "2e308"}, "particle_flow"),
]


@pytest.mark.parametrize(("change", "column"), [n[1:] for n in NUMBERS], ids=[n[0] for n in NUMBERS])
def test_a_number_past_any_integer_type_is_out_of_range_for_its_row_and_the_batch_loads(
    tmp_path, settings, change, column
):
    header = [*FIELDS, "birth_year", "session_number"]
    bad = write_csv(
        tmp_path / "in" / "a.csv", [row(session_id="S1"), row(session_id="S2", **change)], header=header
    )
    good = write_csv(tmp_path / "in" / "b.csv", [row(session_id="S3")])
    result = ingest([bad, good], settings, today=TODAY)
    assert [(f.status, f.inserted, f.quarantined) for f in result.files] == [
        ("loaded", 1, 1),
        ("loaded", 1, 0),
    ]
    records = quarantine(settings)
    assert [(r["file"], r["row"], r["column"], r["reason"]) for r in records] == [
        ("a.csv", 2, column, "out_of_range")
    ]


def test_not_a_number_is_still_bad_type_and_a_fraction_of_passes_too(tmp_path, settings):
    rows = [row(session_id="S1", passes="nan"), row(session_id="S2", passes="2.5"), row(session_id="S3")]
    ingest([write_csv(tmp_path / "a.csv", rows)], settings, today=TODAY)
    assert [(r["row"], r["reason"]) for r in quarantine(settings)] == [(1, "bad_type"), (2, "bad_type")]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzipped"])
def test_a_50_mb_field_is_quarantined_as_too_long_and_the_row_counted(tmp_path, settings, gz):
    # Was "loaded, rows 0": the row vanished. A small .csv.gz expands to the same field.
    name = "big.csv.gz" if gz else "big.csv"
    rows = [row(session_id="S1"), row(session_id="S2", device_model="x" * 50_000_000)]
    path = write_csv(tmp_path / name, rows, header=[*FIELDS, "device_model"], gz=gz)
    result = ingest([path], settings, today=TODAY)
    f = result.files[0]
    assert (f.status, f.rows, f.inserted, f.quarantined) == ("loaded", 2, 1, 1)
    (record,) = quarantine(settings)
    assert (record["row"], record["column"], record["reason"]) == (2, "device_model", "too_long")
    assert len(record["value"]) == 200 and record["value"].endswith("…")


def test_a_record_past_the_reader_limit_rejects_its_file_by_name_and_the_batch_loads(tmp_path, settings):
    bomb = tmp_path / "in" / "bomb.csv.gz"
    bomb.parent.mkdir()
    with gzip.open(bomb, "wt", encoding="utf-8") as handle:  # 70 kB that expand to a 70 MB record
        handle.write(",".join(FIELDS) + "\n" + ",".join(row().values()) + "\n")
        handle.write("ETB-01,S9,PN1," + "x" * 70_000_000 + "\n")
    good = write_csv(tmp_path / "in" / "good.csv", [row(session_id="S2")])
    result = ingest([bomb, good], settings, today=TODAY)
    by_name = {f.file: f for f in result.files}
    assert by_name["bomb.csv.gz"].status == "rejected"
    assert by_name["bomb.csv.gz"].reason == (
        "bomb.csv.gz: line 3: a record longer than 64 MB; nothing of the file was loaded"
    )
    assert by_name["good.csv"].inserted == 1


CONTROLS = [
    ("nul_in_device_model", "device_model", "Derma\x00Pro", "Derma\\x00Pro"),
    ("escape_sequence_in_clinician", "clinician_id", "K1\x1b[2J", "K1\\x1b[2J"),
    ("newline_in_clinician", "clinician_id", "K1\nrejected: all", "K1…"),  # only its first line is kept
    ("newline_in_device_model", "device_model", "Derma\nPN47110815", "Derma…"),
    ("bidi_override_in_session", "session_id", "S\u202e9", "S\\u202e9"),
    ("bell_in_side_effects", "side_effects", "petechiae\x07", "petechiae\\x07"),
    ("nul_in_a_number", "passes", "3\x00", "3\\x00"),
]


@pytest.mark.parametrize(
    ("column", "value", "shown"), [c[1:] for c in CONTROLS], ids=[c[0] for c in CONTROLS]
)
def test_a_control_character_is_quarantined_as_bad_characters_and_shown_escaped(
    tmp_path, settings, column, value, shown
):
    rows = [row(session_id="S1"), row(**{"session_id": "S2", column: value})]
    path = write_csv(tmp_path / "a.csv", rows, header=[*FIELDS, "device_model"])
    result = ingest([path], settings, today=TODAY)
    assert (result.files[0].inserted, result.files[0].quarantined) == (1, 1)
    records = [r for r in quarantine(settings) if r["column"] == column]
    assert [(r["row"], r["reason"], r["value"]) for r in records] == [(2, "bad_characters", shown)]
    text = stored_text(settings)
    assert value not in text


def test_a_control_character_in_a_patient_number_is_quarantined_and_masked(tmp_path, settings):
    rows = [row(session_id="S1"), row(session_id="S2", patient_id="PN4711\x00")]
    ingest([write_csv(tmp_path / "a.csv", rows)], settings, today=TODAY)
    (record,) = quarantine(settings)
    assert (record["column"], record["reason"], record["value"]) == ("patient_id", "bad_characters", "•••")
    assert record["patient_key"] is None and "PN4711" not in stored_text(settings)


def test_a_tab_in_free_text_is_fine_but_not_in_an_identifier(tmp_path, settings):
    rows = [row(session_id="S1", device_model="Derma\tPro"), row(session_id="S2", clinician_id="K\t1")]
    result = ingest(
        [write_csv(tmp_path / "a.csv", rows, header=[*FIELDS, "device_model"])], settings, today=TODAY
    )
    assert (result.files[0].inserted, result.files[0].quarantined) == (1, 1)
    assert [(r["column"], r["reason"]) for r in quarantine(settings)] == [("clinician_id", "bad_characters")]
