"""The special-cause rules as they were before issue 13 (unchanged copy), for ``bench/legacy_spc.py``."""

from __future__ import annotations

import numpy as np
import pandas as pd

RUN_LENGTH = 8  # points in a row on one side of the centre line
TREND_LENGTH = 6  # points in a row, each higher (or each lower) than the one before
RULE_COLUMNS = ["rule_beyond_limits", "rule_run", "rule_trend", "rule_two_of_three", "special_cause"]


def _runs(values: np.ndarray) -> np.ndarray:
    """Length of the run of equal, non-zero values each element belongs to (0 for zeros)."""
    out = np.zeros(len(values), dtype=int)
    start = 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            if values[start] != 0:
                out[start:i] = i - start
            start = i
    return out


def special_cause_rules(
    value,
    centre,
    lower,
    upper,
    lower_2s,
    upper_2s,
    run_length: int = RUN_LENGTH,
    trend_length: int = TREND_LENGTH,
) -> pd.DataFrame:
    """Per-point flags for the standard special-cause rules.

    Parameters
    ----------
    value : array-like
        The plotted statistic in time order.
    centre, lower, upper, lower_2s, upper_2s : scalar or array-like
        Centre line, 3-sigma limits and 2-sigma lines (arrays when limits vary by point).
    run_length, trend_length : int
        Points needed for a run (default 8) and a trend (default 6).

    Returns
    -------
    DataFrame
        Boolean columns ``rule_beyond_limits, rule_run, rule_trend, rule_two_of_three,
        special_cause`` (any rule). Every point that is part of a pattern is flagged, not only the
        last one.

    Notes
    -----
    Rules (Western Electric 1956; Montgomery, *Introduction to Statistical Quality Control*;
    as read in NHSRplotthedots): (1) a point beyond a 3-sigma limit; (2) ``run_length`` points in a
    row on the same side of the centre line (a point on the line breaks the run); (3)
    ``trend_length`` points in a row each higher, or each lower, than the one before (a tie breaks
    the trend); (4) two of three consecutive points beyond the same 2-sigma line (points beyond
    3 sigma count). Each rule has a false-alarm rate of a few per thousand points on a stable
    process, so on a long chart an occasional lone signal is expected.
    """
    v = np.asarray(value, dtype=float)
    k = len(v)
    shape = np.broadcast_to
    c, lo, hi = (shape(np.asarray(x, dtype=float), (k,)) for x in (centre, lower, upper))
    lo2, hi2 = (shape(np.asarray(x, dtype=float), (k,)) for x in (lower_2s, upper_2s))
    with np.errstate(invalid="ignore"):
        beyond = (v > hi) | (v < lo)
        side = np.nan_to_num(np.sign(v - c)).astype(int)
        run = _runs(side) >= run_length

        trend = np.zeros(k, dtype=bool)
        if k >= 2:
            steps = np.nan_to_num(np.sign(np.diff(v))).astype(int)
            long_steps = _runs(steps) >= trend_length - 1
            trend[1:] |= long_steps
            trend[:-1] |= long_steps

        two = np.zeros(k, dtype=bool)
        for far in (v > hi2, v < lo2):
            for i in range(max(k - 2, 0)):
                window = far[i : i + 3]
                if window.sum() >= 2:
                    two[i : i + 3] |= window
    frame = pd.DataFrame(
        {"rule_beyond_limits": beyond, "rule_run": run, "rule_trend": trend, "rule_two_of_three": two}
    )
    frame["special_cause"] = frame.any(axis=1)
    return frame


# ---------------------------------------------------------------------------------------------- helpers
