"""Fair comparison of clinicians and clinics: the case-mix model, O/E ratios and over-dispersed funnel limits."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from analysis.case_mix import OUTCOME, fit_case_mix  # noqa: F401 - re-exported for callers
from analysis.rates import exact_poisson_interval, small_sample

METHODS = ("additive", "multiplicative", "none")
LEVELS = {"95": 0.95, "998": 0.998}
TRIM = 0.10  # winsorise z-scores at the 10th and 90th percentiles (Spiegelhalter 2005)
OVERDISPERSION_ALPHA = 0.05
MIN_UNITS_FOR_OVERDISPERSION = 5
MIN_EXPECTED = 5.0

READ_ABOVE = "more events than expected for its case mix, beyond what chance explains"
READ_BELOW = "fewer events than expected for its case mix, beyond what chance explains"
READ_WITHIN = "within the expected range"

UNIT_COLUMNS = [
    "unit",
    "n_sessions",
    "observed",
    "expected",
    "oe_ratio",
    "oe_low",
    "oe_high",
    "z",
    "z_winsorised",
    "z_adjusted",
    "lower_95",
    "upper_95",
    "lower_998",
    "upper_998",
    "outside_95",
    "flag",
    "reading",
    "small_sample",
]
CURVE_COLUMNS = ["expected", "target", "lower_95", "upper_95", "lower_998", "upper_998"]


@dataclass(frozen=True, eq=False)
class FunnelResult:
    """Observed vs expected events per unit with funnel limits, and how over-dispersion was handled.

    ``units`` has one row per unit (sorted by unit id, never by performance) with the columns of
    :data:`UNIT_COLUMNS`; ``curve`` holds the limits over a grid of expected counts for drawing.
    ``adjustment`` is what was applied (``"additive"``, ``"multiplicative"`` or ``"none"``);
    ``method`` is what was asked for. ``phi`` (winsorised dispersion ratio), ``tau2`` (between-unit
    variance on the square-root scale) and ``overdispersion_p`` are reported as estimated, whether
    or not they were applied. ``status`` is ``"ok"`` or ``"not_enough_data"``; ``notes`` say in
    words what was done (and carry the case-mix model's warnings).
    """

    outcome: str
    unit: str
    method: str
    adjustment: str
    units: pd.DataFrame
    curve: pd.DataFrame
    phi: float = float("nan")
    tau2: float = 0.0
    overdispersion_p: float = float("nan")
    n_units: int = 0
    n_sessions: int = 0
    observed: int = 0
    expected: float = 0.0
    status: str = "ok"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return {
            "outcome": self.outcome,
            "unit": self.unit,
            "method": self.method,
            "adjustment": self.adjustment,
            "phi": self.phi,
            "tau2": self.tau2,
            "overdispersion_p": self.overdispersion_p,
            "n_units": self.n_units,
            "n_sessions": self.n_sessions,
            "observed": self.observed,
            "expected": self.expected,
            "status": self.status,
            "notes": list(self.notes),
            "units": self.units.to_dict(orient="records"),
            "curve": self.curve.to_dict(orient="records"),
        }


# ---------------------------------------------------------------------------------------------- case mix


def _poisson_quantile_limit(expected: np.ndarray, p: float) -> np.ndarray:
    """The interpolated p-quantile of Poisson(E), divided by E (Spiegelhalter 2005, Stat Med, appendix)."""
    e = np.asarray(expected, dtype=float)
    r = stats.poisson.ppf(p, e)
    f_r = stats.poisson.cdf(r, e)
    f_below = stats.poisson.cdf(r - 1, e)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(f_r > f_below, (f_r - p) / (f_r - f_below), 0.0)
        return np.clip((r - alpha) / e, 0, None)


def _poisson_limits(expected: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact Poisson funnel limits for O/E at expected count E, interpolated between integers."""
    a = 1 - level
    return _poisson_quantile_limit(expected, a / 2), _poisson_quantile_limit(expected, 1 - a / 2)


def _widen(limit: np.ndarray, factor: np.ndarray | float) -> np.ndarray:
    """Stretch a ratio limit's distance from 1 on the square-root scale by ``factor`` (floored at 0)."""
    root = 1 + (np.sqrt(limit) - 1) * factor
    return np.clip(root, 0, None) ** 2


def funnel_limits(expected, level: float, adjustment: str = "none", phi: float = 1.0, tau2: float = 0.0):
    """Funnel limits for an O/E ratio at the given expected counts.

    Parameters
    ----------
    expected : array-like
        Expected event counts (x axis of the funnel).
    level : float
        Two-sided coverage, e.g. 0.95 or 0.998.
    adjustment : {"none", "additive", "multiplicative"}
        Over-dispersion handling.
    phi, tau2 : float
        Over-dispersion factor (multiplicative) and between-unit variance on the square-root scale
        (additive).

    Returns
    -------
    (lower, upper) : ndarrays

    Notes
    -----
    Without adjustment the limits are the exact Poisson limits of Spiegelhalter (2005, "Funnel plots
    for comparing institutional performance", Stat Med 24:1185, appendix) for a unit whose true
    ratio is 1: with :math:`r_p` the p-quantile of Poisson(E), i.e.
    :math:`F(r_p - 1) < p \\le F(r_p)`, and :math:`a = (F(r_p) - p)/(F(r_p) - F(r_p - 1))`, the
    limit is :math:`(r_p - a)/E` (floored at 0), for :math:`p = \\alpha/2` and :math:`1 - \\alpha/2`.
    The interpolation gives smooth curves, and a unit with no events is never flagged low unless its
    expected count makes zero events implausible. On the square-root scale a limit sits at
    :math:`\\sqrt{L} - 1 \\approx \\pm z\\,s` with :math:`s = 1/(2\\sqrt E)`. Over-dispersion
    stretches that distance: additive (random effects) by :math:`\\sqrt{1 + \\tau^2/s^2} =
    \\sqrt{1 + 4E\\tau^2}`, multiplicative by :math:`\\sqrt\\phi`. With the normal approximation in
    place of the exact limit this is exactly Spiegelhalter's (2005, QSHC 14:347)
    :math:`(1 \\pm z\\sqrt{s^2 + \\tau^2})^2`; keeping the exact part means an adjusted limit is never
    narrower than the plain Poisson one, also at small E.
    """
    e = np.asarray(expected, dtype=float)
    lower, upper = _poisson_limits(e, level)
    if adjustment == "additive":
        factor = np.sqrt(1 + 4 * e * tau2)
    elif adjustment == "multiplicative":
        factor = np.sqrt(max(phi, 1.0))
    else:
        return lower, upper
    return _widen(lower, factor), _widen(upper, factor)


def _overdispersion(
    z: np.ndarray, expected: np.ndarray, trim: float
) -> tuple[np.ndarray, float, float, float]:
    """Winsorised z, phi, its chi-square p-value and the moment estimate of tau^2 (Spiegelhalter 2005)."""
    lo, hi = np.quantile(z, [trim, 1 - trim])
    z_w = np.clip(z, lo, hi)
    k = len(z)
    phi = float(np.mean(z_w**2))
    p_value = float(stats.chi2.sf(k * phi, k - 1))
    w = 4 * expected  # 1 / s^2 on the square-root scale
    denom = w.sum() - (w**2).sum() / w.sum()
    tau2 = max(0.0, (k * phi - (k - 1)) / denom) if denom > 0 else 0.0
    return z_w, phi, p_value, tau2


def _reading(flag: str, note: str) -> str:
    text = {"above": READ_ABOVE, "below": READ_BELOW}.get(flag, READ_WITHIN)
    if note and flag != "within":
        text += f" ({note})"
    return text


def funnel(
    sessions: pd.DataFrame,
    expected,
    unit: str = "clinician_id",
    outcome: str = OUTCOME,
    method: str = "additive",
    trim: float = TRIM,
    grid_points: int = 120,
) -> FunnelResult:
    """Compare units (clinicians, clinics) on observed vs case-mix-expected events, with funnel limits.

    Parameters
    ----------
    sessions : DataFrame
        Rows of the ``sessions`` table with ``unit`` and ``outcome`` columns.
    expected : Series or array-like
        Expected probability per session (e.g. from :func:`fit_case_mix`), aligned to ``sessions``.
    unit : str
        Column identifying the unit compared, default ``"clinician_id"``.
    outcome : str
        Boolean outcome, default ``"any_side_effect"``; sessions where it is null are left out.
    method : {"additive", "multiplicative", "none"}
        Over-dispersion handling when it is detected (default additive, as FunnelPlotR).
    trim : float
        Winsorising fraction at each end for estimating over-dispersion (0.1).
    grid_points : int
        Points of the ``curve`` grid.

    Returns
    -------
    FunnelResult
        ``units`` columns: ``unit, n_sessions, observed, expected, oe_ratio, oe_low, oe_high`` (exact
        Poisson 95% CI of O/E), ``z`` (square-root scale), ``z_winsorised``, ``z_adjusted`` (after the
        applied over-dispersion adjustment), ``lower_95, upper_95, lower_998, upper_998`` (funnel
        limits at the unit's expected count), ``outside_95`` (bool), ``flag``
        (``"above"``/``"below"``/``"within"`` the 99.8% limits), ``reading`` (plain words) and
        ``small_sample`` (a note when fewer than 5 events are expected or fewer than 30 sessions).
        ``curve``: ``expected, target, lower_95, upper_95, lower_998, upper_998``.

    Notes
    -----
    Estimand: each unit's indirectly standardised ratio O/E — its events over the events expected
    had its sessions carried the pooled risk for their case mix. Target 1. Following Spiegelhalter
    (2005, "Handling over-dispersion of performance indicators", QSHC 14:347):

    * z-scores on the square-root scale, :math:`y = \\sqrt{O/E}`, :math:`s = 1/(2\\sqrt E)`,
      :math:`z = (y - 1)/s = 2(\\sqrt O - \\sqrt E)`;
    * winsorise z at the 10th/90th percentiles, :math:`\\hat\\phi = \\frac1I\\sum z_w^2`, and test
      over-dispersion by comparing :math:`I\\hat\\phi` with :math:`\\chi^2_{I-1}` (one degree of
      freedom is used by the case-mix model, which makes ΣE = ΣO) at the 5% level;
    * additive random effects: :math:`\\hat\\tau^2 = \\max\\{0, (I\\hat\\phi - (I-1)) /
      (\\sum w_i - \\sum w_i^2/\\sum w_i)\\}` with :math:`w_i = 1/s_i^2 = 4E_i`, adjusted
      :math:`z_i = (y_i - 1)/\\sqrt{s_i^2 + \\hat\\tau^2}`; multiplicative: :math:`z_i/\\sqrt{\\hat\\phi}`;
    * limits: see :func:`funnel_limits`. The adjustment is applied only when over-dispersion is
      detected, and only with at least 5 units (fewer cannot estimate it).

    A unit is flagged when O/E lies outside its 99.8% limits. Assumptions: the case-mix model is
    right and complete (unmeasured case mix shows up as over-dispersion or as a false flag); the
    expected counts are treated as known. Repeated sessions of one patient are not independent; the
    over-dispersion estimate absorbs part of that extra variation. Units are returned in id order:
    a funnel plot is not a league table.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    empty = FunnelResult(
        outcome=outcome,
        unit=unit,
        method=method,
        adjustment="none",
        units=pd.DataFrame(columns=UNIT_COLUMNS),
        curve=pd.DataFrame(columns=CURVE_COLUMNS),
        status="not_enough_data",
    )
    if sessions is None or sessions.empty or unit not in sessions or outcome not in sessions:
        return _with_note(empty, "no sessions to compare")
    if isinstance(expected, pd.Series):
        exp = expected.reindex(sessions.index).astype(float)
    else:
        exp = pd.Series(np.asarray(expected, dtype=float), index=sessions.index)
    y = sessions[outcome].astype("boolean")
    use = y.notna() & exp.notna() & sessions[unit].notna()
    if not use.any():
        return _with_note(empty, "no sessions with a known outcome and an expected risk")
    data = pd.DataFrame(
        {
            "unit": sessions.loc[use, unit].to_numpy(),
            "y": y[use].astype(int).to_numpy(),
            "p": exp[use].to_numpy(),
        }
    )
    agg = data.groupby("unit", sort=True).agg(
        n_sessions=("y", "size"), observed=("y", "sum"), expected=("p", "sum")
    )
    agg = agg.reset_index()
    notes: list[str] = []
    if isinstance(expected, pd.Series):
        notes += [f"case mix: {w}" for w in expected.attrs.get("warnings", [])]
    no_expectation = agg["expected"] <= 0
    if no_expectation.any():
        notes.append(f"{int(no_expectation.sum())} unit(s) with no expected events were left out")
        agg = agg.loc[~no_expectation].reset_index(drop=True)
    if agg.empty:
        return _with_note(empty, "no events expected in any unit: nothing to compare")

    o = agg["observed"].to_numpy(dtype=float)
    e = agg["expected"].to_numpy(dtype=float)
    z = 2 * (np.sqrt(o) - np.sqrt(e))
    k = len(agg)
    if k >= MIN_UNITS_FOR_OVERDISPERSION:
        z_w, phi, p_value, tau2 = _overdispersion(z, e, trim)
    else:
        z_w, phi, p_value, tau2 = np.full(k, np.nan), float("nan"), float("nan"), 0.0
        notes.append(
            f"only {k} unit(s): too few to estimate over-dispersion, so the limits assume chance variation only"
        )

    detected = bool(p_value < OVERDISPERSION_ALPHA) if not np.isnan(p_value) else False
    adjustment = "none"
    if method == "additive" and detected and tau2 > 0:
        adjustment = "additive"
        z_adj = (np.sqrt(o / e) - 1) / np.sqrt(1 / (4 * e) + tau2)
    elif method == "multiplicative" and detected and phi > 1:
        adjustment = "multiplicative"
        z_adj = z / np.sqrt(phi)
    else:
        z_adj = z
    if detected and adjustment == "none" and method == "none":
        notes.append(f"over-dispersion detected (phi = {phi:.2f}) but not adjusted for (method='none')")
    elif detected:
        notes.append(f"over-dispersion detected (phi = {phi:.2f}); limits widened ({adjustment})")
    elif not np.isnan(p_value):
        notes.append(
            f"no over-dispersion detected (phi = {phi:.2f}, p = {p_value:.2f}); plain Poisson limits"
        )

    units = agg.copy()
    units["oe_ratio"] = o / e
    units["oe_low"], units["oe_high"] = exact_poisson_interval(o, 0.95, expected=e)
    units["z"] = z
    units["z_winsorised"] = z_w
    units["z_adjusted"] = z_adj
    for name, level in LEVELS.items():
        low, high = funnel_limits(e, level, adjustment, phi, tau2)
        units[f"lower_{name}"], units[f"upper_{name}"] = low, high
    ratio = units["oe_ratio"]
    units["outside_95"] = (ratio > units["upper_95"]) | (ratio < units["lower_95"])
    units["flag"] = np.select(
        [ratio > units["upper_998"], ratio < units["lower_998"]], ["above", "below"], default="within"
    )
    units["small_sample"] = [
        small_sample(n, ex).replace("few events", "few expected events")
        for n, ex in zip(units["n_sessions"], units["expected"], strict=True)
    ]
    units["reading"] = [_reading(f, s) for f, s in zip(units["flag"], units["small_sample"], strict=True)]
    units["observed"] = units["observed"].astype(int)
    units["n_sessions"] = units["n_sessions"].astype(int)

    top = max(float(e.max()) * 1.2, MIN_EXPECTED * 2)
    grid = np.geomspace(min(0.5, float(e.min())), top, grid_points)
    curve = pd.DataFrame({"expected": grid, "target": 1.0})
    for name, level in LEVELS.items():
        curve[f"lower_{name}"], curve[f"upper_{name}"] = funnel_limits(grid, level, adjustment, phi, tau2)

    return FunnelResult(
        outcome=outcome,
        unit=unit,
        method=method,
        adjustment=adjustment,
        units=units[UNIT_COLUMNS],
        curve=curve[CURVE_COLUMNS],
        phi=phi,
        tau2=tau2,
        overdispersion_p=p_value,
        n_units=k,
        n_sessions=int(units["n_sessions"].sum()),
        observed=int(o.sum()),
        expected=float(e.sum()),
        status="ok",
        notes=tuple(notes),
    )


def _with_note(result: FunnelResult, note: str) -> FunnelResult:
    return replace(result, notes=(*result.notes, note))
