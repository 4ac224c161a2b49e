"""The case-mix model: session-level equivalence, crystal and device terms, pooling, clinic fixed effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from analysis.case_mix import POOLED, _pool_levels, fit_case_mix
from tests.analysis.funnel_data import simulate


# Each device is used with one crystal, so device nests crystal type: the design is rank-deficient, the
# coefficients are not unique, and the predictions (all the case mix hands on) are.
@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.SingularMatrixWarning")
def test_the_aggregated_case_mix_fit_equals_the_session_level_fit_with_crystal_and_device():
    sessions = simulate(seed=5, per_clinic=6, per_unit=300)
    expected = fit_case_mix(sessions)
    frame = sessions.assign(
        y=sessions["any_side_effect"].astype(int),
        pre_care=sessions["pre_care_followed"]
        .map({True: "yes", False: "no"})
        .astype(object)
        .fillna("unrecorded"),
        fitzpatrick=sessions["fitzpatrick"].astype(str),
        session_number=sessions["session_number"].astype(float),
        device=sessions["device_model"],
    )
    long = smf.glm(
        "y ~ C(fitzpatrick) + C(indication) + C(treatment_area) + C(pre_care) + session_number"
        " + C(crystal_type) + C(device)",
        data=frame,
        family=sm.families.Binomial(),
    ).fit()
    np.testing.assert_allclose(expected.to_numpy(), long.predict(frame).to_numpy(), rtol=1e-6)
    # Canonical link with an intercept: expected events add up to observed events.
    assert expected.sum() == pytest.approx(frame["y"].sum())
    assert expected.attrs["status"] == "ok" and expected.name == "expected"
    assert expected.attrs["adjusted_for"][-2:] == ["crystal type", "device"]


def test_crystal_and_device_join_only_when_the_export_records_them():
    sessions = simulate(seed=5, per_clinic=4, per_unit=300)
    without = fit_case_mix(sessions.drop(columns=["crystal_type", "device_model"]))
    assert "crystal_type" not in without.attrs["terms"] and "device" not in without.attrs["terms"]
    one_device = fit_case_mix(sessions.assign(device_model="Only-1"))
    assert "device" not in one_device.attrs["terms"]
    assert "device" in one_device.attrs["warnings"][-1] and one_device.attrs["status"] == "simplified"


def test_an_unrecorded_device_is_its_own_level_not_a_lost_session():
    sessions = simulate(seed=8, per_clinic=4, per_unit=400)
    sessions.loc[sessions.index % 3 == 0, "device_model"] = None
    expected = fit_case_mix(sessions)
    assert expected.notna().all()
    assert expected.attrs["n_sessions"] == len(sessions)


def test_a_planted_device_effect_is_recovered_by_the_case_mix():
    # Two devices of the same crystal differ only by the planted odds ratio (exp(0.5)).
    sessions = simulate(seed=3, per_clinic=10, per_unit=600)
    expected = fit_case_mix(sessions)
    crystal = sessions[sessions["crystal_type"] == "corundum"]
    risk = expected[crystal.index].groupby(crystal["device_model"]).mean()
    odds = risk / (1 - risk)
    assert odds["C-2"] / odds["C-1"] == pytest.approx(np.exp(0.5), rel=0.15)


def level(name: str, events: int, sessions: int) -> tuple[list[str], list[bool]]:
    return [name] * sessions, [True] * events + [False] * (sessions - events)


def levels(*specs) -> tuple[pd.Series, pd.Series]:
    values, outcomes = [], []
    for spec in specs:
        v, y = level(*spec)
        values += v
        outcomes += y
    return pd.Series(values), pd.Series(outcomes)


def test_devices_with_too_few_events_are_pooled():
    values, y = levels(("A", 30, 330), ("B", 8, 43), ("D", 5, 46), ("E", 6, 46))
    pooled, n = _pool_levels(values, y, None)
    # B, D and E have fewer than 10 events each; together (19 events) they can carry one coefficient.
    assert n == 3 and set(pooled) == {"A", POOLED}
    assert (pooled[values == "A"] == "A").all() and (pooled[values != "A"] == POOLED).all()


def test_a_pool_too_rare_for_its_own_coefficient_joins_the_most_common_device():
    values, y = levels(("A", 30, 330), ("B", 3, 43), ("C", 12, 92))
    pooled, n = _pool_levels(values, y, None)
    assert n == 1 and set(pooled) == {"A", "C"} and (pooled[values == "B"] == "A").all()


def test_a_device_used_by_one_compared_unit_only_is_pooled():
    # Clinic C1 alone uses device X-9: its coefficient would make C1's observed = expected exactly.
    sessions = simulate(seed=4, clinics=3, per_clinic=3, per_unit=500, devices={"C1": ("X-9",)})
    expected = fit_case_mix(sessions, compare="clinic_id")
    assert expected.attrs["pooled"]["device"] >= 1
    assert "used by one clinic only" in " ".join(expected.attrs["warnings"])
    unpooled = fit_case_mix(sessions)
    ones = sessions["clinic_id"] == "C1"
    observed = sessions.loc[ones, "any_side_effect"].sum()
    on_own_device = ones & (sessions["device_model"] == "X-9")
    # Without the rule the lone device absorbs C1's own difference on those sessions exactly.
    assert unpooled[on_own_device].sum() == pytest.approx(
        sessions.loc[on_own_device, "any_side_effect"].sum()
    )
    assert expected[ones].sum() != pytest.approx(observed, rel=1e-6)


def test_clinic_fixed_effects_make_expected_equal_observed_in_every_clinic():
    sessions = simulate(seed=2, clinics=4, per_clinic=3, per_unit=400, clinic_log_or=[0.8, 0, -0.5, 0])
    expected = fit_case_mix(sessions, within="clinic_id", compare="clinician_id")
    per_clinic = pd.DataFrame({"o": sessions["any_side_effect"].astype(int), "e": expected}).groupby(
        sessions["clinic_id"]
    )
    sums = per_clinic.sum()
    np.testing.assert_allclose(sums["e"], sums["o"], rtol=1e-6)
    assert expected.attrs["within"] == "clinic_id"
    assert expected.attrs["adjusted_for"][-1] == "clinic (fixed effects)"
    blind = fit_case_mix(sessions)
    blind_sums = pd.DataFrame({"o": sessions["any_side_effect"].astype(int), "e": blind}).groupby(
        sessions["clinic_id"]
    )
    assert blind_sums.sum().loc["C0", "o"] > 1.5 * blind_sums.sum().loc["C0", "e"]


def test_case_mix_reports_dropped_terms_and_unknown_outcomes():
    sessions = simulate(seed=6, per_clinic=3, per_unit=200)
    sessions["indication"] = "wrinkles"
    sessions.loc[:9, "any_side_effect"] = pd.NA
    expected = fit_case_mix(sessions)
    assert expected.attrs["status"] == "simplified"
    assert "indication" in expected.attrs["warnings"][-1]
    assert expected.iloc[:10].isna().all() and expected.iloc[10:].notna().all()


def test_case_mix_on_empty_or_event_free_data_says_so():
    empty = fit_case_mix(simulate(seed=1, per_clinic=1, per_unit=5).iloc[:0])
    assert empty.empty and empty.attrs["status"] == "not_enough_data"
    none = simulate(seed=1, per_clinic=2, per_unit=50).assign(
        any_side_effect=pd.array([False] * 100, dtype="boolean")
    )
    expected = fit_case_mix(none)
    assert expected.attrs["status"] == "not_enough_data" and (expected == 0).all()


def test_a_clinic_without_events_is_reported_as_separation_and_expects_none():
    sessions = simulate(seed=9, clinics=3, per_clinic=3, per_unit=300)
    sessions.loc[sessions["clinic_id"] == "C2", "any_side_effect"] = False
    expected = fit_case_mix(sessions, within="clinic_id")
    assert any("separation" in w for w in expected.attrs["warnings"])
    assert expected[sessions["clinic_id"] == "C2"].max() < 1e-6
    others = sessions["clinic_id"] != "C2"
    assert expected[others].sum() == pytest.approx(sessions.loc[others, "any_side_effect"].sum(), rel=1e-6)
