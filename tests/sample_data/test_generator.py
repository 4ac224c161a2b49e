"""Tests of the synthetic session generator: determinism, contract, calibration, confounding, planted truth."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import sample_data
from etl.contract import CRYSTAL_TYPES, INDICATIONS, OPTIONAL, REQUIRED, SIDE_EFFECTS, TREATMENT_AREAS
from sample_data.averaging import project_population_averaged
from sample_data.calibration import check_calibration, measure_calibration
from sample_data.generator import generate_sessions, simulate_network
from sample_data.planted import PLANTED, RISKY_CLINICIAN, SETTING_TERMS


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return generate_sessions(clinics=5, patients=1500, months=12, seed=3)


@pytest.fixture(scope="module")
def calibration_run():
    # About 200,000 sessions: big enough that the marginal rates settle inside their bands.
    return simulate_network(clinics=4, patients=35_000, months=12, seed=7)


def test_the_same_seed_gives_the_same_frame_and_another_seed_does_not():
    first = generate_sessions(patients=400, seed=11)
    pd.testing.assert_frame_equal(first, generate_sessions(patients=400, seed=11))
    assert not first.equals(generate_sessions(patients=400, seed=12))


def test_columns_are_exactly_the_contract_names(small):
    assert list(small.columns) == [*REQUIRED, *OPTIONAL]


def test_sessions_are_about_six_per_patient_and_inside_the_window(small):
    assert 5.0 <= len(small) / small["patient_id"].nunique() <= 7.0
    dates = small["session_date"]
    assert dates.min() >= pd.Timestamp("2025-11-01") and dates.max() <= pd.Timestamp("2026-10-31")
    assert dates.dt.strftime("%Y-%m").nunique() == 12


def test_codes_have_the_clinics_shapes(small):
    assert small["clinic_id"].str.fullmatch(r"[A-Z]{3}-\d{2}").all()
    assert small["patient_id"].str.fullmatch(r"PN\d{8}").all()
    assert (small["clinician_id"].str[:6] == small["clinic_id"]).all()
    assert small["clinician_id"].str.fullmatch(r"[A-Z]{3}-\d{2}-[A-Z]\d").all()
    assert small.groupby("clinic_id")["clinician_id"].nunique().between(2, 5).all()
    assert not small.duplicated(["clinic_id", "session_id"]).any()
    assert (small.groupby("patient_id")["clinic_id"].nunique() == 1).all()
    assert RISKY_CLINICIAN in set(small["clinician_id"])


def test_values_obey_the_contract(small):
    assert set(small["crystal_type"]) <= set(CRYSTAL_TYPES)
    assert set(small["treatment_area"]) == set(TREATMENT_AREAS)
    assert set(small["indication"]) == set(INDICATIONS)
    assert small["vacuum_kpa"].between(10, 70).all()
    assert small["passes"].between(2, 4).all()
    assert set(small["fitzpatrick"]) == {1, 2, 3, 4, 5, 6}
    assert small["birth_year"].between(1900, 2026).all()
    rated = small["satisfaction"].dropna()
    assert rated.between(1, 5).all() and set(rated) == {1, 2, 3, 4, 5}
    codes = {c for text in small["side_effects"] if text for c in text.split(";")}
    assert codes <= set(SIDE_EFFECTS)


def test_diamond_tip_has_no_flow_and_crystals_always_do(small):
    diamond = small["crystal_type"] == "diamond_tip"
    assert small.loc[diamond, "particle_flow"].isna().all()
    assert small.loc[~diamond, "particle_flow"].between(30, 90).all()
    assert small.loc[diamond, "vacuum_kpa"].min() >= 13
    only_diamond = small.groupby("clinic_id")["crystal_type"].agg(lambda s: set(s) == {"diamond_tip"})
    assert only_diamond["MUC-02"] and only_diamond.sum() == 1


def test_no_follow_up_means_unknown_side_effects_and_no_rating(small):
    missed = ~small["follow_up_done"]
    assert (small.loc[missed, "side_effects"] == "").all()
    assert small.loc[missed, "satisfaction"].isna().all()


def test_courses_number_sessions_in_date_order_7_to_14_days_apart(small):
    ordered = small.sort_values(["patient_id", "session_date"])
    steps = ordered.groupby("patient_id")["session_number"].diff().dropna()
    assert (steps == 1).all()
    gaps = ordered.groupby("patient_id")["session_date"].diff().dropna().dt.days
    assert gaps.between(7, 14).all()
    assert ordered.groupby("patient_id")["session_number"].max().max() <= 10


def test_marginal_rates_fall_inside_the_calibration_bands(calibration_run):
    rates = measure_calibration(calibration_run)
    assert check_calibration(rates) == []
    assert 0.0005 <= rates["share_over_89"] <= 0.01


def test_confounding_is_planted(calibration_run):
    df = calibration_run.sessions
    dark = df["fitzpatrick"] >= 4
    assert df.loc[dark, "vacuum_kpa"].mean() < df.loc[~dark, "vacuum_kpa"].mean() - 3
    scars = df["indication"].isin(["acne_scars", "surgical_scars", "stretch_marks"])
    assert df.loc[scars, "vacuum_kpa"].mean() > df.loc[~scars, "vacuum_kpa"].mean() + 5
    assert df.loc[scars, "satisfaction"].mean() < df.loc[~scars, "satisfaction"].mean() - 0.5
    by_session = df.groupby("session_number")[["vacuum_kpa", "satisfaction"]].mean()
    assert by_session["vacuum_kpa"].is_monotonic_increasing
    assert by_session.loc[6, "satisfaction"] > by_session.loc[1, "satisfaction"] + 0.3


def test_a_naive_fit_misses_the_vacuum_effect_that_an_adjusted_fit_recovers(calibration_run):
    df = calibration_run.sessions[calibration_run.sessions["follow_up_done"]]
    y = (df["side_effects"] != "").astype(float)
    vac = df["vacuum_kpa"] / 10
    naive = sm.GLM(y, sm.add_constant(vac.rename("vac")), family=sm.families.Binomial()).fit()
    skip = (~df["pre_care_followed"]).astype(float)
    area = pd.get_dummies(df[["treatment_area", "indication", "crystal_type"]], drop_first=True).astype(float)
    x = pd.DataFrame(
        {
            "vac": vac,
            "passes": df["passes"],
            "flow": df["particle_flow"].fillna(0) / 10,
            "skip": skip,
            "dark": (df["fitzpatrick"] >= 4).astype(float),
            "session": df["session_number"],
            "risky": (df["clinician_id"] == RISKY_CLINICIAN).astype(float),
        }
    )
    adjusted = sm.GLM(y, sm.add_constant(pd.concat([x, area], axis=1)), family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(df["patient_id"])[0]}
    )
    truth = PLANTED.effect("any_side_effect", "vacuum_per_10kpa").pa_log_or
    low, high = adjusted.conf_int().loc["vac"]
    assert low <= truth <= high
    # Vacuum travels with passes, flow, scars and body areas (up) and with lighter skin (down): net, up.
    assert naive.params["vac"] > high


def test_planted_population_averaged_values_match_a_fresh_projection(calibration_run):
    fresh = project_population_averaged(calibration_run.sessions)
    for outcome in ("any_side_effect", "satisfaction"):
        for term in SETTING_TERMS:
            effect = PLANTED.effect(outcome, term)
            assert fresh[(outcome, term)] == pytest.approx(effect.pa_log_or, abs=0.01)
            # Attenuated towards zero, never past it; Zeger's rule is the rougher bound.
            assert 0 < effect.pa_log_or < effect.log_or
            assert effect.zeger_log_or == pytest.approx(
                effect.log_or
                / np.sqrt(
                    1
                    + 0.346
                    * (
                        PLANTED.side_effects if outcome == "any_side_effect" else PLANTED.satisfaction
                    ).patient_sd
                    ** 2
                ),
                rel=1e-3,
            )


def test_planted_named_effects_are_the_documented_odds_ratios():
    expected = {
        ("any_side_effect", "vacuum_per_10kpa"): 1.6,
        ("any_side_effect", "per_pass"): 1.3,
        ("any_side_effect", "flow_per_10pts"): 1.15,
        ("satisfaction", "vacuum_per_10kpa"): 1.2,
        ("satisfaction", "per_pass"): 1.1,
        ("satisfaction", "flow_per_10pts"): 1.1,
    }
    for (outcome, term), ratio in expected.items():
        assert PLANTED.effect(outcome, term).odds_ratio == pytest.approx(ratio)
    assert PLANTED.side_effects.coefficients[f"clinician[{RISKY_CLINICIAN}]"] == pytest.approx(np.log(2.0))
    with pytest.raises(KeyError):
        PLANTED.effect("satisfaction", "no_such_term")


def test_readme_states_the_planted_values():
    readme = (Path(sample_data.__file__).parent / "README.md").read_text(encoding="utf-8")
    for effect in PLANTED.effects:
        assert f"{effect.pa_log_or:.3f}" in readme, (effect.outcome, effect.term)
    assert RISKY_CLINICIAN in readme
    assert re.search(r"diamond", readme, re.IGNORECASE)
