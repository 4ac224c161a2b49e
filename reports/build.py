"""The monthly report: one month of one clinic (or the network) written as HTML, PDF and XLSX.

``build_report`` reads the published snapshot once, gathers the content (``report_content``) and writes
each format. File names carry the scope and the month: ``derma-report_ETB-01_2026-10.html``,
``derma-report_network_2026-10.pdf``.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Iterable
from pathlib import Path

from etl.access import NETWORK, scoped_connection
from etl.settings import Settings
from etl.userdata import read as read_userdata
from etl.warehouse import connect, connect_current, required_snapshot
from queries import run_query
from reports.collect import collect
from reports.content import month_bounds
from reports.html import now_utc, write_html
from reports.pdf import Printer
from reports.xlsx import write_xlsx

FORMATS = ("html", "pdf", "xlsx")
PREFIX = "derma-report"


class ReportError(ValueError):
    """A report cannot be built as asked (bad month, unknown clinic, unknown format); one line."""


def file_name(scope: str, month: str, fmt: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", scope)
    return f"{PREFIX}_{safe}_{month}.{fmt}"


def _version() -> str:
    try:
        return importlib.metadata.version("derma-outcomes")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def check_formats(formats: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    wrong = [f for f in chosen if f not in FORMATS]
    if wrong or not chosen:
        raise ReportError(
            f"unknown report format {wrong[0] if wrong else '(none)'!r}: choose from {', '.join(FORMATS)}"
        )
    return chosen


def build_reports(
    settings: Settings,
    month: str,
    clinic_ids: Iterable[str | None],
    out_dir: Path,
    formats: Iterable[str] = FORMATS,
    min_cell: int | None = None,
    clinics: tuple[str, ...] | None = None,
) -> list[Path]:
    """Reports for several scopes (``None`` = the network) from one snapshot and one browser.

    ``clinics`` limits what the reports may read to those clinics (the scoped warehouse of
    ``etl.access``): a dashboard user limited to some clinics gets reports built only from their rows.
    """
    try:
        month_bounds(month)
    except ValueError as exc:
        raise ReportError(str(exc)) from None
    formats = check_formats(formats)
    if min_cell is not None and min_cell < 1:
        raise ReportError(f"--min-cell must be at least 1, got {min_cell}")
    snapshot = required_snapshot(settings.data_dir)
    con = (
        connect(snapshot.path, read_only=True)
        if clinics is None
        else scoped_connection(snapshot.path, clinics)
    )
    try:
        known = set(run_query(con, "data_freshness")["clinic_id"])
        scopes = list(dict.fromkeys(clinic_ids))
        for clinic in scopes:
            if clinic is not None and clinic not in known:
                raise ReportError(
                    f"unknown clinic {clinic!r}; known clinics: {', '.join(sorted(known)) or 'none'}"
                )
        out_dir.mkdir(parents=True, exist_ok=True)
        printer = Printer(settings.chromium) if "pdf" in formats else None
        written: list[Path] = []
        generated = now_utc()
        userdata = read_userdata(settings)
        if printer:
            printer.__enter__()
        try:
            for clinic in scopes:
                content = collect(
                    con,
                    month,
                    clinic,
                    min_cell=min_cell,
                    snapshot_id=snapshot.snapshot_id,
                    version=_version(),
                    generated_at=generated,
                    userdata=userdata,
                )
                scope = clinic or NETWORK
                for fmt in formats:
                    path = out_dir / file_name(scope, month, fmt)
                    if fmt == "html":
                        written.append(write_html(content, path))
                    elif fmt == "xlsx":
                        written.append(write_xlsx(content, path, snapshot.snapshot_id))
                    else:
                        written.append(printer.pdf(content, path))
        finally:
            if printer:
                printer.__exit__(None, None, None)
        return written
    finally:
        con.close()


def build_report(
    settings: Settings,
    month: str,
    clinic_id: str | None,
    out_dir: Path,
    formats: Iterable[str] = FORMATS,
    min_cell: int | None = None,
    clinics: tuple[str, ...] | None = None,
) -> list[Path]:
    """Write the report of ``month`` (``YYYY-MM``) for ``clinic_id`` (None = network); returns the files."""
    return build_reports(settings, month, [clinic_id], Path(out_dir), formats, min_cell, clinics)


def all_clinics(settings: Settings) -> list[str]:
    """Every clinic in the published snapshot, sorted."""
    _, con = connect_current(settings.data_dir)
    try:
        return sorted(run_query(con, "data_freshness")["clinic_id"])
    finally:
        con.close()
