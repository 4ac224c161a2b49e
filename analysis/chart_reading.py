"""What a control chart says: its result, targets, months and segments, and the latest month in words."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from analysis.special_causes import assurance_icon, check_direction, variation_icon
from analysis.xmr import LIMIT_COLUMNS, TYPE_COLUMNS

#: Fewer points than this in a segment and it gets no limits (a moving range needs some history).
MIN_POINTS = 8
#: Each segment's limits are computed from its first 12 months and then fixed (Making Data Count).
BASELINE_POINTS = 12

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
    elif pd.api.types.is_datetime64_any_dtype(months.dtype):
        stamps = months  # a million session dates: no per-value Python
    else:
        stamps = pd.to_datetime(months.map(lambda v: v.to_timestamp() if isinstance(v, pd.Period) else v))
    first_days = stamps.to_numpy(dtype="datetime64[ns]").astype("datetime64[M]").astype("datetime64[ns]")
    return pd.Series(first_days, index=months.index)


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


def gap_note(months: pd.Series) -> list[str]:
    if len(months) < 2:
        return []
    periods = months.dt.to_period("M")
    missing = (periods.iloc[-1] - periods.iloc[0]).n + 1 - len(months)
    return [f"{missing} month(s) without data are left out of the chart"] if missing > 0 else []


def target_value(target: Target | float | None, direction: str) -> float | None:
    if target is None:
        return None
    if isinstance(target, Target):
        if direction != "neutral" and target.direction != direction:
            raise ValueError(
                f"the target is met by a {target.direction} but the chart improves by a {direction}"
            )
        return float(target.value)
    return float(target)


def blank_short_segments(limits: pd.DataFrame, seg: np.ndarray, min_points: int) -> set[int]:
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


def empty_result(
    chart: str, measure: str, columns: list[str], direction: str, goal: float | None
) -> SpcResult:
    points = pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "month" else float) for c in columns})
    return SpcResult(chart, measure, points, direction, goal, "not_enough_data", "no months to chart")


def read_result(
    chart, measure, data, columns, direction, goal, short, notes, min_points, fmt, percent
) -> SpcResult:
    points = data.reindex(columns=columns).reset_index(drop=True)
    if points.empty:
        return replace(empty_result(chart, measure, columns, direction, goal), notes=tuple(notes))
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
