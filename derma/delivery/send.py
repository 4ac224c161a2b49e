"""The two deliveries: the month's reports and the month's alerts, each person's own in one mail."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from derma.delivery.mail import Mail, Sent, check_configured, send_all
from derma.delivery.recipients import alert_plan, report_plan
from derma.delivery.webhook import check_webhook, post_alerts
from etl.access import NETWORK, load_roles
from etl.settings import Settings

FOOTER = (
    "\n\nYou receive this because the roles file of derma-outcomes lets you see these clinics. "
    "Please do not forward the attachments outside your organisation."
)


@dataclass(frozen=True)
class Delivery:
    """Every mail (and webhook post) of one run, and the people left out because they have no address."""

    sent: tuple[Sent, ...]
    not_addresses: tuple[str, ...] = ()

    @property
    def failed(self) -> tuple[Sent, ...]:
        return tuple(s for s in self.sent if not s.ok)


def send_reports(
    settings: Settings, month: str, built: Mapping[str, list[Path]], *, backoff: float | None = None
) -> Delivery:
    """Mail each person the reports of the scopes they may see (``built``: scope -> files)."""
    check_configured(settings)
    plan, skipped = report_plan(load_roles(settings.roles_file), built)
    mails = []
    for address, files in plan.items():
        scopes = sorted({_scope_of(f, built) for f in files}, key=lambda s: (s != NETWORK, s))
        names = ", ".join("the network" if s == NETWORK else s for s in scopes)
        mails.append(
            Mail(
                address,
                f"derma-outcomes: monthly report {month} ({names})",
                f"Attached: the monthly report for {month} of {names} ({len(files)} file(s)).{FOOTER}",
                tuple(files),
            )
        )
    options = {} if backoff is None else {"backoff": backoff}
    return Delivery(tuple(send_all(settings, mails, **options)), tuple(skipped))


def send_alerts(settings: Settings, report: dict, *, backoff: float | None = None) -> Delivery:
    """Mail each person the alerts of the clinics they may see; POST all of them to the webhook if one is set."""
    check_configured(settings)
    check_webhook(settings)
    plan, skipped = alert_plan(load_roles(settings.roles_file), report["alerts"])
    mails = [
        Mail(
            address,
            f"derma-outcomes: {len(alerts)} alert(s) for {report['month']}",
            "\n".join([f"Alerts for {report['month']}:", *(f"- {a['message']}" for a in alerts)]) + FOOTER,
        )
        for address, alerts in plan.items()
    ]
    options = {} if backoff is None else {"backoff": backoff}
    sent = send_all(settings, mails, **options)
    if report["alerts"]:
        hook = post_alerts(settings, {"month": report["month"], "alerts": report["alerts"]}, **options)
        if hook is not None:
            sent.append(hook)
    return Delivery(tuple(sent), tuple(skipped))


def _scope_of(path: Path, built: Mapping[str, list[Path]]) -> str:
    return next(scope for scope, files in built.items() if path in files)
