"""Control charts: hand-computed limits, each Making Data Count rule at its length, rebasing, targets, words."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.spc import LANEY_COLUMNS, XMR_COLUMNS, Target, laney_p_chart, xmr_chart


def months(count: int, start: str = "2025-01") -> pd.PeriodIndex:
    return pd.period_range(start, periods=count, freq="M")


def xmr(values, **kwargs):
    return xmr_chart(pd.DataFrame({"month": months(len(values)), "value": values}), **kwargs)


def flagged(result, rule):
    return result.points.index[result.points[f"rule_{rule}"]].tolist()


# A stable baseline: alternating 12, 10 (mean 11, every moving range 2).
# Limits 11 ± 2.66·2 = [5.68, 16.32]; 2-sigma lines 11 ± (2/3)·2.66·2 = [7.453, 14.547].
STABLE = [12.0, 10.0] * 6


# --------------------------------------------------------------------------------------------- limits


def test_xmr_limits_match_a_hand_computation():
    values = [10, 12, 11, 13, 12, 11, 10, 12]
    result = xmr(values)
    # centre = 91 / 8; moving ranges 2, 1, 2, 1, 1, 1, 2 → MR-bar = 10 / 7 (none reaches 3.267 × MR-bar)
    centre, mr_bar = 91 / 8, 10 / 7
    points = result.points
    assert list(points.columns) == XMR_COLUMNS and result.status == "provisional"
    assert result.centre == pytest.approx(centre) and result.mr_bar == pytest.approx(mr_bar)
    assert points["upper"].iloc[0] == pytest.approx(centre + 2.66 * mr_bar)
    assert points["lower"].iloc[0] == pytest.approx(centre - 2.66 * mr_bar)
    assert points["upper_2s"].iloc[0] == pytest.approx(centre + 2 / 3 * 2.66 * mr_bar)
    assert points["moving_range"].tolist()[1:] == [2, 1, 2, 1, 1, 1, 2]


def test_a_moving_range_of_3267_mean_ranges_is_screened_once():
    # Moving ranges 1 (x11) and 20 (x2): first mean 51/13; 20 >= 3.267 × 51/13 = 12.8 is dropped,
    # the mean is recomputed once from the eleven 1s (= 1), and not screened again.
    values = [10.0, 11.0] * 6 + [31.0, 11.0]
    screened = xmr(values, fix_after=None)
    assert screened.mr_bar == pytest.approx(1.0)
    assert screened.points["mr_screened"].tolist() == [False] * 12 + [True, True]
    raw = xmr(values, fix_after=None, screen=False)
    assert raw.mr_bar == pytest.approx(51 / 13)
    assert raw.points["upper"].iat[0] - raw.points["lower"].iat[0] > 2 * 2.66


def test_laney_limits_and_rules_use_the_standardised_scale():
    events = np.array([5, 8, 4, 10, 6, 7, 3, 9])
    n = np.array([100, 120, 90, 150, 110, 100, 80, 130])
    frame = pd.DataFrame({"month": [f"2026-{m:02d}" for m in range(1, 9)], "events": events, "n": n})
    result = laney_p_chart(frame)
    # Laney (2002): p-bar = sum(events) / sum(n); sigma_pi = sqrt(p-bar (1 - p-bar) / n_i);
    # z_i = (p_i - p-bar) / sigma_pi; sigma_z = mean |z_i - z_(i-1)| / 1.128; limits p-bar ± 3 sigma_pi sigma_z.
    p_bar = events.sum() / n.sum()
    sigma_pi = np.sqrt(p_bar * (1 - p_bar) / n)
    z = (events / n - p_bar) / sigma_pi
    sigma_z = np.mean(np.abs(np.diff(z))) / 1.128
    points = result.points
    assert list(points.columns) == LANEY_COLUMNS
    assert result.centre == pytest.approx(p_bar)
    np.testing.assert_allclose(points["z"], z)
    np.testing.assert_allclose(points["upper"], p_bar + 3 * sigma_pi * sigma_z)
    np.testing.assert_allclose(points["lower"], np.clip(p_bar - 3 * sigma_pi * sigma_z, 0, 1))
    np.testing.assert_allclose(points["upper_2s"], p_bar + 2 * sigma_pi * sigma_z)
    assert points["month"].iloc[0] == pd.Timestamp("2026-01-01")


def test_the_same_rate_is_a_special_cause_in_a_big_month_and_not_in_a_small_one():
    # Baseline 4.0% / 4.5% on 200 sessions a month; then 5.5%. z = (0.055 - 0.0425) / sigma_p is 0.88
    # on 200 sessions and 2.77 on 2000, against 3 sigma_z = 3 × 0.35 / 1.128 = 0.93.
    def last_month(events, n):
        frame = pd.DataFrame({"month": months(13), "events": [8, 9] * 6 + [events], "n": [200] * 12 + [n]})
        return laney_p_chart(frame).points.iloc[-1]

    small, big = last_month(11, 200), last_month(110, 2000)
    assert small["value"] == big["value"] == 0.055
    assert big["upper"] - big["lower"] < small["upper"] - small["lower"]
    assert small["point_type"] == "common_cause"
    assert big["point_type"] == "special_cause_concern" and big["rules"] == ["astronomical"]


# --------------------------------------------------------------------------------------------- rules


def test_a_stable_series_is_common_cause_throughout():
    result = xmr(STABLE + [12.0, 10.0] * 5)
    assert not result.points["special_cause"].any()
    assert result.reading.endswith("within the usual range (common-cause variation)")
    assert result.variation == "common_cause"


def test_seven_on_one_side_is_a_shift_and_six_is_not_and_a_point_on_the_line_breaks_it():
    shift = xmr(STABLE + [11.5] * 7)
    assert flagged(shift, "shift") == list(range(12, 19))
    assert shift.points["point_type"].iat[-1] == "special_cause_improvement"
    assert "7 or more months in a row above the centre line" in shift.reading
    assert not xmr(STABLE + [11.5] * 6).points["special_cause"].any()
    assert not xmr(STABLE + [11.5] * 3 + [11.0] + [11.5] * 3).points["special_cause"].any()


def test_seven_rising_points_are_a_trend_six_are_not_and_a_tie_breaks_it():
    # The last baseline point (10) starts the rise: 10, 10.5 ... 13 is seven points, six steps up.
    rising = [10.5, 11.0, 11.5, 12.0, 12.5, 13.0]
    trend = xmr([*STABLE, *rising])
    assert flagged(trend, "trend") == list(range(11, 18))
    assert trend.points["special_cause_type"].iat[-1] == "7 Point Trend (Increasing)"
    assert "each higher than the one before" in trend.reading
    assert not xmr([*STABLE, *rising[:-1]]).points["rule_trend"].any()
    assert not xmr([*STABLE, 10.5, 11.0, 11.0, 11.5, 12.0, 12.5, 13.0]).points["rule_trend"].any()


def test_two_of_three_close_to_a_limit_on_one_side_is_flagged_but_not_across_the_centre():
    two = xmr([*STABLE, 15.0, 11.5, 15.0])
    assert flagged(two, "two_of_three") == [12, 14]  # the middle point is not itself close to the limit
    assert two.points["rules"].iat[13] == []
    assert "two of three months in a row close to the upper limit" in two.reading
    across = xmr([*STABLE, 15.0, 10.5, 15.0])  # the middle month is below the centre line
    assert not across.points["rule_two_of_three"].any()
    beyond = xmr([*STABLE, 17.0, 11.5, 15.0])  # a point beyond 3 sigma does not count towards the two
    assert flagged(beyond, "two_of_three") == [] and flagged(beyond, "astronomical") == [12]


def test_the_improvement_direction_decides_improvement_or_concern():
    high = [*STABLE, 12.0, 17.0]
    assert xmr(high, direction="increase").points["point_type"].iat[-1] == "special_cause_improvement"
    assert xmr(high, direction="decrease").points["point_type"].iat[-1] == "special_cause_concern"
    assert xmr(high, direction="decrease").variation == "concern_high"
    assert xmr(high, direction="neutral").points["point_type"].iat[-1] == "special_cause_neutral_high"
    with pytest.raises(ValueError, match="improvement direction"):
        xmr(high, direction="up")


# --------------------------------------------------------------------------------------------- fixing, rebasing


def test_limits_are_fixed_after_twelve_months():
    shifted = [20.0, 21.0] * 5
    result = xmr(STABLE + shifted)
    assert result.centre == pytest.approx(11.0) and result.mr_bar == pytest.approx(2.0)
    np.testing.assert_allclose(result.points["upper"], 11 + 2.66 * 2)
    assert result.points["in_baseline"].tolist() == [True] * 12 + [False] * 10
    assert flagged(result, "astronomical") == list(range(12, 22))
    assert "fixed on the first 12 months" in result.notes[-1]
    unfixed = xmr(STABLE + shifted, fix_after=None)
    assert unfixed.centre == pytest.approx(np.mean(STABLE + shifted))
    with pytest.raises(ValueError, match="no fewer than 12"):
        xmr(STABLE, fix_after=6)


def test_a_rebase_gives_each_segment_its_own_limits_and_rules():
    values = STABLE + [20.0, 22.0] * 5
    result = xmr(values, rebase=["2026-01"])
    points = result.points
    assert points["segment"].tolist() == [0] * 12 + [1] * 10
    assert points["centre"].iat[0] == pytest.approx(11.0) and points["centre"].iat[-1] == pytest.approx(21.0)
    assert np.isnan(points["moving_range"].iat[12])  # a moving range never spans a rebase
    assert not points["special_cause"].any()  # the new level is the new normal, not a shift
    assert result.segment_start == pd.Timestamp("2026-01-01")
    assert any("limits restart at January 2026" in note for note in result.notes)
    # The same data without the rebase: a long shift above a frozen centre line.
    assert xmr(values).points["special_cause"].iloc[12:].all()


def test_a_rebase_in_a_month_without_data_starts_at_the_next_month_and_one_before_the_data_does_nothing():
    frame = pd.DataFrame({"month": [*months(12), *months(10, "2026-03")], "value": STABLE + [20.0, 22.0] * 5})
    assert xmr_chart(frame, rebase=["2026-02"]).points["segment"].tolist() == [0] * 12 + [1] * 10
    assert xmr_chart(frame, rebase=["2024-06"]).points["segment"].eq(0).all()


def test_a_short_segment_after_a_rebase_gets_no_limits_and_says_so():
    result = xmr([*STABLE, 20.0, 22.0, 21.0], rebase=["2026-01"])
    assert result.status == "not_enough_data"
    assert "3 months since January 2026; at least 8 needed" in result.reading
    assert result.points["upper"].iloc[12:].isna().all() and not result.points["special_cause"].any()


def test_eleven_months_give_trial_limits_and_twelve_settle_them():
    # NHSRplotthedots warns that groups of fewer than 12 points have trial limits.
    assert xmr(STABLE[:11]).status == "provisional"
    assert xmr(STABLE).status == "ok"


# --------------------------------------------------------------------------------------------- targets, words


def test_a_target_gives_the_assurance_icon_against_the_latest_limits():
    assert xmr(STABLE, target=Target(4.0, "increase")).assurance == "consistent_pass"
    assert xmr(STABLE, target=Target(18.0, "increase")).assurance == "consistent_fail"
    assert xmr(STABLE, target=11.5).assurance == "inconsistent"
    assert xmr(STABLE, target=Target(4.0, "decrease"), direction="decrease").assurance == "consistent_fail"
    assert xmr(STABLE).assurance is None and xmr(STABLE).points["target"].isna().all()
    assert xmr(STABLE, target=11.5, direction="neutral").assurance is None
    with pytest.raises(ValueError, match="target is met by a decrease"):
        xmr(STABLE, target=Target(4.0, "decrease"))


def test_too_few_months_give_no_limits_and_say_so():
    result = xmr([4.1, 4.3, 4.0, 4.2, 4.4, 4.1, 4.2])
    assert result.status == "not_enough_data" and result.variation is None
    assert result.reading == (
        "July 2025: mean satisfaction 4.20 — not enough months for control limits (7 months; at least 8 needed)"
    )
    assert result.points[["centre", "lower", "upper"]].isna().all().all()


def test_empty_input_no_events_and_no_variation_give_plain_messages():
    assert xmr_chart(pd.DataFrame(columns=["month", "value"])).reading == "no months to chart"
    empty = laney_p_chart(pd.DataFrame(columns=["month", "events", "n"]))
    assert empty.status == "not_enough_data" and list(empty.points.columns) == LANEY_COLUMNS
    none = laney_p_chart(pd.DataFrame({"month": months(14), "events": 0, "n": 80}))
    assert none.status == "no_events" and "no events" in none.reading
    flat = xmr([4.0] * 12)
    assert flat.status == "no_variation" and "no month-to-month variation" in flat.reading


def test_xmr_refuses_two_values_for_one_month_and_skips_missing_values():
    with pytest.raises(ValueError, match="2026-01 appears more than once"):
        xmr_chart(pd.DataFrame({"month": ["2026-01", "2026-01"], "value": [4.0, 4.2]}))
    values = pd.array([*STABLE[:9], None], dtype="Float64")
    result = xmr_chart(pd.DataFrame({"month": months(10), "value": values}))
    assert result.n_points == 9 and "without a value" in result.notes[0]


def test_laney_sums_rows_of_one_month_and_skips_empty_months():
    frame = pd.DataFrame(
        {
            "month": [pd.Timestamp("2026-01-03"), pd.Timestamp("2026-01-20"), *months(9, "2026-02")],
            "events": [2, 3, *([4] * 8), 0],
            "n": [50, 50, *([100] * 8), 0],
        }
    )
    result = laney_p_chart(frame)
    assert result.points["events"].iloc[0] == 5 and result.points["n"].iloc[0] == 100
    assert result.n_points == 9 and any("no sessions are left out" in note for note in result.notes)


def test_the_latest_month_in_plain_words_and_as_json():
    events, n = [8, 9] * 10, [200] * 20
    events[-1] = 20
    result = laney_p_chart(pd.DataFrame({"month": months(20, "2025-03"), "events": events, "n": n}))
    assert result.reading == (
        "October 2026: 10.0% side-effect rate — above the upper control limit (special cause, concern)"
    )
    assert result.to_dict()["points"][-1]["month"] == "2026-10"
    assert result.centre == pytest.approx(17 / 400)
