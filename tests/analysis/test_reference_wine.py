"""The satisfaction model's code path reproduces R ordinal::clm on the wine data (Randall 1989)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.design import reference_frame
from analysis.effects import contrast, odds_ratio_interval
from analysis.ordinal import fit_ordinal_formula

GOLDEN = json.loads((Path(__file__).parent / "results" / "wine_clm.json").read_text(encoding="utf-8"))
# A byte-identical copy of shared/reference/wine.csv (Randall 1989, via R package `ordinal`), kept
# with the golden values so the reference check never depends on what sits beside the clone.
WINE = Path(__file__).parent / "results" / "wine.csv"
TOL = 1e-3


@pytest.fixture(scope="module")
def fit():
    wine = pd.read_csv(WINE)
    return fit_ordinal_formula(GOLDEN["formula"], wine, cov_type="model")


def test_coefficients_and_model_based_errors_match_clm(fit):
    names = {"tempwarm": "temp[T.warm]", "contactyes": "contact[T.yes]"}
    for clm_name, ours in names.items():
        i = fit.names.index(ours)
        assert fit.params[i] == pytest.approx(GOLDEN["coefficients"][clm_name]["estimate"], abs=TOL)
        assert fit.bse[i] == pytest.approx(GOLDEN["coefficients"][clm_name]["se"], abs=TOL)


def test_thresholds_and_log_likelihood_match_clm(fit):
    np.testing.assert_allclose(fit.params[fit.k_beta :], list(GOLDEN["thresholds"].values()), atol=TOL)
    assert fit.y_levels == (1, 2, 3, 4, 5)
    assert fit.loglike == pytest.approx(GOLDEN["loglik"], abs=TOL)


def test_odds_ratio_of_a_higher_rating_goes_through_the_effect_path(fit):
    """Contrast of design rows, then the interval on the log scale: what fit_satisfaction reports."""
    cold = reference_frame(fit, 1, temp="cold", contact="no")
    warm = reference_frame(fit, 1, temp="warm", contact="no")
    log_or, se = contrast(fit, cold, warm)
    golden = GOLDEN["coefficients"]["tempwarm"]
    assert log_or == pytest.approx(golden["estimate"], abs=TOL)
    assert se == pytest.approx(golden["se"], abs=TOL)
    interval = odds_ratio_interval(log_or, se)
    assert interval["estimate"] > 1  # warm wine: higher bitterness ratings more likely, as in clm
    assert np.log(interval["ci_low"]) == pytest.approx(
        golden["estimate"] - 1.959964 * golden["se"], abs=2 * TOL
    )
    assert np.log(interval["ci_high"]) == pytest.approx(
        golden["estimate"] + 1.959964 * golden["se"], abs=2 * TOL
    )


def test_cluster_robust_errors_by_judge_are_available_and_finite(fit):
    wine = pd.read_csv(WINE)
    robust = fit_ordinal_formula(GOLDEN["formula"], wine, cov_type="cluster", groups=wine["judge"])
    np.testing.assert_allclose(robust.params, fit.params)
    assert np.all(np.isfinite(robust.bse)) and robust.n_clusters == 9
