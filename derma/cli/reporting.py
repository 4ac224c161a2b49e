"""``derma report``: the monthly reports of the network and the clinics."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from derma.cli.base import (
    Failure,
    data_dir_option,
    handled,
    last_complete_month,
    main,
    one_line,
    record,
    settings_for,
)


@main.command()
@click.option("--month", default=None, help="YYYY-MM (default: the last complete month).")
@click.option("--clinic", "clinic_id", default=None, help="One clinic's report (default: the network's).")
@click.option("--all-clinics", is_flag=True, help="One report per clinic plus the network's.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Folder to write to.",
)
@click.option(
    "--formats", default="html,pdf,xlsx", show_default=True, help="Comma-separated: html, pdf, xlsx."
)
@click.option(
    "--min-cell", type=int, default=None, help="Show counts below N as <N (with complementary suppression)."
)
@click.option(
    "--send", is_flag=True, help="E-mail each report to the people who may see its scope (roles file)."
)
@data_dir_option
@handled
def report(month, clinic_id, all_clinics, out, formats, min_cell, send, data_dir) -> None:
    """Write the monthly report (HTML, PDF, XLSX) for the network, one clinic, or every clinic plus the network."""
    from etl.access import NETWORK
    from etl.audit import AuditError
    from reports.build import ReportError, build_reports, file_name
    from reports.build import all_clinics as clinics_of

    if clinic_id and all_clinics:
        raise click.UsageError("use --clinic or --all-clinics, not both")
    settings = settings_for(data_dir)
    if send:
        send_check(settings)
    month = month or last_complete_month(dt.date.today())
    scopes = [None, *clinics_of(settings)] if all_clinics else [clinic_id]
    try:
        written = build_reports(settings, month, scopes, out, formats.split(","), min_cell)
    except ReportError as exc:
        raise Failure(one_line(exc)) from None
    try:
        for path in written:
            clinic = next(
                (c for c in scopes if file_name(c or NETWORK, month, path.suffix[1:]) == path.name), None
            )
            record(
                settings,
                "report",
                path.name,
                {"month": month, "clinic": clinic, "min_cell": min_cell, "formats": formats.split(",")},
            )
    except AuditError:
        for path in written:  # a report nobody can account for is not handed out
            path.unlink(missing_ok=True)
        raise
    for path in written:
        click.echo(str(path))
    if send:
        built = {
            c or NETWORK: [p for p in written if p.name.startswith(file_name(c or NETWORK, month, ""))]
            for c in scopes
        }
        if not send_built(settings, month, built):
            raise SystemExit(1)


def send_check(settings) -> None:
    from derma.delivery.mail import DeliveryError, check_configured

    try:
        check_configured(settings)
    except DeliveryError as exc:
        raise Failure(one_line(exc)) from None


def send_built(settings, month: str, built: dict) -> bool:
    from derma.cli.delivery import report_delivery
    from derma.delivery.send import send_reports
    from etl.access import AccessError

    try:
        return report_delivery(send_reports(settings, month, built))
    except AccessError as exc:
        raise Failure(one_line(exc)) from None
