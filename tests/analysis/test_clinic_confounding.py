"""Clinics that differ in practice and in outcomes: the network models recover the within-clinic truth.

The simulator (``tests/simulators.py``) plants clinics whose vacuum habits go with unrecorded
differences in their outcomes. The estimand of the network fits is the association within clinics,
population-averaged over patients; a clinic-blind fit estimates something else and is shown to fail.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.curves import fit_outcome_models, side_effect_risk_by_vacuum
from analysis.satisfaction import fit_satisfaction, satisfaction_direct_model
from analysis.side_effects import fit_side_effects, side_effect_model
from tests.simulators import confounded_network, within_clinic_truth


def vacuum(result):
    return next(e for e in result.effects if e.term == "vacuum_kpa")


@pytest.fixture(scope="module")
def network():
    net = confounded_network(seed=1)
    return net, {k: float(np.exp(v)) for k, v in within_clinic_truth(net).items()}


def test_the_network_fits_cover_the_within_clinic_truth(network):
    net, truth = network
    side, satisfaction = vacuum(fit_side_effects(net.sessions)), vacuum(fit_satisfaction(net.sessions))
    assert side.ci_low < truth["side_effects"] < side.ci_high, (side, truth)
    assert satisfaction.ci_low < truth["satisfaction"] < satisfaction.ci_high, (satisfaction, truth)


def test_a_clinic_blind_fit_misses_the_truth_and_reverses_the_satisfaction_effect(network):
    net, truth = network
    blind = net.sessions.assign(clinic_id="ALL")  # what the first round's network fit did
    side, satisfaction = vacuum(fit_side_effects(blind)), vacuum(fit_satisfaction(blind))
    assert side.ci_low > truth["side_effects"], "clinic-blind side effects should be biased upwards"
    assert truth["satisfaction"] > 1 > satisfaction.ci_high, "clinic-blind satisfaction effect should reverse"


def test_every_model_says_it_compares_within_clinics_and_is_no_promise(network):
    net, _ = network
    fits = fit_outcome_models(net.sessions, checks=False)
    for result in fits.results:
        assert any("clinic (fixed effects" in a for a in result.adjusted_for), result.name
        assert result.estimand.startswith(
            (
                "Association within clinics",
                "Total association within clinics",
                "Direct association within clinics",
            )
        ), result.estimand
        assert "not a promise of what changing a setting will do" in result.estimand
        assert "clinic fixed effects (10 clinics)" in result.method
    assert "path through side effects" in fits.satisfaction.estimand
    assert any("side effect (none, some, not known)" in a for a in fits.satisfaction_direct.adjusted_for)


def test_a_clinics_own_fit_says_it_is_within_that_clinic(network):
    net, _ = network
    one = net.sessions[net.sessions["clinic_id"] == net.sessions["clinic_id"].iat[0]]
    result = fit_side_effects(one)
    assert "one clinic's own sessions only (no comparison across clinics)" in result.adjusted_for
    assert result.estimand.startswith("Association within this clinic")


def test_a_clinic_without_any_side_effect_is_left_out_and_said(network):
    net, _ = network
    sessions = net.sessions.copy()
    quiet = sessions["clinic_id"] == sessions["clinic_id"].iat[-1]
    sessions.loc[quiet & sessions["any_side_effect"].notna(), "any_side_effect"] = False
    result = fit_side_effects(sessions)
    assert result.status in ("ok", "simplified") and vacuum(result)
    assert any(
        "left out of the comparison within clinics: its outcome never varied" in w for w in result.warnings
    )
    assert result.n_sessions < int(sessions["any_side_effect"].notna().sum())


def test_the_direct_association_holds_side_effects_fixed(network):
    net, _ = network
    direct, fit = satisfaction_direct_model(net.sessions)
    assert direct.name == "satisfaction_direct" and fit is not None
    assert "side_effect" in fit.rhs
    # Side effects do not change ratings in this simulation: total and direct agree closely.
    total = vacuum(fit_satisfaction(net.sessions))
    assert abs(np.log(vacuum(direct).estimate / total.estimate)) < 0.05


def test_the_clinician_check_compares_the_settings_within_clinicians(network):
    net, _ = network
    fits = fit_outcome_models(net.sessions)
    checks = " ".join(fits.side_effects.checks)
    assert "Within clinicians (clinician fixed effects), vacuum per 10 kPa: odds ratio" in checks
    assert "within clinicians: differences between clinicians of a clinic do not explain them" in checks or (
        "read it with care" in checks
    )


def test_predictions_are_for_the_average_clinic(network):
    net, _ = network
    _, fit = side_effect_model(net.sessions)
    curve = side_effect_risk_by_vacuum(fit)
    assert curve.reference.get("clinic") == "average of the network's clinics (weighted by sessions)"
    at_30 = next(p for p in curve.points if p.x == 30)
    risks = []
    for clinic in fit.reference["clinic_weights"]:
        one = side_effect_risk_by_vacuum(fit, clinic=clinic)
        risks.append(next(p for p in one.points if p.x == 30).estimate)
    assert min(risks) < at_30.estimate < max(risks)


def test_few_patients_give_t_intervals_wider_than_normal_ones():
    net = confounded_network(seed=3, clinics=2, patients_per_clinic=45, sessions_per_patient=6)
    result = fit_satisfaction(net.sessions)
    effect = vacuum(result)
    assert "t(89) intervals (fewer than 100 patients)" in result.method
    log_se = (np.log(effect.ci_high) - np.log(effect.ci_low)) / (2 * 1.98698)  # t(89) quantile
    normal_width = 2 * 1.959964 * log_se
    assert np.log(effect.ci_high / effect.ci_low) > normal_width


@pytest.mark.slow
def test_within_clinic_intervals_cover_in_about_95_percent_of_networks():
    hits, blind_hits = [], []
    for seed in range(100, 140):
        net = confounded_network(seed)
        truth = np.exp(within_clinic_truth(net)["side_effects"])
        e = vacuum(fit_side_effects(net.sessions))
        b = vacuum(fit_side_effects(net.sessions.assign(clinic_id="ALL")))
        hits.append(e.ci_low < truth < e.ci_high)
        blind_hits.append(b.ci_low < truth < b.ci_high)
    assert np.mean(hits) >= 0.85 and np.mean(blind_hits) <= 0.2


def test_the_average_clinic_row_is_the_session_weighted_mean_of_every_clinics_row(network):
    from analysis.design import design_rows, fit_rows, reference_frame

    net, _ = network
    _, fit = side_effect_model(net.sessions)
    rows = reference_frame(fit, 3, vacuum_10kpa=np.array([2.0, 3.0, 4.0]))
    weights = fit.reference["clinic_weights"]
    assert sum(weights.values()) == pytest.approx(1.0)
    manual = sum(w * design_rows(fit.design_info, rows.assign(clinic=c)) for c, w in weights.items())
    np.testing.assert_allclose(fit_rows(fit, rows), manual, atol=1e-12)
