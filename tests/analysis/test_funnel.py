"""Funnel plots: the case-mix model, hand-computed Spiegelhalter limits, outliers, over-dispersion, small units."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

from analysis.funnel import (
    CURVE_COLUMNS,
    READ_ABOVE,
    READ_WITHIN,
    UNIT_COLUMNS,
    fit_case_mix,
    funnel,
    funnel_limits,
)

# --------------------------------------------------------------------------------------------- helpers

TRUE_COEF = {"intercept": -3.2, "fitz": 0.25, "acne": 0.4, "neck": 0.3, "no_pre_care": 0.5, "session": -0.05}


def simulate(
    seed: int,
    n_units: int = 20,
    per_unit: int = 400,
    outlier: int | None = None,
    outlier_or: float = 3.0,
    between_sd: float = 0.0,
) -> pd.DataFrame:
    """Sessions with a known logit model of side effects; one unit may carry an extra odds ratio."""
    rng = np.random.default_rng(seed)
    unit_effect = rng.normal(0, between_sd, n_units)
    parts = []
    for u in range(n_units):
        fitz = rng.integers(1, 7, per_unit)
        indication = rng.choice(["wrinkles", "acne_scars", "stretch_marks"], per_unit)
        area = rng.choice(["face", "neck", "body"], per_unit)
        pre = rng.choice(np.array([True, False, None], dtype=object), per_unit, p=[0.7, 0.2, 0.1])
        session = rng.integers(1, 9, per_unit)
        lp = (
            TRUE_COEF["intercept"]
            + TRUE_COEF["fitz"] * (fitz - 1)
            + TRUE_COEF["acne"] * (indication == "acne_scars")
            + TRUE_COEF["neck"] * (area == "neck")
            + TRUE_COEF["no_pre_care"] * (pre == False)  # noqa: E712 (object array of True/False/None)
            + TRUE_COEF["session"] * session
            + unit_effect[u]
        )
        if u == outlier:
            lp = lp + math.log(outlier_or)
        p = 1 / (1 + np.exp(-lp))
        parts.append(
            pd.DataFrame(
                {
                    "clinician_id": f"K{u:02d}",
                    "fitzpatrick": fitz,
                    "indication": indication,
                    "treatment_area": area,
                    "pre_care_followed": pd.array(pre, dtype="boolean"),
                    "session_number": session,
                    "any_side_effect": pd.array(rng.random(per_unit) < p, dtype="boolean"),
                    "true_p": p,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def units_with(observed, expected_counts, n=None, rate=0.1):
    """Sessions and per-session expected probabilities giving exactly these O and E per unit."""
    rows, probs = [], []
    for i, (o, e) in enumerate(zip(observed, expected_counts, strict=True)):
        size = n[i] if n is not None else round(e / rate)
        rows += [{"clinician_id": f"U{i}", "any_side_effect": j < o} for j in range(size)]
        probs += [e / size] * size
    sessions = pd.DataFrame(rows)
    return sessions, pd.Series(probs, index=sessions.index)


def poisson_cdf(r: int, mean: float) -> float:
    return sum(math.exp(-mean) * mean**k / math.factorial(k) for k in range(r + 1)) if r >= 0 else 0.0


def spiegelhalter_exact_limit(expected: float, p: float) -> float:
    """Spiegelhalter (2005, Stat Med 24:1185, appendix), exact Poisson limit for the ratio O/E:

    r_p = smallest r with F(r) >= p, where F is the Poisson(E) cdf;
    a   = (F(r_p) - p) / (F(r_p) - F(r_p - 1));
    limit = (r_p - a) / E, floored at 0.
    """
    r = 0
    while poisson_cdf(r, expected) < p:
        r += 1
    f_r, f_below = poisson_cdf(r, expected), poisson_cdf(r - 1, expected)
    a = (f_r - p) / (f_r - f_below)
    return max(0.0, (r - a) / expected)


# --------------------------------------------------------------------------------------------- limits


@pytest.mark.parametrize("expected", [0.8, 4.0, 10.0, 37.5])
def test_plain_limits_match_the_hand_computed_exact_poisson_limits(expected):
    for level in (0.95, 0.998):
        lower, upper = funnel_limits([expected], level)
        alpha = 1 - level
        assert lower[0] == pytest.approx(spiegelhalter_exact_limit(expected, alpha / 2), abs=1e-9)
        assert upper[0] == pytest.approx(spiegelhalter_exact_limit(expected, 1 - alpha / 2), rel=1e-9)


def test_additive_limits_stretch_the_exact_limits_on_the_square_root_scale():
    # Spiegelhalter (2005, QSHC 14:347): on y = sqrt(O/E), s = 1/(2 sqrt E), limits 1 ± z sqrt(s² + tau²).
    # s² + tau² = s² (1 + 4 E tau²): the distance from 1 grows by sqrt(1 + 4 E tau²).
    expected, tau2 = 10.0, 0.01
    factor = math.sqrt(1 + 4 * expected * tau2)
    lower, upper = funnel_limits([expected], 0.998, "additive", tau2=tau2)
    plain_upper = spiegelhalter_exact_limit(expected, 0.999)
    plain_lower = spiegelhalter_exact_limit(expected, 0.001)
    assert upper[0] == pytest.approx((1 + (math.sqrt(plain_upper) - 1) * factor) ** 2)
    assert lower[0] == pytest.approx(max(0.0, 1 + (math.sqrt(plain_lower) - 1) * factor) ** 2)
    # With many expected events the exact part is nearly normal and the published formula is recovered.
    big = 2000.0
    z = stats.norm.ppf(0.999)
    s2 = 1 / (4 * big)
    lower, upper = funnel_limits([big], 0.998, "additive", tau2=tau2)
    assert upper[0] == pytest.approx((1 + z * math.sqrt(s2 + tau2)) ** 2, rel=0.01)
    assert lower[0] == pytest.approx((1 - z * math.sqrt(s2 + tau2)) ** 2, rel=0.02)


def test_multiplicative_limits_stretch_by_the_root_of_phi():
    lower, upper = funnel_limits([25.0], 0.95, "multiplicative", phi=2.25)
    plain = spiegelhalter_exact_limit(25.0, 0.975)
    assert upper[0] == pytest.approx((1 + (math.sqrt(plain) - 1) * 1.5) ** 2)
    assert lower[0] < funnel_limits([25.0], 0.95)[0][0]


def test_a_tiny_example_reproduces_phi_tau2_and_the_adjusted_z_by_hand():
    observed = [4, 35, 15, 30, 12, 20]
    expected = [10.0, 20.0, 15.0, 30.0, 25.0, 12.0]
    sessions, probs = units_with(observed, expected)
    result = funnel(sessions, probs)

    o, e = np.array(observed, float), np.array(expected)
    z = 2 * (np.sqrt(o) - np.sqrt(e))  # z on the square-root scale: (sqrt(O/E) - 1) / (1 / (2 sqrt E))
    s = np.sort(z)
    # 10th / 90th percentiles of 6 values (linear interpolation): positions 0.5 and 4.5.
    low, high = (s[0] + s[1]) / 2, (s[4] + s[5]) / 2
    z_w = np.clip(z, low, high)
    phi = np.mean(z_w**2)
    p_value = stats.chi2.sf(6 * phi, 5)
    w = 4 * e  # 1 / s²
    tau2 = (6 * phi - 5) / (w.sum() - (w**2).sum() / w.sum())

    assert p_value < 0.05
    assert result.adjustment == "additive" and result.method == "additive"
    assert result.phi == pytest.approx(phi)
    assert result.overdispersion_p == pytest.approx(p_value)
    assert result.tau2 == pytest.approx(tau2)
    units = result.units.set_index("unit")
    np.testing.assert_allclose(units["z"], z, atol=1e-12)
    np.testing.assert_allclose(units["z_winsorised"], z_w, atol=1e-12)
    adjusted = (np.sqrt(o / e) - 1) / np.sqrt(1 / (4 * e) + tau2)
    np.testing.assert_allclose(units["z_adjusted"], adjusted, atol=1e-12)
    np.testing.assert_allclose(units["oe_ratio"], o / e)
    factor = math.sqrt(1 + 4 * 20.0 * tau2)
    upper = (1 + (math.sqrt(spiegelhalter_exact_limit(20.0, 0.999)) - 1) * factor) ** 2
    assert units.loc["U1", "upper_998"] == pytest.approx(upper)
    assert units.loc["U1", "observed"] == 35 and units.loc["U1", "expected"] == pytest.approx(20.0)


def test_result_frames_have_the_documented_columns_and_no_ranking():
    sessions, probs = units_with([3, 5, 9, 4, 6], [5.0, 5.0, 5.0, 5.0, 5.0])
    result = funnel(sessions, probs)
    assert list(result.units.columns) == UNIT_COLUMNS
    assert list(result.curve.columns) == CURVE_COLUMNS
    assert not any("rank" in c for c in result.units.columns)
    assert list(result.units["unit"]) == sorted(result.units["unit"])
    assert result.curve["expected"].is_monotonic_increasing
    assert (result.curve["upper_998"] >= result.curve["upper_95"]).all()
    assert result.to_dict()["n_units"] == 5


# --------------------------------------------------------------------------------------------- case mix


def test_the_aggregated_case_mix_fit_equals_the_session_level_fit():
    sessions = simulate(seed=5, n_units=6, per_unit=300)
    expected = fit_case_mix(sessions)
    frame = sessions.assign(
        y=sessions["any_side_effect"].astype(int),
        pre_care=sessions["pre_care_followed"]
        .map({True: "yes", False: "no"})
        .astype(object)
        .fillna("unknown"),
        fitzpatrick=sessions["fitzpatrick"].astype(str),
        session_number=sessions["session_number"].astype(float),
    )
    long = smf.glm(
        "y ~ C(fitzpatrick) + C(indication) + C(treatment_area) + C(pre_care) + session_number",
        data=frame,
        family=sm.families.Binomial(),
    ).fit()
    np.testing.assert_allclose(expected.to_numpy(), long.predict(frame).to_numpy(), rtol=1e-6)
    # Canonical link with an intercept: expected events add up to observed events.
    assert expected.sum() == pytest.approx(frame["y"].sum())
    assert expected.attrs["status"] == "ok" and expected.name == "expected"


def test_case_mix_reports_dropped_terms_and_unknown_outcomes():
    sessions = simulate(seed=6, n_units=3, per_unit=200)
    sessions["indication"] = "wrinkles"
    sessions.loc[:9, "any_side_effect"] = pd.NA
    expected = fit_case_mix(sessions)
    assert expected.attrs["status"] == "simplified"
    assert "indication" in expected.attrs["warnings"][0]
    assert expected.iloc[:10].isna().all() and expected.iloc[10:].notna().all()


def test_case_mix_on_empty_or_event_free_data_says_so():
    empty = fit_case_mix(simulate(seed=1, n_units=1, per_unit=5).iloc[:0])
    assert empty.empty and empty.attrs["status"] == "not_enough_data"
    none = simulate(seed=1, n_units=2, per_unit=50).assign(
        any_side_effect=pd.array([False] * 100, dtype="boolean")
    )
    expected = fit_case_mix(none)
    assert expected.attrs["status"] == "not_enough_data" and (expected == 0).all()
    result = funnel(none, expected)
    assert result.status == "not_enough_data" and "nothing to compare" in result.notes[-1]


# --------------------------------------------------------------------------------------------- flags


def test_a_planted_outlier_is_flagged_and_the_others_are_not():
    sessions = simulate(seed=1, outlier=3, outlier_or=3.0)
    result = funnel(sessions, fit_case_mix(sessions))
    units = result.units.set_index("unit")
    assert units.loc["K03", "flag"] == "above"
    assert units.loc["K03", "reading"] == READ_ABOVE
    others = units.drop(index="K03")
    assert (others["flag"] == "within").all()
    assert (others["reading"] == READ_WITHIN).all()
    # The truth lies in the interval: the outlier's true excess (sum of its true risks over the risks it
    # would have had without the planted odds ratio) is inside its 95% O/E interval.
    mine = sessions[sessions["clinician_id"] == "K03"]
    odds = mine["true_p"] / (1 - mine["true_p"]) / 3.0
    true_ratio = mine["true_p"].sum() / (odds / (1 + odds)).sum()
    assert units.loc["K03", "oe_low"] < true_ratio < units.loc["K03", "oe_high"]


def test_over_dispersion_widens_the_limits():
    sessions = simulate(seed=2, between_sd=0.5)
    expected = fit_case_mix(sessions)
    additive = funnel(sessions, expected, method="additive")
    multiplicative = funnel(sessions, expected, method="multiplicative")
    plain = funnel(sessions, expected, method="none")
    assert additive.overdispersion_p < 0.05 and additive.phi > 1 and additive.tau2 > 0
    assert additive.adjustment == "additive" and multiplicative.adjustment == "multiplicative"
    assert plain.adjustment == "none" and "not adjusted" in plain.notes[0]
    for adjusted in (additive, multiplicative):
        assert (adjusted.units["upper_998"] > plain.units["upper_998"]).all()
        assert (adjusted.units["lower_998"] <= plain.units["lower_998"]).all()
        assert (adjusted.curve["upper_95"] > plain.curve["upper_95"]).all()
        assert (adjusted.units["flag"] != "within").sum() <= (plain.units["flag"] != "within").sum()
    assert (plain.units["flag"] != "within").sum() > (additive.units["flag"] != "within").sum()


def test_no_adjustment_without_over_dispersion():
    sessions = simulate(seed=1)
    result = funnel(sessions, fit_case_mix(sessions))
    assert result.overdispersion_p > 0.05 and result.adjustment == "none"
    assert "no over-dispersion detected" in result.notes[0]


def test_units_with_tiny_expected_counts_do_not_get_a_confident_flag():
    # 2 events where 0.3 were expected (O/E 6.7) and 0 events where 3 were expected: both within chance.
    observed = [2, 0, 20, 22, 18, 21, 19]
    expected = [0.3, 3.0, 20.0, 20.0, 20.0, 20.0, 20.0]
    sessions, probs = units_with(observed, expected, n=[10, 25, 200, 200, 200, 200, 200])
    units = funnel(sessions, probs).units.set_index("unit")
    assert units.loc["U0", "oe_ratio"] == pytest.approx(2 / 0.3)
    assert units.loc["U0", "flag"] == "within" and units.loc["U1", "flag"] == "within"
    assert units.loc["U0", "small_sample"].startswith("small sample: only 10 sessions")
    assert units.loc["U1", "small_sample"] == "small sample: only 25 sessions, so the interval is wide"
    assert units.loc["U0", "upper_998"] > 6.7


def test_few_units_or_no_data_give_a_plain_message():
    sessions, probs = units_with([3, 9], [5.0, 5.0])
    few = funnel(sessions, probs)
    assert few.adjustment == "none" and np.isnan(few.phi)
    assert "too few to estimate over-dispersion" in few.notes[0]
    empty = funnel(sessions.iloc[:0], probs.iloc[:0])
    assert (
        empty.status == "not_enough_data" and empty.units.empty and empty.notes == ("no sessions to compare",)
    )
    unknown = funnel(
        sessions.assign(any_side_effect=pd.array([pd.NA] * len(sessions), dtype="boolean")), probs
    )
    assert unknown.status == "not_enough_data"
    with pytest.raises(ValueError, match="method"):
        funnel(sessions, probs, method="league_table")
