"""Fair comparison of clinicians and clinics: observed vs case-mix-expected events per unit, with funnel limits."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from analysis.case_mix import OUTCOME, fit_case_mix  # noqa: F401 - re-exported for callers
from analysis.funnel_limits import (
    DEFAULT_METHOD,
    LEVELS,
    METHODS,
    MIN_UNITS_FOR_OVERDISPERSION,
    TRIM,
    enough_units,
    limit_curve,
    standardised_ratio_funnel,
)
from analysis.rates import exact_poisson_interval, small_sample

READ_ABOVE = "more events than expected for its case mix, beyond what chance explains"
READ_BELOW = "fewer events than expected for its case mix, beyond what chance explains"
READ_WITHIN = "within the expected range"

UNIT_COLUMNS = [
    "unit",
    "group",
    "n_sessions",
    "observed",
    "expected",
    "oe_ratio",
    "oe_low",
    "oe_high",
    "z",
    "z_used",
    "trimmed",
    "lower_95",
    "upper_95",
    "lower_998",
    "upper_998",
    "plain_lower_998",
    "plain_upper_998",
    "outside_95",
    "flag",
    "reading",
    "small_sample",
]
CURVE_COLUMNS = [
    "expected",
    "target",
    *(f"{kind}{side}_{level}" for kind in ("plain_", "") for level in LEVELS for side in ("lower", "upper")),
]


@dataclass(frozen=True, eq=False)
class FunnelResult:
    """Observed vs expected events per unit with funnel limits, and how over-dispersion was handled.

    ``units`` has one row per unit (sorted by unit id, never by performance) with the columns of
    :data:`UNIT_COLUMNS`; ``curve`` holds the chance-alone (``plain_*``) and in-force limits over a grid of
    expected counts for drawing. ``method`` is the scale and outlier handling asked for
    (``"spiegelhalter"``, ``"shmi"``, ``"cqc"``); ``adjustment`` what the limits in force allow for
    (``"additive"``: between-unit variance tau^2; ``"none"``: chance alone). ``phi`` (dispersion
    ratio) and ``tau2`` are reported as estimated, whether or not they were applied; ``n_used`` units
    entered the estimate, compared within ``n_groups`` groups of ``within`` (None: one network-wide
    comparison). ``adjusted_for`` lists the case mix behind the expected counts. ``status`` is
    ``"ok"`` or ``"not_enough_data"``; ``notes`` say in words what was done, naming no unit.
    """

    outcome: str
    unit: str
    method: str
    adjustment: str
    units: pd.DataFrame
    curve: pd.DataFrame
    phi: float = float("nan")
    tau2: float = 0.0
    n_units: int = 0
    n_used: int = 0
    n_groups: int = 1
    within: str | None = None
    adjusted_for: tuple[str, ...] = ()
    n_sessions: int = 0
    observed: int = 0
    expected: float = 0.0
    status: str = "ok"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        plain = {
            name: getattr(self, name)
            for name in (
                "outcome",
                "unit",
                "method",
                "adjustment",
                "phi",
                "tau2",
                "n_units",
                "n_used",
                "n_groups",
                "within",
                "n_sessions",
                "observed",
                "expected",
                "status",
            )
        }
        return {
            **plain,
            "adjusted_for": list(self.adjusted_for),
            "notes": list(self.notes),
            "units": self.units.to_dict(orient="records"),
            "curve": self.curve.to_dict(orient="records"),
        }


def _reading(flag: str, note: str) -> str:
    text = {"above": READ_ABOVE, "below": READ_BELOW}.get(flag, READ_WITHIN)
    if note and flag != "within":
        text += f" ({note})"
    return text


def _aggregate(sessions: pd.DataFrame, expected, unit: str, outcome: str, within: str | None) -> pd.DataFrame:
    """Sessions, observed and expected events (and the group compared within) per unit, in unit order."""
    if isinstance(expected, pd.Series):
        exp = expected.reindex(sessions.index).astype(float)
    else:
        exp = pd.Series(np.asarray(expected, dtype=float), index=sessions.index)
    y = sessions[outcome].astype("boolean")
    use = (y.notna() & exp.notna() & sessions[unit].notna()).to_numpy()
    # Units (and groups) keep their dtype: a categorical is grouped by its codes, never turned into
    # a Python string per session (at 10M sessions that took 1.8 GB and most of the time).
    data = pd.DataFrame(
        {
            "unit": sessions[unit][use].array,
            "y": y.to_numpy(dtype=int, na_value=0)[use],
            "p": exp.to_numpy()[use],
        }
    )
    agg = data.groupby("unit", sort=True, observed=True).agg(
        n_sessions=("y", "size"), observed=("y", "sum"), expected=("p", "sum")
    )
    agg.index = pd.Index(np.asarray(agg.index), name="unit")
    if within:
        # A unit working in two groups is drawn in the one where it has most sessions (ties: the first).
        counts = (
            pd.DataFrame({"unit": data["unit"], "group": sessions[within][use].array})
            .groupby(["unit", "group"], sort=True, observed=True)
            .size()
            .rename("n")
            .reset_index()
        )
        counts = counts.sort_values(["unit", "n"], ascending=[True, False], kind="stable")
        first = counts.drop_duplicates("unit")
        agg["group"] = (
            pd.Series(np.asarray(first["group"]), index=np.asarray(first["unit"]))
            .reindex(agg.index)
            .to_numpy()
        )
    else:
        agg["group"] = None
    return agg.reset_index()


def funnel(
    sessions: pd.DataFrame,
    expected,
    unit: str = "clinician_id",
    outcome: str = OUTCOME,
    method: str = DEFAULT_METHOD,
    trim: float = TRIM,
    adjust: bool = True,
    within: str | None = None,
    grid_points: int = 200,
) -> FunnelResult:
    """Compare units (clinicians, clinics) on observed vs case-mix-expected events, with funnel limits.

    Parameters
    ----------
    sessions : DataFrame
        Rows of the ``sessions`` table with ``unit`` and ``outcome`` columns (and ``within``).
    expected : Series or array-like
        Expected probability per session (e.g. from :func:`fit_case_mix`), aligned to ``sessions``.
    unit : str
        Column identifying the unit compared, default ``"clinician_id"``.
    outcome : str
        Boolean outcome, default ``"any_side_effect"``; sessions where it is null are left out.
    method : {"spiegelhalter", "shmi", "cqc"}
        Scale and outlier handling for over-dispersion; see
        :func:`analysis.funnel_limits.standardised_ratio_funnel`.
    trim : float
        Share winsorised (or, for SHMI, truncated) at each end before estimating over-dispersion.
    adjust : bool
        Widen the limits for over-dispersion when it is found and can be estimated.
    within : str, optional
        The column whose groups the expected counts were fitted within (``fit_case_mix(...,
        within=...)``): units are then compared with the others of their group only.
    grid_points : int
        Points of the ``curve`` grid.

    Returns
    -------
    FunnelResult
        ``units`` columns: ``unit``, ``group`` (compared within; None without ``within``),
        ``n_sessions, observed, expected, oe_ratio, oe_low, oe_high`` (exact Poisson 95% CI of O/E),
        ``z`` (on the method's scale), ``z_used`` (as it entered phi: winsorised, or NaN when
        truncated), ``trimmed``, ``lower_95, upper_95, lower_998, upper_998`` (the limits in force at
        the unit's expected count), ``plain_lower_998, plain_upper_998`` (the limits for chance
        alone), ``outside_95`` (bool), ``flag`` (``"above"``/``"below"``/``"within"`` the 99.8% limits
        in force; a unit on a limit is within), ``reading`` (plain words) and ``small_sample``.

    Notes
    -----
    Estimand: each unit's indirectly standardised ratio O/E — its events over the events expected
    had its sessions carried the pooled risk for their case mix (within their group, when
    ``within`` is given). Target 1. The limits and the over-dispersion estimate are FunnelPlotR's
    (see :mod:`analysis.funnel_limits`); the limits are widened (additive random effects) when
    :math:`\\phi > 1` and at least :data:`MIN_UNITS_FOR_OVERDISPERSION` units (compared within
    groups: 9 more units than groups) can estimate it. With fewer, nothing is widened and the notes
    say that the limits then assume units differ only by chance once case mix is accounted for.

    Assumptions: the case-mix model is right and complete (unmeasured case mix shows up as
    over-dispersion or as a false flag); expected counts are treated as known. Repeated sessions of
    one patient are not independent; the over-dispersion estimate absorbs part of that extra
    variation. A unit alone in its group is compared with nobody (its O/E is 1 by construction) and
    is left out. Units are returned in id order: a funnel plot is not a league table.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    kind = unit.removesuffix("_id")
    empty = FunnelResult(
        outcome=outcome,
        unit=unit,
        method=method,
        adjustment="none",
        units=pd.DataFrame(columns=UNIT_COLUMNS),
        curve=pd.DataFrame(columns=CURVE_COLUMNS),
        within=within,
        adjusted_for=tuple(getattr(expected, "attrs", {}).get("adjusted_for", ())),
        status="not_enough_data",
    )
    needed = [unit, outcome] + ([within] if within else [])
    if sessions is None or sessions.empty or any(c not in sessions for c in needed):
        return _with_note(empty, "no sessions to compare")
    agg = _aggregate(sessions, expected, unit, outcome, within)
    if agg.empty:
        return _with_note(empty, "no sessions with a known outcome and an expected risk")
    notes: list[str] = []
    if isinstance(expected, pd.Series):
        notes += [f"case mix: {w}" for w in expected.attrs.get("warnings", [])]
    no_expectation = agg["expected"] <= 0
    if no_expectation.any():
        notes.append(f"{int(no_expectation.sum())} {kind}(s) with no expected events were left out")
        agg = agg.loc[~no_expectation].reset_index(drop=True)
    if within:
        alone = agg.groupby("group")["unit"].transform("size") == 1
        if alone.any():
            group = within.removesuffix("_id")
            notes.append(
                f"{int(alone.sum())} {kind}(s) the only one in their {group}: compared with nobody, not shown"
            )
            agg = agg.loc[~alone].reset_index(drop=True)
    if agg.empty:
        return replace(empty, notes=(*empty.notes, *notes, "nothing to compare"))

    o = agg["observed"].to_numpy(dtype=float)
    e = agg["expected"].to_numpy(dtype=float)
    k = len(agg)
    n_groups = int(agg["group"].nunique()) if within else 1
    enough = enough_units(k, n_groups)
    frame, od = standardised_ratio_funnel(
        o, e, method=method, trim=trim, adjust=adjust and enough, groups=agg["group"] if within else None
    )
    if within:
        notes.append(
            f"each {kind} is compared with colleagues in the same {within.removesuffix('_id')} "
            f"({k} {kind}s in {n_groups} {within.removesuffix('_id')}s)"
        )
    if not enough:
        group = within.removesuffix("_id") if within else "group"
        extra = f" in {n_groups} {group}s" if n_groups > 1 else ""
        need = (
            f"at least {MIN_UNITS_FOR_OVERDISPERSION - 1} more {kind}s than {group}s"
            if n_groups > 1
            else f"{MIN_UNITS_FOR_OVERDISPERSION} or more"
        )
        spread = f"; their spread (phi = {od.phi:.2f}) is wider than chance alone" if od.phi > 1 else ""
        notes.append(
            f"only {k} {kind}s{extra}: too few to estimate over-dispersion (it needs {need}), so the limits "
            f"assume {kind}s differ only by chance once case mix is accounted for{spread}"
        )
    elif adjust:
        notes.append(od.reason)

    units = agg.copy()
    units["oe_ratio"] = frame["ratio"].to_numpy()
    units["oe_low"], units["oe_high"] = exact_poisson_interval(o, 0.95, expected=e)
    for column in ("z", "z_used", "trimmed", "outside_95", "plain_lower_998", "plain_upper_998"):
        units[column] = frame[column].to_numpy()
    for level in LEVELS:
        units[f"lower_{level}"] = frame[f"lower_{level}"].to_numpy()
        units[f"upper_{level}"] = frame[f"upper_{level}"].to_numpy()
    ratio = units["oe_ratio"]
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

    return FunnelResult(
        outcome=outcome,
        unit=unit,
        method=method,
        adjustment="additive" if od.applied else "none",
        units=units[UNIT_COLUMNS],
        curve=limit_curve(e, od, grid_points)[CURVE_COLUMNS],
        phi=od.phi,
        tau2=od.tau2,
        n_units=k,
        n_used=od.n_used,
        n_groups=n_groups,
        within=within,
        adjusted_for=empty.adjusted_for,
        n_sessions=int(units["n_sessions"].sum()),
        observed=int(o.sum()),
        expected=float(e.sum()),
        status="ok",
        notes=tuple(notes),
    )


def _with_note(result: FunnelResult, note: str) -> FunnelResult:
    return replace(result, notes=(*result.notes, note))
