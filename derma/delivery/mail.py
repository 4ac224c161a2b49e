"""Sending mail through ``DERMA_SMTP_URL``: TLS as the server allows, bounded retries, every attempt audited.

``smtp://host:port`` connects in plain text and upgrades with STARTTLS when the server offers it;
``smtps://host:port`` speaks TLS from the first byte. ``user:password@`` in either signs in; a password
is never sent over a connection that is not encrypted, except to a server on this machine (loopback).
Certificates are checked against the system's trust store (``SSL_CERT_FILE`` names another).

A mail that fails for a reason that may pass (the server unreachable, a 4xx reply) is tried again up to
:data:`ATTEMPTS` times with a doubling pause; a permanent refusal (5xx, a wrong password) is not. Every
mail ends as a :class:`Sent` saying what happened, and as one audit record; none is dropped silently.
"""

from __future__ import annotations

import ipaddress
import mimetypes
import smtplib
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from etl import audit
from etl.settings import Settings

ATTEMPTS = 3
BACKOFF_S = 2.0
TIMEOUT_S = 30.0


class DeliveryError(ValueError):
    """Mail cannot be sent as configured (one line naming the setting and the rule)."""


@dataclass(frozen=True)
class Server:
    tls: bool  # TLS from the first byte (smtps)
    host: str
    port: int
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    attachments: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Sent:
    """What became of one mail (or webhook post): ``ok`` or the error after ``attempts`` tries."""

    to: str
    subject: str
    files: tuple[str, ...]
    attempts: int
    ok: bool
    error: str | None = None


def parse_smtp_url(url: str | None) -> Server:
    """``smtp://host:port`` or ``smtps://user:password@host:port`` as a :class:`Server`."""
    if not url:
        raise DeliveryError(
            "set DERMA_SMTP_URL (smtp://host:port or smtps://user:password@host:port) to send mail"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise DeliveryError(
            "DERMA_SMTP_URL must look like smtp://host:port or smtps://user:password@host:port"
        )
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError:
        raise DeliveryError("DERMA_SMTP_URL has a port that is not a number") from None
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return Server(parts.scheme == "smtps", parts.hostname, port, user, password)


def sender(settings: Settings) -> str:
    if not settings.mail_from or "@" not in settings.mail_from:
        raise DeliveryError("set DERMA_MAIL_FROM to the sender's e-mail address to send mail")
    return settings.mail_from


def check_configured(settings: Settings) -> Server:
    """The server and sender, or a :class:`DeliveryError` before any work is done."""
    sender(settings)
    return parse_smtp_url(settings.smtp_url)


def message(mail: Mail, from_addr: str) -> EmailMessage:
    out = EmailMessage()
    out["From"], out["To"], out["Subject"] = from_addr, mail.to, mail.subject
    out["Message-ID"] = make_msgid(domain=from_addr.rsplit("@", 1)[-1])
    out.set_content(mail.body)
    for path in mail.attachments:
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        main, sub = kind.split("/", 1)
        out.add_attachment(path.read_bytes(), maintype=main, subtype=sub, filename=path.name)
    return out


def _deliver(server: Server, msg: EmailMessage) -> None:
    context = ssl.create_default_context()
    if server.tls:
        client: smtplib.SMTP = smtplib.SMTP_SSL(server.host, server.port, timeout=TIMEOUT_S, context=context)
    else:
        client = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT_S)
    with client:
        client.ehlo()
        encrypted = server.tls
        if not encrypted and client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
            encrypted = True
        if server.user:
            if not encrypted and not server.loopback:
                raise smtplib.SMTPNotSupportedError(
                    "the server offers no STARTTLS: the password is not sent over an unencrypted connection"
                )
            client.login(server.user, server.password or "")
        client.send_message(msg)


def _permanent(exc: BaseException) -> bool:
    """A refusal that a retry will not change (5xx replies, authentication, no TLS for a password)."""
    if isinstance(
        exc, smtplib.SMTPAuthenticationError | smtplib.SMTPNotSupportedError | ssl.SSLCertVerificationError
    ):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    code = getattr(exc, "smtp_code", None)
    return isinstance(code, int) and code >= 500


def describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
        return f"refused by the server ({code} {text.decode(errors='replace') if isinstance(text, bytes) else text})"
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = (
            exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        )
        return f"{exc.smtp_code} {reply}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def send_all(
    settings: Settings,
    mails: Iterable[Mail],
    *,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF_S,
    via: str = "cli",
    who: str = "derma",
) -> list[Sent]:
    """Send each mail, retrying what may pass; every outcome is returned and written to the audit log."""
    server = check_configured(settings)
    from_addr = sender(settings)
    results = []
    for mail in mails:
        msg = message(mail, from_addr)
        error, tries = None, 0
        for tries in range(1, attempts + 1):
            try:
                _deliver(server, msg)
                error = None
                break
            except (TimeoutError, smtplib.SMTPException, OSError, ssl.SSLError) as exc:
                error = describe(exc)
                if _permanent(exc) or tries == attempts:
                    break
                time.sleep(backoff * 2 ** (tries - 1))
        sent = Sent(
            mail.to, mail.subject, tuple(p.name for p in mail.attachments), tries, error is None, error
        )
        record(settings, sent, via=via, who=who, kind="mail")
        results.append(sent)
    return results


def record(settings: Settings, sent: Sent, *, via: str, who: str, kind: str) -> None:
    audit.append(
        settings.audit_path,
        who=who,
        role="cli" if via == "cli" else None,
        via=via,
        action="send",
        what=f"{kind} to {sent.to}: {sent.subject}",
        params={"files": list(sent.files), "attempts": sent.attempts, "error": sent.error},
        outcome="ok" if sent.ok else "error",
    )
