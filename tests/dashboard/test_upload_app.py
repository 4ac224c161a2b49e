"""The Upload page in AppTest: preview, commit and audit for administrators and analysts; refused for anyone else."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import uploads
from dashboard.app_pages._upload import EDITED, UPLOADED
from derma.uploads import MappingChoice, Upload
from etl.access import AccessDenied, Principal
from etl.warehouse import connect_current
from tests.dashboard.test_access_app import AUTH
from tests.dashboard.upload_support import new_month, writable_sample
from tests.dashboard.users import ANA, ANN, ROLES, VAL

APP = Path(__file__).parents[2] / "dashboard" / "streamlit_app.py"


@pytest.fixture
def app(sample_warehouse, tmp_path, monkeypatch):
    """A writable sample warehouse with its key file, a private TMPDIR (to see staged files go) and an audit log."""
    data_dir, key = writable_sample(sample_warehouse, tmp_path)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("DERMA_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DERMA_SECRET_KEY_FILE", str(key))
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    roles = tmp_path / "roles.toml"
    roles.write_text(ROLES)
    monkeypatch.setenv("DERMA_ROLES_FILE", str(roles))
    monkeypatch.setenv("DERMA_AUDIT_FILE", str(tmp_path / "audit.jsonl"))
    return data_dir, scratch, tmp_path / "audit.jsonl"


def open_upload(email: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    if email is not None:
        at.secrets["auth"] = AUTH
        at.user = {"is_logged_in": True, "email": email}
    at.switch_page("app_pages/upload.py")
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def audit(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def latest_month(data_dir: Path) -> str:
    _, con = connect_current(data_dir)
    try:
        return str(con.execute("select max(session_date) from sessions").fetchone()[0])[:7]
    finally:
        con.close()


def test_an_administrator_previews_then_loads_a_vendor_export_and_every_step_is_audited(app, tmp_path):
    data_dir, scratch, log = app
    month = new_month(tmp_path)
    at = open_upload()
    assert_clean(at)
    at.file_uploader(key="upload_files_0").set_value(
        (month.export.name, month.export.read_bytes(), "text/csv")
    ).run()
    at.radio(key="upload_mapping_mode").set_value(UPLOADED).run()
    at.file_uploader(key="upload_mapping_file").set_value(
        (month.mapping.name, month.mapping.read_bytes(), "x")
    ).run()
    assert_clean(at)
    assert any("passes its check" in s.value for s in at.success)
    at.button(key="upload_preview_button").click().run()
    assert_clean(at)
    files, quarantine = (frame.value for frame in at.dataframe)  # the file counts, then the quarantine
    assert files.loc[0, ["rows", "quarantined"]].tolist() == [month.rows, month.planted]
    assert files.loc[0, "mapping"] == "Acme Aesthetics export (ETB-01)"
    assert set(quarantine["column"]) >= {"crystal_type"} and "PN" not in quarantine.to_csv()
    assert (
        latest_month(data_dir) == "2026-10" and list(scratch.iterdir()) == []
    )  # nothing published, nothing kept
    at.button(key="upload_commit").click().run()
    assert_clean(at)
    assert any("Published snapshot" in s.value for s in at.success)
    (done,) = (frame.value for frame in at.dataframe)
    assert done.loc[0, "inserted"] == files.loc[0, "inserted"] > 0
    assert latest_month(data_dir) == "2026-11" and list(scratch.iterdir()) == []
    assert at.session_state["filters_months"][1] == "2026-11"  # the filters now reach the new month
    steps = [
        (r["action"], r["params"].get("step"), r["outcome"])
        for r in audit(log)
        if r["action"] in ("upload", "load")
    ]
    assert steps == [("upload", "preview", "ok"), ("upload", "commit", "ok"), ("load", None, "ok")]
    loaded = next(r for r in audit(log) if r["action"] == "load")
    assert loaded["params"]["mapping"] == month.mapping.name and loaded["params"]["inserted"] > 0
    assert loaded["what"] == done_snapshot(data_dir)


def done_snapshot(data_dir: Path) -> str:
    return (data_dir / "warehouse.duckdb").resolve().stem


def test_a_suggested_mapping_is_checked_as_it_is_edited(app, tmp_path):
    month = new_month(tmp_path)
    at = open_upload()
    at.file_uploader(key="upload_files_0").set_value(
        (month.export.name, month.export.read_bytes(), "text/csv")
    ).run()
    at.radio(key="upload_mapping_mode").set_value(EDITED).run()
    at.button(key="upload_suggest").click().run()
    text = at.text_area(key="upload_mapping_text").value
    assert "[values.crystal_type]" in text and "PN" not in text
    assert any("passes its check" in s.value for s in at.success)  # as suggested, before any edit
    at.text_area(key="upload_mapping_text").set_value(
        text.replace('"Media" = "crystal_type"', '"Media" = "crystal"')
    )
    at.run()
    assert [e.value for e in at.error] == [
        "This mapping cannot be used: edited mapping: [columns].\"Media\": 'crystal' is not a column of the export format"
    ]
    assert "upload_preview_button" not in [b.key for b in at.button]


@pytest.mark.parametrize("email", [ANA, VAL])
def test_the_page_is_not_reachable_for_managers_and_viewers(app, email):
    at = open_upload(email)  # asking for the page by its address lands on the Overview
    assert not at.exception
    assert at.title[0].value == "Overview"
    assert not at.file_uploader


def test_an_analyst_may_upload(app):
    at = open_upload(ANN)
    assert_clean(at)
    assert at.file_uploader(key="upload_files_0")


def test_the_data_layer_refuses_a_manager_whatever_the_page_does(app, tmp_path):
    manager = Principal(ANA, "manager", ("ETB-01",))
    month = new_month(tmp_path)
    with open(month.export, "rb") as stream:
        upload = Upload(month.export.name, stream)
        for call in (
            lambda: uploads.preview(manager, [upload], MappingChoice(path=month.mapping)),
            lambda: uploads.commit(manager, [upload], MappingChoice(path=month.mapping)),
            lambda: uploads.suggest(manager, upload),
            lambda: uploads.saved_mappings(manager),
            lambda: uploads.refresh(manager),
        ):
            with pytest.raises(AccessDenied):
                call()
    assert latest_month(app[0]) == "2026-10"
