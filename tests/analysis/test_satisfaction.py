"""Satisfaction model: planted effects recovered, statsmodels OrderedModel agrees, proportional-odds check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.miscmodels.ordinal_model import OrderedModel

from analysis.design import design_rows
from analysis.proportional_odds import check_proportional_odds
from analysis.satisfaction import _satisfaction_model, fit_satisfaction
from tests.analysis.test_side_effects import SATISFACTION_TRUTH, simulate_sessions


@pytest.fixture(scope="module")
def sessions() -> pd.DataFrame:
    return simulate_sessions()


@pytest.fixture(scope="module")
def result(sessions):
    return fit_satisfaction(sessions)


def _effect(result, term):
    return next(e for e in result.effects if e.term == term)


def test_adjusted_intervals_cover_the_planted_cumulative_odds_ratios(result):
    assert result.status == "ok"
    for term, key in (("vacuum_kpa", "vacuum_10kpa"), ("passes", "passes"), ("particle_flow", "flow_10pct")):
        e = _effect(result, term)
        assert e.scale == "odds_ratio"
        assert e.ci_low < np.exp(SATISFACTION_TRUTH[key]) < e.ci_high, (term, e)
    # Ratings rise with the session number with diminishing returns: the spline is kept and its
    # session-6-vs-1 odds ratio covers the planted exp(0.9 · log 6).
    session = _effect(result, "session_number")
    assert session.unit == "session 6 vs session 1"
    assert session.ci_low < np.exp(SATISFACTION_TRUTH["log_session"] * np.log(6)) < session.ci_high
    assert "restricted cubic spline" in result.method


def test_odds_ratio_above_one_means_higher_ratings(result):
    """Acne scars were planted with lower ratings than wrinkles: their OR must be below 1."""
    assert _effect(result, "indication[acne_scars]").ci_high < 1
    assert _effect(result, "vacuum_kpa").estimate > 1


def test_counts_are_of_rated_sessions(result, sessions):
    rated = sessions["satisfaction"].notna()
    assert result.n_sessions == rated.sum()
    assert result.n_events == (sessions.loc[rated, "satisfaction"] >= 4).sum()
    assert "cluster-robust" in result.method and result.details["rating_levels"] == [1, 2, 3, 4, 5]


@pytest.fixture(scope="module")
def small_fit():
    small = simulate_sessions(n_patients=350, seed=11)
    _, fit, guarded = _satisfaction_model(small)
    x = design_rows(fit.design_info, guarded.frame)[:, 1:]
    y = pd.Series(pd.Categorical(guarded.y, ordered=True))
    reference = OrderedModel(y, x, distr="logit")
    ref_fit = reference.fit(method="bfgs", maxiter=5000, gtol=1e-8, disp=False)
    return fit, guarded, reference, ref_fit


def test_estimates_agree_with_statsmodels_ordered_model(small_fit):
    fit, _, reference, ref_fit = small_fit
    k = fit.k_beta
    np.testing.assert_allclose(fit.params[:k], ref_fit.params[:k], atol=1e-4)
    thresholds = reference.transform_threshold_params(ref_fit.params)[1:-1]
    np.testing.assert_allclose(fit.params[k:], thresholds, atol=1e-4)


def test_cluster_robust_errors_agree_with_a_numerical_sandwich(small_fit):
    """Our analytic per-patient score sums and Hessian vs OrderedModel's numerical ones."""
    fit, guarded, reference, ref_fit = small_fit
    k = fit.k_beta
    scores = reference.score_obs(ref_fit.params)
    codes, uniques = pd.factorize(guarded.clusters)
    by_patient = np.zeros((len(uniques), scores.shape[1]))
    np.add.at(by_patient, codes, scores)
    bread = np.linalg.inv(-reference.hessian(ref_fit.params))
    g = len(uniques)
    sandwich = g / (g - 1) * bread @ by_patient.T @ by_patient @ bread
    # The covariate block is invariant to OrderedModel's reparameterised thresholds.
    np.testing.assert_allclose(fit.bse[:k], np.sqrt(np.diag(sandwich))[:k], rtol=2e-3)


def test_proportional_odds_check_is_tidy_and_consistent_when_odds_are_proportional(sessions):
    table = check_proportional_odds(sessions)
    assert list(table.columns) == [
        "term",
        "label",
        "cut",
        "binary_or",
        "binary_ci_low",
        "binary_ci_high",
        "po_or",
        "po_ci_low",
        "po_ci_high",
        "verdict",
    ]
    named = table[table["term"].isin(["vacuum_kpa", "passes", "particle_flow"])]
    assert sorted(named["cut"].unique()) == ["≥2", "≥3", "≥4", "≥5"]
    assert (named["verdict"] == "consistent").mean() >= 0.75


def test_proportional_odds_check_flags_an_effect_confined_to_the_top_rating(sessions):
    """Longer courses only move 4s to 5s here: the top cut's odds ratio departs from the others."""
    data = sessions.copy()
    rng = np.random.default_rng(5)
    promote = (data["satisfaction"] == 4) & (rng.uniform(size=len(data)) < (data["passes"] - 1) / 5)
    data.loc[promote.fillna(False).to_numpy(), "satisfaction"] = 5
    table = check_proportional_odds(data)
    passes = table[table["term"] == "passes"].set_index("cut")
    assert passes.loc["≥5", "verdict"] == "departs" or passes.loc["≥2", "verdict"] == "departs"
    assert passes.loc["≥5", "binary_or"] > passes.loc["≥2", "binary_or"]
