"""Notes and targets as user data: kept beside the snapshots, audited, scoped to who may change them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from etl import audit
from etl.access import AccessDenied, Principal
from etl.audit import AuditError
from etl.load import ingest
from etl.userdata import UserDataError, add_note, path_of, read, remove, set_target
from tests.helpers import TODAY, row, write_csv

MANAGER = Principal("ana@clinic-a.example", "manager", ("ETB-01",))
VIEWER = Principal("vic@clinic-a.example", "viewer", ("ETB-01",))
ANALYST = Principal("ann@network.example", "analyst", None)


def test_notes_and_targets_survive_a_load_and_the_snapshot_swap(settings, tmp_path):
    ingest([write_csv(tmp_path / "a.csv", [row()])], settings, today=TODAY)
    note = add_note(
        settings, day="2026-03-01", text="new hand piece", process_change=True, clinic_id="ETB-01"
    )
    target = set_target(settings, measure="side_effect_rate", value="5%")
    ingest([write_csv(tmp_path / "b.csv", [row(session_id="S-2")])], settings, today=TODAY)
    state = read(settings)
    assert [n.id for n in state.notes] == [note.id] and [t.id for t in state.targets] == [target.id]
    assert state.targets[0].value == pytest.approx(0.05)
    assert (
        path_of(settings).parent == settings.data_dir
    )  # backed up with the data dir, outside every snapshot


def test_a_manager_may_note_her_own_clinics_only_and_a_viewer_nothing(settings):
    add_note(
        settings, day="2026-03-01", text="new protocol", clinic_id="ETB-01", who=MANAGER, via="dashboard"
    )
    with pytest.raises(AccessDenied):
        add_note(
            settings, day="2026-03-01", text="not hers", clinic_id="HAM-03", who=MANAGER, via="dashboard"
        )
    with pytest.raises(AccessDenied):
        add_note(settings, day="2026-03-01", text="network wide", who=MANAGER, via="dashboard")
    with pytest.raises(AccessDenied):
        add_note(settings, day="2026-03-01", text="viewer", clinic_id="ETB-01", who=VIEWER, via="dashboard")
    with pytest.raises(AccessDenied):
        set_target(
            settings, measure="pct_satisfied", value=0.9, clinic_id="HAM-03", who=MANAGER, via="dashboard"
        )
    add_note(settings, day="2026-03-01", text="anywhere", clinic_id="HAM-03", who=ANALYST, via="dashboard")
    assert [n.clinic_id for n in read(settings).notes] == ["ETB-01", "HAM-03"]
    assert [n.clinic_id for n in read(settings).visible_to(MANAGER).notes] == ["ETB-01"]


def test_every_change_is_in_the_audit_log_and_one_it_cannot_record_is_taken_back(settings, tmp_path):
    note = add_note(settings, day="2026-03-01", text="kept", clinic_id="ETB-01", who=MANAGER, via="dashboard")
    remove(settings, note.id, "note", who=MANAGER, via="dashboard")
    records = audit.read(settings.audit_path)
    assert [(r["action"], r["who"]) for r in records] == [("annotate", MANAGER.identity)] * 2
    before = path_of(settings).read_bytes()
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(AuditError):  # a file where the log's folder should be: the log cannot be written
        add_note(replace(settings, audit_file=blocker / "audit.jsonl"), day="2026-03-02", text="lost")
    assert path_of(settings).read_bytes() == before and read(settings).notes == ()


@pytest.mark.parametrize(
    ("text", "rule"),
    [("call ana.b@mail.example", "e-mail"), ("patient 12345678 again", "long number"), ("  ", "some text")],
)
def test_a_note_with_patient_details_or_nothing_is_refused(settings, text, rule):
    with pytest.raises(UserDataError, match=rule):
        add_note(settings, day="2026-03-01", text=text)
    assert not path_of(settings).exists()


def test_a_newer_target_replaces_its_scopes_earlier_one_and_clinics_fall_back_to_the_network(settings):
    set_target(settings, measure="pct_satisfied", value=0.8)
    set_target(settings, measure="pct_satisfied", value="85%")
    set_target(settings, measure="pct_satisfied", value=0.9, clinic_id="ETB-01")
    state = read(settings)
    assert state.target("network", "pct_satisfied").value == pytest.approx(0.85)
    assert state.target("ETB-01", "pct_satisfied").value == pytest.approx(0.9)
    assert state.target("HAM-03", "pct_satisfied").value == pytest.approx(0.85)
    with pytest.raises(UserDataError, match="met by a decrease"):
        set_target(settings, measure="side_effect_rate", value=0.05, direction="increase")


def test_a_network_process_change_rebases_every_unit_and_a_clinics_only_its_own(settings):
    add_note(settings, day="2026-03-15", text="network protocol", process_change=True)
    add_note(settings, day="2026-06-02", text="new laser room", process_change=True, clinic_id="ETB-01")
    add_note(settings, day="2026-07-01", text="just a remark", clinic_id="ETB-01")
    add_note(
        settings,
        day="2026-08-01",
        text="trained",
        process_change=True,
        clinic_id="ETB-01",
        clinician_id="C-7",
    )
    state = read(settings)
    assert state.rebase_months("network") == ("2026-03",)
    assert state.rebase_months("ETB-01") == ("2026-03", "2026-06")
    assert state.rebase_months("HAM-03") == ("2026-03",)
    assert [n.text for n in state.notes_for("HAM-03")] == ["network protocol"]
    assert [n.text for n in state.notes_on("ETB-01", "C-7")][-1] == "trained"


def test_a_damaged_line_is_named_with_the_file_and_line(settings):
    add_note(settings, day="2026-03-01", text="fine")
    with path_of(settings).open("a", encoding="utf-8") as handle:
        handle.write("{not json\n")
    with pytest.raises(UserDataError, match=r"userdata.jsonl line 2"):
        read(settings)
