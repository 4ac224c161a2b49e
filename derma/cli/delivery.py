"""``derma alerts``, and the sending behind ``derma report --send`` and ``derma ingest --notify``."""

from __future__ import annotations

import datetime as dt
import json

import click

from derma.cli.base import (
    EXIT_FAILED,
    Failure,
    data_dir_option,
    format_option,
    handled,
    last_complete_month,
    main,
    one_line,
    settings_for,
)


def delivery_errors(func):
    """Delivery and roles-file errors are one line, like the library's own errors."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from derma.delivery.mail import DeliveryError
        from etl.access import AccessError

        try:
            return func(*args, **kwargs)
        except (DeliveryError, AccessError) as exc:
            raise Failure(one_line(exc)) from None

    return wrapper


def report_delivery(delivery) -> bool:
    """Say what was sent and what failed (stderr); True when everything went."""
    for sent in delivery.sent:
        if sent.ok:
            files = f": {', '.join(sent.files)}" if sent.files else ""
            click.echo(f"sent to {sent.to}{files}", err=True)
        else:
            click.echo(
                f"derma: NOT sent to {sent.to} after {sent.attempts} attempt(s): {sent.error}", err=True
            )
    for identity in delivery.not_addresses:
        click.echo(
            f"derma: NOT sent to {identity!r}: the roles file's identity is not an e-mail address", err=True
        )
    return not delivery.failed and not delivery.not_addresses


@main.command()
@click.option("--month", default=None, help="YYYY-MM (default: the last complete month).")
@click.option("--send", is_flag=True, help="E-mail each alert to the people who may see its clinic.")
@data_dir_option
@format_option("text", "json", default="text")
@handled
@delivery_errors
def alerts(month, send, data_dir, fmt) -> None:
    """The alerts in force for a month: control-chart alerts, clinics whose data stopped, jumps in quarantined rows."""
    from derma.alerts import alert_text, alerts_for
    from derma.delivery.mail import check_configured
    from derma.delivery.webhook import check_webhook
    from reports.content import month_bounds

    settings = settings_for(data_dir)
    month = month or last_complete_month(dt.date.today())
    try:
        month_bounds(month)
    except ValueError as exc:
        raise Failure(one_line(exc)) from None
    if send:
        check_configured(settings)
        check_webhook(settings)
    report = alerts_for(settings, month)
    click.echo(json.dumps(report) if fmt == "json" else alert_text(report))
    if send and not notify_alerts(settings, report):
        raise SystemExit(EXIT_FAILED)


def notify_alerts(settings, report: dict) -> bool:
    """Send the alerts (mail, webhook); True when every one went."""
    from derma.delivery.send import send_alerts

    return report_delivery(send_alerts(settings, report))


def notify_after_load(settings) -> None:
    """``derma ingest --notify``: the alerts of the month the data reaches, sent; a failure is reported, never raised.

    The month is the last complete month, or the latest month with sessions when the data ends earlier
    (a load of last year's files alerts on their last month, not on months nobody has loaded yet).
    """
    from derma.alerts import alerts_for, latest_data_month

    try:
        month = min(last_complete_month(dt.date.today()), latest_data_month(settings) or "9999-12")
        report = alerts_for(settings, month)
        click.echo(f"alerts for {report['month']}: {len(report['alerts'])}", err=True)
        if not notify_alerts(settings, report):
            click.echo("derma: the batch is loaded, but some alerts were not delivered (see above)", err=True)
    except Exception as exc:  # noqa: BLE001 - the load stands whatever delivery does
        click.echo(f"derma: the batch is loaded, but the alerts were not sent: {one_line(exc)}", err=True)
