"""End to end in Chromium: upload Acme's CSV of a new month with its mapping, preview, load, see the month on the Overview.

`derma serve` runs on a writable copy of the sample warehouse (whose data end in October 2026) without
sign-in (the local administrator), with the warehouse's key in a key file for the loading child and a
TMPDIR of its own, so the test can see that the staged uploads are gone afterwards.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from dashboard.app_pages._upload import UPLOADED
from tests.dashboard.browser import ROOT, expect_rerun, screenshot, serve, settle
from tests.dashboard.upload_support import new_month, writable_sample

SHOTS = ROOT / "test-artifacts" / "screenshots"
PROBLEMS = '[data-testid="stException"], [data-testid="stAlertContentError"]'


@pytest.fixture(scope="module")
def server(sample_warehouse, tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser-upload")
    data_dir, key = writable_sample(sample_warehouse, folder)
    scratch = folder / "tmp"
    scratch.mkdir()
    env = {
        "DERMA_SECRET_KEY_FILE": str(key),
        "DERMA_AUDIT_FILE": str(folder / "audit.jsonl"),
        "TMPDIR": str(scratch),
    }
    log = folder / "streamlit.log"
    with serve(data_dir, log, env=env) as url:
        yield SimpleNamespace(url=url, data_dir=data_dir, scratch=scratch, audit=folder / "audit.jsonl")
    assert "Traceback" not in log.read_text(), log.read_text()[-2000:]


def upload(page, key: str, path) -> None:
    expect_rerun(page)
    page.locator(f'.st-key-{key} input[type="file"]').set_input_files(str(path))
    chip = f'.st-key-{key} [data-testid="stFileChipName"][title="{path.name}"]'
    page.locator(chip).wait_for(timeout=30_000)  # the upload has reached the server
    settle(page)


def choose(page, option: str, shows: str, attempts: int = 3) -> None:
    """Pick a radio option and wait for the element it shows.

    Waits for the outcome rather than for a rerun: a click that lands while the page is still being
    replaced is lost (CI saw one), and picking an option already picked is a no-op, so it is retried.
    """
    for attempt in range(attempts):
        page.get_by_text(option, exact=True).click()
        try:
            page.locator(shows).wait_for(state="attached", timeout=20_000)
            break
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
    settle(page)


def click(page, role: str, name: str, timeout_ms: float = 180_000) -> None:
    expect_rerun(page)
    page.get_by_role(role, name=name).click()
    settle(page, timeout_ms)
    assert page.locator(PROBLEMS).count() == 0, page.locator(PROBLEMS).first.inner_text()


def test_a_vendor_csv_uploaded_previewed_and_loaded_shows_its_month_on_the_overview(
    server, browser, tmp_path
):
    month = new_month(tmp_path)
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{server.url}/upload")
    settle(page)
    assert page.locator("h1").first.inner_text().strip() == "Upload exports"
    upload(page, "upload_files_0", month.export)
    choose(page, UPLOADED, '.st-key-upload_mapping_file input[type="file"]')
    upload(page, "upload_mapping_file", month.mapping)
    assert page.get_by_text("passes its check").count() == 1

    click(page, "button", "Preview the load")
    body = page.locator("body").inner_text()
    assert f"{month.rows:,} rows in 1 file(s) would load" in body
    assert f"{month.planted:,} quarantined" in body and "Quarantine (the first" in body
    screenshot(page, SHOTS / "upload-preview.png")

    click(page, "button", "Load this batch")
    body = page.locator("body").inner_text()
    assert "Published snapshot" in body and f"{month.rows:,} rows in 1 file(s) was loaded" in body
    snapshot = (server.data_dir / "warehouse.duckdb").resolve().stem
    assert snapshot in body
    screenshot(page, SHOTS / "upload-loaded.png")

    click(page, "link", "Open the Overview")
    assert page.get_by_role("heading", name="November 2026").count() == 1
    screenshot(page, SHOTS / "upload-overview-new-month.png")
    page.context.close()

    assert list(server.scratch.iterdir()) == []  # staged uploads and the dry run's copy are gone
    records = [json.loads(line) for line in server.audit.read_text().splitlines()]
    steps = [(r["action"], r["params"].get("step")) for r in records if r["action"] in ("upload", "load")]
    assert steps == [("upload", "preview"), ("upload", "commit"), ("load", None)]
    load = next(r for r in records if r["action"] == "load")
    assert snapshot in load["what"] and load["rows"] == month.rows and load["outcome"] == "ok"
    assert load["params"]["mapping"] == month.mapping.name and load["params"]["quarantined"] == month.planted
