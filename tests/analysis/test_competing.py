"""Cumulative incidence of competing course outcomes, checked against statsmodels (Marubini & Valsecchi)."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.duration.survfunc import CumIncidenceRight

from analysis.competing import SATISFIED, STOPPED, cumulative_incidence


def test_the_incidence_and_its_standard_error_match_statsmodels_without_late_entry():
    rng = np.random.default_rng(1)
    time = rng.integers(1, 9, 300).astype(float)
    cause = rng.choice([0, SATISFIED, STOPPED], 300, p=[0.3, 0.5, 0.2])
    reference = CumIncidenceRight(time, cause)
    mine = cumulative_incidence(np.ones(300), time, cause, horizon=8)
    for j, name in ((0, "satisfied"), (1, "stopped")):
        np.testing.assert_allclose(mine[f"cif_{name}"], reference.cinc[j], rtol=1e-10)
        np.testing.assert_allclose(mine.attrs["se"][name], reference.cinc_se[j], rtol=1e-8)
        assert (mine[f"cif_{name}_low"] <= mine[f"cif_{name}"]).all()
        assert (mine[f"cif_{name}"] <= mine[f"cif_{name}_high"]).all()


def test_without_a_competing_outcome_the_incidence_is_one_minus_kaplan_meier():
    time = np.array([1, 2, 2, 3, 4, 4, 5], dtype=float)
    cause = np.array([1, 0, 1, 1, 0, 1, 0])
    table = cumulative_incidence(np.ones(7), time, cause, horizon=5)
    at_risk = np.array([7, 6, 4, 3, 1])
    events = np.array([1, 1, 1, 1, 0])
    km = 1 - np.cumprod(1 - events / at_risk)
    np.testing.assert_allclose(table["cif_satisfied"], km)
    assert (table["cif_stopped"] == 0).all()


def test_late_entry_keeps_a_course_out_of_the_risk_set_until_it_is_seen():
    table = cumulative_incidence(
        np.array([1, 3]), np.array([4.0, 4.0]), np.array([SATISFIED, STOPPED]), horizon=4
    )
    assert table["at_risk"].tolist() == [1, 1, 2, 2]
    assert table["cif_satisfied"].iat[-1] == pytest.approx(0.5) and table["cif_stopped"].iat[
        -1
    ] == pytest.approx(0.5)
