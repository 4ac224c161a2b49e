"""Guards: too little data, sparse and separated levels, too few events per parameter, failed fits."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from analysis.guards import _attempt, merge_sparse_levels
from analysis.satisfaction import fit_satisfaction
from analysis.side_effects import fit_side_effects
from tests.analysis.test_side_effects import simulate_sessions

NAMED = {"vacuum_kpa", "passes", "particle_flow"}


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    return simulate_sessions(n_patients=1500, seed=21)


def _no_effects(result, phrase):
    assert result.status == "not_enough_data"
    assert result.effects == ()
    assert any(phrase in w for w in result.warnings), result.warnings


def test_a_tiny_subset_gets_no_model():
    tiny = simulate_sessions(n_patients=20, seed=3)
    _no_effects(fit_side_effects(tiny), "sessions with a known outcome")
    _no_effects(fit_satisfaction(tiny), "sessions with a known outcome")


def test_too_few_events_gets_no_model(base):
    data = base.copy()
    events = np.flatnonzero(data["any_side_effect"].fillna(False).to_numpy(bool))
    data.loc[events[10:], "any_side_effect"] = False
    _no_effects(fit_side_effects(data), "Only 10 sessions with a side effect")


def test_too_few_patients_gets_no_model(base):
    data = base.copy()
    data["patient_key"] = "P" + (np.arange(len(data)) % 25).astype(str)
    _no_effects(fit_side_effects(data), "Only 25 patients")


def test_a_rating_that_never_varies_gets_no_model(base):
    data = base.assign(satisfaction=pd.array(np.where(base["satisfaction"].isna(), None, 5), dtype="Int64"))
    _no_effects(fit_satisfaction(data), "rated 1-3")


def test_too_few_events_per_parameter_simplifies_the_adjustment():
    data = simulate_sessions(n_patients=700, seed=5)
    result = fit_side_effects(data)
    assert result.status == "simplified"
    assert any("Too few events for the full adjustment" in w for w in result.warnings)
    terms = {e.term for e in result.effects}
    assert terms >= NAMED
    assert not any(t.startswith("treatment_area[") for t in terms)


def test_a_level_without_events_is_merged_and_said(base):
    data = base.copy()
    data.loc[data["treatment_area"] == "hands", "any_side_effect"] = False
    result = fit_side_effects(data)
    assert result.status == "simplified"
    assert any("'hands' had no events (separation)" in w for w in result.warnings)
    assert "treatment_area[hands]" not in {e.term for e in result.effects}
    assert all(np.isfinite(e.ci_high) for e in result.effects)


def test_separated_diamond_sessions_are_left_out_not_merged(base):
    data = base.copy()
    data.loc[data["crystal_type"] == "diamond_tip", "any_side_effect"] = False
    result = fit_side_effects(data)
    assert any("Diamond-tip sessions left out" in w for w in result.warnings)
    assert result.n_sessions < data["any_side_effect"].notna().sum()
    assert "particle_flow" in {e.term for e in result.effects}


def test_sparse_skin_types_merge_with_their_neighbour():
    frame = pd.DataFrame(
        {
            "skin_type": ["I–II"] * 100 + ["III"] * 100 + ["IV"] * 100 + ["V–VI"] * 10,
            "indication": "wrinkles",
            "treatment_area": "face",
            "crystal_type": "corundum",
            "pre_care": "followed",
        }
    )
    y = np.tile([True, False], 155)
    merged, _, notes = merge_sparse_levels(frame, y)
    assert set(merged["skin_type"]) == {"I–II", "III", "IV–VI"}
    assert notes == ["fitzpatrick 'V–VI' had only 10 sessions: merged with 'IV' as 'IV–VI'."]


def test_settings_that_cannot_be_separated_give_a_message_not_a_traceback(base):
    data = base.assign(vacuum_kpa=base["passes"] * 10.0)  # vacuum collinear with passes
    result = fit_side_effects(data)
    _no_effects(result, "cannot be told apart")


def test_a_constant_vacuum_gives_a_message(base):
    _no_effects(fit_side_effects(base.assign(vacuum_kpa=30.0)), "Vacuum did not vary")


def test_failed_fits_become_plain_messages():
    def non_converging(*_):
        warnings.warn("IRLS did not converge", ConvergenceWarning, stacklevel=1)

    def singular(*_):
        raise np.linalg.LinAlgError("Singular matrix")

    assert _attempt(non_converging, "x", None, None, {}) == (None, "it did not converge")
    assert _attempt(singular, "x", None, None, {}) == (None, "its information matrix is singular")


def test_a_missing_rating_level_still_fits(base):
    data = base.copy()
    data.loc[data["satisfaction"] == 1, "satisfaction"] = 2
    result = fit_satisfaction(data)
    assert result.status in ("ok", "simplified") and result.details["rating_levels"] == [2, 3, 4, 5]
    assert {e.term for e in result.effects} >= NAMED
