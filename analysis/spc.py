"""Control charts over months as Making Data Count draws them: XmR for means, Laney p′ for rates."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from analysis.chart_reading import (
    BASELINE_POINTS,
    CHART_DIRECTIONS,
    COMMON,
    INVESTIGATE,
    LANEY_COLUMNS,
    MIN_POINTS,
    POINT_COLUMNS,
    XMR_COLUMNS,
    SpcResult,
    Target,
    as_months,
    blank_short_segments,
    empty_result,
    gap_note,
    read_result,
    segment_starts,
    target_value,
)
from analysis.special_causes import check_direction
from analysis.xmr import LIMIT_COLUMNS, check_fix_after, classify, mean_moving_range, xmr_limits

D2 = 1.128  # E[moving range of two] / sigma for normal data (Laney's sigma_z = MR-bar / d2)

__all__ = [
    "BASELINE_POINTS",
    "CHART_DIRECTIONS",
    "COMMON",
    "INVESTIGATE",
    "LANEY_COLUMNS",
    "MIN_POINTS",
    "POINT_COLUMNS",
    "XMR_COLUMNS",
    "SpcResult",
    "Target",
    "as_months",
    "laney_p_chart",
    "segment_starts",
    "xmr_chart",
]

# ---------------------------------------------------------------------------------------------- charts


def xmr_chart(
    frame: pd.DataFrame,
    measure: str = "mean satisfaction",
    direction: str = "increase",
    rebase: Iterable = (),
    target: Target | float | None = None,
    fix_after: int | None = BASELINE_POINTS,
    screen: bool = True,
    min_points: int = MIN_POINTS,
    value_format: str = ".2f",
) -> SpcResult:
    """XmR (individuals and moving range) chart of one value per month, as Making Data Count draws it.

    Parameters
    ----------
    frame : DataFrame
        Columns ``month`` (date, timestamp, ``YYYY-MM`` text or Period) and ``value``; one row per
        month. Missing values are left out.
    measure : str
        What the value is, for the reading.
    direction : {"increase", "decrease", "neutral"}
        Which way is an improvement: it colours special causes as improvement or concern.
    rebase : iterable of months
        Months where the process changed: each starts a segment with its own centre, moving range,
        limits and rules. None by default.
    target : Target or float, optional
        A target for the value; gives the assurance icon (a float is met in ``direction``).
    fix_after : int or None
        Each segment's limits come from its first ``fix_after`` months (default 12) and are applied
        unchanged to later months; None uses every month.
    screen : bool
        Leave moving ranges of 3.267 mean moving ranges or more out of the limits (default).
    min_points : int
        A segment with fewer months gets no limits (default 8).
    value_format : str
        Format of the value in the reading.

    Returns
    -------
    SpcResult
        ``points`` columns :data:`XMR_COLUMNS`.

    Notes
    -----
    Estimand: the level of a monthly value and whether it has changed. Limits are the centre
    :math:`\\pm 2.66\\,\\overline{MR}` with screened moving ranges, segment by segment; the rules are
    Making Data Count's (a point beyond a limit, 7 in a row on one side, a trend of 7, two of three
    between 2 and 3 sigma on one side), exactly as NHSRplotthedots computes them. Every rule has a
    false-signal rate on a stable process of a few per cent per month together, so a special cause
    is a reason to look, not an alarm: the calibrated alarm is :mod:`analysis.alerts`. Months of very
    different sizes move the mean by different amounts; show the monthly n alongside.
    """
    check_direction(direction)
    check_fix_after(fix_after)
    goal = target_value(target, direction)
    notes: list[str] = []
    if frame is None or frame.empty:
        return empty_result("xmr", measure, XMR_COLUMNS, direction, goal)
    frame = frame.reset_index(drop=True)
    data = pd.DataFrame(
        {"month": as_months(frame["month"]), "value": pd.to_numeric(frame["value"]).astype(float)}
    )
    repeated = data["month"][data["month"].duplicated()]
    if not repeated.empty:
        raise ValueError(
            f"xmr_chart needs one value per month; {repeated.iloc[0]:%Y-%m} appears more than once"
        )
    missing = data["value"].isna()
    if missing.any():
        notes.append(f"{int(missing.sum())} month(s) without a value are left out")
    data = data.loc[~missing].sort_values("month").reset_index(drop=True)
    data["value"] = data["value"].astype(float)
    notes += gap_note(data["month"])
    seg = np.cumsum(segment_starts(data["month"], rebase))
    limits = xmr_limits(data["value"], seg, fix_after, screen)
    short = blank_short_segments(limits, seg, min_points)
    data = data.join(limits[[*LIMIT_COLUMNS, "mr_bar"]])
    data = data.join(classify(data["value"], limits, direction))
    data["target"] = goal
    return read_result(
        "xmr", measure, data, XMR_COLUMNS, direction, goal, short, notes, min_points, value_format, False
    )


def laney_p_chart(
    frame: pd.DataFrame,
    measure: str = "side-effect rate",
    direction: str = "decrease",
    rebase: Iterable = (),
    target: Target | float | None = None,
    fix_after: int | None = BASELINE_POINTS,
    screen: bool = True,
    min_points: int = MIN_POINTS,
) -> SpcResult:
    """Laney p′ chart of a monthly proportion (events / n), with the same rules on its standardised scale.

    Parameters
    ----------
    frame : DataFrame
        Columns ``month``, ``events`` and ``n``; rows of the same month are summed; months with
        ``n == 0`` are left out.
    measure, direction, rebase, target, fix_after, screen, min_points
        As in :func:`xmr_chart` (the target is a proportion; the default direction is "decrease").

    Returns
    -------
    SpcResult
        ``points`` columns :data:`LANEY_COLUMNS`: ``value`` is the proportion, ``z`` its
        standardised value, ``moving_range`` the moving range of ``z``.

    Notes
    -----
    Estimand: the monthly probability of an event and whether it has changed. Laney (2002,
    Quality Engineering 14:531), per segment: :math:`\\bar p = \\sum x / \\sum n` over the fixed
    months, :math:`\\sigma_{p_i} = \\sqrt{\\bar p(1-\\bar p)/n_i}`, :math:`z_i = (p_i-\\bar p)/\\sigma_{p_i}`,
    :math:`\\sigma_z = \\overline{MR}(z)/1.128` with screened moving ranges, limits
    :math:`\\bar p \\pm 3\\sigma_{p_i}\\sigma_z` (2-sigma lines with 2), clipped to [0, 1]. The rules
    run on :math:`z` against :math:`\\pm 3\\sigma_z` and :math:`\\pm 2\\sigma_z`, so months of different
    sizes are judged on one scale. :math:`\\sigma_z` absorbs variation between months beyond the
    binomial (case mix, patients with several sessions); with :math:`\\sigma_z = 1` this is a p chart.
    """
    check_direction(direction)
    check_fix_after(fix_after)
    goal = target_value(target, direction)
    notes: list[str] = []
    if frame is None or frame.empty:
        return empty_result("p_prime", measure, LANEY_COLUMNS, direction, goal)
    frame = frame.reset_index(drop=True)
    data = pd.DataFrame(
        {
            "month": as_months(frame["month"]),
            "events": pd.to_numeric(frame["events"]).astype(float),
            "n": pd.to_numeric(frame["n"]).astype(float),
        }
    )
    data = data.dropna().groupby("month", as_index=False, sort=True)[["events", "n"]].sum()
    empty = data["n"] <= 0
    if empty.any():
        notes.append(f"{int(empty.sum())} month(s) with no sessions are left out")
        data = data.loc[~empty].reset_index(drop=True)
    notes += gap_note(data["month"])
    data["value"] = data["events"] / data["n"]
    seg = np.cumsum(segment_starts(data["month"], rebase))
    zlimits, shown, no_events = _laney_limits(data, seg, fix_after, screen)
    short = blank_short_segments(zlimits, seg, min_points)
    data["z"] = zlimits.pop("z")
    for column in ("centre", "lower", "upper", "lower_2s", "upper_2s"):
        shown.loc[zlimits["upper"].isna(), column] = np.nan
    data = data.join(shown).join(zlimits[["segment", "in_baseline", "moving_range", "mr_screened", "mr_bar"]])
    data = data.join(classify(data["z"], zlimits, direction))
    data["target"] = np.nan if goal is None else goal
    if no_events and (not len(seg) or seg[-1] in no_events):
        notes.append("no events (or only events) in the fixed months: limits cannot be computed")
    return read_result(
        "p_prime", measure, data, LANEY_COLUMNS, direction, goal, short, notes, min_points, ".1%", True
    )


def _laney_limits(data: pd.DataFrame, seg: np.ndarray, fix_after, screen):
    """Per segment: the z scale (centre 0, limits ±3 sigma_z) for the rules and the p scale for display."""
    n = len(data)
    z = np.full(n, np.nan)
    zl = {
        k: np.full(n, np.nan)
        for k in ("centre", "lower", "upper", "lower_2s", "upper_2s", "mr_bar", "moving_range")
    }
    shown = {k: np.full(n, np.nan) for k in ("centre", "lower", "upper", "lower_2s", "upper_2s")}
    in_baseline = np.zeros(n, dtype=bool)
    screened = np.zeros(n, dtype=bool)
    no_events = set()
    for value in np.unique(seg):
        idx = np.flatnonzero(seg == value)
        k = len(idx) if fix_after is None else min(fix_after, len(idx))
        base = data.iloc[idx[:k]]
        p_bar = base["events"].sum() / base["n"].sum()
        in_baseline[idx[:k]] = True
        if p_bar <= 0 or p_bar >= 1:
            no_events.add(int(value))
            continue
        sigma_p = np.sqrt(p_bar * (1 - p_bar) / data["n"].to_numpy()[idx])
        z[idx] = (data["value"].to_numpy()[idx] - p_bar) / sigma_p
        _mr, left_out, mr_bar = mean_moving_range(z[idx[:k]], screen)
        zl["moving_range"][idx] = np.concatenate([[np.nan], np.abs(np.diff(z[idx]))])
        screened[idx[:k]] = left_out
        sigma_z = mr_bar / D2
        zl["centre"][idx], zl["mr_bar"][idx] = 0.0, mr_bar
        zl["lower"][idx], zl["upper"][idx] = -3 * sigma_z, 3 * sigma_z
        zl["lower_2s"][idx], zl["upper_2s"][idx] = -2 * sigma_z, 2 * sigma_z
        shown["centre"][idx] = p_bar
        for name, width in (("lower", -3), ("upper", 3), ("lower_2s", -2), ("upper_2s", 2)):
            shown[name][idx] = np.clip(p_bar + width * sigma_p * sigma_z, 0, 1)
    frame = pd.DataFrame({"segment": seg, "in_baseline": in_baseline, **zl, "mr_screened": screened, "z": z})
    with np.errstate(invalid="ignore"):
        frame["outside"] = (z > frame["upper"]) | (z < frame["lower"])
        frame["side"] = np.nan_to_num(np.sign(z)).astype(int)
        frame["close"] = ~frame["outside"] & ((z < frame["lower_2s"]) | (z > frame["upper_2s"]))
    return frame, pd.DataFrame(shown), no_events
