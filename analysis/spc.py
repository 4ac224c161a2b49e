"""Control charts over months as Making Data Count draws them: XmR for means, Laney p′ for rates, read in words."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from analysis.special_causes import assurance_icon, check_direction, variation_icon
from analysis.xmr import LIMIT_COLUMNS, TYPE_COLUMNS, check_fix_after, classify, mean_moving_range, xmr_limits

#: Fewer points than this in a segment and it gets no limits (a moving range needs some history).
MIN_POINTS = 8
#: Each segment's limits are computed from its first 12 months and then fixed (Making Data Count).
BASELINE_POINTS = 12
D2 = 1.128  # E[moving range of two] / sigma for normal data (Laney's sigma_z = MR-bar / d2)

POINT_COLUMNS = ["month", "value", *LIMIT_COLUMNS, *TYPE_COLUMNS, "target"]
XMR_COLUMNS = POINT_COLUMNS
LANEY_COLUMNS = ["month", "events", "n", "value", "z", *POINT_COLUMNS[2:]]

#: Which way is an improvement on each of the product's charts: fewer side effects, higher ratings.
CHART_DIRECTIONS = {"side_effects_p_prime": "decrease", "satisfaction_xmr": "increase"}

INVESTIGATE = "a real change is likely, investigate"
COMMON = "within the usual range (common-cause variation)"

_WORDS = {
    "Above UCL": "above the upper control limit",
    "Below LCL": "below the lower control limit",
    "7 Point Trend (Increasing)": "part of 7 months in a row each higher than the one before",
    "7 Point Trend (Decreasing)": "part of 7 months in a row each lower than the one before",
    "2 in 3 Above CL": "two of three months in a row close to the upper limit",
    "2 in 3 Below CL": "two of three months in a row close to the lower limit",
    "7 Points Above CL": "part of 7 or more months in a row above the centre line",
    "7 Points Below CL": "part of 7 or more months in a row below the centre line",
}
_KINDS = {
    "special_cause_improvement": "special cause, improvement",
    "special_cause_concern": "special cause, concern",
    "special_cause_neutral_high": "special cause",
    "special_cause_neutral_low": "special cause",
}


@dataclass(frozen=True)
class Target:
    """A target for the charted value: met by values above it (``"increase"``) or below it (``"decrease"``)."""

    value: float
    direction: str

    def __post_init__(self):
        if check_direction(self.direction) == "neutral":
            raise ValueError("a target is met from above or below: direction 'increase' or 'decrease'")


@dataclass(frozen=True, eq=False)
class SpcResult:
    """A control chart: per-month points with limits, rules and point types, and the latest month in words.

    ``chart`` is ``"p_prime"`` (Laney) or ``"xmr"``. ``segment_start`` is the first month of the
    latest segment (the last rebase, or the first month); ``centre`` and ``mr_bar`` are that
    segment's. ``status`` is ``"ok"``, ``"provisional"`` (trial limits from fewer than 12 months)
    or why no limits could be set (``"not_enough_data"``, ``"no_events"``, ``"no_variation"``).
    ``variation`` and ``assurance`` are the Making Data Count icons (see
    :func:`analysis.special_causes.variation_icon` and :func:`~analysis.special_causes.assurance_icon`).
    """

    chart: str
    measure: str
    points: pd.DataFrame
    direction: str
    target: float | None = None
    status: str = "ok"
    reading: str = ""
    variation: str | None = None
    assurance: str | None = None
    centre: float = float("nan")
    mr_bar: float = float("nan")
    n_points: int = 0
    baseline_points: int = 0
    segment_start: pd.Timestamp | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        points = self.points.copy()
        points["month"] = points["month"].dt.strftime("%Y-%m")
        return {
            "chart": self.chart,
            "measure": self.measure,
            "direction": self.direction,
            "target": self.target,
            "status": self.status,
            "reading": self.reading,
            "variation": self.variation,
            "assurance": self.assurance,
            "notes": list(self.notes),
            "points": points.to_dict(orient="records"),
        }


# ---------------------------------------------------------------------------------------------- months


def as_months(months) -> pd.Series:
    """Month starts (timestamps) from dates, timestamps, ``YYYY-MM`` text or Periods."""
    months = pd.Series(months)
    if isinstance(months.dtype, pd.PeriodDtype):
        stamps = months.dt.to_timestamp()
    else:
        stamps = pd.to_datetime(months.map(lambda v: v.to_timestamp() if isinstance(v, pd.Period) else v))
    return stamps.dt.to_period("M").dt.to_timestamp()


def segment_starts(months: pd.Series, rebase: Iterable, months_only: bool = True) -> np.ndarray:
    """Flags of the first charted month on or after each rebase month (a rebase before the data does nothing).

    With ``months_only`` the rebase dates are taken to their month; otherwise as given (daily data).
    """
    starts = np.zeros(len(months), dtype=bool)
    values = months.to_numpy()
    rebase = list(rebase) if rebase is not None else []
    for month in (as_months(rebase) if months_only else pd.to_datetime(pd.Series(rebase))) if rebase else []:
        i = int(np.searchsorted(values, np.datetime64(month), side="left"))
        if 0 < i < len(values):
            starts[i] = True
    return starts


def _gap_note(months: pd.Series) -> list[str]:
    if len(months) < 2:
        return []
    periods = months.dt.to_period("M")
    missing = (periods.iloc[-1] - periods.iloc[0]).n + 1 - len(months)
    return [f"{missing} month(s) without data are left out of the chart"] if missing > 0 else []


def _target(target: Target | float | None, direction: str) -> float | None:
    if target is None:
        return None
    if isinstance(target, Target):
        if direction != "neutral" and target.direction != direction:
            raise ValueError(
                f"the target is met by a {target.direction} but the chart improves by a {direction}"
            )
        return float(target.value)
    return float(target)


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
    goal = _target(target, direction)
    notes: list[str] = []
    if frame is None or frame.empty:
        return _empty("xmr", measure, XMR_COLUMNS, direction, goal)
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
    notes += _gap_note(data["month"])
    seg = np.cumsum(segment_starts(data["month"], rebase))
    limits = xmr_limits(data["value"], seg, fix_after, screen)
    short = _blank_short_segments(limits, seg, min_points)
    data = data.join(limits[[*LIMIT_COLUMNS, "mr_bar"]])
    data = data.join(classify(data["value"], limits, direction))
    data["target"] = goal
    return _result(
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
    goal = _target(target, direction)
    notes: list[str] = []
    if frame is None or frame.empty:
        return _empty("p_prime", measure, LANEY_COLUMNS, direction, goal)
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
    notes += _gap_note(data["month"])
    data["value"] = data["events"] / data["n"]
    seg = np.cumsum(segment_starts(data["month"], rebase))
    zlimits, shown, no_events = _laney_limits(data, seg, fix_after, screen)
    short = _blank_short_segments(zlimits, seg, min_points)
    data["z"] = zlimits.pop("z")
    for column in ("centre", "lower", "upper", "lower_2s", "upper_2s"):
        shown.loc[zlimits["upper"].isna(), column] = np.nan
    data = data.join(shown).join(zlimits[["segment", "in_baseline", "moving_range", "mr_screened", "mr_bar"]])
    data = data.join(classify(data["z"], zlimits, direction))
    data["target"] = np.nan if goal is None else goal
    if no_events and (not len(seg) or seg[-1] in no_events):
        notes.append("no events (or only events) in the fixed months: limits cannot be computed")
    return _result(
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


def _blank_short_segments(limits: pd.DataFrame, seg: np.ndarray, min_points: int) -> set[int]:
    """No limits (and so no rules) for segments shorter than ``min_points``; returns those segments."""
    values, counts = np.unique(seg, return_counts=True)
    short = {int(v) for v, c in zip(values, counts, strict=True) if c < min_points}
    if short:
        rows = np.isin(seg, list(short))
        for column in ("centre", "lower", "upper", "lower_2s", "upper_2s", "mr_bar"):
            if column in limits:
                limits[column] = np.where(rows, np.nan, limits[column].to_numpy())
        for column in ("outside", "close"):
            limits[column] = limits[column].to_numpy() & ~rows
    return short


def _empty(chart: str, measure: str, columns: list[str], direction: str, goal: float | None) -> SpcResult:
    points = pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "month" else float) for c in columns})
    return SpcResult(chart, measure, points, direction, goal, "not_enough_data", "no months to chart")


def _result(
    chart, measure, data, columns, direction, goal, short, notes, min_points, fmt, percent
) -> SpcResult:
    points = data.reindex(columns=columns).reset_index(drop=True)
    if points.empty:
        return replace(_empty(chart, measure, columns, direction, goal), notes=tuple(notes))
    last = points.iloc[-1]
    latest = points[points["segment"] == last["segment"]]
    size = len(latest)
    head = _head(last, measure, fmt, percent)
    start = latest["month"].iloc[0]
    if int(last["segment"]) > 0:
        notes.append(f"limits restart at {start:%B %Y} (a recorded change to the process)")
    if int(last["segment"]) in short:
        status = "not_enough_data"
        since = f" since {start:%B %Y}" if int(last["segment"]) > 0 else ""
        reading = (
            f"{head} — not enough months for control limits ({size} month{'s' if size != 1 else ''}{since}; "
            f"at least {min_points} needed)"
        )
    elif pd.isna(last["upper"]):
        status = "no_events" if chart == "p_prime" else "no_variation"
        reading = f"{head} — " + (
            "no events (or only events) in the months the limits come from: control limits cannot be computed"
            if chart == "p_prime"
            else "no month-to-month variation: control limits cannot be computed"
        )
    else:
        status = "provisional" if size < BASELINE_POINTS else "ok"
        if status == "provisional":
            notes.append(f"trial limits from {size} months; they settle at {BASELINE_POINTS}")
        label = last["special_cause_type"]
        reading = f"{head} — " + (
            COMMON if label == "Common Cause" else f"{_WORDS[label]} ({_KINDS[last['point_type']]})"
        )
    limited = status in ("ok", "provisional")
    baseline = int(latest["in_baseline"].sum())
    if limited and size > baseline:
        notes.append(
            f"limits fixed on the first {baseline} months of the segment and applied to the {size - baseline} after"
        )
    return SpcResult(
        chart=chart,
        measure=measure,
        points=points,
        direction=direction,
        target=goal,
        status=status,
        reading=reading,
        variation=variation_icon(last["point_type"], direction) if limited else None,
        assurance=assurance_icon(goal, float(last["lower"]), float(last["upper"]), direction)
        if limited
        else None,
        centre=float(last["centre"]),
        mr_bar=float(data["mr_bar"].iloc[-1]) if "mr_bar" in data else float("nan"),
        n_points=len(points),
        baseline_points=baseline,
        segment_start=start,
        notes=tuple(notes),
    )


def _head(last: pd.Series, measure: str, fmt: str, percent: bool) -> str:
    shown = format(last["value"], fmt)
    return (
        f"{last['month']:%B %Y}: {shown} {measure}"
        if percent
        else f"{last['month']:%B %Y}: {measure} {shown}"
    )
