"""Driving the real dashboard: `derma serve` on a free port and Debian's Chromium through Playwright.

Shared by the end-to-end test and ``bench/dashboard.py``. Playwright's own browser downloads are never
used: ``scripts/ensure-chromium.sh`` installs the system package, and Playwright launches that binary.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reports.pdf import CHROMIUM_ARGS

ROOT = Path(__file__).parents[2]
CHROMIUM = Path(os.environ.get("DERMA_CHROMIUM", "/usr/bin/chromium"))
PAGES = {
    "overview": "",
    "courses": "courses",
    "safety": "safety",
    "clinicians": "clinicians",
    "models": "models",
    "quality": "quality",
    "sql": "sql",
}

# Streamlit marks the app root with its script state and greys out (data-stale) what a rerun will replace.
_SETTLED = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return app && app.getAttribute('data-test-script-state') === 'notRunning' && window.__dermaSawRun !== false
    && !document.querySelector('[data-testid="stSkeleton"]') && !document.querySelector('[data-stale="true"]');
}"""
# Counts a rerun even when it starts and ends between two polls.
_WATCH = """() => {
  window.__dermaSawRun = false;
  const app = document.querySelector('[data-testid="stApp"]');
  const seen = new MutationObserver(() => {
    if (app.getAttribute('data-test-script-state') === 'running') { window.__dermaSawRun = true; seen.disconnect(); }
  });
  seen.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve(
    data_dir: Path,
    log: Path,
    timeout_s: float = 60.0,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> Iterator[str]:
    """Run ``derma serve`` on a free localhost port until the block ends; yields the base URL.

    ``env`` is merged over ``os.environ`` for the server (e.g. a sign-in header and roles file of its own);
    ``args`` are more options of ``derma serve`` (e.g. ``--lake DIR``).
    """
    port = free_port()
    env = {**os.environ, **(env or {}), "DERMA_DATA_DIR": str(data_dir)}
    with open(log, "w") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "derma.cli",
                "serve",
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
                "--data-dir",
                str(data_dir),
                *args,
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"derma serve did not come up: {log.read_text()[-800:]}")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def launch(playwright):
    """Headless Debian Chromium (never a Playwright-downloaded browser)."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run scripts/ensure-chromium.sh (make test does)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


def settle(page, timeout_ms: float = 30_000) -> None:
    """Wait until the script run is over, nothing is stale and every Plotly chart has drawn its SVG."""
    page.wait_for_function(_SETTLED, timeout=timeout_ms)
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
        .every(c => c.querySelector('.main-svg'))""",
        timeout=timeout_ms,
    )


def expect_rerun(page) -> None:
    """Call before an interaction: the next ``settle`` then also waits for the rerun it causes."""
    page.evaluate(_WATCH)


def sidebar_box(page, label: str):
    """The sidebar select box labelled ``label``."""
    return page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(
        has=page.get_by_text(label, exact=True)
    )


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the sidebar select box labelled ``label`` (typing narrows the list first)."""
    field = sidebar_box(page, label).locator("input")
    field.click()
    field.press_sequentially(option)
    page.get_by_role("option", name=option, exact=True).click()


def screenshot(page, path: Path) -> None:
    """The whole page: Streamlit scrolls inside its main block, so grow the viewport to the content first."""
    size = page.viewport_size
    height = page.evaluate("document.querySelector('[data-testid=\"stMainBlockContainer\"]').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 160, 8000)})
    page.wait_for_timeout(400)  # charts re-lay out to the new size
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
