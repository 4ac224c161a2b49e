"""Reports and alerts by e-mail, against a real SMTP server on loopback: the right files to the right people only."""

from __future__ import annotations

import pytest

from etl import audit
from etl.settings import Settings
from tests.derma.mailserver import certificate, smtp_server
from tests.helpers import derma

ROLES = """
[users."ana@etb.example"]
role = "manager"
clinics = ["ETB-01"]

[users."vic@etb.example"]
role = "viewer"
clinics = ["ETB-01"]

[users."max@north.example"]
role = "manager"
clinics = ["HAM-03", "MUC-02"]

[users."ann@network.example"]
role = "analyst"

[users."adm@network.example"]
role = "admin"
"""


@pytest.fixture
def roles(tmp_path, monkeypatch):
    path = tmp_path / "roles.toml"
    path.write_text(ROLES, encoding="utf-8")
    monkeypatch.setenv("DERMA_ROLES_FILE", str(path))
    return path


def _env(settings, port: int, scheme: str = "smtp", auth: str = "") -> dict[str, str]:
    return {
        "DERMA_SECRET_KEY": settings.secret_key,
        "DERMA_SMTP_URL": f"{scheme}://{auth}127.0.0.1:{port}",
        "DERMA_MAIL_FROM": "reports@derma.example",
    }


def test_report_send_mails_each_person_the_reports_of_their_clinics_and_nothing_else(
    sample_warehouse, roles, tmp_path, monkeypatch
):
    with smtp_server() as (inbox, port):
        done = derma(
            "report",
            "--all-clinics",
            "--month",
            "2026-10",
            "--formats",
            "html,xlsx",
            "--out",
            str(tmp_path / "out"),
            "--send",
            data_dir=sample_warehouse.data_dir,
            env=_env(sample_warehouse, port),
            check_exit=0,
        )

    def files(*scopes):
        return {f"derma-report_{s}_2026-10.{ext}" for s in scopes for ext in ("html", "xlsx")}

    assert inbox.files_of("ana@etb.example") == files("ETB-01")
    assert inbox.files_of("vic@etb.example") == files("ETB-01")
    assert inbox.files_of("max@north.example") == files("HAM-03", "MUC-02")
    assert inbox.files_of("ann@network.example") == files("network")
    assert inbox.files_of("adm@network.example") == files("network")
    for person in ("ana@etb.example", "vic@etb.example", "max@north.example", "ann@network.example"):
        assert len(inbox.to(person)) == 1  # one mail a person
    assert len(inbox.mails) == 5  # KOE-04 has nobody in the roles file: its report goes to no one
    attached = next(
        p for p in inbox.to("ana@etb.example")[0].iter_attachments() if p.get_filename().endswith("html")
    )
    assert "Clinic ETB-01" in attached.get_content()  # the file itself, as written
    sends = [r for r in audit.read(Settings.from_env().audit_path) if r["action"] == "send"]
    assert sorted(r["what"].split(":")[0] for r in sends) == sorted(
        f"mail to {p}"
        for p in (
            "ana@etb.example",
            "vic@etb.example",
            "max@north.example",
            "ann@network.example",
            "adm@network.example",
        )
    )
    assert "sent to max@north.example" in done.stderr


def test_starttls_and_auth_are_used_when_the_server_offers_them(
    sample_warehouse, roles, tmp_path, monkeypatch
):
    cert = certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))
    with smtp_server(tls="starttls", cert=cert, user="mailer", password="s3cret") as (inbox, port):
        derma(
            "report",
            "--clinic",
            "ETB-01",
            "--month",
            "2026-10",
            "--formats",
            "html",
            "--out",
            str(tmp_path / "o"),
            "--send",
            data_dir=sample_warehouse.data_dir,
            env=_env(sample_warehouse, port, auth="mailer:s3cret@"),
            check_exit=0,
        )
        assert {m["To"] for m in inbox.mails} == {"ana@etb.example", "vic@etb.example"}
        wrong = derma(
            "report",
            "--clinic",
            "ETB-01",
            "--month",
            "2026-10",
            "--formats",
            "html",
            "--out",
            str(tmp_path / "o"),
            "--send",
            data_dir=sample_warehouse.data_dir,
            env=_env(sample_warehouse, port, auth="mailer:wrong@"),
            check_exit=1,
        )
    assert (
        "NOT sent to ana@etb.example after 1 attempt(s): 535" in wrong.stderr
    )  # a wrong password is not retried
    assert len(inbox.mails) == 2


def test_smtps_speaks_tls_from_the_first_byte(sample_warehouse, roles, tmp_path, monkeypatch):
    cert = certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))
    with smtp_server(tls="implicit", cert=cert) as (inbox, port):
        derma(
            "report",
            "--month",
            "2026-10",
            "--formats",
            "html",
            "--out",
            str(tmp_path / "o"),
            "--send",
            data_dir=sample_warehouse.data_dir,
            env=_env(sample_warehouse, port, scheme="smtps"),
            check_exit=0,
        )
    assert {m["To"] for m in inbox.mails} == {"ann@network.example", "adm@network.example"}


def test_a_failing_send_is_retried_then_reported_and_audited_never_dropped(
    sample_warehouse, roles, tmp_path, monkeypatch
):
    monkeypatch.setattr("derma.delivery.mail.BACKOFF_S", 0.01)
    with smtp_server() as (inbox, port):
        inbox.refuse = ["451 try again later"]  # the first attempt fails for a reason that passes
        first = derma(
            "report",
            "--clinic",
            "HAM-03",
            "--month",
            "2026-10",
            "--formats",
            "html",
            "--out",
            str(tmp_path / "o"),
            "--send",
            data_dir=sample_warehouse.data_dir,
            env=_env(sample_warehouse, port),
            check_exit=0,
        )
        inbox.refuse = ["451 busy"] * 3
        second = derma(
            "report",
            "--clinic",
            "HAM-03",
            "--month",
            "2026-10",
            "--formats",
            "html",
            "--out",
            str(tmp_path / "o"),
            "--send",
            data_dir=sample_warehouse.data_dir,
            env=_env(sample_warehouse, port),
            check_exit=1,
        )
    assert "sent to max@north.example" in first.stderr and len(inbox.to("max@north.example")) == 1
    assert "NOT sent to max@north.example after 3 attempt(s): 451 busy" in second.stderr
    failed = [
        r
        for r in audit.read(Settings.from_env().audit_path)
        if r["action"] == "send" and r["outcome"] == "error"
    ]
    assert failed and failed[-1]["params"]["attempts"] == 3


def test_sending_without_a_mail_server_fails_before_any_work(sample_warehouse, roles, tmp_path):
    done = derma(
        "report",
        "--month",
        "2026-10",
        "--out",
        str(tmp_path / "o"),
        "--send",
        data_dir=sample_warehouse.data_dir,
        env={"DERMA_SECRET_KEY": sample_warehouse.secret_key},
        check_exit=1,
    )
    assert done.stderr.startswith("derma: set DERMA_MAIL_FROM") and not (tmp_path / "o").exists()
