"""A jump in quarantined rows: rare on a stable clinic, found when the share of bad rows is planted to jump."""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest

from analysis.quarantine_jump import ALPHA, quarantine_jump


def _simulate(rng, share_base: float, share_month: float, n_month: int, n_base: int, runs: int) -> float:
    hits = 0
    for _ in range(runs):
        q = rng.binomial(n_month, share_month)
        b = rng.binomial(n_base, share_base)
        hits += quarantine_jump(n_month, int(q), n_base, int(b)).jump
    return hits / runs


def test_a_stable_clinic_alarms_no_more_often_than_the_stated_rate():
    rng = np.random.default_rng(16)
    # 20,000 stable clinic-months at 2% bad rows, 400 rows a month against six months of baseline.
    rate = _simulate(rng, 0.02, 0.02, 400, 2400, 20_000)
    assert rate <= ALPHA * 1.5  # the exact conditional test keeps the false-alarm rate at most ALPHA


def test_a_planted_jump_from_two_to_eight_per_cent_is_found():
    rng = np.random.default_rng(61)
    assert _simulate(rng, 0.02, 0.08, 400, 2400, 2_000) >= 0.95


def test_the_p_value_is_the_exact_conditional_binomial_test():
    found = quarantine_jump(300, 14, 1800, 20)
    reference = binomtest(14, 34, 300 / 2100, alternative="greater").pvalue  # scipy's own exact test
    assert np.isclose(found.p_value, reference, rtol=1e-12)
    assert found.ratio == (14 / 300) / (20 / 1800) and found.jump


def test_a_few_rows_or_no_history_never_alarm():
    assert not quarantine_jump(50, 4, 1000, 0).jump  # four bad rows: below the minimum count
    assert not quarantine_jump(50, 30, 0, 0).jump and quarantine_jump(50, 30, 0, 0).p_value is None
