"""A jump in quarantined rows: has this month's share of rejected rows risen beyond chance above the clinic's own?

A clinic's exports carry a few bad rows every month; an alert should fire when a month's share is
clearly above that clinic's usual share, not when it wobbles. "Jump" is defined as both:

* the month's share is at least :data:`MIN_RATIO` times the baseline share (a doubling: a change a
  manager would call a jump), with at least :data:`MIN_ROWS` quarantined rows; and
* it is beyond chance: the exact conditional test of two Poisson/binomial counts. Given the
  ``k = q_month + q_base`` quarantined rows of the month and its baseline, under "same share" the
  month's count is Binomial(k, n_month / (n_month + n_base)); the one-sided p-value
  P(X >= q_month) must be below :data:`ALPHA`.

The conditional test needs no estimate of the baseline share, so a short or small baseline makes it
harder, not easier, to alarm. Its false-alarm rate on a stable binomial process is at most ALPHA per
clinic-month (the test is exact and conservative); ``tests/analysis/test_quarantine_jump.py``
measures it on simulated stable clinics and the detection of a planted jump. Months whose bad rows
come in bursts (one broken file) vary more than binomially, so real false alarms will be more
frequent than ALPHA: the alert says "look at this month's files", nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import binom

ALPHA = 0.001
MIN_RATIO = 2.0
MIN_ROWS = 5
BASELINE_MONTHS = 6


@dataclass(frozen=True)
class JumpTest:
    """The month against its baseline: shares, the ratio, the one-sided p-value and whether it is a jump."""

    rows: int
    quarantined: int
    base_rows: int
    base_quarantined: int
    share: float
    base_share: float | None
    ratio: float | None
    p_value: float | None
    jump: bool


def quarantine_jump(
    rows: int, quarantined: int, base_rows: int, base_quarantined: int, alpha: float = ALPHA
) -> JumpTest:
    """Whether ``quarantined`` of ``rows`` this month is a jump over ``base_quarantined`` of ``base_rows``.

    Notes
    -----
    Estimand: the ratio of this month's quarantined share to the baseline's. The test conditions on
    the total quarantined count (exact; valid for any baseline share). No baseline rows: no verdict.
    """
    share = quarantined / rows if rows else 0.0
    if base_rows <= 0 or rows <= 0:
        return JumpTest(rows, quarantined, base_rows, base_quarantined, share, None, None, None, False)
    base_share = base_quarantined / base_rows
    ratio = share / base_share if base_share > 0 else (float("inf") if share > 0 else None)
    total = quarantined + base_quarantined
    p_value = float(binom.sf(quarantined - 1, total, rows / (rows + base_rows))) if quarantined else 1.0
    jump = quarantined >= MIN_ROWS and (ratio is not None and ratio >= MIN_RATIO) and p_value < alpha
    return JumpTest(rows, quarantined, base_rows, base_quarantined, share, base_share, ratio, p_value, jump)
