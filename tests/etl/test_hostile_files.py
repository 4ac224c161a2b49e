"""Hostile files: each is read whole or rejected by name, never hangs the load or stops the batch."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pytest

from etl.load import ingest
from tests.helpers import FIELDS, TODAY, derma, derma_env, row, write_csv

SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
PARTS = {
    "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
    'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'spreadsheetml.worksheet+xml"/></Types>',
    "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
    'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
    '2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="sessions" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
    'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.'
    'org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
}


def cells(values: list[str]) -> str:
    return "<row>" + "".join(f'<c t="inlineStr"><is><t>{v}</t></is></c>' for v in values) + "</row>"


def workbook_with_a_huge_cell(path: Path, cell_bytes: int) -> Path:
    """A valid .xlsx (header and one session) whose second session holds one cell of ``cell_bytes``.

    Streamed into the zip, so the test never holds the cell: the file is a few hundred kB.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in PARTS.items():
            archive.writestr(name, text)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write((SHEET_HEAD + cells(FIELDS) + cells(list(row().values()))).encode())
            sheet.write(b'<row><c t="inlineStr"><is><t>ETB-01</t></is></c><c t="inlineStr"><is><t>')
            block = b"x" * 2**20
            for _ in range(cell_bytes // len(block)):
                sheet.write(block)
            sheet.write(b"</t></is></c></row></sheetData></worksheet>")
    return path


def test_an_xlsx_bomb_is_rejected_by_name_and_the_rest_of_the_batch_loads(tmp_path, settings):
    # The red team's file: 600 kB holding one 300 MB cell ran 77 s to 3.1 GB and stopped the batch.
    bomb = workbook_with_a_huge_cell(tmp_path / "in" / "bomb.xlsx", 300 * 2**20)
    assert bomb.stat().st_size < 2 * 2**20
    good = write_csv(tmp_path / "in" / "good.csv", [row(session_id="S2")])
    result = ingest([bomb, good], settings, today=TODAY)
    by_name = {f.file: f for f in result.files}
    assert by_name["bomb.xlsx"].status == "rejected"
    assert by_name["bomb.xlsx"].reason.startswith(
        "bomb.xlsx: the workbook unpacks to 300 MB, more than the 256 MB"
    )
    assert (by_name["good.csv"].status, by_name["good.csv"].inserted) == ("loaded", 1)


def test_a_workbook_under_the_size_limit_that_needs_too_much_memory_is_rejected_by_name(tmp_path, settings):
    # 200 MB of one cell passes the size check; parsing it needs more than the child process may use.
    from dataclasses import replace

    bomb = workbook_with_a_huge_cell(tmp_path / "in" / "heavy.xlsx", 200 * 2**20)
    good = write_csv(tmp_path / "in" / "good.csv", [row(session_id="S2")])
    result = ingest([bomb, good], replace(settings, memory_limit="64MB"), today=TODAY)
    by_name = {f.file: f for f in result.files}
    assert by_name["heavy.xlsx"].status == "rejected"
    assert "needs more memory than the load may use" in by_name["heavy.xlsx"].reason
    assert by_name["good.csv"].inserted == 1


def test_a_small_workbook_with_a_long_cell_is_read_and_the_cell_quarantined(tmp_path, settings):
    book = workbook_with_a_huge_cell(tmp_path / "long.xlsx", 2 * 2**20)
    result = ingest([book], settings, today=TODAY)
    f = result.files[0]
    assert (f.status, f.rows, f.inserted, f.quarantined) == ("loaded", 2, 1, 1)


def test_a_header_over_64_kb_is_read_whole(tmp_path, settings):
    # The header was cut at 64 kB and every row quarantined for "more fields than the header".
    extra = [f"vendor_field_{i:05d}_" + "x" * 40 for i in range(2000)]  # about 110 kB of header
    header = [*extra, *FIELDS]
    rows = [dict(row(session_id=f"S{i}"), **dict.fromkeys(extra, "v")) for i in range(3)]
    path = write_csv(tmp_path / "wide.csv", rows, header=header)
    assert len(path.read_text().splitlines()[0]) > 64 * 1024
    result = ingest([path], settings, today=TODAY)
    f = result.files[0]
    assert (f.status, f.rows, f.inserted, f.quarantined) == ("loaded", 3, 3, 0)
    assert len(f.ignored_columns) == 2000


def test_a_header_over_the_limit_rejects_its_file_with_a_clear_reason(tmp_path, settings):
    bad = tmp_path / "in" / "huge-header.csv"
    bad.parent.mkdir()
    bad.write_text(",".join(FIELDS) + "," + "y" * (2 * 2**20) + "\n" + ",".join(row().values()) + "\n")
    good = write_csv(tmp_path / "in" / "good.csv", [row(session_id="S2")])
    result = ingest([bad, good], settings, today=TODAY)
    by_name = {f.file: f for f in result.files}
    assert by_name["huge-header.csv"].reason == "huge-header.csv: the header row is longer than 1 MB"
    assert by_name["good.csv"].inserted == 1


def test_a_fifo_named_on_the_command_line_is_rejected_and_never_hangs(tmp_path, settings):
    fifo = tmp_path / "in" / "pipe.csv"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    good = write_csv(tmp_path / "in" / "good.csv", [row()])
    # A subprocess: if the load blocked on the FIFO, the timeout turns the hang into a failure.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "derma.cli",
            "ingest",
            str(fifo),
            str(good),
            "--skip-models",
            "--format",
            "json",
        ],
        env={**derma_env(settings), "DERMA_SECRET_KEY": "k"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr  # a rejected file makes the run fail, after loading the rest
    files = {f["file"]: f for f in __import__("json").loads(done.stdout)["files"]}
    assert files["pipe.csv"]["reason"] == "pipe.csv: not a regular file (a FIFO); only regular files are read"
    assert files["good.csv"]["inserted"] == 1


def test_a_device_named_on_the_command_line_is_rejected(tmp_path, settings):
    good = write_csv(tmp_path / "good.csv", [row()])
    result = ingest([Path("/dev/zero"), good], settings, today=TODAY)
    assert [f.status for f in result.files] == ["rejected", "loaded"]
    assert result.files[0].reason == "zero: not a regular file (a device); only regular files are read"


def test_a_newline_in_a_file_name_is_shown_escaped_in_the_output_and_the_warehouse(tmp_path, settings):
    name = "ETB-01.csv\nrejected: every file of this batch\x1b[2J.csv"
    path = write_csv(tmp_path / "in" / name, [row()])
    done = derma("ingest", str(path), "--skip-models", data_dir=settings.data_dir, check_exit=0)
    shown = "ETB-01.csv\\nrejected: every file of this batch\\x1b[2J.csv"
    output = done.stdout + done.stderr
    assert not any(line.startswith("rejected:") for line in output.splitlines())
    assert "\x1b" not in output and shown[:30] in output
    con = duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select distinct source_file from sessions").fetchall() == [(shown,)]
        assert con.execute("select file from load_files").fetchall() == [(shown,)]
    finally:
        con.close()


def test_a_file_that_needs_more_memory_than_the_limit_is_rejected_by_name(tmp_path, settings):
    from dataclasses import replace

    # Gzip is read in buffers twice the record limit; a record limit past the memory limit cannot fit.
    big = write_csv(tmp_path / "in" / "a.csv.gz", [row(session_id=f"S{i}") for i in range(10)], gz=True)
    good = write_csv(tmp_path / "in" / "b.csv", [row(session_id="T1")])
    import etl.readers as readers

    original = readers.record_limit
    readers.record_limit = lambda _limit: 64 * 2**20
    try:
        result = ingest([big, good], replace(settings, memory_limit="100MB"), today=TODAY)
    finally:
        readers.record_limit = original
    assert [f.status for f in result.files] == ["rejected", "loaded"]
    assert result.files[0].reason == (
        "a.csv.gz: needs more memory than the load may use (DERMA_MEMORY_LIMIT); nothing of it was loaded"
    )


@pytest.mark.parametrize("limit", ["100MB", "2GB"])
def test_a_gzipped_export_loads_under_a_small_memory_limit_too(tmp_path, settings, limit):
    from dataclasses import replace

    path = write_csv(tmp_path / "a.csv.gz", [row(session_id=f"S{i}") for i in range(10)], gz=True)
    result = ingest([path], replace(settings, memory_limit=limit), today=TODAY)
    assert (result.files[0].status, result.files[0].inserted) == ("loaded", 10)


def test_a_workbook_row_with_more_cells_than_the_header_keeps_none_of_its_values(tmp_path, settings):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(FIELDS)
    sheet.append(list(row(session_id="S1").values()))
    sheet.append([*row(session_id="S2", patient_id="PN47110817").values(), "PN47110818"])
    path = tmp_path / "extra.xlsx"
    book.save(path)
    result = ingest([path], settings, today=TODAY)
    assert (result.files[0].rows, result.files[0].inserted, result.files[0].quarantined) == (2, 1, 1)
    con = duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True)
    try:
        records = con.execute('select "row", "column", reason, value, session_id from quarantine').fetchall()
        text = (
            con.sql("select * from quarantine").df().to_csv()
            + con.sql("select * from sessions").df().to_csv()
        )
    finally:
        con.close()
    assert records == [(2, "(record)", "bad_shape", "more fields than the header", None)]
    assert "PN4711081" not in text
