"""The report shows its scope's notes and targets, on the charts and in their own section, and no other clinic's."""

from __future__ import annotations

from openpyxl import load_workbook

from etl.userdata import add_note, set_target
from reports.build import build_report


def test_a_managers_note_and_target_show_in_her_clinics_report_and_not_in_another_clinics(
    writable_warehouse, tmp_path
):
    settings = writable_warehouse
    add_note(
        settings, day="2026-05-10", text="new hand piece from May", process_change=True, clinic_id="ETB-01"
    )
    add_note(settings, day="2026-06-01", text="HAM staff change", clinic_id="HAM-03")
    set_target(settings, measure="pct_satisfied", value="80%", clinic_id="ETB-01")
    mine = build_report(settings, "2026-10", "ETB-01", tmp_path / "etb", ("html", "xlsx"))
    html = next(p for p in mine if p.suffix == ".html").read_text(encoding="utf-8")
    assert "Notes, process changes and targets" in html
    assert "process change (control limits restart this month): new hand piece from May" in html
    assert "Process change: new hand piece from May" in html  # the mark on the charts
    assert "target 80.0%" in html and "HAM staff change" not in html
    book = load_workbook(next(p for p in mine if p.suffix == ".xlsx"), read_only=True)
    cells = {str(c) for ws in book.worksheets for r in ws.iter_rows(values_only=True) for c in r if c}
    assert "% satisfied" in cells
    other = build_report(settings, "2026-10", "HAM-03", tmp_path / "ham", ("html",))[0].read_text(
        encoding="utf-8"
    )
    assert "HAM staff change" in other and "new hand piece" not in other
