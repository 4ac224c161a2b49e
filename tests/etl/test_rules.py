"""Every rule of the export format: given one row, expect the stored value or the quarantine reason."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from etl.load import ingest
from tests.helpers import TODAY, row, write_csv


def load_rows(tmp_path, settings, rows, **csv_options):
    path = write_csv(tmp_path / "in" / "ETB-01_2026-10.csv", rows, **csv_options)
    result = ingest([path], settings, today=TODAY)
    con = duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True)
    sessions = con.sql("select * from sessions order by session_id").df()
    quarantine = con.sql('select * from quarantine order by "row", "column"').df()
    con.close()
    return result, sessions, quarantine


REJECTIONS = [
    ("missing_clinic", {"clinic_id": ""}, "clinic_id", "missing_required"),
    ("missing_session", {"session_id": " "}, "session_id", "missing_required"),
    ("missing_patient", {"patient_id": ""}, "patient_id", "missing_required"),
    ("missing_clinician", {"clinician_id": ""}, "clinician_id", "missing_required"),
    ("missing_date", {"session_date": ""}, "session_date", "missing_required"),
    ("unparseable_date", {"session_date": "01/10/2026"}, "session_date", "bad_date"),
    ("impossible_date", {"session_date": "2026-02-30"}, "session_date", "bad_date"),
    ("future_date", {"session_date": "2026-12-01"}, "session_date", "future_date"),
    ("date_before_2000", {"session_date": "1999-12-31"}, "session_date", "out_of_range"),
    ("unknown_crystal", {"crystal_type": "laser"}, "crystal_type", "unknown_category"),
    ("missing_crystal", {"crystal_type": ""}, "crystal_type", "missing_required"),
    ("vacuum_not_a_number", {"vacuum_kpa": "strong"}, "vacuum_kpa", "bad_type"),
    ("vacuum_nan", {"vacuum_kpa": "nan"}, "vacuum_kpa", "bad_type"),
    ("vacuum_too_high", {"vacuum_kpa": "81"}, "vacuum_kpa", "out_of_range"),
    ("vacuum_too_low", {"vacuum_kpa": "4.9"}, "vacuum_kpa", "out_of_range"),
    ("vacuum_missing", {"vacuum_kpa": ""}, "vacuum_kpa", "missing_required"),
    ("passes_fraction", {"passes": "2.5"}, "passes", "bad_type"),
    ("passes_zero", {"passes": "0"}, "passes", "out_of_range"),
    ("passes_seven", {"passes": "7"}, "passes", "out_of_range"),
    ("unknown_area", {"treatment_area": "ear"}, "treatment_area", "unknown_category"),
    ("unknown_indication", {"indication": "botox"}, "indication", "unknown_category"),
    ("fitzpatrick_seven", {"fitzpatrick": "7"}, "fitzpatrick", "out_of_range"),
    ("fitzpatrick_roman_seven", {"fitzpatrick": "VII"}, "fitzpatrick", "bad_type"),
    (
        "flow_on_diamond",
        {"crystal_type": "diamond_tip", "particle_flow": "40"},
        "particle_flow",
        "inconsistent",
    ),
    ("flow_missing_on_crystal", {"particle_flow": ""}, "particle_flow", "missing_required"),
    ("flow_over_100", {"particle_flow": "101"}, "particle_flow", "out_of_range"),
    ("flow_text", {"particle_flow": "high"}, "particle_flow", "bad_type"),
    ("satisfaction_zero", {"satisfaction": "0"}, "satisfaction", "out_of_range"),
    ("satisfaction_six", {"satisfaction": "6"}, "satisfaction", "out_of_range"),
    ("satisfaction_word", {"satisfaction": "good"}, "satisfaction", "bad_type"),
    ("unknown_side_effect", {"side_effects": "petechiae;rash"}, "side_effects", "unknown_category"),
    ("none_with_codes", {"side_effects": "none;petechiae"}, "side_effects", "inconsistent"),
    ("bad_boolean", {"follow_up_done": "maybe"}, "follow_up_done", "bad_type"),
    ("bad_pre_care", {"pre_care_followed": "2"}, "pre_care_followed", "bad_type"),
    ("birth_year_1899", {"birth_year": "1899"}, "birth_year", "out_of_range"),
    ("birth_year_future", {"birth_year": "2027"}, "birth_year", "out_of_range"),
    (
        "born_after_session",
        {"birth_year": "2026", "session_date": "2025-10-01"},
        "birth_year",
        "inconsistent",
    ),
    ("session_number_zero", {"session_number": "0"}, "session_number", "out_of_range"),
]


@pytest.mark.parametrize(
    ("overrides", "column", "reason"), [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS]
)
def test_a_row_breaking_a_rule_is_quarantined_with_its_reason(tmp_path, settings, overrides, column, reason):
    result, sessions, quarantine = load_rows(tmp_path, settings, [row(**overrides)])
    assert len(sessions) == 0
    assert result.files[0].quarantined == 1
    assert list(zip(quarantine["column"], quarantine["reason"], strict=True)) == [(column, reason)]
    assert quarantine["row"].tolist() == [1]


def test_a_row_breaking_several_rules_counts_once_with_a_record_per_rule(tmp_path, settings):
    result, _, quarantine = load_rows(
        tmp_path, settings, [row(passes="9", crystal_type="laser", satisfaction="0")]
    )
    assert result.files[0].quarantined == 1 and result.files[0].rows == 1
    assert sorted(quarantine["reason"]) == ["out_of_range", "out_of_range", "unknown_category"]


ACCEPTED = [
    ("crystal_synonym", {"crystal_type": "Aluminum Oxide"}, "crystal_type", "corundum"),
    ("crystal_al2o3", {"crystal_type": "AL2O3"}, "crystal_type", "corundum"),
    ("hydroxide_us_spelling", {"crystal_type": "aluminum-hydroxide"}, "crystal_type", "aluminium_hydroxide"),
    ("bicarbonate", {"crystal_type": "Bicarbonate"}, "crystal_type", "sodium_bicarbonate"),
    ("diamond_peel", {"crystal_type": "Diamond Peel", "particle_flow": ""}, "crystal_type", "diamond_tip"),
    ("crystal_free_zero_flow", {"crystal_type": "crystal-free", "particle_flow": "0"}, "particle_flow", None),
    ("area_chest", {"treatment_area": "Chest"}, "treatment_area", "decolletage"),
    ("area_decollete", {"treatment_area": "decollete"}, "treatment_area", "decolletage"),
    ("indication_melasma", {"indication": "Melasma"}, "indication", "hyperpigmentation"),
    ("indication_sun_spots", {"indication": "sun spots"}, "indication", "hyperpigmentation"),
    ("indication_acne", {"indication": "ACNE"}, "indication", "acne_scars"),
    ("indication_scars", {"indication": "scars"}, "indication", "surgical_scars"),
    ("indication_striae", {"indication": "striae"}, "indication", "stretch_marks"),
    ("indication_dull_skin", {"indication": "dull-skin"}, "indication", "texture"),
    ("roman_numeral", {"fitzpatrick": "iv"}, "fitzpatrick", 4),
    ("integral_float", {"passes": "3.0"}, "passes", 3),
    ("date_with_time", {"session_date": "2026-10-01T14:30:00"}, "session_date", "2026-10-01"),
    ("date_with_space_time", {"session_date": "2026-10-01 14:30"}, "session_date", "2026-10-01"),
    ("boolean_yes", {"follow_up_done": "YES"}, "follow_up_done", True),
    ("boolean_n", {"pre_care_followed": "n"}, "pre_care_followed", False),
    ("boolean_zero", {"pre_care_followed": "0"}, "pre_care_followed", False),
    (
        "side_effects_list",
        {"side_effects": "Petechiae; prolonged-erythema;petechiae"},
        "side_effects",
        ["petechiae", "prolonged_erythema"],
    ),
    ("side_effects_none", {"side_effects": "none"}, "side_effects", []),
    ("empty_satisfaction_is_no_answer", {"satisfaction": ""}, "satisfaction", None),
    ("age_over_89_is_90", {"birth_year": "1920"}, "age_years", 90),
    ("age_over_89_birth_year_capped", {"birth_year": "1920"}, "birth_year", 1936),
    ("age", {"birth_year": "1980"}, "age_years", 46),
]


@pytest.mark.parametrize(
    ("overrides", "column", "expected"), [a[1:] for a in ACCEPTED], ids=[a[0] for a in ACCEPTED]
)
def test_an_accepted_variant_is_stored_in_normal_form(tmp_path, settings, overrides, column, expected):
    _result, sessions, quarantine = load_rows(tmp_path, settings, [row(**overrides)])
    assert quarantine.empty, quarantine.to_dict("records")
    value = sessions[column].iloc[0]
    if expected is None:
        assert pd.isna(value)
    elif isinstance(expected, list):
        assert list(value) == expected
    elif column == "session_date":
        assert value.date().isoformat() == expected
    else:
        assert str(value) == str(expected)


def test_unknown_side_effects_when_follow_up_did_not_happen(tmp_path, settings):
    rows = [
        row(session_id="A", side_effects="", follow_up_done="false"),
        row(session_id="B", side_effects="", follow_up_done="true"),
        row(session_id="C", side_effects="petechiae", follow_up_done="false"),
    ]
    _, sessions, _ = load_rows(tmp_path, settings, rows)
    by_id = sessions.set_index("session_id")
    assert pd.isna(by_id.loc["A", "any_side_effect"])
    assert pd.isna(by_id.loc["A", "side_effects"])
    assert by_id.loc["B", "any_side_effect"] == False  # noqa: E712 - numpy bool
    assert by_id.loc["C", "any_side_effect"] == True  # noqa: E712


def test_vacuum_in_mmhg_or_inhg_is_converted_to_kpa(tmp_path, settings):
    mm = [{**{k: v for k, v in row(session_id="M").items() if k != "vacuum_kpa"}, "Vacuum mmHg": "300"}]
    inch = [{**{k: v for k, v in row(session_id="I").items() if k != "vacuum_kpa"}, "vacuum-inhg": "10"}]
    write_csv(tmp_path / "in" / "mm.csv", mm)
    write_csv(tmp_path / "in" / "in.csv", inch)
    ingest([tmp_path / "in"], settings, today=TODAY)
    con = duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True)
    got = dict(con.sql("select session_id, vacuum_kpa from sessions").fetchall())
    assert got == {"M": pytest.approx(40.0, abs=0.01), "I": pytest.approx(33.86, abs=0.01)}


def test_session_number_is_derived_in_date_order_when_absent(tmp_path, settings):
    rows = [
        row(session_id=s, session_date=d)
        for s, d in [("c", "2026-10-15"), ("a", "2026-10-01"), ("b", "2026-10-08")]
    ]
    rows.append(row(session_id="other", patient_id="PN10000002", session_date="2026-10-02"))
    _, sessions, _ = load_rows(tmp_path, settings, rows)
    assert dict(zip(sessions["session_id"], sessions["session_number"], strict=True)) == {
        "a": 1,
        "b": 2,
        "c": 3,
        "other": 1,
    }


def test_derived_session_numbers_follow_a_late_earlier_session(tmp_path, settings):
    write_csv(tmp_path / "oct.csv", [row(session_id="b", session_date="2026-10-08")])
    ingest([tmp_path / "oct.csv"], settings, today=TODAY)
    write_csv(tmp_path / "sep.csv", [row(session_id="a", session_date="2026-09-30")])
    ingest([tmp_path / "sep.csv"], settings, today=TODAY)
    con = duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True)
    assert dict(con.sql("select session_id, session_number from sessions").fetchall()) == {"a": 1, "b": 2}


def test_a_reported_session_number_is_kept(tmp_path, settings):
    _, sessions, _ = load_rows(tmp_path, settings, [row(session_number="4")])
    assert sessions["session_number"].tolist() == [4]
    assert sessions["reported_session_number"].tolist() == [4]


def test_same_key_with_different_content_quarantines_every_row_of_that_key(tmp_path, settings):
    rows = [
        row(session_id="S1", vacuum_kpa="30"),
        row(session_id="S2"),
        row(session_id="S1", vacuum_kpa="31"),
    ]
    result, sessions, quarantine = load_rows(tmp_path, settings, rows)
    assert sessions["session_id"].tolist() == ["S2"]
    assert quarantine[["row", "reason"]].values.tolist() == [
        [1, "duplicate_in_file"],
        [3, "duplicate_in_file"],
    ]
    assert (result.files[0].inserted, result.files[0].quarantined) == (1, 2)


def test_a_row_repeated_identically_loads_once_and_the_repeat_counts_as_unchanged(tmp_path, settings):
    result, sessions, quarantine = load_rows(tmp_path, settings, [row(), row(), row()])
    assert len(sessions) == 1 and quarantine.empty
    assert (result.files[0].inserted, result.files[0].unchanged) == (1, 2)


def test_decimal_comma_is_accepted_in_semicolon_files_only(tmp_path, settings):
    _, sessions, _ = load_rows(tmp_path, settings, [row(vacuum_kpa="35,5")], delimiter=";")
    assert sessions["vacuum_kpa"].tolist() == [35.5]
    _, _, quarantine = load_rows(tmp_path / "2", settings, [row(session_id="S9", vacuum_kpa="35,5")])
    assert quarantine["reason"].tolist() == ["bad_type"]
