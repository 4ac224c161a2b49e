"""The monthly report read back with real readers (pypdf, openpyxl, an HTML parser) and checked against the warehouse."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from streamlit.testing.v1 import AppTest

from derma.cli import main
from etl.warehouse import connect_current
from queries import run_query
from reports.build import build_report
from reports.html import STAMP_ID

MONTH, EMPTY_MONTH, CLINIC, MIN_CELL = "2026-10", "2025-01", "ETB-01", 10
APP = Path(__file__).parents[2] / "dashboard" / "streamlit_app.py"


@pytest.fixture(scope="module")
def built(sample_warehouse, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    files = {
        "network": build_report(sample_warehouse, MONTH, None, out / "network"),
        "clinic": build_report(sample_warehouse, MONTH, CLINIC, out / "clinic"),
        "suppressed": build_report(
            sample_warehouse, MONTH, CLINIC, out / "suppressed", ("html", "xlsx"), min_cell=MIN_CELL
        ),
        "again": build_report(sample_warehouse, MONTH, CLINIC, out / "again", ("html", "xlsx")),
        "empty": build_report(sample_warehouse, EMPTY_MONTH, None, out / "empty"),
    }
    return {k: {p.suffix[1:]: p for p in v} for k, v in files.items()}


@pytest.fixture(scope="module")
def warehouse(sample_warehouse):
    _, con = connect_current(sample_warehouse.data_dir)
    yield con
    con.close()


def kpis(con, clinic_id=None):
    frame = run_query(
        con, "kpis_by_month", {"clinic_id": clinic_id, "date_from": f"{MONTH}-01", "date_to": f"{MONTH}-31"}
    )
    return frame.iloc[0]


def without_bundle(html: str) -> str:
    return re.sub(
        r"<script[^>]*>/\*\*\s*\n?\s*\* plotly\.js.*?</script>", "", html, count=1, flags=re.S | re.I
    )


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def xlsx_cells(path: Path) -> list:
    book = openpyxl.load_workbook(path)
    return [c.value for sheet in book for row in sheet.iter_rows() for c in row if c.value is not None]


def all_text(files: dict) -> dict[str, str]:
    return {
        "html": files["html"].read_text(encoding="utf-8"),
        "pdf": pdf_text(files["pdf"]),
        "xlsx": "\n".join(str(v) for v in xlsx_cells(files["xlsx"])),
    }


def test_files_are_named_by_scope_and_month(built):
    assert built["network"]["html"].name == f"derma-report_network_{MONTH}.html"
    assert {p.name for p in built["clinic"].values()} == {
        f"derma-report_{CLINIC}_{MONTH}.{f}" for f in ("html", "pdf", "xlsx")
    }


@pytest.mark.parametrize("scope", ["network", "clinic"])
def test_key_figures_match_the_warehouse_in_every_format(built, warehouse, scope):
    row = kpis(warehouse, CLINIC if scope == "clinic" else None)
    texts = all_text(built[scope])
    for text in (texts["html"], texts["pdf"]):
        assert f"{int(row['sessions']):,}" in text
        assert f"{100 * row['pct_satisfied']:.1f}%" in text
        assert f"{100 * row['side_effect_rate']:.1f}%" in text
    sheet = openpyxl.load_workbook(built[scope]["xlsx"])["KPIs"]
    values = {r[0]: r[2] for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert values["Sessions"] == int(row["sessions"])
    assert values["% satisfied"] == pytest.approx(row["pct_satisfied"])
    assert values["Side-effect rate"] == pytest.approx(row["side_effect_rate"])


def test_the_workbook_has_typed_sheets_with_frozen_headers(built):
    book = openpyxl.load_workbook(built["network"]["xlsx"])
    assert {"KPIs", "Trends", "Side effects", "Effects", "Funnel", "Data quality"} <= set(book.sheetnames)
    trends = book["Trends"]
    assert trends.freeze_panes == "A2"
    month_cell, sessions_cell = trends["A2"], trends["B2"]
    assert isinstance(month_cell.value, dt.datetime) and isinstance(sessions_cell.value, int)
    rate = next(c for c in trends[1] if c.value == "pct satisfied")
    assert trends.cell(2, rate.column).number_format == "0.0%"
    assert isinstance(trends.cell(2, rate.column).value, float)
    assert trends.column_dimensions["A"].width >= len("month")


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs, self.styles, self._in_style = [], [], False

    def handle_starttag(self, tag, attrs):
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]
        self._in_style = tag == "style"

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def test_the_html_is_one_offline_file_with_plotly_inlined_once(built):
    html = built["network"]["html"].read_text(encoding="utf-8")
    parser = _Refs()
    parser.feed(html)
    assert all(ref.startswith("#") for ref in parser.refs), parser.refs
    css = "".join(parser.styles)
    assert "@import" not in css and not re.search(r"url\(", css)
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", html, flags=re.S)
    bundles = [s for s in scripts if "plotly.js" in s[:400].lower()]
    assert len(bundles) == 1, "plotly.js inlined exactly once"
    markup = re.sub(r"<script[^>]*>.*?</script>", "", html, flags=re.S)
    figures = [s for s in scripts if s not in bundles]
    assert not re.search(r"https?://", markup + "".join(figures)), "no address outside the plotly.js bundle"
    assert sum("Plotly.newPlot" in s for s in figures) >= 5


def test_the_pdf_has_a_contents_list_and_page_numbers(built):
    reader = PdfReader(built["network"]["pdf"])
    first = reader.pages[0].extract_text()
    assert "Contents" in first and "Data quality" in first
    assert f"page 1 of {len(reader.pages)}" in first
    assert reader.outline, "sections are PDF bookmarks"


def test_a_clinic_report_names_no_other_clinic_clinician_or_patient(built, warehouse):
    people = run_query(warehouse, "unit_outcomes", {"grain": "clinician"})
    others = set(people.loc[people["clinic_id"] != CLINIC, "clinic_id"]) | set(
        people.loc[people["clinic_id"] != CLINIC, "clinician_id"]
    )
    assert others
    for fmt, text in all_text(built["clinic"]).items():
        assert not [o for o in others if o in text], fmt
        assert "pk_" not in text, fmt
    for fmt, text in all_text(built["network"]).items():
        assert "pk_" not in text, fmt


def test_min_cell_hides_small_counts_and_cannot_be_undone_by_subtraction(built):
    book = openpyxl.load_workbook(built["suppressed"]["xlsx"])
    seen_hidden = False
    for sheet in book:
        if sheet.title in ("About", "Effects"):
            continue
        header = [c.value for c in sheet[1]]
        for row in sheet.iter_rows(min_row=2):
            for c, name in zip(row, header, strict=True):
                if (
                    c.number_format == "#,##0"
                    and isinstance(c.value, int)
                    and "delta" not in name
                    and "change" not in name
                ):
                    assert c.value >= MIN_CELL, (sheet.title, name, c.value)
                seen_hidden |= c.value == f"<{MIN_CELL}"
        if sheet.title == "Side effects":  # per type, the skin-type cells add up to a knowable total
            types = {}
            for r in sheet.iter_rows(min_row=2, values_only=True):
                types.setdefault(r[0], []).append(r[2])
            for kind, cells in types.items():
                assert sum(v == f"<{MIN_CELL}" for v in cells) != 1, kind
    assert seen_hidden
    html = without_bundle(built["suppressed"]["html"].read_text(encoding="utf-8"))
    assert "n=" in html and not re.search(r"n=[0-9](?![0-9,])", html), "no chart label shows a count below 10"
    assert f"&lt;{MIN_CELL}" in html


def test_the_same_snapshot_and_month_give_the_same_bytes(built):
    def strip(path):
        return re.sub(rf'id="{STAMP_ID}">[^<]*<', "", path.read_text(encoding="utf-8"))

    assert strip(built["clinic"]["html"]) == strip(built["again"]["html"])
    assert built["clinic"]["xlsx"].read_bytes() == built["again"]["xlsx"].read_bytes()


def test_a_month_without_data_writes_a_short_report_saying_so(built):
    texts = all_text(built["empty"])
    for text in texts.values():
        assert "No sessions were recorded" in text
    assert len(PdfReader(built["empty"]["pdf"]).pages) <= 2


def test_the_cli_writes_named_files_and_fails_in_one_line(sample_warehouse, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(
        main,
        [
            "report",
            "--month",
            MONTH,
            "--clinic",
            CLINIC,
            "--formats",
            "html,xlsx",
            "--out",
            str(tmp_path),
            "--data-dir",
            str(sample_warehouse.data_dir),
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"derma-report_{CLINIC}_{MONTH}.html",
        f"derma-report_{CLINIC}_{MONTH}.xlsx",
    ]
    for args, message in (
        (["--clinic", "NOPE-99"], "unknown clinic 'NOPE-99'"),
        (["--month", "2026-13"], "bad month"),
    ):
        bad = runner.invoke(
            main,
            [
                "report",
                "--month",
                MONTH,
                *args,
                "--out",
                str(tmp_path),
                "--data-dir",
                str(sample_warehouse.data_dir),
            ],
        )
        assert bad.exit_code == 1 and message in bad.output and len(bad.output.strip().splitlines()) == 1


def test_the_reports_page_builds_and_offers_downloads(sample_warehouse, monkeypatch):
    monkeypatch.setenv("DERMA_DATA_DIR", str(sample_warehouse.data_dir))
    monkeypatch.setenv("DERMA_SECRET_KEY", "sample-test-key")
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.switch_page("app_pages/reports.py").run()
    assert not at.exception, [e.message for e in at.exception]
    at.selectbox(key="reports_month").set_value(MONTH)
    at.selectbox(key="reports_clinic").set_value(CLINIC)
    at.multiselect(key="reports_formats").set_value(["html", "xlsx"])
    at.button(key="reports_build").click().run()
    assert not at.exception, [e.message for e in at.exception]
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == [
        f"Download derma-report_{CLINIC}_{MONTH}.html",
        f"Download derma-report_{CLINIC}_{MONTH}.xlsx",
    ]
