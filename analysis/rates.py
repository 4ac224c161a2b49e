"""Rates and their intervals: Wilson and exact Poisson intervals, small-sample notes, side-effect rates by type."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

#: Side-effect codes of the session-log contract (v1); ``"any"`` is the session-level flag.
SIDE_EFFECT_TYPES = (
    "prolonged_erythema",
    "petechiae",
    "abrasion",
    "hyperpigmentation",
    "infection",
    "eye_irritation",
    "other",
)
ANY = "any"

#: Below these a rate or a ratio is shown with a plain-words warning (a rule of thumb, not a test).
MIN_N = 30
MIN_EVENTS = 5

RATE_COLUMNS = ["side_effect", "events", "n", "rate", "ci_low", "ci_high", "small_sample"]


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    return float(stats.norm.ppf(0.5 + level / 2))


def _like(template: object, values: np.ndarray) -> object:
    """Return ``values`` shaped like the caller's input: a Series keeps its index, a scalar stays scalar."""
    if isinstance(template, pd.Series):
        return pd.Series(values, index=template.index)
    if np.ndim(template) == 0:
        return float(values)
    return values


def _floats(x: object) -> np.ndarray:
    """Plain float array from a scalar, list, array or (nullable) Series; missing values become NaN."""
    if isinstance(x, pd.Series | pd.Index):
        return x.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        arr = np.asarray(x, dtype=object)
        flat = pd.Series(arr.ravel()).astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        return flat.reshape(arr.shape)


def wilson_interval(events, n, level: float = 0.95):
    """Wilson score interval for a binomial proportion, vectorised.

    Parameters
    ----------
    events, n : array-like, Series or scalar
        Number of events and number of trials (broadcast against each other).
    level : float
        Confidence level, default 0.95.

    Returns
    -------
    (low, high)
        Same kind as ``events`` (Series keep their index, scalars give floats). ``n == 0`` (or
        missing) gives NaN.

    Notes
    -----
    Estimand: the probability of an event per trial. With :math:`\\hat p = x/n` and
    :math:`z = \\Phi^{-1}(1 - \\alpha/2)` the interval is

    .. math:: \\frac{\\hat p + z^2/2n \\pm z\\sqrt{\\hat p(1-\\hat p)/n + z^2/4n^2}}{1 + z^2/n}

    (Wilson 1927; Brown, Cai & DasGupta 2001). It assumes independent trials with one common
    probability; repeated sessions of one patient make the true interval somewhat wider.
    """
    z = _z(level)
    x = _floats(events)
    m = _floats(n)
    x, m = np.broadcast_arrays(x, m)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / m
        denom = 1 + z**2 / m
        centre = (p + z**2 / (2 * m)) / denom
        half = z * np.sqrt(p * (1 - p) / m + z**2 / (4 * m**2)) / denom
        # At x = 0 (x = n) the lower (upper) limit is exactly 0 (1); say so rather than round off.
        low = np.where(m > 0, np.where(x == 0, 0.0, np.clip(centre - half, 0.0, 1.0)), np.nan)
        high = np.where(m > 0, np.where(x == m, 1.0, np.clip(centre + half, 0.0, 1.0)), np.nan)
    if isinstance(events, pd.Series):
        template = events
    elif isinstance(n, pd.Series):
        template = n
    else:
        template = low if low.ndim else events
    return _like(template, low), _like(template, high)


def exact_poisson_interval(observed, level: float = 0.95, expected=None):
    """Exact (Garwood) interval for a Poisson count, or for an O/E ratio when ``expected`` is given.

    Parameters
    ----------
    observed : array-like, Series or scalar
        Observed event counts (non-negative).
    level : float
        Confidence level, default 0.95.
    expected : array-like, Series, scalar or None
        When given, both limits are divided by it (interval for the ratio O/E).

    Returns
    -------
    (low, high)
        Same kind as ``observed``. A missing count gives NaN.

    Notes
    -----
    Estimand: the Poisson mean (or the ratio of the mean to a fixed expected count). Garwood (1936):
    :math:`L = \\chi^2_{\\alpha/2}(2O)/2` (0 when O = 0) and :math:`U = \\chi^2_{1-\\alpha/2}(2O+2)/2`.
    The expected count is treated as known (its own estimation error is ignored), as in indirect
    standardisation.
    """
    alpha = 1 - level
    _z(level)
    o = _floats(observed)
    with np.errstate(invalid="ignore"):
        low = np.where(o > 0, stats.chi2.ppf(alpha / 2, 2 * o) / 2, 0.0)
        high = stats.chi2.ppf(1 - alpha / 2, 2 * o + 2) / 2
    low = np.where(np.isnan(o), np.nan, low)
    if expected is not None:
        e = _floats(expected)
        with np.errstate(divide="ignore", invalid="ignore"):
            low = np.where(e > 0, low / e, np.nan)
            high = np.where(e > 0, high / e, np.nan)
    return _like(observed, np.asarray(low, dtype=float)), _like(observed, np.asarray(high, dtype=float))


def small_sample(
    n, events=None, *, unit: str = "sessions", min_n: int = MIN_N, min_events: float = MIN_EVENTS
) -> str:
    """A plain-words warning when a rate rests on too little data, else ``""``.

    Parameters
    ----------
    n : int
        Number of sessions (trials) behind the rate.
    events : float, optional
        Number of events (observed, or expected for an O/E ratio).
    unit : str
        What ``n`` counts, for the wording (``"sessions"``, ``"courses"``).
    min_n, min_events : thresholds
        Defaults 30 sessions and 5 events.

    Notes
    -----
    A rule of thumb for when to show a rate with a warning instead of a confident line: below about
    30 trials or 5 events the interval is wide and normal approximations fail. Not a test.
    """
    if n is None or pd.isna(n) or n <= 0:
        return f"no {unit}"
    if n < min_n:
        if n == 1:
            unit = " ".join(w[:-1] if w in ("sessions", "courses", "patients") else w for w in unit.split())
        return f"small sample: only {int(n)} {unit}, so the interval is wide"
    if events is not None and not pd.isna(events) and events < min_events:
        shown = f"{events:.1f}" if float(events) != int(events) else f"{int(events)}"
        return f"few events ({shown}): read the rate with care"
    return ""


def small_sample_notes(n: Sequence, events: Sequence | None = None, *, unit: str = "sessions") -> list[str]:
    """:func:`small_sample` for each pair of ``n`` and ``events``."""
    events = [None] * len(n) if events is None else list(events)
    return [small_sample(a, b, unit=unit) for a, b in zip(list(n), events, strict=True)]


def _known_outcome(sessions: pd.DataFrame) -> pd.Series:
    return sessions["any_side_effect"].notna()


def side_effect_indicators(sessions: pd.DataFrame) -> pd.DataFrame:
    """One boolean column per side-effect type (plus ``any``) for sessions with a known outcome.

    Notes
    -----
    Sessions whose ``any_side_effect`` is null (outcome unknown) are left out. A session whose list
    is null although the outcome is known counts as having none of the listed types; a code listed
    twice counts once. Matches the ``had_*`` flags of ``stg_sessions``.
    """
    known = sessions.loc[_known_outcome(sessions)]
    out = pd.DataFrame(False, index=known.index, columns=[ANY, *SIDE_EFFECT_TYPES])
    if known.empty:
        return out
    out[ANY] = known["any_side_effect"].astype(bool).to_numpy()
    long = known["side_effects"].explode().dropna()  # list-likes become rows; empty and null lists drop out
    long = long[long.isin(SIDE_EFFECT_TYPES)]
    if not long.empty:
        pairs = pd.DataFrame({"row": long.index, "type": long.to_numpy()}).drop_duplicates()
        hits = pd.crosstab(pairs["row"], pairs["type"]).astype(bool)
        for column in hits.columns:
            out.loc[hits.index, column] = hits[column].to_numpy()
    return out


def rates_by_type(
    sessions: pd.DataFrame, by: str | None = "fitzpatrick", level: float = 0.95
) -> pd.DataFrame:
    """Side-effect rate per session, by type (and overall ``any``), within groups of ``by``.

    Parameters
    ----------
    sessions : DataFrame
        Rows of the ``sessions`` table (needs ``any_side_effect``, ``side_effects`` and ``by``).
    by : str or None
        Grouping column (default ``"fitzpatrick"``); ``None`` for one overall group.
    level : float
        Confidence level of the Wilson interval.

    Returns
    -------
    DataFrame
        One row per group and type: ``[by], side_effect, events, n, rate, ci_low, ci_high,
        small_sample``. ``side_effect`` is one of :data:`SIDE_EFFECT_TYPES` or ``"any"``. An empty
        input (or no known outcome) gives an empty frame with these columns.

    Notes
    -----
    Estimand: the probability that a session is followed by a side effect of the given type, among
    sessions whose outcome is known (``any_side_effect`` not null: the follow-up happened). Sessions
    with an unknown outcome are excluded from numerator and denominator, which assumes they are
    missing at random within each group. Intervals are Wilson intervals treating sessions as
    independent; repeated sessions of one patient are correlated, so the intervals are somewhat too
    narrow (crude rates, not adjusted for anything).
    """
    columns = ([by] if by else []) + RATE_COLUMNS
    if sessions is None or sessions.empty or "any_side_effect" not in sessions:
        return pd.DataFrame(columns=columns)
    flags = side_effect_indicators(sessions)
    if flags.empty:
        return pd.DataFrame(columns=columns)
    keys = sessions.loc[flags.index, by] if by else pd.Series("all", index=flags.index)
    grouped = flags.astype(int).groupby(keys.to_numpy(), dropna=False, sort=True)
    events = grouped.sum()
    n = grouped.size()
    long = events.stack().rename("events").reset_index()
    long.columns = ["group", "side_effect", "events"]
    long["n"] = long["group"].map(n).astype(int)
    long["events"] = long["events"].astype(int)
    long["rate"] = long["events"] / long["n"]
    long["ci_low"], long["ci_high"] = wilson_interval(long["events"], long["n"], level)
    long["small_sample"] = small_sample_notes(long["n"], long["events"])
    long = long.rename(columns={"group": by}) if by else long.drop(columns="group")
    return long[columns].reset_index(drop=True)
