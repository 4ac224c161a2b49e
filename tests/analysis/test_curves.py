"""Curves and the settings explorer: grids, bands, reference covariates, and the planted truth inside the bands."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from analysis.curves import (
    fit_outcome_models,
    model_curves,
    satisfied_by_session_number,
    side_effect_risk_by_vacuum,
)
from analysis.explorer import COLUMNS, explore_settings
from tests.analysis.test_side_effects import SIDE_EFFECT_TRUTH, simulate_sessions


@pytest.fixture(scope="module")
def fits():
    return fit_outcome_models(simulate_sessions(seed=3))


@pytest.fixture(scope="module")
def curves(fits):
    return {c.name: c for c in model_curves(fits)}


def test_the_standard_curves_have_their_grids_and_labels(curves):
    assert set(curves) == {
        "satisfied_by_session_number",
        "satisfied_by_vacuum",
        "side_effect_risk_by_vacuum",
        "side_effect_risk_by_passes",
        "side_effect_risk_by_flow",
    }
    assert [p.x for p in curves["satisfied_by_session_number"].points] == list(range(1, 11))
    assert [p.x for p in curves["side_effect_risk_by_vacuum"].points] == list(range(10, 71, 5))
    assert [p.x for p in curves["side_effect_risk_by_passes"].points] == list(range(1, 7))
    assert [p.x for p in curves["side_effect_risk_by_flow"].points] == list(range(0, 101, 10))
    assert curves["side_effect_risk_by_vacuum"].y == "P(any side effect)"
    assert curves["satisfied_by_session_number"].y == "P(satisfaction >= 4)"
    for curve in curves.values():
        for p in curve.points:
            assert 0 < p.ci_low <= p.estimate <= p.ci_high < 1
        assert curve.note and curve.reference
        assert curve.x not in curve.reference


def test_reference_covariates_are_stated_in_warehouse_terms(curves):
    ref = curves["side_effect_risk_by_vacuum"].reference
    assert ref["pre_care_followed"] == "followed"
    assert (
        ref["fitzpatrick"] == "I–II" and ref["treatment_area"] == "face" and ref["crystal_type"] == "corundum"
    )
    assert set(ref) >= {"indication", "passes", "particle_flow", "session_number"}


def test_side_effect_band_covers_the_planted_population_averaged_risk(fits, curves):
    """The simulation's marginal model is exactly logistic, so the true curve is known."""
    curve = curves["side_effect_risk_by_vacuum"]
    ref = curve.reference
    t = SIDE_EFFECT_TRUTH
    for point in curve.points:
        if not 20 <= point.x <= 50:  # where the data are
            continue
        eta = (
            t["intercept"]
            + t["vacuum_10kpa"] * point.x / 10
            + t["passes"] * ref["passes"]
            + t["flow_10pct"] * ref["particle_flow"] / 10
            + t["session_number"] * ref["session_number"]
        )
        assert point.ci_low < expit(eta) < point.ci_high, point


def test_satisfaction_rises_over_a_course_and_flattens(curves):
    curve = curves["satisfied_by_session_number"]
    est = np.array([p.estimate for p in curve.points])
    gains = np.diff(est)
    assert np.all(gains > 0) and gains[0] > gains[-1]
    assert "spline" in curve.note and "Wald" in curve.note


def test_sparse_ends_of_a_curve_say_they_are_extrapolated(curves):
    curve = curves["side_effect_risk_by_vacuum"]
    assert curve.points[-1].n < 30 and "extrapolated" in curve.note
    assert curves["side_effect_risk_by_passes"].points[2].n > 1000


def test_curves_accept_their_own_grids(fits):
    curve = side_effect_risk_by_vacuum(fits.side_effect_fit, vacuum_kpa=[20, 30])
    assert [p.x for p in curve.points] == [20, 30]
    assert len(satisfied_by_session_number(fits.satisfaction_fit, sessions=range(1, 4)).points) == 3


def test_explorer_gives_the_trade_off_grid(fits):
    table = explore_settings(fits, skin_type=5, indication="acne_scars", area="face")
    assert list(table.columns) == COLUMNS
    assert len(table) == 13 * 6
    for outcome in ("p_satisfied", "p_side_effect"):
        assert (table[f"{outcome}_low"] <= table[outcome]).all() and (
            table[outcome] <= table[f"{outcome}_high"]
        ).all()
    risk = table.pivot(index="vacuum_kpa", columns="passes", values="p_side_effect")
    assert (np.diff(risk.to_numpy(), axis=0) > 0).all() and (np.diff(risk.to_numpy(), axis=1) > 0).all()
    assert table.attrs["reference"]["skin_type"] == "V–VI"


def test_explorer_risk_is_higher_for_darker_skin(fits):
    light = explore_settings(fits, 1, "wrinkles", "face", vacuum_grid=[30], passes_grid=[3])
    dark = explore_settings(fits, 6, "wrinkles", "face", vacuum_grid=[30], passes_grid=[3])
    assert dark["p_side_effect"].iloc[0] > light["p_side_effect"].iloc[0]


def test_explorer_names_an_unknown_level(fits):
    with pytest.raises(ValueError, match="unknown indication 'tattoo'"):
        explore_settings(fits, 2, "tattoo", "face")


def test_explorer_without_a_fitted_model_gives_missing_columns(fits):
    from dataclasses import replace

    table = explore_settings(replace(fits, satisfaction_fit=None), 2, "wrinkles", "face", passes_grid=[2])
    assert table["p_satisfied"].isna().all() and table["p_side_effect"].notna().all()
    assert isinstance(table, pd.DataFrame)


def test_the_vacuum_linearity_check_is_stated_in_the_curve_note(curves):
    for name in ("side_effect_risk_by_vacuum", "satisfied_by_vacuum"):
        assert "Wald chi2" in curves[name].note and "acuum" in curves[name].note


def test_a_threshold_in_vacuum_is_drawn_as_a_spline_while_the_odds_ratio_stays_linear():
    data = simulate_sessions(n_patients=3000, seed=8)
    rng = np.random.default_rng(8)
    known = data["any_side_effect"].notna()
    risk = expit(-4.2 + 1.8 * (data["vacuum_kpa"] > 40))
    data.loc[known, "any_side_effect"] = (rng.uniform(size=len(data)) < risk)[known.to_numpy()]
    fits = fit_outcome_models(data)
    assert "restricted cubic spline" in fits.side_effects.details["vacuum_kpa"]
    assert "vacuum_kpa" in {e.term for e in fits.side_effects.effects}
    curve = side_effect_risk_by_vacuum(fits.side_effect_fit, vacuum_kpa=[20, 30, 35, 45, 50])
    est = {p.x: p.estimate for p in curve.points}
    # Flat, then a jump around 40 kPa: the spline's rise over 35-45 kPa dwarfs the one over 20-30.
    assert est[45] / est[35] > 1.5 * est[30] / est[20]
    assert "spline" in curve.note
