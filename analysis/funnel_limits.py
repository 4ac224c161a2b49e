"""Funnel limits and over-dispersion for indirectly standardised ratios (O/E), as FunnelPlotR computes them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

#: ``"spiegelhalter"`` is the product's default (see :func:`standardised_ratio_funnel`); ``"shmi"`` and
#: ``"cqc"`` are FunnelPlotR's two ``sr_method`` values, reproduced as that package codes them.
METHODS = ("spiegelhalter", "shmi", "cqc")
DEFAULT_METHOD = "spiegelhalter"
#: Share trimmed (SHMI) or winsorised (the others) at each end before estimating over-dispersion.
TRIM = 0.10
#: Two-sided levels: tail probabilities and FunnelPlotR's hard-coded normal quantiles (not qnorm()).
LEVELS = {"95": (0.025, 1.959964), "998": (0.001, 3.090232)}
#: Fewest degrees of freedom (units compared, less one per group they are compared within) from which
#: over-dispersion is estimated at all: 10 units for a plain funnel. See :func:`enough_units`.
MIN_UNITS_FOR_OVERDISPERSION = 10

FRAME_COLUMNS = [
    "observed",
    "expected",
    "ratio",
    "z",
    "z_used",
    "trimmed",
    *(f"plain_{side}_{level}" for level in LEVELS for side in ("lower", "upper")),
    *(f"{side}_{level}" for level in LEVELS for side in ("lower", "upper")),
    "outside_95",
    "outside_998",
]


@dataclass(frozen=True)
class Overdispersion:
    """How much units vary beyond chance, and whether the limits were widened for it.

    ``phi`` is the dispersion ratio of the (trimmed or winsorised) z-scores, 1 when units differ only
    by chance; ``tau2`` the DerSimonian-Laird between-unit variance on the method's scale (log for
    SHMI, square root otherwise); ``n_used`` the units that entered the estimate and ``n_groups`` the
    groups they were compared within (1 for a plain funnel). ``applied`` says whether the limits in
    force are the widened ones; ``reason`` says why in plain words.
    """

    method: str
    trim: float
    phi: float
    tau2: float
    n_used: int
    n_groups: int
    applied: bool
    reason: str

    @property
    def degrees_of_freedom(self) -> int:
        return self.n_used - self.n_groups


def exact_limits(expected, level: str) -> tuple[np.ndarray, np.ndarray]:
    """FunnelPlotR's unadjusted ("exact Poisson") limits of O/E at expected count(s) E.

    Lower :math:`G^{-1}_{E}(\\alpha/2)/E`, upper :math:`G^{-1}_{E+1}(1-\\alpha/2)/E`, with
    :math:`G_a` the Gamma(a, 1) distribution (FunnelPlotR writes them ``qchisq(p, 2E)/2/E``): the
    Garwood confidence limits of a mean whose observed count is E, at continuous E. Used as limits for
    a count whose mean is E they swap the two tails: the upper limit is conservative, the lower one is
    not: below its 95% limit fall 4.0% of counts at E = 5 and 2.9% at E = 100 rather than 2.5%, and
    at small E every unit with no events (a third of all units at E = 1.1, by chance alone). The ``shmi`` and ``cqc`` methods keep them
    to reproduce FunnelPlotR; the default uses :func:`poisson_test_limits`.
    """
    e = np.asarray(expected, dtype=float)
    tail = LEVELS[level][0]
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = stats.chi2.isf(1 - tail, 2 * e) / 2 / e
        upper = stats.chi2.isf(tail, 2 * (e + 1)) / 2 / e
    return lower, upper


def poisson_test_limits(expected, level: str) -> tuple[np.ndarray, np.ndarray]:
    """Limits of O/E beyond which a count whose mean is E falls with probability at most alpha/2 each side.

    A count o is below the lower limit exactly when :math:`P(O \\le o \\mid E) < \\alpha/2` and above the
    upper one exactly when :math:`P(O \\ge o \\mid E) < \\alpha/2`, O ~ Poisson(E): the equal-tailed exact
    Poisson test of a ratio of 1. Through :math:`P(O \\le o) = 1 - G_{o+1}(E)` the boundaries are
    continuous in E: lower :math:`(a - 1)/E` (floored at 0) with :math:`G_a(E) = 1 - \\alpha/2`, upper
    :math:`b/E` with :math:`G_b(E) = \\alpha/2`. At integer counts they flag what the exact test
    rejects and nothing else, so chance alone leaves a unit outside at most 2.5% (0.1%) of the time on
    each side, and a unit with no events is never "below" unless its expected count makes none
    improbable (E > 3.7 at 95%, E > 6.9 at 99.8%).
    """
    e = np.asarray(expected, dtype=float)
    tail = LEVELS[level][0]
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = np.clip(special.gdtrib(1.0, 1 - tail, e) - 1, 0, None) / e
        upper = special.gdtrib(1.0, tail, e) / e
    return lower, upper


def plain_limits(expected, level: str, method: str = DEFAULT_METHOD) -> tuple[np.ndarray, np.ndarray]:
    """The limits for chance alone: FunnelPlotR's for its methods, the exact Poisson test's for the default."""
    return (
        exact_limits(expected, level) if method in ("shmi", "cqc") else poisson_test_limits(expected, level)
    )


def adjusted_limits(expected, level: str, tau2: float, method: str = DEFAULT_METHOD):
    """Limits of O/E allowing between-unit variance ``tau2`` (additive random effects) on the method's scale.

    * ``"shmi"``: :math:`\\exp(\\pm z\\sqrt{1/E + \\tau^2})` (log scale), as FunnelPlotR;
    * ``"cqc"``: :math:`1 \\pm z\\sqrt{1/(4E) + \\tau^2}`, as FunnelPlotR codes it: the square-root-scale
      limits, never squared back to the ratio scale;
    * ``"spiegelhalter"``: the same square-root-scale limits squared back, :math:`(\\max(0, 1 \\pm
      z\\sqrt{1/(4E) + \\tau^2}))^2` (Spiegelhalter 2005, QSHC 14:347), and never inside the
      :func:`poisson_test_limits`, where the normal approximation is poor (small E).
    """
    e = np.asarray(expected, dtype=float)
    z = LEVELS[level][1]
    if method == "shmi":
        half = z * np.sqrt(1 / e + tau2)
        return np.exp(-half), np.exp(half)
    half = z * np.sqrt(1 / (4 * e) + tau2)
    if method == "cqc":
        return 1 - half, 1 + half
    lower, upper = np.clip(1 - half, 0, None) ** 2, (1 + half) ** 2
    plain_lower, plain_upper = poisson_test_limits(e, level)
    return np.minimum(lower, plain_lower), np.maximum(upper, plain_upper)


def z_scores(observed, expected, method: str = DEFAULT_METHOD) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's z-score against a ratio of 1 and its standard error ``s`` on the method's scale.

    SHMI: :math:`z = \\sqrt E \\log(O/E)`, :math:`s = 1/\\sqrt E`; square root (CQC and Spiegelhalter):
    :math:`z = (\\sqrt{O/E} - 1)/s` with :math:`s = 1/(2\\sqrt E)`, i.e. :math:`2(\\sqrt O - \\sqrt E)`.
    """
    o = np.asarray(observed, dtype=float)
    e = np.asarray(expected, dtype=float)
    with np.errstate(divide="ignore"):
        if method == "shmi":
            return np.sqrt(e) * np.log(o / e), 1 / np.sqrt(e)
    s = 1 / (2 * np.sqrt(e))
    return (np.sqrt(o / e) - 1) / s, s


def winsorise(z: np.ndarray, trim: float = TRIM) -> tuple[np.ndarray, np.ndarray]:
    """z clamped to its ``trim`` and ``1 - trim`` quantiles (linear interpolation, R's type 7); and which moved.

    Like FunnelPlotR, a unit counts as winsorised unless strictly inside the two quantiles.
    """
    low, high = np.quantile(z, [trim, 1 - trim])
    return np.clip(z, low, high), ~((z > low) & (z < high))


def truncate(z: np.ndarray, trim: float = TRIM) -> tuple[np.ndarray, np.ndarray]:
    """z with the lowest and highest ``trim`` share set to NaN (FunnelPlotR's SHMI rule); and which were.

    With :math:`k = 1/\\text{trim}` groups and average ranks :math:`r`, a unit stays when
    :math:`0 < \\lfloor r k/(n + 1)\\rfloor < k - 1`: with 10%, fewer than 9 units lose nobody, 9 units lose
    the highest only, and from 10 units at least one unit goes at each end.
    """
    k = 1 / trim
    group = np.floor(stats.rankdata(z, method="average") * k / (len(z) + 1))
    dropped = ~((group > 0) & (group < k - 1))
    return np.where(dropped, np.nan, z), dropped


def dispersion(z: np.ndarray, s: np.ndarray, groups=None) -> tuple[float, float]:
    """The dispersion ratio phi and the DerSimonian-Laird tau^2 of the units whose z is not NaN.

    With one group (``groups`` None) these are FunnelPlotR's: :math:`\\phi = \\sum z^2/n` and
    :math:`\\tau^2 = \\max\\{0, (n\\phi - (n - 1))/(\\sum w - \\sum w^2/\\sum w)\\}`, :math:`w = 1/s^2`,
    and 0 when :math:`n\\phi < n - 1`.

    When the expected counts come from a model with a fixed effect per group (e.g. clinicians
    compared within their clinic), observed and expected agree within every group, which uses one
    degree of freedom per group rather than one in all. With C groups the same moment estimators
    become :math:`\\phi = \\sum z^2/(n - C + 1)` and :math:`\\tau^2 = \\max\\{0, (\\sum z^2 - (n - C)) /
    \\sum_c(\\sum_c w - \\sum_c w^2/\\sum_c w)\\}` (the DerSimonian-Laird estimator of a meta-regression
    on group), which reduce to FunnelPlotR's when C = 1 and keep phi near 1 when units differ only by
    chance.
    """
    keep = ~np.isnan(z)
    z, w = z[keep], 1 / s[keep] ** 2
    g = np.zeros(len(z), dtype=int) if groups is None else pd.factorize(np.asarray(groups)[keep])[0]
    n, c = len(z), len(np.unique(g))
    if n == 0:
        return float("nan"), 0.0
    q = float(np.sum(z**2))
    phi = q / (n - c + 1)
    sums = np.bincount(g, weights=w)
    squares = np.bincount(g, weights=w**2)
    denominator = float(np.sum(sums - np.divide(squares, sums, out=np.zeros_like(sums), where=sums > 0)))
    if q < n - c or denominator <= 0:
        return phi, 0.0
    return phi, max(0.0, (q - (n - c)) / denominator)


def enough_units(n_units: int, n_groups: int = 1, minimum: int = MIN_UNITS_FOR_OVERDISPERSION) -> bool:
    """Whether ``n_units`` compared within ``n_groups`` groups can estimate over-dispersion at all.

    Needs :math:`n - C + 1 \\ge` ``minimum`` (10 units for a plain funnel). Below 10 the 10% trimmed at
    each end is less than one unit (FunnelPlotR's SHMI truncation drops from both ends only from 10
    units on; winsorising clamps the extreme unit only part of the way to its neighbour), so
    the very unit a funnel is meant to catch inflates phi and widens everyone's limits, its own
    included; and phi is too noisy to act on: with no over-dispersion at all, :math:`n\\phi \\sim
    \\chi^2_{n-1}`, whose middle 95% for 4 units is phi 0.05-2.3 and for 10 units 0.27-1.9.
    """
    return n_units - n_groups + 1 >= minimum


def outside(ratio, lower, upper) -> np.ndarray:
    """True where a ratio lies beyond its limits; a ratio exactly on a limit is inside (FunnelPlotR)."""
    ratio = np.asarray(ratio, dtype=float)
    return ~((ratio <= np.asarray(upper)) & (ratio >= np.asarray(lower)))


def standardised_ratio_funnel(
    observed,
    expected,
    *,
    method: str = DEFAULT_METHOD,
    trim: float = TRIM,
    adjust: bool = True,
    groups=None,
    shmi_rounding: bool = True,
) -> tuple[pd.DataFrame, Overdispersion]:
    """Per-unit ratios, z-scores, limits and outlier flags, and the over-dispersion they were judged with.

    Parameters
    ----------
    observed, expected : array-like
        Observed and case-mix-expected event counts per unit (expected > 0).
    method : {"spiegelhalter", "shmi", "cqc"}
        Scale and outlier handling for over-dispersion (see Notes).
    trim : float
        Share trimmed or winsorised at each end, default 0.1.
    adjust : bool
        Widen the limits for over-dispersion when it is found (FunnelPlotR's ``draw_adjusted``).
    groups : array-like, optional
        The group each unit was compared within (its expected counts come from a model with a fixed
        effect per group); see :func:`dispersion`.
    shmi_rounding : bool
        SHMI only: round E to 2 decimals before the z-scores and limits, as FunnelPlotR does by default.

    Returns
    -------
    (DataFrame, Overdispersion)
        One row per unit, in input order, with :data:`FRAME_COLUMNS`: ``ratio`` = O/E (with the
        unrounded E), ``z``, ``z_used`` (winsorised, or NaN when truncated), ``trimmed``,
        ``plain_*`` (the limits for chance alone, :func:`plain_limits`), ``lower_*``/``upper_*`` (the
        limits in force: adjusted when ``applied``, else plain) and ``outside_95``/``outside_998``.

    Notes
    -----
    Estimand: each unit's indirectly standardised ratio O/E against a target of 1. This reproduces
    FunnelPlotR 0.6.0 (``data_type = "SR"``) for ``method="shmi"`` (its default: log scale, 10%
    truncated at each end) and ``method="cqc"`` (square-root scale, 10% winsorised), including its
    hard-coded normal quantiles and its rule for adjusting: the additive (random-effects) limits
    replace the exact ones when asked and :math:`\\phi > 1`; there is no significance test and no
    multiplicative option.

    ``"spiegelhalter"``, the product's default, estimates over-dispersion exactly as FunnelPlotR's CQC
    does (Spiegelhalter 2005, QSHC 14:347: square-root scale, 10% winsorisation, DerSimonian-Laird
    :math:`\\tau^2`, the same phi and tau^2, the same rule) and corrects three things in the limits:

    * the limits for chance alone are those of the exact Poisson test of a count whose mean is E
      (:func:`poisson_test_limits`), not FunnelPlotR's, whose lower limit flags chance variation
      more often than its level says and, at small E, every unit with no events;
    * the adjusted limits are squared back from the square-root scale to the ratio scale the points
      are drawn on (FunnelPlotR compares O/E with unsquared limits, about half as wide as they should
      be: at E = 100 its 95% limits leave out a third of units that differ only by chance);
    * the adjusted limits never lie inside the limits for chance alone (at small E the normal
      approximation is narrower on one side, and allowing for extra variation must not make a limit
      stricter).

    Square root rather than SHMI's log scale, because a unit with no events has no log (SHMI's
    truncation only hides it), and the issue this answers asks for Spiegelhalter's method.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    o = np.asarray(observed, dtype=float)
    e_raw = np.asarray(expected, dtype=float)
    e = np.round(e_raw, 2) if (method == "shmi" and shmi_rounding) else e_raw
    z, s = z_scores(o, e, method)
    if method == "shmi":
        z_used, trimmed = truncate(z, trim)
    else:
        z_used, trimmed = winsorise(z, trim)
    used = ~np.isnan(z_used)
    n_groups = 1 if groups is None else len(pd.unique(np.asarray(groups)[used]))
    if not np.isfinite(z_used[used]).all():
        phi, tau2 = float("nan"), 0.0
        reason = (
            "a unit with no events has no log ratio, so over-dispersion cannot be estimated on the log scale"
        )
    else:
        phi, tau2 = dispersion(z_used, s, groups)
        reason = ""
    applied = bool(adjust and phi > 1)
    if not reason:
        if not adjust:
            reason = "not adjusted for over-dispersion (asked not to)"
        elif applied:
            reason = f"over-dispersion found (phi = {phi:.2f} > 1): limits widened by tau^2 = {tau2:.4g}"
        else:
            reason = f"no over-dispersion (phi = {phi:.2f} <= 1): limits for chance alone"
    frame = pd.DataFrame({"observed": o, "expected": e_raw, "z": z, "z_used": z_used, "trimmed": trimmed})
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["ratio"] = o / e_raw
    for level in LEVELS:
        plain = plain_limits(e, level, method)
        frame[f"plain_lower_{level}"], frame[f"plain_upper_{level}"] = plain
        limits = adjusted_limits(e, level, tau2, method) if applied else plain
        frame[f"lower_{level}"], frame[f"upper_{level}"] = limits
        frame[f"outside_{level}"] = outside(frame["ratio"], *limits)
    result = Overdispersion(method, trim, phi, tau2, int(used.sum()), n_groups, applied, reason)
    return frame[FRAME_COLUMNS], result


def limit_curve(
    expected, overdispersion: Overdispersion, points: int = 200, start: float = 1.1
) -> pd.DataFrame:
    """The chance-alone and in-force limits over a grid of expected counts, for drawing the funnel.

    FunnelPlotR evaluates the same closed forms on 1000 evenly spaced points from E = 1.1; the grid
    here is geometric (the funnel changes fastest at small E), from ``start`` (or below it, when a
    unit expects fewer events) to just past the largest expected count. Unit values are not added to
    the grid, so the curve reveals no unit's expected count.
    """
    e = np.asarray(expected, dtype=float)
    low = min(start, float(np.min(e))) if len(e) else start
    high = max(float(np.max(e)) * 1.1 if len(e) else 10.0, 10.0)
    grid = np.geomspace(low, high, points)
    curve = pd.DataFrame({"expected": grid, "target": 1.0})
    for level in LEVELS:
        plain = plain_limits(grid, level, overdispersion.method)
        curve[f"plain_lower_{level}"], curve[f"plain_upper_{level}"] = plain
        limits = (
            adjusted_limits(grid, level, overdispersion.tau2, overdispersion.method)
            if overdispersion.applied
            else plain
        )
        curve[f"lower_{level}"], curve[f"upper_{level}"] = limits
    return curve
