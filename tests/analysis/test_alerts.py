"""The alert: Steiner's scores and vlad's run length, a limit that keeps its stated run length, planted changes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit, logit

from analysis import cusum
from analysis.alerts import NOT_SATISFIED, dissatisfaction_inputs, risk_adjusted_alert, verdict
from analysis.spc import INVESTIGATE, laney_p_chart

VLAD = json.loads((Path(__file__).parent / "results" / "vlad_racusum.json").read_text(encoding="utf-8"))


def clinic(
    seed: int, months: int = 36, per_month: int = 100, change: int | None = None, odds: float = 3.0, level=0.0
):
    """Sessions of one clinic: case-mix risks around 4%; from month ``change`` on the odds are × ``odds``.

    ``expected`` is the case-mix risk (what the case-mix model would give); ``level`` shifts the
    clinic's true log-odds against it for every month (a clinic that is always a bit different).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for m in range(months):
        n = rng.poisson(per_month)
        risk = expit(rng.normal(-3.3, 0.6, n))
        shift = level + (np.log(odds) if change is not None and m + 1 >= change else 0.0)
        outcome = rng.random(n) < expit(logit(risk) + shift)
        month = pd.Timestamp("2024-01-01") + pd.DateOffset(months=m)
        rows.append(pd.DataFrame({"month": month, "outcome": outcome, "expected": risk}))
    return pd.concat(rows, ignore_index=True)


# ---------------------------------------------------------------------------------------------- golden


def test_session_scores_match_steiner_and_vlad():
    model = VLAD["llr_score"]
    for row in model["rows"]:
        p = expit(-3.68 + 0.077 * row["parsonnet"])
        for key, odds in (("ra_2", 2.0), ("ra_half", 0.5)):
            event, none = cusum.llr_weights(p, odds)
            got = event if row["status"] else none
            assert round(float(got), 3) == pytest.approx(row[key], abs=1.5e-3), (row, key)


def test_the_simulated_run_length_matches_vlads_markov_chain():
    case = VLAD["beta_arl"]
    # One session a "month" with risks from the Beta(1, 3) Parsonnet mix: the per-patient CUSUM.
    scores = stats.beta.ppf((np.arange(4000) + 0.5) / 4000, case["shape1"], case["shape2"])
    risks = [np.array([p]) for p in expit(case["g0"] + case["g1"] * scores)]
    horizon = int(1.2 * case["arl_patients"])
    maxima = cusum.running_maxima(risks, case["odds_ratio"], paths=1000, horizon=horizon, seed=11)
    arl, se, alarms = cusum.arl_at(maxima, case["h"])
    assert alarms > 600
    assert abs(arl - case["arl_patients"]) < 3 * se, (arl, se)


# ---------------------------------------------------------------------------------------------- machinery


def test_the_event_distribution_is_exact_for_a_few_sessions_and_right_in_the_mean_for_many():
    p = np.array([0.02, 0.05, 0.1, 0.3, 0.5, 0.04, 0.07, 0.2])
    exact = np.array([1.0])
    for q in p:  # Poisson-binomial by convolution, session by session
        exact = np.convolve(exact, [1 - q, q])
    low, pmf = cusum.event_distribution(p)
    np.testing.assert_allclose(pmf, exact[low : low + len(pmf)], atol=1e-12)
    many = expit(np.random.default_rng(1).normal(-3, 0.7, 5000))
    low, pmf = cusum.event_distribution(many)
    k = low + np.arange(len(pmf))
    assert k @ pmf == pytest.approx(many.sum(), rel=1e-9)
    variance = (k - k @ pmf) ** 2 @ pmf
    assert variance == pytest.approx((many * (1 - many)).sum(), rel=0.02)


def test_the_level_is_learnt_from_the_baselines_own_events():
    rng = np.random.default_rng(4)
    risk = expit(rng.normal(-3.0, 0.6, 20_000))
    outcome = rng.random(len(risk)) < expit(logit(risk) + 0.5)
    delta = cusum.offset_to_baseline(risk, outcome)
    info = (expit(logit(risk) + 0.5) * (1 - expit(logit(risk) + 0.5))).sum()
    assert abs(delta - 0.5) < 3 / np.sqrt(info)
    assert -5 < cusum.offset_to_baseline(risk[:50], np.zeros(50, dtype=bool)) < 0  # no events: finite


def test_the_cusum_restarts_from_zero_after_an_alarm():
    value, alarm, start = cusum.run_cusum([1.0, 2.0, -0.5, 3.0, 1.0, -4.0, 0.5], limit=3.0)
    assert value.tolist() == [1.0, 3.0, 0.0, 3.0, 1.0, 0.0, 0.5]
    assert alarm.tolist() == [False, True, False, True, False, False, False]
    assert start.tolist() == [0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]


def test_the_limit_keeps_its_stated_run_length_on_fresh_simulations():
    # A small clinic's own months; a short target (36 months) keeps the check fast.
    rng = np.random.default_rng(3)
    months = [expit(rng.normal(-3.0, 0.6, rng.poisson(60))) for _ in range(24)]
    limit = cusum.simulate_limit(months, arl=36.0, paths=2000, seed=5)
    # Independent check: whole CUSUM runs with Bernoulli sessions, restarted after every alarm.
    runs, check = [], np.random.default_rng(99)
    while len(runs) < 600:
        s, t = 0.0, 0
        while True:
            risks = months[check.integers(len(months))]
            events = (check.random(len(risks)) < risks).sum()
            s = max(0.0, s + events * np.log(2) - cusum.month_penalty(risks))
            t += 1
            if s >= limit.h:
                runs.append(t)
                break
    mean, se = np.mean(runs), np.std(runs, ddof=1) / np.sqrt(len(runs))
    assert abs(mean - 36.0) < 3 * np.hypot(se, limit.simulated_se), (mean, se, limit)


# ---------------------------------------------------------------------------------------------- the alert


def test_a_tripling_of_the_odds_is_caught_within_six_months_and_says_since_when():
    sessions = clinic(seed=8, change=19)
    result = risk_adjusted_alert(sessions)
    flagged = result.months.loc[result.months["alert"], "month"]
    first = flagged[flagged >= pd.Timestamp("2025-07-01")].iloc[0]
    assert first <= pd.Timestamp("2025-12-01"), "caught within 6 months of July 2025"
    assert not result.months.loc[result.months["month"] < pd.Timestamp("2025-07-01"), "alert"].any()
    upto = risk_adjusted_alert(sessions[sessions["month"] <= first])
    # "since" is where the CUSUM last left zero: the change, or a chance rise just before it.
    assert upto.alert and pd.Timestamp("2025-01-01") <= upto.since <= pd.Timestamp("2025-07-01")
    assert INVESTIGATE in upto.reading and "sessions with a side effect against" in upto.reading


def test_a_clinic_always_worse_than_the_case_mix_predicts_is_not_an_alert():
    # Odds 2x the case-mix model in every month: the funnel plot's business, not a change.
    sessions = clinic(seed=21, level=np.log(2.0))
    result = risk_adjusted_alert(sessions)
    assert not result.months["alert"].any()
    assert result.reading.startswith(
        "no alert: side effects in line with this unit's usual level (its first 12"
    )
    # Scored against the case-mix model's own level instead, the same months alarm again and again.
    scores = [
        g["outcome"].sum() * np.log(2) - cusum.month_penalty(g["expected"])
        for _, g in sessions.groupby("month")
    ]
    assert cusum.run_cusum(scores, result.limit)[1].sum() >= 3


def test_a_rebase_restarts_the_cusum_and_learns_the_new_level():
    sessions = clinic(seed=8, change=19)
    rebased = risk_adjusted_alert(sessions, rebase=["2025-07"])
    after = rebased.months[rebased.months["segment"] == 1]
    assert after["month"].iloc[0] == pd.Timestamp("2025-07-01")
    assert not after["alert"].any(), "the tripled level is the new segment's own usual level"
    short = risk_adjusted_alert(sessions, rebase=["2026-08"])
    assert short.status == "not_enough_data" and not short.alert
    assert "5 months of data since August 2026, at least 8 needed" in short.reading


def test_unknown_outcomes_and_a_failed_case_mix_give_plain_words():
    empty = risk_adjusted_alert(pd.DataFrame({"month": [], "outcome": [], "expected": []}))
    assert empty.status == "not_enough_data" and not empty.alert
    frame = clinic(seed=2, months=10)
    frame.attrs["case_mix"] = {"status": "not_enough_data", "n_sessions": 900, "n_events": 0}
    failed = risk_adjusted_alert(frame)
    assert failed.status == "no_case_mix" and "no sessions with a side effect at all" in failed.reading


def test_dissatisfaction_counts_answers_of_one_to_three_among_answered_surveys():
    from sample_data.generator import generate_sessions

    sessions = generate_sessions(clinics=2, patients=300, months=12, seed=5)
    sessions = sessions.assign(
        patient_key=sessions["patient_id"],
        any_side_effect=sessions["follow_up_done"],
    )
    inputs = dissatisfaction_inputs(sessions)
    answered = sessions["satisfaction"].notna()
    assert inputs["outcome"].isna().tolist() == (~answered).tolist()
    assert (
        inputs.loc[answered, "outcome"].astype(bool).tolist()
        == (sessions.loc[answered, "satisfaction"] <= 3).tolist()
    )
    assert inputs.loc[answered, "expected"].between(0, 1).all()
    assert inputs.attrs["case_mix"]["n_events"] == int((sessions["satisfaction"] <= 3).sum())
    result = risk_adjusted_alert(inputs, NOT_SATISFIED)
    assert result.what == NOT_SATISFIED[0] and result.status == "ok"


def test_the_verdict_reads_the_chart_then_the_alert():
    sessions = clinic(seed=8, change=19, months=22)
    monthly = sessions.groupby("month").agg(events=("outcome", "sum"), n=("outcome", "size")).reset_index()
    chart, alert = laney_p_chart(monthly), risk_adjusted_alert(sessions)
    text = verdict(chart, alert)
    assert text.startswith(chart.reading + ". Alert: since ") and text.endswith(INVESTIGATE + ".")
