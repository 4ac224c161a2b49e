"""Risk-adjusted CUSUM (Steiner, Cook, Farewell & Treasure 2000) of monthly events, its limit set by simulation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, gammaln, logit

#: The change the CUSUM is tuned to: the odds of an event doubled (Steiner et al. 2000's choice).
ODDS_RATIO = 2.0
#: Months between false alarms on a stable process (per chart): 30 years, i.e. 0.28% of chart-months.
IN_CONTROL_ARL = 360.0
#: Simulated paths for the limit, each as long as this many in-control run lengths.
PATHS = 1000
HORIZON = 2.0
#: A fixed seed: the same months give the same limit on every refresh.
SEED = 20000441
#: SD of the prior on a chart's level against the case-mix model (log-odds): keeps it finite without events.
PRIOR_SD = 1.0
#: Risks are kept this far from 0 and 1, where the log-odds (and a score) would be infinite.
EPS = 1e-6
#: The smallest decision limit: the CUSUM must rise above zero to alarm.
H_MIN = 1e-6
_BINS = 8


@dataclass(frozen=True)
class Limit:
    """A decision limit ``h`` and the in-control run length (months) it gives, as simulated.

    ``arl`` is the target, ``simulated_arl`` and ``simulated_se`` what the simulation achieved at
    ``h`` (one over the false alarms a month, averaged over the level's error, from ``paths`` paths
    of ``horizon`` months), ``alarms`` how many paths alarmed within the horizon. ``paths == 0``:
    no simulation was needed, because a limit just above zero is already rarer than the target
    (``simulated_arl`` is then exact).
    """

    h: float
    arl: float
    simulated_arl: float
    simulated_se: float
    paths: int
    horizon: int
    alarms: int


def llr_weights(p, odds_ratio: float = ODDS_RATIO) -> tuple[np.ndarray, np.ndarray]:
    """Steiner's per-session scores: the log-likelihood ratio of odds × ``odds_ratio`` against the case-mix risk.

    An event scores :math:`\\log\\{R_A / (1 - p + R_A p)\\}`, no event :math:`-\\log(1 - p + R_A p)`.
    """
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    penalty = np.log1p((odds_ratio - 1) * p)
    return np.log(odds_ratio) - penalty, -penalty


def month_penalty(p, odds_ratio: float = ODDS_RATIO) -> float:
    """What a month's sessions subtract from the CUSUM whatever happens: :math:`\\sum \\log(1 - p_i + R_A p_i)`."""
    return float(np.log1p((odds_ratio - 1) * np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)).sum())


def offset_to_baseline(p, y, prior_sd: float = PRIOR_SD) -> float:
    """The log-odds shift that brings the case-mix risks to the level of the baseline's own events.

    Posterior mode of :math:`\\delta` in :math:`\\operatorname{logit} p_i' = \\operatorname{logit} p_i + \\delta`
    with :math:`y_i \\sim \\text{Bernoulli}(p_i')` and :math:`\\delta \\sim N(0, \\text{prior\\_sd}^2)`:
    with tens of events it is the maximum-likelihood recalibration-in-the-large; without events it
    stays finite.
    """
    eta = logit(np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS))
    y = np.asarray(y, dtype=float)
    delta = 0.0
    for _ in range(100):
        q = expit(eta + delta)
        gradient = (y - q).sum() - delta / prior_sd**2
        curvature = (q * (1 - q)).sum() + 1 / prior_sd**2
        step = gradient / curvature
        delta += step
        if abs(step) < 1e-12:
            break
    return float(delta)


def shift_risks(p, delta: float) -> np.ndarray:
    """``expit(logit(p) + delta)``, computed in one new array (the network's alert shifts 10M risks)."""
    shifted = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    logit(shifted, out=shifted)
    shifted += delta
    return expit(shifted, out=shifted)


def event_distribution(p) -> tuple[int, np.ndarray]:
    """Distribution of the number of events among sessions with risks ``p`` (Poisson-binomial).

    Risks are grouped into at most 8 bins of similar risk, each a binomial at its mean risk (this
    overstates the variance by the spread of risks within a bin, a fraction of a per cent), and the
    bins convolved over a support of ±12 standard deviations. Exact with 8 sessions or fewer.
    Returns the smallest count and the probabilities from it.
    """
    return _binned_distribution(np.sort(logit(np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS))), 0.0)


def _binned_distribution(sorted_logits: np.ndarray, error: float) -> tuple[int, np.ndarray]:
    if not len(sorted_logits):
        return 0, np.ones(1)
    edges = np.linspace(0, len(sorted_logits), min(_BINS, len(sorted_logits)) + 1).round().astype(int)
    n = np.diff(edges).astype(float)
    q = np.clip(np.add.reduceat(expit(sorted_logits + error), edges[:-1]) / n, EPS, 1 - EPS)
    sd = np.sqrt(n * q * (1 - q))
    first = np.maximum(0, np.floor(n * q - 12 * sd) - 1)
    last = np.minimum(n, np.ceil(n * q + 12 * sd) + 1)
    sizes = (last - first + 1).astype(int)
    k = np.concatenate([np.arange(f, f + m) for f, m in zip(first, sizes, strict=True)])
    nn, qq = np.repeat(n, sizes), np.repeat(q, sizes)
    pmfs = np.exp(
        gammaln(nn + 1) - gammaln(k + 1) - gammaln(nn - k + 1) + k * np.log(qq) + (nn - k) * np.log1p(-qq)
    )
    pmf = np.ones(1)
    for part in np.split(pmfs, np.cumsum(sizes)[:-1]):
        pmf = np.convolve(pmf, part)
    keep = np.flatnonzero(pmf > 1e-16)
    pmf = pmf[keep[0] : keep[-1] + 1]
    return int(first.sum()) + int(keep[0]), pmf / pmf.sum()


def _months(month_risks: Sequence[np.ndarray], odds_ratio: float) -> list[tuple[np.ndarray, float]]:
    """Each month's sorted log-odds risks and its penalty (what its sessions subtract whatever happens)."""
    out = []
    for risks in month_risks:
        p = np.clip(np.asarray(risks, dtype=float), EPS, 1 - EPS)
        out.append((np.sort(logit(p)), month_penalty(p, odds_ratio)))
    return out


def _score_sampler(months: list[tuple[np.ndarray, float]], odds_ratio: float, error: float = 0.0):
    """Values and cumulative probabilities of one month's score when months are drawn at random.

    Events are drawn at the expected risks shifted by ``error`` on the log-odds scale (the learnt
    level's error); the scores use the expected risks.
    """
    values, probs = [], []
    log_r = np.log(odds_ratio)
    for logits, penalty in months:
        low, pmf = _binned_distribution(logits, error)
        values.append(log_r * (low + np.arange(len(pmf))) - penalty)
        probs.append(pmf / len(months))
    values, probs = np.concatenate(values), np.concatenate(probs)
    order = np.argsort(values, kind="stable")
    cdf = np.cumsum(probs[order])
    return values[order], cdf / cdf[-1]


def _summarised(month_risks) -> bool:
    return bool(len(month_risks)) and isinstance(month_risks[0], tuple)


def running_maxima(
    month_risks: Sequence[np.ndarray],
    odds_ratio: float,
    paths: int,
    horizon: int,
    seed: int,
    error: float = 0.0,
):
    """Simulated in-control CUSUMs (months drawn from ``month_risks``, events from their risks).

    Returns the running maximum of each path (``paths`` × ``horizon``): a path's run length for a
    limit ``h`` is the first month its maximum reaches ``h``, so one simulation serves every ``h``.
    ``error`` shifts the risks events are drawn at (see :func:`_score_sampler`).
    """
    months = month_risks if _summarised(month_risks) else _months(month_risks, odds_ratio)
    values, cdf = _score_sampler(months, odds_ratio, error)
    rng = np.random.default_rng(seed)
    draws = values[
        np.minimum(np.searchsorted(cdf, rng.random((horizon, paths)), side="right"), len(values) - 1)
    ]
    # Lindley: a CUSUM floored at 0 from 0 is the climb since the lowest point of the summed scores.
    climb = np.cumsum(draws, axis=0)
    climb -= np.minimum.accumulate(np.minimum(climb, 0.0), axis=0)
    return np.maximum.accumulate(climb, axis=0).T.astype(np.float32)


def _alarms(maxima: np.ndarray, h: float) -> tuple[int, float]:
    """Paths that reach ``h`` within the horizon, and the months observed (up to the alarm, or all)."""
    horizon = maxima.shape[1]
    below = (maxima < h).sum(axis=1)
    alarmed = below < horizon
    return int(alarmed.sum()), float(np.where(alarmed, below + 1, horizon).sum())


def arl_at(maxima: np.ndarray, h: float) -> tuple[float, float, int]:
    """Average run length (months) at limit ``h`` from simulated running maxima, its SE and the alarms seen.

    Paths that never reach ``h`` are censored at the horizon; the estimate is the geometric
    (constant-hazard) one, months observed over alarms, which is unbiased for the long, nearly
    geometric run lengths of a CUSUM on a stable process.
    """
    alarms, months = _alarms(maxima, h)
    if alarms == 0:
        return float("inf"), float("inf"), 0
    arl = months / alarms
    return arl, arl / np.sqrt(alarms), alarms


def _alarm_rate(simulations: list[tuple[float, np.ndarray]], h: float) -> tuple[float, float, int]:
    """False alarms per month at ``h``, averaged over the level's error (weights), its SE and the alarms seen."""
    rate = variance = 0.0
    seen = 0
    for weight, maxima in simulations:
        alarms, months = _alarms(maxima, h)
        rate += weight * alarms / months
        variance += weight**2 * alarms / months**2
        seen += alarms
    return rate, float(np.sqrt(variance)), seen


def simulate_limit(
    month_risks: Sequence[np.ndarray],
    odds_ratio: float = ODDS_RATIO,
    arl: float = IN_CONTROL_ARL,
    paths: int = PATHS,
    horizon_factor: float = HORIZON,
    seed: int = SEED,
    level_se: float = 0.0,
) -> Limit:
    """The decision limit that gives one false alarm every ``arl`` months on a stable process.

    Parameters
    ----------
    month_risks : sequence of arrays
        Each month's expected risks (one per session with a known outcome); simulated months are
        drawn from these, so the limit fits the chart's own case mix and volume.
    odds_ratio : float
        The change the scores are tuned to detect.
    arl : float
        Target in-control average run length in months: the limit makes the expected share of
        months with a false alarm ``1 / arl``.
    paths, horizon_factor, seed
        Simulation size: about ``paths`` CUSUMs of ``horizon_factor × arl`` months, seeded.
    level_se : float
        Standard error (log-odds) of the level the expected risks were brought to. The true
        in-control risks differ from the expected ones by that error, so the simulation averages
        over it (5-point Gauss–Hermite); 0 treats the expected risks as exact.

    Notes
    -----
    In control each session's outcome is Bernoulli with its true risk and sessions are
    independent. The CUSUM adds each month's summed scores and is floored at 0 at the end of each
    month; it alarms when it reaches ``h`` and then restarts from 0, so its alarms form a renewal
    process whose rate is one over the run length from 0. Each path's first run length is
    simulated for every ``h`` at once (the first month its running maximum reaches ``h``; paths
    that never do are censored), the rate estimated as alarms over months observed, and ``h``
    found by bisection on the common paths. With a learnt level an unlucky baseline makes the
    stable process look worse (or better) than its expected risks: averaging over that error keeps
    the share of false-alarm months at ``1 / arl`` across charts, where ignoring it would let
    charts with a low baseline alarm too often.
    """
    horizon = max(12, int(np.ceil(horizon_factor * arl)))
    if level_se > 0:
        nodes, weights = np.polynomial.hermite_e.hermegauss(5)
        nodes, weights = nodes * level_se, weights / weights.sum()
    else:
        nodes, weights = np.zeros(1), np.ones(1)
    months = _months(month_risks, odds_ratio)
    target = 1.0 / arl
    # With a limit just above zero the CUSUM alarms exactly in the months whose own score is positive
    # (it never carries anything over). When that is already rarer than the target, as for charts
    # with thousands of sessions a month, the smallest limit is the answer and needs no simulation.
    floor = 0.0
    for error, weight in zip(nodes, weights, strict=True):
        values, cdf = _score_sampler(months, odds_ratio, error)
        floor += weight * (1.0 - (cdf[values < H_MIN][-1] if (values < H_MIN).any() else 0.0))
    if floor <= target:
        return Limit(H_MIN, float(arl), 1 / floor if floor > 0 else float("inf"), 0.0, 0, 0, 0)
    simulations = []
    for k, (error, weight) in enumerate(zip(nodes, weights, strict=True)):
        # Paths in proportion to the weights, but enough in the tails to see their alarms.
        count = max(50, round(paths * weight))
        simulations.append((weight, running_maxima(months, odds_ratio, count, horizon, seed + k, error)))
    low, high = H_MIN, max(H_MIN, max(float(m[:, -1].max()) for _, m in simulations))
    while high - low > 1e-4:
        mid = 0.5 * (low + high)
        if _alarm_rate(simulations, mid)[0] > target:
            low = mid
        else:
            high = mid
    rate, se, alarms = _alarm_rate(simulations, high)
    total = sum(m.shape[0] for _, m in simulations)
    simulated = 1 / rate if rate > 0 else float("inf")
    return Limit(
        float(high), float(arl), simulated, se / rate**2 if rate > 0 else float("inf"), total, horizon, alarms
    )


def run_cusum(scores, limit: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CUSUM over months: its value at each month end, the alarms, and the value each month starts from.

    :math:`S_t = \\max(0, S_{t-1} + W_t)`; an alarm when :math:`S_t \\ge h`, after which the next
    month starts from 0.
    """
    scores = np.asarray(scores, dtype=float)
    value = np.zeros(len(scores))
    start = np.zeros(len(scores))
    alarm = np.zeros(len(scores), dtype=bool)
    s = 0.0
    for t, w in enumerate(scores):
        start[t] = s
        s = max(0.0, s + w)
        value[t] = s
        if s >= limit:
            alarm[t] = True
            s = 0.0
    return value, alarm, start
