"""Every accepted file format and header variant, and files rejected whole with a clear reason."""

from __future__ import annotations

import datetime as dt

import duckdb
import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl.load import ingest
from tests.helpers import TODAY, row, write_csv, write_jsonl


def stored(settings) -> dict:
    con = duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True)
    out = {
        r[0]: r[1:]
        for r in con.sql(
            "select session_id, vacuum_kpa, fitzpatrick, session_date, device_model from sessions"
        ).fetchall()
    }
    con.close()
    return out


def test_comma_csv_loads(tmp_path, settings):
    path = write_csv(tmp_path / "a.csv", [row(session_id="S1"), row(session_id="S2")])
    result = ingest([path], settings, today=TODAY)
    assert (result.files[0].status, result.files[0].inserted) == ("loaded", 2)


def test_semicolon_csv_with_bom_and_title_case_headers_loads(tmp_path, settings):
    rows = [row(vacuum_kpa="32,5", fitzpatrick="III")]
    header = [
        "Clinic ID",
        "Session-ID",
        "PATIENT_ID",
        "Clinician Id",
        "Session Date",
        "Crystal Type",
        "Vacuum kPa",
        "Passes",
        "Treatment Area",
        "Indication",
        "Fitzpatrick",
        "Particle Flow",
    ]
    keyed = [
        dict(
            zip(
                header,
                [
                    r[k]
                    for k in (
                        "clinic_id",
                        "session_id",
                        "patient_id",
                        "clinician_id",
                        "session_date",
                        "crystal_type",
                        "vacuum_kpa",
                        "passes",
                        "treatment_area",
                        "indication",
                        "fitzpatrick",
                        "particle_flow",
                    )
                ],
                strict=True,
            )
        )
        for r in rows
    ]
    path = write_csv(tmp_path / "b.csv", keyed, delimiter=";", bom=True)
    result = ingest([path], settings, today=TODAY)
    assert result.files[0].inserted == 1, result.files[0]
    assert stored(settings)["S1"][:2] == (32.5, 3)


def test_gzipped_csv_with_quoted_delimiters_loads_and_a_line_break_in_a_field_is_quarantined(
    tmp_path, settings
):
    # A quoted line break is read as CSV allows, but no session field may hold one (bad_characters):
    # a stray quote would otherwise let a field run over the rows after it.
    rows = [
        row(session_id="S1", device_model='Derma, "Pro" mark 2'),
        row(session_id="S2", device_model="X"),
        row(session_id="S3", device_model="Derma\nmark 3"),
    ]
    path = write_csv(tmp_path / "c.csv.gz", rows, gz=True)
    result = ingest([path], settings, today=TODAY)
    assert (result.files[0].rows, result.files[0].inserted, result.files[0].quarantined) == (3, 2, 1)
    assert stored(settings)["S1"][3] == 'Derma, "Pro" mark 2'


def test_xlsx_with_real_date_cells_and_a_sessions_sheet_loads(tmp_path, settings):
    book = openpyxl.Workbook()
    book.active.title = "summary"
    book.active.append(["not", "the", "data"])
    sheet = book.create_sheet("sessions")
    header = list(row().keys())
    sheet.append(header)
    for sid, day in (("S1", dt.datetime(2026, 10, 1)), ("S2", dt.date(2026, 10, 2))):
        values = row(session_id=sid)
        values.update(session_date=day, vacuum_kpa=31.5, passes=3, fitzpatrick=4, particle_flow=55)
        sheet.append([values[h] for h in header])
    sheet.append([None] * len(header))  # a formatted but empty row is not data
    path = tmp_path / "d.xlsx"
    book.save(path)
    result = ingest([path], settings, today=TODAY)
    assert (result.files[0].rows, result.files[0].inserted) == (2, 2), result.files[0]
    got = stored(settings)
    assert got["S1"][:3] == (31.5, 4, dt.date(2026, 10, 1)) and got["S2"][2] == dt.date(2026, 10, 2)


def test_parquet_with_typed_columns_loads(tmp_path, settings):
    base = row()
    table = pa.table(
        {
            **{
                k: pa.array([v, v])
                for k, v in base.items()
                if k
                not in ("session_id", "session_date", "vacuum_kpa", "passes", "fitzpatrick", "follow_up_done")
            },
            "session_id": ["S1", "S2"],
            "session_date": pa.array([dt.date(2026, 10, 1), dt.date(2026, 10, 3)], pa.date32()),
            "vacuum_kpa": pa.array([30.5, 29.0]),
            "passes": pa.array([3, 2], pa.int64()),
            "fitzpatrick": pa.array([5, 6], pa.int8()),
            "follow_up_done": pa.array([True, False]),
        }
    )
    pq.write_table(table, tmp_path / "e.parquet")
    result = ingest([tmp_path / "e.parquet"], settings, today=TODAY)
    assert result.files[0].inserted == 2, result.files[0]
    assert stored(settings)["S2"][:3] == (29.0, 6, dt.date(2026, 10, 3))


def test_json_lines_load_and_a_broken_line_is_quarantined(tmp_path, settings):
    path = write_jsonl(
        tmp_path / "f.jsonl", [row(session_id="S1"), {**row(session_id="S2"), "vacuum_kpa": 33}]
    )
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("{not json\n\n[1, 2]\n")
    result = ingest([path], settings, today=TODAY)
    f = result.files[0]
    assert (f.rows, f.inserted, f.quarantined) == (4, 2, 2)
    assert stored(settings)["S2"][0] == 33.0


def test_a_row_with_more_fields_than_the_header_is_quarantined(tmp_path, settings):
    path = write_csv(tmp_path / "g.csv", [row(session_id="S1"), row(session_id="S2")])
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("ETB-01,S3,PN1,K,2026-10-01,corundum,30,3,face,wrinkles,2,60,4,,true,true,EXTRA\n")
        handle.write("ETB-01,S4,PN1\n")
    result = ingest([path], settings, today=TODAY)
    f = result.files[0]
    assert (f.rows, f.inserted, f.quarantined) == (4, 2, 2)


def test_unknown_columns_are_reported_and_protected_columns_dropped(tmp_path, settings):
    rows = [
        row(**{"notes": "allergic to X", "Patient Name": "Jane Roe", "email_address": "j@x.org", "room": "3"})
    ]
    path = write_csv(tmp_path / "h.csv", rows)
    result = ingest([path], settings, today=TODAY)
    assert result.files[0].ignored_columns == ("room",)
    assert set(result.files[0].dropped_columns) == {"notes", "Patient Name", "email_address"}
    con = duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True)
    text = con.sql("select * from sessions").df().to_csv()
    assert "Jane" not in text and "allergic" not in text


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("clinic_id,session_id\nETB-01,S1\n", "missing required column(s): patient_id, clinician_id"),
        ("", "empty file"),
        ("clinic_id,session_id,session_id\n", "more than once: session_id"),
    ],
    ids=["missing_columns", "empty", "duplicate_header"],
)
def test_a_file_without_a_usable_header_is_rejected_whole_and_names_the_problem(
    tmp_path, settings, content, expected
):
    bad = tmp_path / "in" / "bad.csv"
    bad.parent.mkdir()
    bad.write_text(content, encoding="utf-8")
    good = write_csv(tmp_path / "in" / "good.csv", [row()])
    result = ingest([tmp_path / "in"], settings, today=TODAY)
    by_name = {f.file: f for f in result.files}
    assert by_name["bad.csv"].status == "rejected"
    assert by_name["bad.csv"].reason.startswith("bad.csv: ") and expected in by_name["bad.csv"].reason
    assert (by_name["bad.csv"].inserted, by_name["bad.csv"].quarantined) == (0, 0)
    assert by_name[good.name].inserted == 1


def test_a_corrupt_gzip_or_workbook_is_rejected_whole(tmp_path, settings):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.csv.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    (tmp_path / "in" / "y.xlsx").write_bytes(b"PK\x03\x04 not a workbook")
    (tmp_path / "in" / "z.parquet").write_bytes(b"PAR1 broken")
    result = ingest([tmp_path / "in"], settings, today=TODAY)
    assert [f.status for f in result.files] == ["rejected"] * 3
    assert all(f.reason.startswith(f.file) for f in result.files)


def test_a_latin1_file_is_rejected_with_a_reason(tmp_path, settings):
    path = tmp_path / "l.csv"
    path.write_bytes(
        ",".join(row().keys()).encode()
        + b"\n"
        + ",".join(row(device_model="Derm\xe9").values()).encode("latin-1")
        + b"\n"
    )
    result = ingest([path], settings, today=TODAY)
    assert result.files[0].status == "rejected" and "l.csv" in result.files[0].reason
