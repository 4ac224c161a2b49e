"""End to end with sign-in: one `derma serve` in trusted-header mode, several users in Chromium at once.

The server runs with ``DERMA_IDENTITY_HEADER=X-Forwarded-Email`` and a roles file of its own. Each user
gets a browser context of their own whose ``extra_http_headers`` play the reverse proxy: Chromium sends
them on every request, the websocket handshake included, and Streamlit's ``st.context.headers`` are the
handshake's headers (checked first: the sidebar names the user the header vouched for). A separate proxy
process would add a moving part without reaching a different code path in the dashboard.

Manager A (ETB-01) must meet no trace of clinic B (HAM-03) or any other clinic on any page, through the
address, the named queries or the report; manager B, at the same time, sees only HAM-03; an unknown
identity and a request without the header see only a refusal; the analyst sees every clinic. The last
test reads the audit log the server wrote while the others ran.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from etl import audit
from etl.warehouse import connect_current
from tests.dashboard.browser import ROOT, expect_rerun, screenshot, serve, settle
from tests.dashboard.users import ANA, ANN, BEN, EVE, MINE, OTHERS, ROLES

SHOTS = ROOT / "test-artifacts" / "screenshots"
HEADER = "X-Forwarded-Email"
ALL = "All clinics"
ALL_MINE = "All your clinics"  # what a manager's clinic filter offers for "no filter"
# Page -> address; the audit log names a page by its address (the overview, at the root, as "overview").
PAGES = {
    "overview": "",
    "courses": "courses",
    "safety": "safety",
    "clinicians": "clinicians",
    "models": "models",
    "quality": "quality",
    "sql": "sql",
    "reports": "reports",
}
PROBLEMS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
ASK = "has not been opened to you yet"
NO_IDENTITY = "No signed-in identity reached this dashboard"

# Everything a reader could see or a chart carries: the rendered text, the whole DOM text (SVG labels,
# the data grids' accessible tables behind their canvas, collapsed content) and every Plotly figure's
# data and layout (hover texts and custom data are only drawn on hover).
PAGE_TEXT = """() => {
  const figures = [...document.querySelectorAll('.js-plotly-plot')]
    .map(p => JSON.stringify({d: p.data, l: p.layout}));
  return [document.body.innerText, document.querySelector('[data-testid="stApp"]').textContent, ...figures]
    .join('\\n');
}"""
# A data grid draws its accessible table a moment after its canvas (a hidden grid draws nothing).
GRIDS_DRAWN = """() => [...document.querySelectorAll('[data-testid="stDataFrame"]')]
  .every(d => !d.checkVisibility() || d.querySelector('table[role="grid"]'))"""
# The rows of the page's data grid with any text (an empty result shows one blank placeholder row).
GRID_ROWS = """() => {
  const grid = document.querySelector('[data-testid="stDataFrame"] table[role="grid"]');
  return grid && [...grid.querySelectorAll('tbody tr')]
    .map(r => [...r.querySelectorAll('td')].map(c => c.textContent))
    .filter(cells => cells.some(c => c !== ''));
}"""

#: Tests that ran to the end; the audit test needs the ones that leave records.
DONE: set[str] = set()


@pytest.fixture(scope="module")
def server(access_warehouse, tmp_path_factory):
    """`derma serve` trusting X-Forwarded-Email, with its own roles file and audit log (not the per-test ones)."""
    folder = tmp_path_factory.mktemp("browser-access")
    roles = folder / "roles.toml"
    roles.write_text(ROLES)
    env = {
        "DERMA_IDENTITY_HEADER": HEADER,
        "DERMA_ROLES_FILE": str(roles),
        "DERMA_AUDIT_FILE": str(folder / "audit.jsonl"),
    }
    log = folder / "streamlit.log"
    with serve(access_warehouse.data_dir, log, env=env) as url:
        yield SimpleNamespace(url=url, audit=folder / "audit.jsonl")
    assert "Traceback" not in log.read_text(), log.read_text()[-2000:]


@pytest.fixture(scope="module")
def as_user(browser):
    """``as_user(email)``: that user's page in a context of its own (kept for the module); None sends no header."""
    pages = {}

    def page_of(email: str | None):
        if email not in pages:
            headers = {HEADER: email} if email else {}
            context = browser.new_context(viewport={"width": 1400, "height": 900}, extra_http_headers=headers)
            pages[email] = context.new_page()
        return pages[email]

    yield page_of
    for page in pages.values():
        page.context.close()


def visit(page, url: str) -> str:
    """Open ``url``, wait until it has settled and its grids have drawn, open every expander; the page's text."""
    page.goto(url)
    settle(page)
    page.wait_for_function(GRIDS_DRAWN, timeout=15_000)
    for summary in page.locator('[data-testid="stExpander"] summary').all():
        summary.click()
    page.wait_for_function(GRIDS_DRAWN, timeout=15_000)
    assert page.locator(PROBLEMS).count() == 0, page.locator(PROBLEMS).first.inner_text()
    return text(page)


def text(page) -> str:
    return page.evaluate(PAGE_TEXT)


def others_in(content: str, mine: str = MINE) -> list[str]:
    return [c for c in (MINE, *OTHERS) if c != mine and c in content]


def options(page, key: str) -> list[str]:
    """The choices of the select box with widget key ``key`` (opened, read, closed again)."""
    page.locator(f".st-key-{key} input").click()
    choices = page.get_by_role("option")
    choices.first.wait_for()
    names = [o.inner_text().strip() for o in choices.all()]
    page.keyboard.press("Escape")
    choices.first.wait_for(state="detached")
    return names


def tiles(page) -> list[str]:
    return page.locator('[data-testid="stMetricValue"]').all_inner_texts()


def grid_rows(page, count: int, timeout_s: float = 15.0) -> list[list[str]]:
    """The data grid's rows once there are ``count`` of them (or whatever it shows after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = page.evaluate(GRID_ROWS)
        if (rows is not None and len(rows) == count) or time.monotonic() > deadline:
            return rows
        page.wait_for_timeout(200)


def test_the_proxy_header_reaches_streamlit(server, as_user):
    """The identity comes from st.context.headers: each context is signed in as the user its header names."""
    for email, words in ((ANA, "clinic manager · ETB-01"), (ANN, "analyst · all clinics")):
        page = as_user(email)
        visit(page, server.url)
        badge = page.locator('[data-testid="stSidebar"]').get_by_text("Signed in as").inner_text()
        assert email in badge and words in badge


@pytest.mark.parametrize("name", list(PAGES))
def test_manager_a_sees_only_her_clinic_on_every_page(server, as_user, name):
    page = as_user(ANA)
    content = visit(page, f"{server.url}/{PAGES[name]}")
    assert page.locator("h1").first.inner_text().strip()
    assert MINE in content and not others_in(content)
    assert options(page, "filters_clinic") == [ALL_MINE, MINE]
    staff = options(page, "filters_clinician")
    assert staff[0] == "All clinicians" and len(staff) > 1
    assert all(s.startswith(f"{MINE}-") for s in staff[1:]), staff
    if name == "overview":
        screenshot(page, SHOTS / "access-manager-a-overview.png")
    DONE.add(f"page:{name}")


def test_another_clinic_in_the_address_shows_nothing_of_it(server, as_user):
    """?filters_clinic=HAM-03 is dropped: no trace of HAM-03; the KPIs stay ETB-01's (the analyst's ETB-01 view)."""
    ana = as_user(ANA)
    visit(ana, server.url)
    own = tiles(ana)
    for path in ("", "clinicians", "quality", "sql"):
        content = visit(ana, f"{server.url}/{path}?filters_clinic=HAM-03")
        assert not others_in(content) and "HAM-03" not in ana.url
        assert ana.locator(".st-key-filters_clinic input").input_value() == ALL_MINE
    visit(ana, f"{server.url}/?filters_clinic=HAM-03")
    assert tiles(ana) == own
    visit(ana, f"{server.url}/?filters_clinic=ETB-01")
    assert tiles(ana) == own

    ann = as_user(ANN)
    visit(ann, f"{server.url}/?filters_clinic=ETB-01")
    assert tiles(ann) == own  # ana's unfiltered numbers are exactly ETB-01's
    visit(ann, server.url)
    assert tiles(ann) != own  # and not the network's


def test_a_manager_runs_named_queries_only_on_her_clinic(server, as_user):
    page = as_user(ANA)
    visit(page, f"{server.url}/sql")
    page.get_by_role("tab", name="Free SQL").click()
    assert page.get_by_text("Free SQL is open to analysts").is_visible()
    assert page.locator(".st-key-sql_text").count() == 0
    assert page.get_by_role("textbox", name="SQL statement").count() == 0
    page.get_by_role("tab", name="Named queries").click()
    query = page.locator(".st-key-sql_query input")
    expect_rerun(page)
    query.click()
    query.press_sequentially("unit_outcomes")
    page.get_by_role("option", name="unit_outcomes", exact=True).click()
    settle(page)

    clinic = page.locator(".st-key-sql_param_unit_outcomes_clinic_id input")
    for typed, count in (("HAM-03", 0), (MINE, 1)):
        expect_rerun(page)
        clinic.fill(typed)
        clinic.press("Enter")
        settle(page)
        rows = grid_rows(page, count)
        assert rows is not None and len(rows) == count, (typed, rows)
        assert all(row[0] == MINE for row in rows)
        assert page.locator(PROBLEMS).count() == 0
        assert not others_in(text(page))
    DONE.add("sql")


def test_a_manager_builds_and_downloads_only_her_clinics_report(server, as_user):
    page = as_user(ANA)
    content = visit(page, f"{server.url}/reports")
    assert not others_in(content)
    assert options(page, "reports_clinic") == [MINE]  # no "The network", no other clinic
    assert page.locator(".st-key-reports_clinic input").input_value() == MINE
    expect_rerun(page)
    page.locator(".st-key-reports_build button").click()
    settle(page, timeout_ms=120_000)
    assert page.locator(PROBLEMS).count() == 0
    assert page.get_by_text(f"Report for {MINE},").is_visible()
    assert not others_in(text(page))

    with page.expect_download() as download:
        page.locator(".st-key-reports_download_html button").click()
    report = download.value
    assert report.suggested_filename.endswith(".html") and MINE in report.suggested_filename
    payload = report.path().read_bytes()
    assert MINE.encode() in payload
    assert [c for c in OTHERS if c.encode() in payload] == []
    DONE.add("report")


def test_two_managers_side_by_side_each_see_their_own_clinic(server, as_user):
    ana, ben = as_user(ANA), as_user(BEN)
    mine = visit(ana, server.url)
    theirs = visit(ben, server.url)  # ana's session stays open meanwhile
    assert "HAM-03" in theirs and not others_in(theirs, mine="HAM-03")
    assert options(ben, "filters_clinic") == [ALL_MINE, "HAM-03"]
    assert MINE in mine and not others_in(mine)
    assert tiles(ana) != tiles(ben)
    screenshot(ben, SHOTS / "access-manager-b-overview.png")

    expect_rerun(ana)  # a rerun of ana's session after ben's reads: still only ETB-01
    ana.locator(".st-key-filters_reset button").click()
    settle(ana)
    assert not others_in(text(ana))
    ben.reload()
    settle(ben)
    assert not others_in(text(ben), mine="HAM-03")
    DONE.add("side-by-side")


@pytest.mark.parametrize("email", [EVE, None], ids=["unknown-identity", "no-header"])
def test_an_unknown_identity_is_asked_to_see_the_administrator(server, as_user, email):
    page = as_user(email)
    for path in ("", "sql", "reports"):
        content = visit(page, f"{server.url}/{path}")
        assert (ASK if email else NO_IDENTITY) in content and "ask your administrator" in content
        assert email is None or email in content
        for element in ("stPlotlyChart", "stMetric", "stDataFrame", "stSidebarNav", "stDownloadButton"):
            assert page.locator(f'[data-testid="{element}"]').count() == 0, element
        assert not [c for c in (MINE, *OTHERS) if c in content]
    if email:
        screenshot(page, SHOTS / "access-unknown.png")
    DONE.add(f"unknown:{email}")


def test_the_analyst_sees_every_clinic(server, as_user):
    page = as_user(ANN)
    content = visit(page, f"{server.url}/clinicians")
    assert all(c in content for c in (MINE, *OTHERS))
    assert options(page, "filters_clinic") == [ALL, MINE, *OTHERS]
    visit(page, f"{server.url}/sql")
    page.get_by_role("tab", name="Free SQL").click()
    assert page.get_by_role("textbox", name="SQL statement").is_visible()
    DONE.add("analyst")


def test_the_audit_log_tells_who_saw_what_and_holds_no_patient_key(server, access_warehouse):
    needed = {
        *(f"page:{name}" for name in PAGES),
        "sql",
        "report",
        "side-by-side",
        f"unknown:{EVE}",
        "unknown:None",
    }
    if needed - DONE:
        pytest.skip(f"needs the earlier tests of this module: {sorted(needed - DONE)}")
    records = audit.read(server.audit)  # the hash chain is intact, or this raises

    def of(who: str, action: str) -> list[dict]:
        return [r for r in records if r["who"] == who and r["action"] == action]

    assert {r["what"] for r in of(ANA, "view")} >= set(PAGES)
    assert {r["what"] for r in of(BEN, "view")} >= {"overview"}
    assert all(r["via"] == "dashboard" and r["role"] == "manager" for r in of(ANA, "view") + of(BEN, "view"))
    queries = {
        (r["params"].get("clinic_id"), r["rows"]) for r in of(ANA, "query") if r["what"] == "unit_outcomes"
    }
    assert {("HAM-03", 0), (MINE, 1)} <= queries
    assert [r["what"] for r in of(ANA, "report")] == [MINE]
    downloads = [r["what"] for r in of(ANA, "download")]
    assert any(w.endswith(".html") and MINE in w for w in downloads), downloads
    for who in (EVE, "(not signed in)"):
        denied = of(who, "denied")
        assert denied and all(r["outcome"] == "refused" and r["role"] is None for r in denied), who
        assert {r["action"] for r in records if r["who"] == who} == {"denied"}
    # Nothing ben did names ana's clinic, and the other way round (except the clinic ana typed in a query).
    assert not [r for r in records if r["who"] == BEN and MINE in str(r)]

    _, con = connect_current(access_warehouse.data_dir)
    try:
        keys = [k for (k,) in con.execute("select distinct patient_key from sessions").fetchall()]
    finally:
        con.close()
    raw = server.audit.read_bytes()
    assert keys and not [k for k in keys if k.encode() in raw]
