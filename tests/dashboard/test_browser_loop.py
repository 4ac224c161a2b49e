"""The managers' loop in Chromium: a note that rebases the chart, a target, and clicking a point to the rows behind it.

One `derma serve` in trusted-header mode on a private copy of the sample warehouse (the notes form writes to
it), as manager A (ETB-01) and as the analyst. Clicks are real mouse clicks on Plotly's drawn points.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from etl import audit
from etl.userdata import read
from etl.warehouse import connect_current
from queries import run_query
from tests.dashboard.browser import expect_rerun, serve, settle
from tests.dashboard.test_browser_access import GRIDS_DRAWN, HEADER, PROBLEMS, text
from tests.dashboard.users import ANA, ANN, OTHERS, ROLES

DRILL = "Behind this point"


@pytest.fixture(scope="module")
def loop_warehouse(sample_warehouse, tmp_path_factory):
    import shutil
    from dataclasses import replace

    folder = tmp_path_factory.mktemp("loop-warehouse") / "data"
    shutil.copytree(sample_warehouse.data_dir, folder, symlinks=True)
    return replace(sample_warehouse, data_dir=folder)


@pytest.fixture(scope="module")
def server(loop_warehouse, tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser-loop")
    roles = folder / "roles.toml"
    roles.write_text(ROLES)
    env = {
        "DERMA_IDENTITY_HEADER": HEADER,
        "DERMA_ROLES_FILE": str(roles),
        "DERMA_AUDIT_FILE": str(folder / "audit.jsonl"),
        "DERMA_SECRET_KEY": loop_warehouse.secret_key,
    }
    log = folder / "streamlit.log"
    with serve(loop_warehouse.data_dir, log, env=env) as url:
        yield SimpleNamespace(url=url, audit=folder / "audit.jsonl", settings=loop_warehouse)
    assert "Traceback" not in log.read_text(), log.read_text()[-2000:]


@pytest.fixture(scope="module")
def as_user(browser):
    pages = {}

    def page_of(email: str):
        if email not in pages:
            context = browser.new_context(
                viewport={"width": 1400, "height": 1000}, extra_http_headers={HEADER: email}
            )
            pages[email] = context.new_page()
        return pages[email]

    yield page_of
    for page in pages.values():
        page.context.close()


def open_page(page, url: str) -> None:
    page.goto(url)
    settle(page, 60_000)
    assert page.locator(PROBLEMS).count() == 0, page.locator(PROBLEMS).first.inner_text()


def click_point(page, key: str, index: int = 0) -> None:
    """A real click on the ``index``-th drawn marker of the chart with widget key ``key``; waits for the rerun."""
    points = page.locator(f".st-key-{key} .scatterlayer .trace .points path")
    points.first.wait_for()
    points.nth(index).scroll_into_view_if_needed()
    box = points.nth(index).bounding_box()
    expect_rerun(page)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    settle(page, 60_000)
    page.get_by_text(DRILL).first.wait_for(timeout=30_000)
    page.wait_for_function(GRIDS_DRAWN, timeout=30_000)  # a grid's accessible table follows its canvas


def figure_text(page, key: str) -> str:
    return page.evaluate(
        "k => { const p = document.querySelector(`.st-key-${k} .js-plotly-plot`); "
        "return JSON.stringify({d: p.data, l: p.layout}); }",
        key,
    )


def test_a_manager_records_a_process_change_and_her_chart_rebases_and_shows_it(server, as_user):
    page = as_user(ANA)
    open_page(page, f"{server.url}/notes")
    page.locator(".st-key-notes_scope input").click()
    offered = [o.inner_text().strip() for o in page.get_by_role("option").all()]
    page.keyboard.press("Escape")
    assert offered == ["ETB-01"]  # not the network, not another clinic
    day = page.locator(".st-key-notes_day input")
    day.click(force=True)  # opens the calendar; the field then takes a typed date
    day.fill("2026-05-10")
    day.press("Enter")
    page.locator(".st-key-notes_text input").fill("New hand piece from May")
    page.locator(".st-key-notes_process_change label").click()
    expect_rerun(page)
    page.get_by_role("button", name="Save note").click()
    page.get_by_text("Saved note").wait_for(timeout=120_000)
    notes = read(server.settings).notes
    assert [(n.clinic_id, n.month, n.process_change, n.author) for n in notes] == [
        ("ETB-01", "2026-05", True, ANA)
    ]
    open_page(page, f"{server.url}/clinicians")
    chart = figure_text(page, "clinicians_spc_side_effects_p_prime")
    assert "Process change: New hand piece from May" in chart
    _, con = connect_current(server.settings.data_dir)
    try:
        starts = run_query(con, "spc_verdicts", {"unit": "ETB-01"})["segment_start"]
    finally:
        con.close()
    assert {str(s)[:10] for s in starts} == {"2026-05-01"}  # both of her charts restart at the change
    assert not [c for c in OTHERS if c in text(page)]
    records = audit.read(server.audit)
    assert any(r["action"] == "annotate" and r["who"] == ANA and r["outcome"] == "ok" for r in records)


def test_a_manager_clicks_a_flagged_clinicians_point_and_sees_only_her_courses(server, as_user):
    page = as_user(ANA)
    open_page(page, f"{server.url}/clinicians")
    click_point(page, "clinicians_funnel_clinician")
    panel = page.get_by_text(DRILL).first.inner_text()
    assert "Clinician ETB-01-" in panel
    content = text(page)
    assert "Patient (pseudonym)" in content and "patient_key" not in content.split(DRILL, 1)[-1][:2000]
    assert not [c for c in OTHERS if c in content]
    assert page.locator(".st-key-clinicians_funnel_drill_download").count() == 1
    drills = [r for r in audit.read(server.audit) if r["what"] == "drill_sessions" and r["who"] == ANA]
    assert drills and drills[-1]["params"]["clinician_id"].startswith("ETB-01-")


def test_the_analyst_clicks_a_month_a_control_chart_point_and_a_settings_band(server, as_user, tmp_path):
    page = as_user(ANN)
    open_page(page, server.url)
    click_point(page, "overview_rates", 3)
    assert "Sessions of the month" in page.get_by_text(DRILL).first.inner_text()
    with page.expect_download() as got:
        page.locator(".st-key-overview_drill_download button").click()
    csv = got.value.path().read_text(encoding="utf-8")
    header = csv.splitlines()[0].split(",")
    assert "patient_key" in header and "session_id" not in header and "patient_id" not in header
    open_page(page, f"{server.url}/clinicians")
    click_point(page, "clinicians_spc_side_effects_p_prime", 5)
    assert DRILL in text(page)
    open_page(page, f"{server.url}/safety")
    click_point(page, "safety_by_setting", 1)
    assert "Sessions at " in page.get_by_text(DRILL).first.inner_text()
    kinds = {(r["action"], r["what"].split(" ")[0]) for r in audit.read(server.audit) if r["who"] == ANN}
    assert ("query", "drill_sessions") in kinds and ("download", "drill_sessions.csv") in kinds


def test_the_analyst_sets_a_network_target_and_sees_it_on_the_trend_with_its_verdict(server, as_user):
    page = as_user(ANN)
    open_page(page, f"{server.url}/notes")
    page.locator(".st-key-targets_measure input").click()
    page.get_by_role("option", name="% satisfied", exact=True).click()
    page.locator(".st-key-targets_value input").fill("85")
    expect_rerun(page)
    page.get_by_role("button", name="Save target").click()
    page.get_by_text("Saved target").wait_for(timeout=120_000)
    open_page(page, server.url)
    assert "target 85.0%" in figure_text(page, "overview_rates")
    assert "Target for side-effect rate" not in text(page)
    assert "Target for % satisfied: 85.0% (or more)" in text(page)
