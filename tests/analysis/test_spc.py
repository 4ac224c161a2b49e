"""Control charts: hand-computed Laney p′ and XmR limits, each special-cause rule, frozen baselines, verdicts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.spc import LANEY_COLUMNS, XMR_COLUMNS, laney_p_chart, xmr_chart
from analysis.special_causes import RULE_COLUMNS, special_cause_rules


def months(count: int, start: str = "2025-01") -> pd.PeriodIndex:
    return pd.period_range(start, periods=count, freq="M")


def xmr(values, **kwargs):
    return xmr_chart(pd.DataFrame({"month": months(len(values)), "value": values}), **kwargs)


# A stable baseline: alternating 12, 10 (mean 11, every moving range 2).
# Limits 11 ± 2.66·2 = [5.68, 16.32]; 2-sigma lines 11 ± (2/3)·2.66·2 = [7.453, 14.547].
STABLE = [12.0, 10.0] * 6


# --------------------------------------------------------------------------------------------- limits


def test_xmr_limits_match_a_hand_computation():
    values = [10, 12, 11, 13, 12, 11, 10, 12]
    result = xmr(values)
    # centre = mean = 91 / 8; moving ranges |12-10|, |11-12|, ... = 2, 1, 2, 1, 1, 1, 2 → MR-bar = 10 / 7
    centre, mr_bar = 91 / 8, 10 / 7
    # limits = centre ± 2.66 MR-bar (NHSRplotthedots); 2-sigma lines = centre ± (2/3)(2.66) MR-bar
    assert result.status == "ok" and result.centre == pytest.approx(centre)
    assert result.mr_bar == pytest.approx(mr_bar)
    assert result.sigma == pytest.approx(mr_bar / 1.128)
    points = result.points
    assert points["upper"].iloc[0] == pytest.approx(centre + 2.66 * mr_bar)  # 15.175
    assert points["lower"].iloc[0] == pytest.approx(centre - 2.66 * mr_bar)  # 7.575
    assert points["upper_2s"].iloc[0] == pytest.approx(centre + 2 / 3 * 2.66 * mr_bar)
    assert points["moving_range"].tolist()[1:] == [2, 1, 2, 1, 1, 1, 2]
    assert list(points.columns) == XMR_COLUMNS


def test_laney_limits_match_a_hand_computation():
    events = np.array([5, 8, 4, 10, 6, 7, 3, 9])
    n = np.array([100, 120, 90, 150, 110, 100, 80, 130])
    frame = pd.DataFrame({"month": [f"2026-{m:02d}" for m in range(1, 9)], "events": events, "n": n})
    result = laney_p_chart(frame)
    # Laney (2002): p-bar = sum(events) / sum(n); sigma_pi = sqrt(p-bar (1 - p-bar) / n_i);
    # z_i = (p_i - p-bar) / sigma_pi; sigma_z = mean |z_i - z_(i-1)| / 1.128;
    # limits = p-bar ± 3 sigma_pi sigma_z.
    p_bar = events.sum() / n.sum()
    sigma_pi = np.sqrt(p_bar * (1 - p_bar) / n)
    z = (events / n - p_bar) / sigma_pi
    sigma_z = np.mean(np.abs(np.diff(z))) / 1.128
    points = result.points
    assert list(points.columns) == LANEY_COLUMNS
    assert result.centre == pytest.approx(p_bar) and result.sigma == pytest.approx(sigma_z)
    np.testing.assert_allclose(points["z"], z)
    np.testing.assert_allclose(points["upper"], p_bar + 3 * sigma_pi * sigma_z)
    np.testing.assert_allclose(points["lower"], np.clip(p_bar - 3 * sigma_pi * sigma_z, 0, 1))
    np.testing.assert_allclose(points["upper_2s"], p_bar + 2 * sigma_pi * sigma_z)
    assert points["month"].iloc[0] == pd.Timestamp("2026-01-01")


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
    assert result.n_points == 9
    assert any("no sessions are left out" in note for note in result.notes)


# --------------------------------------------------------------------------------------------- rules


def flagged(result, rule):
    return result.points.index[result.points[rule]].tolist()


def test_a_stable_series_triggers_no_rule():
    result = xmr(STABLE + [12.0, 10.0] * 5)
    assert not result.points[RULE_COLUMNS].to_numpy().any()
    assert result.verdict.endswith("within the usual range; no sign of a real change")


def test_a_point_beyond_the_limits_is_flagged():
    result = xmr([*STABLE, 12.0, 17.0])
    assert flagged(result, "rule_beyond_limits") == [13]
    assert flagged(result, "special_cause") == [13]
    assert result.verdict == (
        "February 2026: mean satisfaction 17.00 — above the upper control limit: "
        "a real change is likely, investigate (a change for the better)"
    )


def test_a_run_of_eight_on_one_side_is_flagged_and_seven_is_not():
    run = xmr(STABLE + [11.5] * 8)
    assert flagged(run, "rule_run") == list(range(12, 20))
    assert not run.points[["rule_beyond_limits", "rule_trend", "rule_two_of_three"]].to_numpy().any()
    assert "part of a run of months above the centre line" in run.verdict
    assert not xmr(STABLE + [11.5] * 7).points["rule_run"].any()


def test_a_trend_of_six_is_flagged_and_five_is_not():
    # The last baseline point (10) starts the rise: 10, 10.5, 11, 11.5, 12, 12.5 is six points.
    trend = xmr([*STABLE, 10.5, 11.0, 11.5, 12.0, 12.5])
    assert flagged(trend, "rule_trend") == list(range(11, 17))
    assert not trend.points[["rule_beyond_limits", "rule_run", "rule_two_of_three"]].to_numpy().any()
    assert "steady rising trend" in trend.verdict
    assert not xmr([*STABLE, 10.5, 11.0, 11.5, 12.0]).points["rule_trend"].any()


def test_two_of_three_beyond_two_sigma_is_flagged_and_one_is_not():
    two = xmr([*STABLE, 15.0, 11.5, 15.0])
    assert flagged(two, "rule_two_of_three") == [12, 14]
    assert not two.points[["rule_beyond_limits", "rule_run", "rule_trend"]].to_numpy().any()
    assert "two of the last three months close to the upper limit" in two.verdict
    assert not xmr([*STABLE, 15.0, 11.5, 11.5]).points["rule_two_of_three"].any()
    low = xmr([*STABLE, 7.0, 11.5, 7.0])
    assert flagged(low, "rule_two_of_three") == [12, 14]


def test_rules_accept_limits_that_vary_by_point():
    rules = special_cause_rules([1.0, 5.0, 1.0], 1.0, [0, 0, 0], [2.0, 6.0, 0.5], [0, 0, 0], [9, 9, 9])
    assert rules["rule_beyond_limits"].tolist() == [False, False, True]


# --------------------------------------------------------------------------------------------- baseline


def test_the_baseline_is_frozen_after_twelve_points():
    shifted = [20.0, 21.0] * 5
    result = xmr(STABLE + shifted)
    baseline_only = xmr(STABLE)
    assert result.centre == pytest.approx(11.0) == baseline_only.centre
    assert result.mr_bar == pytest.approx(2.0)
    np.testing.assert_allclose(result.points["upper"], 11 + 2.66 * 2)
    assert result.points["in_baseline"].tolist() == [True] * 12 + [False] * 10
    assert flagged(result, "rule_beyond_limits") == list(range(12, 22))
    assert result.baseline_points == 12 and "fixed on the first 12 months" in result.notes[-1]
    unfrozen = xmr(STABLE + shifted, baseline_points=22)
    assert unfrozen.centre == pytest.approx(np.mean(STABLE + shifted))


def test_fewer_than_a_baseline_gives_provisional_limits():
    result = xmr(STABLE[:9])
    assert result.status == "ok" and result.baseline_points == 9
    assert "provisional" in result.notes[-1]
    with pytest.raises(ValueError, match="baseline_points"):
        xmr(STABLE, baseline_points=4)


def test_too_few_months_give_no_limits_and_say_so():
    result = xmr([4.1, 4.3, 4.0, 4.2, 4.4, 4.1, 4.2])
    assert result.status == "not_enough_data"
    assert result.verdict == (
        "July 2025: mean satisfaction 4.20 — not enough months for control limits (7 months; at least 8 needed)"
    )
    assert result.points[["centre", "lower", "upper"]].isna().all().all()
    assert not result.points[RULE_COLUMNS].to_numpy().any()
    frame = pd.DataFrame({"month": months(3), "events": [1, 2, 3], "n": [50, 50, 50]})
    assert "not enough months for control limits" in laney_p_chart(frame).verdict


def test_empty_input_and_a_baseline_without_events_give_plain_messages():
    assert xmr_chart(pd.DataFrame(columns=["month", "value"])).verdict == "no months to chart"
    empty = laney_p_chart(pd.DataFrame(columns=["month", "events", "n"]))
    assert (
        empty.status == "not_enough_data"
        and empty.points.empty
        and list(empty.points.columns) == LANEY_COLUMNS
    )
    none = laney_p_chart(pd.DataFrame({"month": months(10), "events": 0, "n": 80}))
    assert none.status == "not_enough_data" and "no events in the baseline months" in none.verdict


def test_xmr_refuses_two_values_for_one_month_and_skips_missing_values():
    frame = pd.DataFrame({"month": ["2026-01", "2026-01"], "value": [4.0, 4.2]})
    with pytest.raises(ValueError, match="2026-01 appears more than once"):
        xmr_chart(frame)
    values = pd.array([*STABLE[:9], None], dtype="Float64")
    result = xmr_chart(pd.DataFrame({"month": months(10), "value": values}))
    assert result.n_points == 9 and "without a value" in result.notes[0]


# --------------------------------------------------------------------------------------------- verdicts


def _monthly_rates(last_events: int, last_n: int) -> pd.DataFrame:
    events = [8, 9] * 10
    n = [200] * 20
    events[-1], n[-1] = last_events, last_n
    return pd.DataFrame({"month": months(20, "2025-03"), "events": events, "n": n})


def test_the_latest_month_verdict_in_plain_words():
    calm = laney_p_chart(_monthly_rates(9, 220))
    assert (
        calm.verdict
        == "October 2026: 4.1% side-effect rate — within the usual range; no sign of a real change"
    )
    alarm = laney_p_chart(_monthly_rates(20, 200))
    assert alarm.verdict == (
        "October 2026: 10.0% side-effect rate — above the upper control limit: "
        "a real change is likely, investigate (a change for the worse)"
    )
    assert alarm.to_dict()["points"][-1]["month"] == "2026-10"
    assert math.isclose(alarm.centre, 17 / 400)
