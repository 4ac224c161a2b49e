"""Alerts POSTed as JSON to ``DERMA_WEBHOOK_URL`` (a chat channel, an on-call tool), retried like mail."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from derma.delivery.mail import ATTEMPTS, BACKOFF_S, TIMEOUT_S, DeliveryError, Sent, record
from etl.settings import Settings


def check_webhook(settings: Settings) -> None:
    """A :class:`DeliveryError` before anything is sent when ``DERMA_WEBHOOK_URL`` is set but unusable."""
    url = settings.webhook_url
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DeliveryError("DERMA_WEBHOOK_URL must be an http:// or https:// address")


def post_alerts(
    settings: Settings,
    payload: dict,
    *,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF_S,
    who: str = "derma",
) -> Sent | None:
    """POST ``payload`` to the webhook when one is configured; None when none is. Audited either way."""
    url = settings.webhook_url
    if not url:
        return None
    check_webhook(settings)
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"
    body = json.dumps(payload).encode("utf-8")
    error, tries = None, 0
    for tries in range(1, attempts + 1):
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                response.read()
            error = None
            break
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code} {exc.reason}"
            if 400 <= exc.code < 500 or tries == attempts:  # the request itself was refused: no retry
                break
        except (urllib.error.URLError, OSError) as exc:
            error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            if tries == attempts:
                break
        time.sleep(backoff * 2 ** (tries - 1))
    sent = Sent(shown, f"alerts for {payload.get('month')}", (), tries, error is None, error)
    record(settings, sent, via="cli", who=who, kind="webhook")
    return sent
