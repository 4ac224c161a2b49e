"""The report as an A4 PDF: the print variant (static charts, a contents list with links, PDF bookmarks)
printed by headless Chromium with page numbers, offline."""

from __future__ import annotations

import html
from pathlib import Path

from reports.content import Content
from reports.html import render

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


class Printer:
    """One headless Chromium for many PDFs (Debian's ``chromium``; never a downloaded browser)."""

    def __init__(self, binary: Path = Path(CHROMIUM)) -> None:
        self._binary = Path(binary)

    def __enter__(self) -> Printer:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            raise RuntimeError(
                "PDF needs the playwright package (pip install playwright; it drives the system "
                "chromium, no browser download) — or leave pdf out of --formats"
            ) from None

        binary = self._binary
        if not binary.exists():
            raise RuntimeError(f"PDF needs Chromium at {binary} (install Debian's chromium package)")
        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(
            executable_path=str(binary), args=CHROMIUM_ARGS, headless=True
        )
        return self

    def __exit__(self, *exc) -> None:
        self._browser.close()
        self._playwright.stop()

    def pdf(self, content: Content, path: Path) -> Path:
        page = self._browser.new_page(viewport={"width": 794, "height": 1123})
        try:
            page.route(
                "**/*",
                lambda route: (
                    route.abort()  # offline: the document needs nothing from outside
                    if not route.request.url.startswith(("about:", "data:"))
                    else route.continue_()
                ),
            )
            page.set_content(render(content, printable=True), wait_until="load")
            page.wait_for_function(
                "() => [...document.querySelectorAll('.js-plotly-plot')]"
                ".every(p => p.querySelector('.main-svg'))",
                timeout=60_000,
            )
            footer = (
                '<div style="font-size:8px;width:100%;text-align:center;color:#555">'
                f'{html.escape(content.title)} · page <span class="pageNumber"></span> of '
                '<span class="totalPages"></span></div>'
            )
            page.pdf(
                path=str(path),
                format="A4",
                print_background=True,
                display_header_footer=True,
                header_template="<span></span>",
                footer_template=footer,
                outline=True,
                tagged=True,
                margin={"top": "14mm", "bottom": "16mm", "left": "12mm", "right": "12mm"},
            )
        finally:
            page.close()
        return path
