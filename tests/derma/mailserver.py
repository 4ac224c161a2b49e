"""A real SMTP server on loopback (aiosmtpd) that keeps every mail it accepts, optionally with TLS and AUTH."""

from __future__ import annotations

import contextlib
import email
import email.policy
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Inbox:
    """What the server accepted, by recipient; ``refuse`` makes it answer the next data commands with a code."""

    mails: list[email.message.EmailMessage] = field(default_factory=list)
    refuse: list[str] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: ARG002 - aiosmtpd's hook signature
        if self.refuse:
            return self.refuse.pop(0)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        for rcpt in envelope.rcpt_tos:
            message.add_header("X-Envelope-To", rcpt)
        self.mails.append(message)
        return "250 OK"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.mails if address in m.get_all("X-Envelope-To", [])]

    def files_of(self, address: str) -> set[str]:
        return {part.get_filename() for m in self.to(address) for part in m.iter_attachments()}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (trust it with SSL_CERT_FILE)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _authenticator(user: str, password: str):
    def check(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            user.encode(),
            password.encode(),
        )
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself

    return check


@contextlib.contextmanager
def smtp_server(
    tls: str | None = None, cert: tuple[Path, Path] | None = None, user: str | None = None, password: str = ""
) -> Iterator[tuple[Inbox, int]]:
    """A running server: plain, ``tls="starttls"`` (required before AUTH) or ``tls="implicit"`` (smtps)."""
    inbox = Inbox()
    port = free_port()
    options: dict = {}
    if tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert[0]), str(cert[1]))
        options = (
            {"ssl_context": context}
            if tls == "implicit"
            else {"tls_context": context, "require_starttls": True}
        )
    if user:
        options.update(
            authenticator=_authenticator(user, password),
            auth_require_tls=True,
            auth_exclude_mechanism=["LOGIN"],
        )
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    if tls == "implicit":
        # aiosmtpd's ready check speaks plain SMTP; with TLS from the first byte it cannot, so start by hand.
        controller.ready_timeout = 5
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
