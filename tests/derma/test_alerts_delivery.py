"""`derma alerts` and `ingest --notify`: each alert to the people who may see its clinic, and the webhook, for real."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from etl.load import amend_snapshot, ingest
from tests.derma.mailserver import free_port, smtp_server
from tests.derma.test_delivery import ROLES
from tests.helpers import TODAY, derma, row, write_csv

ROLES_WITH_KOE = ROLES + '\n[users."kim@koe.example"]\nrole = "manager"\nclinics = ["KOE-04"]\n'


@pytest.fixture
def roles(tmp_path, monkeypatch):
    path = tmp_path / "roles.toml"
    path.write_text(ROLES_WITH_KOE, encoding="utf-8")
    monkeypatch.setenv("DERMA_ROLES_FILE", str(path))
    return path


def _bad_rows_for_ham(folder):
    """40 HAM-03 sessions from October, half with a vacuum no device gives: a jump in quarantined rows."""
    rows = [
        row(
            clinic_id="HAM-03",
            session_id=f"HAM-X{i}",
            patient_id=f"P-X{i}",
            session_date="2026-10-20",
            vacuum_kpa=-5 if i % 2 else 30,
        )
        for i in range(40)
    ]
    return write_csv(folder / "ham-extra.csv", rows)


@pytest.fixture
def planted(writable_warehouse, tmp_path):
    """ETB-01's side-effect chart alerting in October (as the CUSUM raises it), and HAM-03's jump of bad rows."""
    amend_snapshot(
        writable_warehouse,
        lambda con: con.execute(
            "update spc_points set alert = true where unit = 'ETB-01' and chart = 'side_effects_p_prime' "
            "and month = date '2026-10-01'"
        ),
    )
    ingest([_bad_rows_for_ham(tmp_path)], writable_warehouse, today=TODAY)
    return writable_warehouse


class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list] = []

    def do_POST(self):
        Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    Hook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", Hook.received
    server.shutdown()
    server.server_close()


def _env(settings, port):
    return {
        "DERMA_SECRET_KEY": settings.secret_key,
        "DERMA_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "DERMA_MAIL_FROM": "alerts@derma.example",
    }


def test_alerts_lists_the_planted_chart_alert_and_the_jump_in_quarantined_rows(planted):
    out = derma("alerts", "--month", "2026-10", "--format", "json", data_dir=planted.data_dir).json()
    found = {(a["clinic_id"], a["kind"]) for a in out["alerts"]}
    assert found == {("ETB-01", "control_chart"), ("HAM-03", "quarantine_jump")}
    assert set(out["alerts"][0]) == {"clinic_id", "kind", "measure", "message"}
    quiet = derma("alerts", "--month", "2026-02", "--format", "json", data_dir=planted.data_dir).json()
    assert [(a["clinic_id"], a["kind"]) for a in quiet["alerts"]] == [("KOE-04", "data_stopped")]
    assert derma("alerts", "--month", "2026-13", data_dir=planted.data_dir, check_exit=1).stderr.startswith(
        "derma: bad month"
    )


def test_alerts_send_gives_each_person_only_the_alerts_of_their_clinics_and_the_webhook_all(
    planted, roles, webhook
):
    url, received = webhook
    with smtp_server() as (inbox, port):
        derma(
            "alerts",
            "--month",
            "2026-10",
            "--send",
            data_dir=planted.data_dir,
            env={**_env(planted, port), "DERMA_WEBHOOK_URL": url},
            check_exit=0,
        )

    def body(address):
        (mail,) = inbox.to(address)
        return mail.get_content()

    assert "ETB-01" in body("ana@etb.example") and "HAM-03" not in body("ana@etb.example")
    assert "ETB-01" in body("vic@etb.example") and "HAM-03" not in body("vic@etb.example")
    assert "HAM-03" in body("max@north.example") and "ETB-01" not in body("max@north.example")
    for person in ("ann@network.example", "adm@network.example"):
        assert "ETB-01" in body(person) and "HAM-03" in body(person)
    assert inbox.to("kim@koe.example") == []  # KOE-04 has no alert: its manager gets nothing
    assert [sorted(a["clinic_id"] for a in p["alerts"]) for p in received] == [["ETB-01", "HAM-03"]]


def test_ingest_notify_sends_after_the_load_and_a_failed_send_never_undoes_it(
    writable_warehouse, roles, tmp_path
):
    env = _env(writable_warehouse, free_port())  # nothing listens there: every send fails
    env["DERMA_SECRET_KEY"] = writable_warehouse.secret_key
    done = derma(
        "ingest",
        str(_bad_rows_for_ham(tmp_path)),
        "--skip-models",
        "--notify",
        data_dir=writable_warehouse.data_dir,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "NOT sent to max@north.example after 3 attempt(s)" in done.stderr
    assert "the batch is loaded, but some alerts were not delivered" in done.stderr
    loaded = derma("batches", "--format", "json", data_dir=writable_warehouse.data_dir, env=env).json()
    assert len(loaded) == 2  # the sample's batch and this one: the load stands
    with smtp_server() as (inbox, port):
        derma(
            "ingest",
            str(_bad_rows_for_ham(tmp_path)),
            "--skip-models",
            "--notify",
            data_dir=writable_warehouse.data_dir,
            env=_env(writable_warehouse, port),
            check_exit=0,
        )
    assert "HAM-03" in inbox.to("max@north.example")[0].get_content()
