"""End to end: `derma serve` on the sample warehouse, driven by headless Chromium; screenshots kept as artifacts."""

from __future__ import annotations

import pytest

from tests.dashboard.browser import (
    PAGES,
    ROOT,
    choose,
    expect_rerun,
    screenshot,
    serve,
    settle,
    sidebar_box,
)

SHOTS = ROOT / "test-artifacts" / "screenshots"
# Charts each page must draw on the sample warehouse (a Plotly chart is one or more SVG layers).
MIN_CHARTS = {"overview": 2, "courses": 4, "safety": 5, "clinicians": 4, "models": 2, "quality": 2, "sql": 0}
PROBLEMS = '[data-testid="stException"], [data-testid="stAlertContentError"]'


@pytest.fixture(scope="module")
def server(sample_warehouse, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "streamlit.log"
    with serve(sample_warehouse.data_dir, log) as url:
        yield url
    assert "Traceback" not in log.read_text(), log.read_text()[-2000:]


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context.new_page()
    context.close()


def charts_drawn(page) -> int:
    """Plotly charts on the page that have drawn their SVG."""
    return page.locator('[data-testid="stPlotlyChart"]').filter(has=page.locator(".main-svg")).count()


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_draws_its_charts_without_an_error(server, page, name):
    page.goto(f"{server}/{PAGES[name]}")
    settle(page)
    assert page.locator(PROBLEMS).count() == 0
    assert charts_drawn(page) >= MIN_CHARTS[name]
    assert page.locator("h1").first.inner_text().strip()
    screenshot(page, SHOTS / f"{name}.png")


def test_a_filter_change_redraws_the_page_and_stays_in_the_address(server, page):
    page.goto(server)
    settle(page)
    sessions = page.locator('[data-testid="stMetricValue"]').first.inner_text()
    expect_rerun(page)
    choose(page, "Clinic", "ETB-01")
    settle(page)
    assert "filters_clinic=ETB-01" in page.url
    assert page.locator('[data-testid="stMetricValue"]').first.inner_text() != sessions
    assert charts_drawn(page) >= MIN_CHARTS["overview"] and page.locator(PROBLEMS).count() == 0
    screenshot(page, SHOTS / "overview-clinic-ETB-01.png")

    expect_rerun(page)
    page.get_by_role("link", name="Clinicians & clinics").click()
    settle(page)
    assert (
        "/clinicians" in page.url and "filters_clinic=ETB-01" in page.url
    )  # the filter follows the reader to the next page
    assert charts_drawn(page) >= MIN_CHARTS["clinicians"] and page.locator(PROBLEMS).count() == 0
    screenshot(page, SHOTS / "clinicians-clinic-ETB-01.png")


def test_a_shared_address_opens_the_same_view(server, page):
    page.goto(f"{server}/courses?filters_indication=acne+scars&filters_clinic=HAM-03")
    settle(page)
    assert sidebar_box(page, "Indication").locator("input").input_value() == "acne scars"
    assert sidebar_box(page, "Clinic").locator("input").input_value() == "HAM-03"
    assert page.locator(PROBLEMS).count() == 0 and charts_drawn(page) >= 3


def test_the_sql_page_refuses_a_hostile_statement(server, page):
    page.goto(f"{server}/sql")
    settle(page)
    page.get_by_role("tab", name="Free SQL").click()
    page.get_by_role("textbox", name="SQL statement").fill("select * from read_csv('/etc/passwd')")
    expect_rerun(page)
    page.get_by_role("button", name="Run").click()
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "refused" in page.locator('[data-testid="stAlertContentError"]').inner_text()
    assert "root:" not in page.content()


def test_dark_theme_keeps_the_charts_readable(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="dark")
    page = context.new_page()
    try:
        for name in ("overview", "safety", "clinicians"):
            page.goto(f"{server}/{PAGES[name]}")
            settle(page)
            assert page.locator(PROBLEMS).count() == 0 and charts_drawn(page) >= MIN_CHARTS[name]
            screenshot(page, SHOTS / f"{name}-dark.png")
    finally:
        context.close()


def test_the_shipped_config_is_in_force(server, page):
    """`derma serve` picks up dashboard/.streamlit/config.toml: the developer menu is hidden (toolbarMode minimal)."""
    page.goto(server)
    settle(page)
    assert page.locator('[data-testid="stMainMenu"]').count() == 0
