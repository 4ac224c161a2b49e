"""The Notes & targets page (AppTest, simulated sign-in): who may record for which clinic, decided below the page."""

from __future__ import annotations

import pytest

from etl import audit
from etl.settings import Settings
from etl.userdata import add_note, read
from tests.dashboard.test_access_app import open_as
from tests.dashboard.users import ANA, ANN, ROLES, VAL


@pytest.fixture
def signed_in(writable_warehouse, tmp_path, monkeypatch):
    roles = tmp_path / "roles.toml"
    roles.write_text(ROLES)
    monkeypatch.setenv("DERMA_DATA_DIR", str(writable_warehouse.data_dir))
    monkeypatch.setenv("DERMA_ROLES_FILE", str(roles))
    monkeypatch.setenv("DERMA_AUDIT_FILE", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("DERMA_SECRET_KEY", writable_warehouse.secret_key)
    return writable_warehouse


def test_a_manager_may_record_for_her_clinic_only_and_sees_no_other_clinics_notes(signed_in):
    add_note(signed_in, day="2026-04-01", text="HAM staff change", clinic_id="HAM-03")
    at = open_as(ANA, "notes")
    assert not at.exception
    assert at.selectbox(key="notes_scope").options == ["ETB-01"]
    assert at.selectbox(key="targets_scope").options == ["ETB-01"]
    assert "HAM staff change" not in at.dataframe[0].value.to_string()
    at.text_input(key="notes_text").input("Two new therapists")
    at.button[0].click().run()  # the note form's submit
    assert [e.value for e in at.success] and not at.error
    notes = read(signed_in).notes
    assert [(n.clinic_id, n.author) for n in notes if n.text == "Two new therapists"] == [("ETB-01", ANA)]
    records = audit.read(Settings.from_env().audit_path)
    assert any(r["action"] == "annotate" and r["who"] == ANA for r in records)


def test_a_viewer_reads_the_notes_and_may_change_nothing(signed_in):
    add_note(signed_in, day="2026-04-01", text="ETB protocol", clinic_id="ETB-01")
    at = open_as(VAL, "notes")
    assert not at.exception
    assert "may read notes and targets but not change them" in " ".join(i.value for i in at.info)
    assert not [s for s in at.selectbox if s.key == "notes_scope"]
    assert "ETB protocol" in at.dataframe[0].value.to_string()


def test_the_analyst_may_record_for_the_network_and_every_clinic(signed_in):
    at = open_as(ANN, "notes")
    assert at.selectbox(key="notes_scope").options[0] == "Whole network"
    assert set(at.selectbox(key="notes_scope").options[1:]) == {"ETB-01", "HAM-03", "KOE-04", "MUC-02"}
