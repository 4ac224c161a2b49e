"""The product's default limits (Spiegelhalter 2005), within-group over-dispersion, and when it can be estimated."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis.funnel_limits import (
    MIN_UNITS_FOR_OVERDISPERSION,
    adjusted_limits,
    dispersion,
    enough_units,
    exact_limits,
    limit_curve,
    poisson_test_limits,
    standardised_ratio_funnel,
    z_scores,
)

SIX_O = [100, 150, 180, 80, 120, 225]
SIX_E = [108, 112, 165, 95, 100, 220]


def test_the_default_estimates_phi_and_tau2_exactly_as_funnelplotrs_cqc():
    rng = np.random.default_rng(3)
    e = rng.uniform(5, 300, 40)
    o = rng.poisson(e * rng.lognormal(0, 0.3, 40))
    for observed, expected in ((SIX_O, SIX_E), (o, e)):
        ours, od = standardised_ratio_funnel(observed, expected)
        cqc, od_cqc = standardised_ratio_funnel(observed, expected, method="cqc")
        assert (od.phi, od.tau2, od.n_used) == (od_cqc.phi, od_cqc.tau2, od_cqc.n_used)
        np.testing.assert_array_equal(ours["z_used"], cqc["z_used"])


def test_default_adjusted_limits_are_spiegelhalters_formula_on_the_ratio_scale():
    # Spiegelhalter (2005, QSHC 14:347): y = sqrt(O/E), s = 1/(2 sqrt E); limits 1 ± z sqrt(s² + tau²) on y,
    # squared back to O/E. At large E the normal approximation is good and nothing else applies.
    expected, tau2 = 2000.0, 0.004
    half = 3.090232 * math.sqrt(1 / (4 * expected) + tau2)
    lower, upper = adjusted_limits([expected], "998", tau2)
    assert lower[0] == pytest.approx((1 - half) ** 2, rel=1e-12)
    assert upper[0] == pytest.approx((1 + half) ** 2, rel=1e-12)
    cqc_lower, cqc_upper = adjusted_limits([expected], "998", tau2, "cqc")
    assert (cqc_lower[0], cqc_upper[0]) == pytest.approx((1 - half, 1 + half))


def test_allowing_for_over_dispersion_never_makes_a_default_limit_stricter():
    grid = np.geomspace(0.3, 2000, 300)
    for tau2 in (0.0, 0.002, 0.05):
        for level in ("95", "998"):
            plain_lower, plain_upper = poisson_test_limits(grid, level)
            lower, upper = adjusted_limits(grid, level, tau2)
            assert (lower <= plain_lower).all() and (upper >= plain_upper).all()
    # The normal approximation alone does cross inside at small E (why the default takes the wider of
    # the two): at E = 1.1 the squared lower limit (and SHMI's) would flag a unit without events.
    assert poisson_test_limits([1.1], "95")[0][0] == 0.0
    assert (1 - 1.959964 / (2 * math.sqrt(1.1))) ** 2 > 0.0
    assert adjusted_limits([1.1], "95", 0.0, "shmi")[0][0] > 0.0


def test_funnelplotrs_unsquared_cqc_limits_flag_a_third_of_units_that_differ_only_by_chance():
    # Units whose true ratio is 1 (O ~ Poisson(E), E = 100): the 95% limits should leave out about 5%.
    rng = np.random.default_rng(11)
    ratio = rng.poisson(100.0, 200_000) / 100.0
    shares = {}
    for method in ("spiegelhalter", "cqc"):
        lower, upper = adjusted_limits([100.0], "95", 0.0, method)
        shares[method] = np.mean((ratio < lower[0]) | (ratio > upper[0]))
    assert 0.035 < shares["spiegelhalter"] < 0.065
    assert shares["cqc"] > 0.25


@pytest.mark.parametrize("expected", [0.04, 1.1, 3.0, 5.0, 15.0, 37.5, 100.0])
def test_the_default_limits_flag_exactly_what_the_exact_poisson_test_rejects(expected):
    counts = np.arange(0, int(4 * expected) + 40)
    ratio = counts / expected
    for level, tail in (("95", 0.025), ("998", 0.001)):
        lower, upper = poisson_test_limits([expected], level)
        below = stats.poisson.cdf(counts, expected) < tail
        above = stats.poisson.sf(counts - 1, expected) < tail
        np.testing.assert_array_equal(ratio < lower[0], below)
        np.testing.assert_array_equal(ratio > upper[0], above)


def test_funnelplotrs_lower_limit_leaves_out_more_chance_variation_than_its_level():
    # P(O/E < lower) for O ~ Poisson(E): nominal 2.5%. At small E every unit without events is below.
    share = {}
    for e in (1.1, 5.0, 15.0, 100.0):
        lower, upper = exact_limits([e], "95")
        share[e] = stats.poisson.cdf(np.ceil(lower[0] * e) - 1, e)
        assert stats.poisson.sf(np.floor(upper[0] * e), e) <= 0.025  # the upper limit is conservative
        ours = poisson_test_limits([e], "95")[0][0]
        assert stats.poisson.cdf(np.ceil(ours * e) - 1, e) <= 0.025
    assert share[1.1] == pytest.approx(math.exp(-1.1))  # P(no events) = 0.33
    assert share[5.0] == pytest.approx(0.040, abs=0.001) and share[100.0] == pytest.approx(0.029, abs=0.001)
    assert all(v > 0.025 for v in share.values())


def within_clinic_z(rng, tau2: float, clinics: int = 8, per_clinic: int = 4):
    """z-scores of clinicians whose expected counts carry their clinic's level (what clinic fixed effects give)."""
    base = rng.uniform(30, 200, clinics * per_clinic)
    clinic = np.repeat(np.arange(clinics), per_clinic)
    level = rng.lognormal(0, 0.5, clinics)[clinic]
    theta = (1 + rng.normal(0, math.sqrt(tau2), len(base))) ** 2  # sqrt(theta) ~ N(1, tau2)
    observed = rng.poisson(base * level * theta)
    sums_o = np.bincount(clinic, weights=observed)
    sums_e = np.bincount(clinic, weights=base)
    expected = base * (sums_o / sums_e)[clinic]
    z, s = z_scores(observed, expected, "spiegelhalter")
    return z, s, clinic


def test_within_clinic_phi_is_about_one_when_clinicians_differ_only_by_chance():
    rng = np.random.default_rng(21)
    grouped, plain = [], []
    for _ in range(1500):
        z, s, clinic = within_clinic_z(rng, tau2=0.0)
        grouped.append(dispersion(z, s, clinic)[0])
        plain.append(dispersion(z, s)[0])
    # 32 clinicians in 8 clinics: sum z² has about 32 - 8 = 24 degrees of freedom, not 31.
    assert np.mean(grouped) == pytest.approx(24 / 25, abs=0.04)
    assert np.mean(plain) == pytest.approx(24 / 32, abs=0.04)


def test_within_clinic_tau2_recovers_the_planted_between_clinician_variance():
    rng = np.random.default_rng(8)
    grouped, plain = [], []
    for _ in range(800):
        z, s, clinic = within_clinic_z(rng, tau2=0.01)
        grouped.append(dispersion(z, s, clinic)[1])
        plain.append(dispersion(z, s)[1])
    assert np.mean(grouped) == pytest.approx(0.01, rel=0.15)
    assert np.mean(plain) < 0.8 * 0.01  # one degree of freedom for eight constraints: too small


def test_over_dispersion_needs_ten_units_beyond_one_per_extra_group():
    assert MIN_UNITS_FOR_OVERDISPERSION == 10
    assert enough_units(10) and not enough_units(9) and not enough_units(4)
    assert enough_units(13, 4) and not enough_units(12, 4)  # 13 clinicians in 4 clinics: 10 degrees
    # With no over-dispersion n*phi ~ chi2(n - 1): the documented middle 95% of phi for 4 and 10 units.
    for n, low, high in ((4, 0.05, 2.3), (10, 0.27, 1.9)):
        assert stats.chi2.ppf([0.025, 0.975], n - 1) / n == pytest.approx([low, high], abs=0.04)


def test_a_unit_without_events_stops_the_log_scale_estimate_but_not_the_default():
    observed, expected = [0, 150, 180, 80, 120, 225], SIX_E
    frame, od = standardised_ratio_funnel(observed, expected, method="shmi")
    assert np.isinf(frame["z"].iat[0]) and math.isnan(od.phi) and not od.applied
    assert "no events" in od.reason
    frame, od = standardised_ratio_funnel(observed, expected)
    assert np.isfinite(frame["z"]).all() and od.applied and frame["outside_998"].iat[0]


def test_the_curve_follows_the_limits_in_force_and_reveals_no_units_expected_count():
    expected = np.array([3.3, 12.7, 45.1, 160.9])
    _, od = standardised_ratio_funnel([6, 9, 70, 150], expected)
    curve = limit_curve(expected, od, points=50)
    assert od.applied and len(curve) == 50 and curve["expected"].is_monotonic_increasing
    assert not np.isin(expected, curve["expected"]).any()
    _, upper = adjusted_limits(curve["expected"], "998", od.tau2)
    np.testing.assert_allclose(curve["upper_998"], upper)
    np.testing.assert_allclose(curve["plain_lower_95"], poisson_test_limits(curve["expected"], "95")[0])
    assert (curve["upper_998"] >= curve["upper_95"]).all() and (curve["lower_998"] <= curve["lower_95"]).all()
