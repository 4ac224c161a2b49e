"""`derma notes` and `derma targets`: a process change rebases its clinic's charts; notes reach the JSON and the report."""

from __future__ import annotations

import pandas as pd

from derma.annotations import out_of_date
from etl.warehouse import connect_current
from queries import run_query
from tests.helpers import derma


def _verdicts(settings) -> pd.DataFrame:
    _, con = connect_current(settings.data_dir)
    try:
        return run_query(con, "spc_verdicts", {"scope": "network"}).set_index(["unit", "chart"])
    finally:
        con.close()


def test_a_clinics_process_change_rebases_its_charts_from_that_month_and_no_other_units(writable_warehouse):
    settings, env = writable_warehouse, {"DERMA_SECRET_KEY": writable_warehouse.secret_key}
    before = _verdicts(settings)
    derma(
        "notes",
        "add",
        "--date",
        "2026-05-10",
        "--text",
        "new hand piece from May",
        "--clinic",
        "ETB-01",
        "--process-change",
        data_dir=settings.data_dir,
        env=env,
        check_exit=0,
    )
    after = _verdicts(settings)
    for chart in ("side_effects_p_prime", "satisfaction_xmr"):
        assert pd.Timestamp(after.loc[("ETB-01", chart), "segment_start"]) == pd.Timestamp("2026-05-01")
        assert pd.Timestamp(before.loc[("ETB-01", chart), "segment_start"]) < pd.Timestamp("2026-05-01")
        for unit in ("network", "HAM-03"):
            assert after.loc[(unit, chart), "segment_start"] == before.loc[(unit, chart), "segment_start"]
    assert out_of_date(settings, "network") == []
    report = derma("models", "--format", "json", data_dir=settings.data_dir, env=env, check_exit=0).json()
    assert [(a["clinic_id"], a["month"], a["process_change"]) for a in report["annotations"]] == [
        ("ETB-01", "2026-05", True)
    ]


def test_a_note_recorded_without_redrawing_leaves_the_charts_out_of_date_until_derma_models(
    writable_warehouse,
):
    settings, env = writable_warehouse, {"DERMA_SECRET_KEY": writable_warehouse.secret_key}
    derma(
        "targets",
        "set",
        "--measure",
        "side_effect_rate",
        "--value",
        "3%",
        "--clinic",
        "HAM-03",
        "--no-redraw",
        data_dir=settings.data_dir,
        env=env,
        check_exit=0,
    )
    assert out_of_date(settings, "network") == [("HAM-03", "side_effects_p_prime")]
    derma("models", "--format", "json", data_dir=settings.data_dir, env=env, check_exit=0)
    assert out_of_date(settings, "network") == []
    verdict = _verdicts(settings).loc[("HAM-03", "side_effects_p_prime")]
    assert verdict["target"] == 0.03 and verdict["assurance"] in {
        "consistent_pass",
        "consistent_fail",
        "inconsistent",
    }
    assert pd.isna(_verdicts(settings).loc[("ETB-01", "side_effects_p_prime"), "target"])


def test_notes_list_shows_a_clinic_its_own_and_the_networks_notes(settings):
    for args in (
        ("--clinic", "ETB-01", "--text", "ETB change"),
        ("--clinic", "HAM-03", "--text", "HAM change"),
        (
            "--text",
            "network change",
        ),
    ):
        derma("notes", "add", "--date", "2026-04-01", *args, data_dir=settings.data_dir, check_exit=0)
    listed = derma(
        "notes", "list", "--clinic", "ETB-01", "--format", "json", data_dir=settings.data_dir
    ).json()
    assert sorted(n["text"] for n in listed) == ["ETB change", "network change"]
    note_id = listed[0]["id"]
    derma("notes", "remove", note_id, data_dir=settings.data_dir, check_exit=0)
    gone = derma("notes", "remove", note_id, data_dir=settings.data_dir, check_exit=1)
    assert gone.stderr.startswith("derma: no note with id") and "Traceback" not in gone.stderr


def test_a_bad_note_is_one_line_and_records_nothing(settings):
    bad = derma(
        "notes", "add", "--date", "2026-13-01", "--text", "x", data_dir=settings.data_dir, check_exit=1
    )
    assert bad.stderr.strip() == "derma: a note's date is YYYY-MM-DD, got '2026-13-01'"
    assert derma("notes", "list", "--format", "json", data_dir=settings.data_dir).json() == []
