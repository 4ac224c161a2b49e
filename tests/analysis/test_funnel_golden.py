"""The funnel limits, over-dispersion and outlier flags reproduce FunnelPlotR 0.6.0 (tests, README, medpar).

Golden values and their provenance (upstream repository, file, commit) are in
``results/funnelplotr.json``: ``asserted`` values are written in FunnelPlotR's own tests or README;
``derived`` values come from a line-by-line transcription of its R code that reproduces every asserted
one, and pin our port of the same code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from analysis.funnel import funnel
from analysis.funnel_limits import (
    adjusted_limits,
    exact_limits,
    outside,
    standardised_ratio_funnel,
    truncate,
)

RESULTS = Path(__file__).parent / "results"
GOLDEN = json.loads((RESULTS / "funnelplotr.json").read_text(encoding="utf-8"))
ASSERTED, DERIVED = GOLDEN["asserted"], GOLDEN["derived"]
SIX = DERIVED["six_units"]
# FunnelPlotR hard-codes z = 1.959964 / 3.090232, which we copy; the transcription's values carry 10 digits.
REL = 1e-9


def rounded(values, digits):
    return np.round(np.asarray(values, dtype=float), digits)


# --------------------------------------------------------------------------------------------- asserted


def test_exact_limits_at_15_20_and_30_expected_match_funnelplotr_tests():
    gold = ASSERTED["poisson_limits"]
    (ll95, ul95), (ll998, ul998) = (exact_limits(gold["expected"], level) for level in ("95", "998"))
    for ours, name in ((ll95, "ll95"), (ul95, "ul95"), (ll998, "ll998"), (ul998, "ul998")):
        np.testing.assert_array_equal(rounded(ours, gold[name]["digits"]), gold[name]["values"])


def test_phi_of_the_six_unit_example_is_funnelplotrs_2_948033():
    gold = ASSERTED["phi_six_units"]
    _, od = standardised_ratio_funnel(gold["observed"], gold["expected"], method="shmi")
    assert round(od.phi, gold["phi"]["digits"]) == gold["phi"]["value"]
    assert od.applied and od.n_used == 6  # n = 6: truncation drops nobody


def test_six_unit_orderings_of_funnelplotr_funnel_plot_tests_hold():
    # b$LCL95[5] > a$OD95LCL[5] and b$OD95LCL[5] < c$OD95LCL[5], unit e (O 120, E 100).
    e = [100.0]
    a_od95_lower = adjusted_limits(e, "95", SIX["shmi_defaults"]["tau2"], "shmi")[0][0]
    b_lcl95 = exact_limits(e, "95")[0][0]
    b_od95_lower = adjusted_limits(e, "95", 0.0, "shmi")[0][0]  # draw_adjusted FALSE: tau2 forced to 0
    c_frame, _ = standardised_ratio_funnel(SIX["observed"], SIX["expected"], method="cqc", trim=0.05)
    assert b_lcl95 > a_od95_lower
    assert b_od95_lower < c_frame["lower_95"].iat[4]


@pytest.mark.parametrize(
    ("adjusted", "level", "flags"),
    [
        (False, "95", "unadjusted_95"),
        (True, "95", "adjusted_95"),
        (False, "998", "unadjusted_998"),
        (True, "998", "adjusted_998"),
    ],
)
def test_outlier_flags_are_inclusive_as_in_funnelplotr(adjusted, level, flags):
    gold = ASSERTED["outlier_flags"]
    limits = gold["limits"]
    suffix = "95" if level == "95" else "99"
    prefix = "OD" + suffix if adjusted else ""
    lower = limits[f"{prefix}LCL" if adjusted else f"LCL{suffix}"]
    upper = limits[f"{prefix}UCL" if adjusted else f"UCL{suffix}"]
    assert outside(gold["rr"], lower, upper).astype(int).tolist() == gold[flags]


def test_ratios_of_aggregated_units_match_funnelplotr_aggregation():
    gold = ASSERTED["aggregation"]
    rows, probs = [], []
    for group, o, e in zip(gold["group"], gold["observed"], gold["expected"], strict=True):
        rows += [{"clinician_id": group, "any_side_effect": j < o} for j in range(300)]
        probs += [e / 300] * 300
    sessions = pd.DataFrame(rows)
    result = funnel(sessions, pd.Series(probs, index=sessions.index), adjust=False)
    got = rounded(result.units["oe_ratio"], gold["rr"]["digits"])
    np.testing.assert_array_equal(got, gold["rr"]["values"])


@pytest.fixture(scope="module")
def medpar():
    """The README's example: a Poisson GLM of length of stay, expected stays summed per provider."""
    data = pd.read_csv(RESULTS / "medpar.csv", dtype={"provnum": str})
    fit = smf.glm("los ~ hmo + died + age80 + C(type)", data=data, family=sm.families.Poisson()).fit()
    data["expected"] = fit.predict(data)
    per = data.groupby("provnum").agg(observed=("los", "sum"), expected=("expected", "sum"))
    return fit, per


def test_the_medpar_model_is_the_one_printed_in_funnelplotrs_readme(medpar):
    fit, per = medpar
    gold = ASSERTED["medpar"]
    names = {"Intercept": "Intercept", "hmo": "hmo", "died": "died", "age80": "age80"}
    names |= {"type2": "C(type)[T.2]", "type3": "C(type)[T.3]"}
    digits = gold["coefficients"]["digits"]
    for readme, ours in names.items():
        assert round(fit.params[ours], digits) == gold["coefficients"]["values"][readme]
    assert round(fit.deviance, 1) == gold["residual_deviance"]["value"]
    assert fit.df_resid == gold["residual_deviance"]["df"] and len(per) == gold["units"]


def test_medpar_has_25_outliers_unadjusted_and_9_after_the_shmi_adjustment(medpar):
    _, per = medpar
    gold, names = ASSERTED["medpar"], DERIVED["medpar"]["outliers"]
    plain, _ = standardised_ratio_funnel(per["observed"], per["expected"], method="shmi", adjust=False)
    adjusted, od = standardised_ratio_funnel(per["observed"], per["expected"], method="shmi")
    assert plain["outside_998"].sum() == gold["outliers_unadjusted_998"]
    assert adjusted["outside_998"].sum() == gold["outliers_shmi_adjusted_998"]
    assert list(per.index[plain["outside_998"].to_numpy()]) == names["unadjusted_998"]
    assert list(per.index[adjusted["outside_998"].to_numpy()]) == names["shmi_adjusted_998"]
    assert od.applied


# --------------------------------------------------------------------------------------------- derived


def test_medpar_phi_tau2_truncation_and_the_other_settings_match_the_transcription(medpar):
    _, per = medpar
    gold = DERIVED["medpar"]
    o, e = per["observed"], per["expected"]
    shmi, od_shmi = standardised_ratio_funnel(o, e, method="shmi")
    assert od_shmi.n_used == gold["shmi"]["n_used"]
    assert od_shmi.phi == pytest.approx(gold["shmi"]["phi"], rel=1e-9)
    assert od_shmi.tau2 == pytest.approx(gold["shmi"]["tau2"], rel=1e-9)
    assert list(per.index[shmi["trimmed"].to_numpy()]) == gold["shmi_truncated"]
    assert list(per.index[shmi["outside_95"].to_numpy()]) == gold["outliers"]["shmi_adjusted_95"]
    cqc, od_cqc = standardised_ratio_funnel(o, e, method="cqc")
    # E here comes from statsmodels' converged fit, the transcription's from R's IRLS stopping rule.
    assert od_cqc.n_used == gold["cqc"]["n_used"]
    assert od_cqc.phi == pytest.approx(gold["cqc"]["phi"], rel=1e-8)
    assert od_cqc.tau2 == pytest.approx(gold["cqc"]["tau2"], rel=1e-8)
    assert list(per.index[cqc["outside_998"].to_numpy()]) == gold["outliers"]["cqc_adjusted_998"]
    assert cqc["outside_95"].sum() == gold["outliers"]["cqc_adjusted_95_count"]
    plain, _ = standardised_ratio_funnel(o, e, method="shmi", adjust=False)
    assert plain["outside_95"].sum() == gold["outliers"]["unadjusted_95_count"]


def test_exact_limits_from_e_1_1_to_100_match_the_transcription():
    gold = DERIVED["limits_table"]
    (ll95, ul95), (ll998, ul998) = (exact_limits(gold["expected"], level) for level in ("95", "998"))
    for ours, name in ((ll95, "ll95"), (ul95, "ul95"), (ll998, "ll998"), (ul998, "ul998")):
        np.testing.assert_array_equal(rounded(ours, 7), gold[name])


@pytest.mark.parametrize("method", ["shmi", "cqc"])
def test_adjusted_limits_with_tau2_0_02_match_the_transcription(method):
    gold = DERIVED[f"{method}_adjusted_tau2_002"]
    for level, low, high in (("95", "odll95", "odul95"), ("998", "odll998", "odul998")):
        lower, upper = adjusted_limits(gold["expected"], level, 0.02, method)
        np.testing.assert_array_equal(rounded(lower, 7), gold[low])
        np.testing.assert_array_equal(rounded(upper, 7), gold[high])


def test_six_units_with_funnelplotr_defaults_match_the_transcription():
    gold = SIX["shmi_defaults"]
    frame, od = standardised_ratio_funnel(SIX["observed"], SIX["expected"], method="shmi")
    np.testing.assert_allclose(frame["z"], gold["z"], rtol=REL)
    assert od.phi == pytest.approx(gold["phi"], rel=REL) and od.tau2 == pytest.approx(gold["tau2"], rel=REL)
    for column, name in (("lower_95", "odll95"), ("upper_95", "odul95"), ("lower_998", "odll998")):
        np.testing.assert_allclose(frame[column], gold[name], rtol=REL)
    np.testing.assert_allclose(frame["upper_998"], gold["odul998"], rtol=REL)
    assert frame["outside_998"].astype(int).tolist() == gold["outliers_998"]


def test_six_units_unadjusted_keep_the_exact_limits():
    gold = SIX["shmi_unadjusted_95"]
    frame, od = standardised_ratio_funnel(SIX["observed"], SIX["expected"], method="shmi", adjust=False)
    assert not od.applied
    assert frame["lower_95"].iat[4] == pytest.approx(gold["LCL95_e"], rel=REL)
    tau2_zero = adjusted_limits([100.0], "95", 0.0, "shmi")[0][0]
    assert tau2_zero == pytest.approx(gold["OD95LCL_e_tau2_zero"], rel=REL)
    # FunnelPlotR reports no outliers here only because it flags nothing when neither limit set is drawn
    # (draw_adjusted and draw_unadjusted both FALSE); against the exact limits unit b (150 / 112) is outside.
    assert gold["outliers"] == [0] * 6
    assert frame["outside_95"].astype(int).tolist() == [0, 1, 0, 0, 0, 0]


@pytest.mark.parametrize(
    ("trim", "case", "level"), [(0.05, "cqc_trim_005", "95"), (0.1, "cqc_trim_01", "998")]
)
def test_six_units_with_cqc_match_the_transcription_including_its_unsquared_limits(trim, case, level):
    gold = SIX[case]
    frame, od = standardised_ratio_funnel(SIX["observed"], SIX["expected"], method="cqc", trim=trim)
    if "z" in gold:
        np.testing.assert_allclose(frame["z"], gold["z"], rtol=REL)
    np.testing.assert_allclose(frame["z_used"], gold["z_winsorised"], rtol=REL)
    assert od.phi == pytest.approx(gold["phi"], rel=REL) and od.tau2 == pytest.approx(gold["tau2"], rel=REL)
    suffix = "95" if level == "95" else "998"
    np.testing.assert_allclose(frame[f"lower_{level}"], gold[f"odll{suffix}"], rtol=REL)
    np.testing.assert_allclose(frame[f"upper_{level}"], gold[f"odul{suffix}"], rtol=REL)
    assert frame[f"outside_{level}"].astype(int).tolist() == gold[f"outliers_{suffix}"]


def test_shmi_truncation_drops_from_both_ends_only_from_ten_units():
    assert not truncate(np.arange(8.0))[1].any()
    assert truncate(np.arange(9.0))[1].tolist() == [False] * 8 + [True]
    assert truncate(np.arange(10.0))[1].tolist() == [True] + [False] * 8 + [True]
