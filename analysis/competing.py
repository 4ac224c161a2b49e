"""Competing outcomes of a course: cumulative incidence of being satisfied, and of stopping without it.

Kaplan–Meier "sessions until satisfied" treats a patient who stops unhappy like one still being
treated (censored): as if she could still become satisfied. When unhappy patients are the ones who
stop, that curve is optimistic. The cumulative incidence functions (Aalen–Johansen) count stopping as
what it is — an outcome that ends the course without a 4–5 rating — beside being satisfied.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

#: Outcome codes: 0 censored (still being treated), 1 satisfied, 2 stopped without a 4–5 rating.
SATISFIED, STOPPED = 1, 2
CIF_COLUMNS = [
    "session",
    "at_risk",
    "satisfied",
    "stopped",
    "censored",
    "cif_satisfied",
    "cif_satisfied_low",
    "cif_satisfied_high",
    "cif_stopped",
    "cif_stopped_low",
    "cif_stopped_high",
]


def cumulative_incidence(
    entry: np.ndarray, time: np.ndarray, cause: np.ndarray, horizon: int, level: float = 0.95
) -> pd.DataFrame:
    """Aalen–Johansen cumulative incidence of each outcome by session, with delayed entry.

    Parameters
    ----------
    entry : array
        The session at which each course enters observation (1, or later for a course first seen
        after its first session: left truncation).
    time : array
        The session of the course's outcome, or of its last session when censored.
    cause : array
        :data:`SATISFIED`, :data:`STOPPED` or 0 (censored).
    horizon : int
        Sessions 1..horizon are returned (more when the data go further).
    level : float
        Confidence level of the pointwise intervals.

    Returns
    -------
    DataFrame
        Columns of :data:`CIF_COLUMNS`, one row per session.

    Notes
    -----
    At each session k, with ``n_k`` courses at risk (entered at or before k, outcome or censoring at
    or after k), ``d_jk`` outcomes of kind j and ``S`` the Kaplan–Meier probability of no outcome yet,
    :math:`F_j(k) = \\sum_{i \\le k} S(i-1)\\,d_{ji}/n_i`. Variance: the delta-method estimator of
    Marubini & Valsecchi (1995, §10.2), as in Stata's stcompet and statsmodels'
    ``CumIncidenceRight``; intervals on the log(−log) scale, :math:`F^{\\exp(\\pm z\\,se/(F\\log F))}`,
    so they stay within (0, 1). Courses are assumed independent and censoring (still being treated)
    non-informative; stopping is not censoring here.
    """
    z = float(stats.norm.ppf(0.5 + level / 2))
    entry, time, cause = (np.asarray(a, dtype=float) for a in (entry, time, cause))
    last = int(time.max()) if len(time) else 0
    grid = np.arange(1, max(horizon, last) + 1)
    at_risk = np.array([np.sum((entry <= k) & (time >= k)) for k in grid], dtype=float)
    d1 = np.array([np.sum((time == k) & (cause == SATISFIED)) for k in grid], dtype=float)
    d2 = np.array([np.sum((time == k) & (cause == STOPPED)) for k in grid], dtype=float)
    censored = np.array([np.sum((time == k) & (cause == 0)) for k in grid], dtype=float)
    d = d1 + d2
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(at_risk > 0, d / at_risk, 0.0)
        surv = np.cumprod(1 - hazard)
        before = np.concatenate([[1.0], surv[:-1]])
        out = {"session": grid, "at_risk": at_risk, "satisfied": d1, "stopped": d2, "censored": censored}
        for name, dj in (("satisfied", d1), ("stopped", d2)):
            jump = np.where(at_risk > 0, before * dj / at_risk, 0.0)
            cif = np.cumsum(jump)
            var = np.zeros(len(grid))
            for t in range(len(grid)):
                i = np.arange(t + 1)
                n, di, dji = at_risk[i], d[i], dj[i]
                ok = n > 0
                gap = cif[t] - cif[i]
                greenwood = np.where(ok & (n > di), di / (n * (n - di)), 0.0)
                own = np.where(ok, before[i] ** 2 * dji * (n - dji) / n**3, 0.0)
                cross = np.where(ok, gap * before[i] * dji / n**2, 0.0)
                var[t] = np.sum(gap**2 * greenwood + own - 2 * cross)
            se = np.sqrt(np.clip(var, 0, None))
            spread = z * se / np.abs(cif * np.log(cif))
            low = np.where((cif > 0) & (cif < 1), cif ** np.exp(spread), np.nan)
            high = np.where((cif > 0) & (cif < 1), cif ** np.exp(-spread), np.nan)
            beyond = grid > last
            out[f"cif_{name}"] = np.where(beyond, np.nan, cif)
            out[f"cif_{name}_low"] = np.where(beyond, np.nan, np.where(cif == 0, 0.0, low))
            out[f"cif_{name}_high"] = np.where(beyond, np.nan, np.where(cif == 0, 0.0, high))
            out[f"_se_{name}"] = se
    frame = pd.DataFrame(out)
    frame.attrs["se"] = {
        "satisfied": frame.pop("_se_satisfied").to_numpy(),
        "stopped": frame.pop("_se_stopped").to_numpy(),
    }
    return frame[CIF_COLUMNS]
