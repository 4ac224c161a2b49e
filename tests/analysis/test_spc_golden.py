"""Control charts against NHSRplotthedots' own tests: limits, screening, rules, point types, icons, rebasing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import special_causes as sc
from analysis.spc import segment_starts, xmr_chart
from analysis.xmr import classify, segments, xmr_limits
from tests.analysis.r_rnorm import RStream

RESULTS = Path(__file__).parent / "results"
UNIT = json.loads((RESULTS / "nhsr_plotthedots_unit.json").read_text(encoding="utf-8"))
INTEGRATION = json.loads((RESULTS / "nhsr_plotthedots_integration.json").read_text(encoding="utf-8"))


def r_inputs():
    stream = RStream(123)
    y24 = np.array(stream.rnorm(24))
    return y24, np.array(stream.rnorm(12, 5)), np.array(stream.rnorm(12, -5))


Y24, PLUS5, MINUS5 = r_inputs()


def chart(y, segment=None, fix_after=None, screen=True, direction="increase"):
    limits = xmr_limits(y, segment, fix_after, screen)
    return limits.join(classify(y, limits, direction))


def test_the_r_stream_reproduces_the_inputs_upstream_prints():
    printed = UNIT["printed_inputs"]
    np.testing.assert_allclose(Y24[:4], printed["first_four"], atol=5e-9)
    np.testing.assert_allclose(Y24[:20], printed["twenty_3sf"], rtol=6e-3)


# ---------------------------------------------------------------------------------------------- limits


@pytest.mark.parametrize("case", ["r1", "r2", "r3"])
def test_limits_and_screening_match_the_upstream_snapshots(case):
    expected = UNIT["standard"][case]
    y = Y24[:20].copy()
    if case != "r1":
        y[14] = 10.0  # y[15] <- 10 in R
    out = chart(y, screen=expected["screen_outliers"])
    assert out["centre"].iat[0] == pytest.approx(expected["mean"], rel=1e-6)
    assert out["lower"].iat[0] == pytest.approx(expected["lpl"], rel=1e-6)
    assert out["upper"].iat[0] == pytest.approx(expected["upl"], rel=1e-6)
    for key, column in (
        ("relative_to_mean", "side"),
        ("outside_limits", "outside"),
        ("close_to_limits", "close"),
    ):
        for name, values in expected.items():
            if name.startswith(key):
                assert out[column].tolist()[: len(values)] == values, name
    if case == "r2":  # both moving ranges touching the outlier are screened out
        assert out["mr_screened"].tolist() == [False] * 14 + [True, True] + [False] * 4


def test_screening_narrows_the_limits_round_an_outlier():
    y = Y24[:20].copy()
    y[14] = 10.0
    screened, raw = chart(y, screen=True), chart(y, screen=False)
    assert raw["upper"].iat[0] - raw["lower"].iat[0] > screened["upper"].iat[0] - screened["lower"].iat[0]
    assert screened.loc[14, "special_cause_type"] == raw.loc[14, "special_cause_type"] == "Above UCL"


def test_a_rebase_column_starts_a_new_group_at_the_flagged_point():
    expected = UNIT["standard"]["rebase_column"]["rebase_group"]
    assert segments([0] * 10 + [1] + [0] * 9).tolist() == expected
    dates = pd.Series(pd.date_range("2020-01-02", periods=10, freq="D"))
    starts = segment_starts(dates, pd.to_datetime(UNIT["rebase_column"]["dates"]), months_only=False)
    assert starts.astype(int).tolist() == UNIT["rebase_column"]["expected_per_facet"]


@pytest.mark.parametrize("case", ["s1", "s2", "s3", "s5"])
def test_summaries_match_the_upstream_snapshot(case):
    expected = UNIT["summary"][case]
    for group in expected["groups"]:
        first, last = group["rows"]
        out = chart(Y24[first - 1 : last])
        assert out["centre"].iat[0] == pytest.approx(group["mean"], abs=6e-4 * max(1, abs(group["mean"])))
        assert out["lower"].iat[0] == pytest.approx(group["lpl"], abs=6e-3)
        assert out["upper"].iat[0] == pytest.approx(group["upl"], abs=6e-3)
        assert (out["point_type"] == sc.COMMON_CAUSE).sum() == group["common_cause"] == group["n"]
    # A rebase before the first point changes nothing.
    dates = pd.Series(pd.date_range("2020-01-02", periods=20, freq="D"))
    assert not segment_starts(dates, [pd.Timestamp("2020-01-01")], months_only=False).any()


# ---------------------------------------------------------------------------------------------- rules


def test_two_close_points_on_opposite_sides_are_not_a_special_cause():
    case = UNIT["two_in_three_opposite_sides"]
    out = chart(np.array(case["data"], dtype=float))
    assert out["point_type"].tolist()[-2:] == case["last_two_point_types"]
    assert out["close"].tolist()[-2:] == [True, True]


def test_the_rule_helpers_match_the_upstream_unit_tests():
    helpers = UNIT["helpers"]
    for given, expected in helpers["seven_point_one_side_mean"]:
        assert sc.seven_point_one_side_mean(given).tolist() == expected
    for given, expected in helpers["part_of_seven_trend"]:
        assert sc.part_of_seven(given).tolist() == expected
    for given, expected in helpers["seven_point_trend"]:
        assert sc.seven_point_trend(given).tolist() == expected
    for close, side, expected in helpers["two_in_three"]:
        side = (side + [0] * len(close))[: len(close)]
        assert sc.two_in_three(close, side).tolist() == expected
    for close, expected in helpers["part_of_two_in_three"]:
        window = sc.two_in_three(close, [1] * len(close))
        assert sc.part_of_two_in_three(window, close).tolist() == expected


def test_labels_follow_the_upstream_precedence():
    # The point-type test of test-ptd_calculate_point_type.R builds these patterns with mocks:
    # trend on points 1-2, shift on 3-4, two-of-three on 5, outside on 6-7 (7 below the mean).
    y = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    labels = sc.special_cause_types(y, [1, 1, 1, 1, -1, -1, -1, -1], [0] * 8, [0, 0, 0, 0, 0, 1, 1, 0])
    assert labels[5:] == ["Below LCL", "Below LCL", "7 Point Trend (Increasing)"]
    assert sc.point_types(["7 Point Trend (Decreasing)", "2 in 3 Above CL"], "decrease") == [
        sc.IMPROVEMENT,
        sc.CONCERN,
    ]
    assert sc.point_types(["7 Points Below CL"], "neutral") == [sc.NEUTRAL_LOW]


# ---------------------------------------------------------------------------------------------- icons


@pytest.mark.parametrize("case", UNIT["icons"]["cases"], ids=lambda c: c["name"])
def test_variation_and_assurance_icons_match_the_upstream_tests(case):
    y = Y24.copy()
    if "rnorm(12, 5)" in case["y"]:
        y[12:] = PLUS5
    elif "rnorm(12, -5)" in case["y"]:
        y[12:] = MINUS5
    parts = [y[:12], y[12:]] if case["facet"] else [y]
    variation, assurance = [], []
    for part in parts:
        out = chart(part, direction=case["direction"])
        last = out.iloc[-1]
        variation.append(sc.variation_icon(last["point_type"], case["direction"]))
        assurance.append(sc.assurance_icon(case["target"], last["lower"], last["upper"], case["direction"]))
    assert variation == case["variation"]
    assert assurance == case["assurance"]


def test_assurance_matches_the_upstream_unit_tests():
    case = UNIT["assurance"]
    for direction in ("increase", "decrease", "neutral"):
        got = [sc.assurance_icon(case["target"], r["lpl"], r["upl"], direction) for r in case["rows"]]
        assert got == case[direction]
    assert sc.assurance_icon(case["no_target"], 1, 3, "increase") is None


# ---------------------------------------------------------------------------------------------- real data


@pytest.mark.parametrize("name", sorted(INTEGRATION["cases"]))
def test_real_data_charts_match_the_upstream_snapshots_point_by_point(name):
    case = INTEGRATION["cases"][name]
    for facet in case["facets"]:
        points = pd.DataFrame(facet["points"])
        result = xmr_chart(
            pd.DataFrame({"month": points["x"], "value": points["y"]}),
            measure=case["value"],
            direction=case["improvement_direction"],
            rebase=case["rebase"],
            fix_after=case["fix_after_n_points"],
            screen=case["screen_outliers"],
        )
        got = result.points
        for segment in facet["segments"]:
            rows = got[got["segment"] == segment["segment"]]
            assert len(rows) == segment["n"]
            np.testing.assert_allclose(rows["centre"], segment["mean"], rtol=1e-12)
            np.testing.assert_allclose(rows["lower"], segment["lpl"], rtol=1e-12)
            np.testing.assert_allclose(rows["upper"], segment["upl"], rtol=1e-12)
        limits = xmr_limits(points["y"], got["segment"], case["fix_after_n_points"], case["screen_outliers"])
        assert limits["side"].tolist() == points["relative_to_mean"].tolist()
        assert limits["outside"].tolist() == points["outside_limits"].tolist()
        assert limits["close"].tolist() == points["close_to_limits"].tolist()
        expected = points["point_type"]
        if "point_type_current_rules" in points:  # the two points the fix of upstream issue #143 changed
            expected = points["point_type_current_rules"].fillna(expected)
        assert got["point_type"].tolist() == expected.tolist()
        assert got["special_cause"].tolist() == (expected != sc.COMMON_CAUSE).tolist()
