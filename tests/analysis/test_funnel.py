"""Funnel plots of sessions: planted outliers, over-dispersion, small units, too few units, clinic and clinician."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.funnel import CURVE_COLUMNS, READ_ABOVE, READ_WITHIN, UNIT_COLUMNS, fit_case_mix, funnel
from tests.analysis.funnel_data import simulate, units_with


def test_a_planted_outlier_is_flagged_and_the_others_are_not():
    sessions = simulate(seed=1, clinician_log_or={"C0-K3": math.log(3.0)})
    result = funnel(sessions, fit_case_mix(sessions, compare="clinician_id"))
    units = result.units.set_index("unit")
    assert units.loc["C0-K3", "flag"] == "above"
    assert units.loc["C0-K3", "reading"] == READ_ABOVE
    others = units.drop(index="C0-K3")
    assert (others["flag"] == "within").all() and (others["reading"] == READ_WITHIN).all()
    # The truth lies in the interval: the outlier's true excess (its true risks over the risks it would
    # have had without the planted odds ratio) is inside its 95% O/E interval.
    mine = sessions[sessions["clinician_id"] == "C0-K3"]
    odds = mine["true_p"] / (1 - mine["true_p"]) / 3.0
    true_ratio = mine["true_p"].sum() / (odds / (1 + odds)).sum()
    assert units.loc["C0-K3", "oe_low"] < true_ratio < units.loc["C0-K3", "oe_high"]


def test_over_dispersion_widens_the_limits_and_leaves_fewer_flags():
    sessions = simulate(seed=2, between_sd=0.5)
    expected = fit_case_mix(sessions, compare="clinician_id")
    adjusted = funnel(sessions, expected)
    plain = funnel(sessions, expected, adjust=False)
    assert adjusted.phi > 1 and adjusted.tau2 > 0 and adjusted.adjustment == "additive"
    assert plain.adjustment == "none" and plain.phi == adjusted.phi
    assert "over-dispersion found" in adjusted.notes[-1]
    assert (adjusted.units["upper_998"] > plain.units["upper_998"]).all()
    assert (adjusted.units["lower_998"] <= plain.units["lower_998"]).all()
    assert (adjusted.curve["upper_95"] > plain.curve["upper_95"]).all()
    np.testing.assert_allclose(adjusted.units["plain_upper_998"], plain.units["upper_998"])
    assert (plain.units["flag"] != "within").sum() > (adjusted.units["flag"] != "within").sum()


def test_no_adjustment_when_units_vary_no_more_than_chance():
    sessions = simulate(seed=1)
    result = funnel(sessions, fit_case_mix(sessions, compare="clinician_id"))
    assert result.phi <= 1 and result.adjustment == "none"
    assert result.notes[-1].startswith("no over-dispersion")
    np.testing.assert_allclose(result.units["upper_998"], result.units["plain_upper_998"])


def test_units_with_tiny_expected_counts_do_not_get_a_confident_flag():
    # 2 events where 0.3 were expected (O/E 6.7), none where 3 or 0.04 were: all within chance.
    observed = [2, 0, 0, 20, 22, 18, 21, 19, 20, 23, 17, 20]
    expected = [0.3, 3.0, 0.04, *[20.0] * 9]
    sizes = [10, 25, 2, *[200] * 9]
    sessions, probs = units_with(observed, expected, n=sizes)
    units = funnel(sessions, probs).units.set_index("unit")
    assert units.loc["U00", "oe_ratio"] == pytest.approx(2 / 0.3)
    assert (units.loc[["U00", "U01", "U02"], "flag"] == "within").all()
    assert units.loc["U00", "small_sample"].startswith("small sample: only 10 sessions")
    assert units.loc["U00", "upper_998"] > 6.7 and units.loc["U02", "lower_998"] == 0.0
    # FunnelPlotR's own limits would call the unit without events where 0.04 were expected "below".
    shmi = funnel(sessions, probs, method="cqc", adjust=False).units.set_index("unit")
    assert shmi.loc["U02", "flag"] == "below"


def test_too_few_units_say_so_and_what_the_limits_then_assume():
    sessions, probs = units_with([3, 25, 9, 40], [10.0, 10.0, 10.0, 10.0])
    few = funnel(sessions, probs, unit="clinician_id")
    assert few.adjustment == "none" and few.phi > 1 and few.n_units == 4
    note = few.notes[-1]
    assert note.startswith("only 4 clinicians: too few to estimate over-dispersion (it needs 10 or more)")
    assert "assume clinicians differ only by chance once case mix is accounted for" in note
    assert f"phi = {few.phi:.2f}" in note and "wider than chance alone" in note
    np.testing.assert_allclose(few.units["upper_998"], few.units["plain_upper_998"])


def test_too_few_clinicians_within_clinics_say_how_many_more_are_needed():
    sessions = simulate(seed=4, clinics=3, per_clinic=3, per_unit=300)
    result = funnel(sessions, fit_case_mix(sessions, within="clinic_id"), within="clinic_id")
    assert result.adjustment == "none" and (result.n_units, result.n_groups) == (9, 3)
    assert result.notes[-1].startswith(
        "only 9 clinicians in 3 clinics: too few to estimate over-dispersion "
        "(it needs at least 9 more clinicians than clinics)"
    )


def test_no_data_gives_a_plain_message():
    sessions, probs = units_with([3, 9], [5.0, 5.0])
    empty = funnel(sessions.iloc[:0], probs.iloc[:0])
    assert (
        empty.status == "not_enough_data" and empty.units.empty and empty.notes == ("no sessions to compare",)
    )
    unknown = funnel(
        sessions.assign(any_side_effect=pd.array([pd.NA] * len(sessions), dtype="boolean")), probs
    )
    assert unknown.status == "not_enough_data"
    none = simulate(seed=1, per_clinic=2, per_unit=50).assign(
        any_side_effect=pd.array([False] * 100, dtype="boolean")
    )
    nothing = funnel(none, fit_case_mix(none))
    assert nothing.status == "not_enough_data" and nothing.notes[-1] == "nothing to compare"
    with pytest.raises(ValueError, match="method"):
        funnel(sessions, probs, method="league_table")


def test_result_frames_have_the_documented_columns_and_no_ranking():
    sessions, probs = units_with([3, 5, 9, 4, 6], [5.0, 5.0, 5.0, 5.0, 5.0])
    result = funnel(sessions, probs)
    assert list(result.units.columns) == UNIT_COLUMNS and list(result.curve.columns) == CURVE_COLUMNS
    assert not any("rank" in c for c in result.units.columns)
    assert list(result.units["unit"]) == sorted(result.units["unit"])
    assert result.curve["expected"].is_monotonic_increasing
    assert (result.curve["upper_998"] >= result.curve["upper_95"]).all()
    assert result.to_dict()["n_units"] == 5 and result.to_dict()["within"] is None


def test_a_clinic_level_nobody_recorded_is_not_held_against_its_clinicians():
    # Clinic C0 has more side effects for a reason no column records (odds x 2.2); clinician C3-K1 is
    # truly worse than colleagues (odds x 3).
    sessions = simulate(
        seed=7, clinics=8, per_clinic=4, per_unit=600, clinic_log_or=[0.8] + [0.0] * 7,
        clinician_log_or={"C3-K1": math.log(3.0)},
    )  # fmt: skip
    clinic_zero = [f"C0-K{k}" for k in range(4)]
    blind = funnel(sessions, fit_case_mix(sessions, compare="clinician_id"), adjust=False)
    assert (blind.units.set_index("unit").loc[clinic_zero, "flag"] == "above").sum() >= 3
    expected = fit_case_mix(sessions, within="clinic_id", compare="clinician_id")
    within = funnel(sessions, expected, within="clinic_id")
    units = within.units.set_index("unit")
    assert (units.loc[clinic_zero, "flag"] == "within").all()
    assert units.loc["C3-K1", "flag"] == "above"
    # Colleagues of the deviant can look low: they share a clinic level the deviant pulled up.
    others = units[(units["flag"] != "within") & (units.index != "C3-K1")]
    assert (others["group"] == "C3").all() and (others["flag"] == "below").all()
    assert (
        within.n_groups == 8
        and within.within == "clinic_id"
        and "clinic (fixed effects)" in within.adjusted_for
    )
    assert "compared with colleagues in the same clinic (32 clinicians in 8 clinics)" in " ".join(
        within.notes
    )
    # Clinic differences pass for clinician over-dispersion when clinic is left out.
    assert funnel(sessions, fit_case_mix(sessions, compare="clinician_id")).phi > within.phi + 1


def test_a_clinician_alone_in_their_clinic_is_left_out_with_a_note_naming_nobody():
    sessions = simulate(seed=3, clinics=4, per_clinic=3, per_unit=300)
    sessions = sessions[~sessions["clinician_id"].isin(["C2-K0", "C2-K1"])]
    result = funnel(sessions, fit_case_mix(sessions, within="clinic_id"), within="clinic_id")
    assert "C2-K2" not in set(result.units["unit"]) and result.n_units == 9
    assert "1 clinician(s) the only one in their clinic: compared with nobody, not shown" in result.notes
    assert not any("C2" in note for note in result.notes)


def test_a_device_used_mostly_by_one_clinic_is_not_held_against_it():
    devices = {"C0": ("C-2",), "C1": ("C-1",), "C2": ("C-1",)}
    sessions = simulate(seed=5, clinics=10, per_clinic=2, per_unit=700, devices=devices, device_log_or=1.0)
    without_device = sessions.drop(columns=["device_model"])
    blind = funnel(without_device, fit_case_mix(without_device), unit="clinic_id", adjust=False)
    adjusted = funnel(sessions, fit_case_mix(sessions, compare="clinic_id"), unit="clinic_id", adjust=False)
    assert blind.units.set_index("unit").loc["C0", "flag"] == "above"
    assert adjusted.units.set_index("unit").loc["C0", "flag"] == "within"
    assert "device" in adjusted.adjusted_for and "device" not in blind.adjusted_for
