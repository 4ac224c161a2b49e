"""Special-cause rules, point types and icons of a control chart, as NHS "Making Data Count" reads them."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Points in a shift (same side of the centre line) and in a trend (each step the same way).
RUN_LENGTH = 7
#: Machine names of the rules, in the order the label of a point gives them precedence.
RULES = ("astronomical", "trend", "two_of_three", "shift")
DIRECTIONS = ("increase", "decrease", "neutral")
COMMON_CAUSE = "common_cause"
IMPROVEMENT = "special_cause_improvement"
CONCERN = "special_cause_concern"
NEUTRAL_HIGH = "special_cause_neutral_high"
NEUTRAL_LOW = "special_cause_neutral_low"


def _sign(x) -> np.ndarray:
    return np.nan_to_num(np.sign(np.asarray(x, dtype=float))).astype(int)


def seven_point_one_side_mean(side) -> np.ndarray:
    """1 where a point completes 7 in a row on the same (non-zero) side of the centre line, else 0."""
    v = np.asarray(side, dtype=int)
    out = np.zeros(len(v), dtype=int)
    for i in range(RUN_LENGTH - 1, len(v)):
        window = v[i - RUN_LENGTH + 1 : i + 1]
        out[i] = int(v[i] != 0 and bool((window == v[i]).all()))
    return out


def part_of_seven(completes) -> np.ndarray:
    """1 for every point of a 7-point pattern: the point that completes it and the 6 before it."""
    v = np.abs(np.asarray(completes, dtype=int)) == 1
    out = np.zeros(len(v), dtype=int)
    for i in range(len(v)):
        out[i] = int(v[i : i + RUN_LENGTH].any())
    return out


def seven_point_trend(y) -> np.ndarray:
    """+1 / -1 where a point completes 7 points each higher / lower than the one before (a tie breaks it)."""
    y = np.asarray(y, dtype=float)
    out = np.zeros(len(y), dtype=int)
    steps = _sign(np.diff(y))
    for i in range(RUN_LENGTH - 1, len(y)):
        window = steps[i - RUN_LENGTH + 1 : i]
        if (window == 1).all():
            out[i] = 1
        elif (window == -1).all():
            out[i] = -1
    return out


def two_in_three(close, side) -> np.ndarray:
    """1 for every point in a window of 3 that holds 2 or more points between 2 and 3 sigma, all 3 on one side."""
    c = np.concatenate([[0, 0], np.asarray(close, dtype=int), [0, 0]])
    s = np.concatenate([[0, 0], np.asarray(side, dtype=int), [0, 0]])
    out = np.zeros(len(c) - 4, dtype=int)
    for i in range(len(out)):
        out[i] = int(
            any(c[i + k : i + k + 3].sum() >= 2 and abs(s[i + k : i + k + 3].sum()) == 3 for k in range(3))
        )
    return out


def part_of_two_in_three(window, close) -> np.ndarray:
    """Of the points in a two-of-three window, only those between 2 and 3 sigma themselves."""
    return ((np.asarray(window, dtype=int) == 1) & (np.abs(np.asarray(close, dtype=int)) == 1)).astype(int)


def _flags(y, side, close, outside) -> dict[str, np.ndarray]:
    side = np.asarray(side, dtype=int)
    close = np.asarray(close, dtype=bool)
    return {
        "astronomical": np.asarray(outside, dtype=bool),
        "trend": part_of_seven(seven_point_trend(y)).astype(bool),
        "two_of_three": part_of_two_in_three(two_in_three(close, side), close).astype(bool),
        "shift": part_of_seven(seven_point_one_side_mean(side)).astype(bool),
    }


def rule_flags(y, side, close, outside) -> pd.DataFrame:
    """Which rule each point is part of: boolean columns named as :data:`RULES`.

    Parameters
    ----------
    y : array-like
        The plotted values of one segment, in time order.
    side : array-like of int
        Sign of ``y - centre`` (0 on the line).
    close : array-like of bool
        Strictly beyond a 2-sigma line and not beyond a limit.
    outside : array-like of bool
        Strictly beyond a 3-sigma limit.
    """
    return pd.DataFrame(_flags(y, side, close, outside))[list(RULES)]


def special_cause_types(y, side, close, outside) -> list[str]:
    """The label of each point (the first rule that applies in the order of :data:`RULES`).

    Labels as NHSRplotthedots writes them: ``"Above UCL"``, ``"Below LCL"``, ``"7 Point Trend
    (Increasing)"``, ``"2 in 3 Above CL"``, ``"7 Points Below CL"``, ``"Common Cause"``.
    """
    return _labels(np.asarray(y, dtype=float), np.asarray(side, dtype=int), _flags(y, side, close, outside))


def _labels(y: np.ndarray, side: np.ndarray, flags: dict[str, np.ndarray]) -> list[str]:
    trend = flags["trend"]
    steps = _sign(np.diff(y))
    # A trend point takes the direction of the step after it when that step is in the trend too.
    right = np.concatenate([steps, steps[-1:]]) if len(steps) else np.zeros(len(y), dtype=int)
    left = np.concatenate([[0], steps])
    following = np.concatenate([trend[1:], [False]])
    direction = np.where(following & trend, right, left)
    labels = []
    for k in range(len(y)):
        where = "Above" if side[k] > 0 else "Below"
        if flags["astronomical"][k]:
            labels.append("Above UCL" if side[k] == 1 else "Below LCL")
        elif trend[k]:
            labels.append(f"7 Point Trend ({'In' if direction[k] == 1 else 'De'}creasing)")
        elif flags["two_of_three"][k]:
            labels.append(f"2 in 3 {where} CL")
        elif flags["shift"][k]:
            labels.append(f"7 Points {where} CL")
        else:
            labels.append("Common Cause")
    return labels


def classify_segment(y, side, close, outside) -> tuple[dict[str, np.ndarray], list[str]]:
    """Rule flags and labels of one segment's points."""
    y = np.asarray(y, dtype=float)
    flags = _flags(y, side, close, outside)
    return flags, _labels(y, np.asarray(side, dtype=int), flags)


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ValueError(f"improvement direction must be one of {', '.join(DIRECTIONS)}; got {direction!r}")
    return direction


def point_types(labels, direction: str) -> list[str]:
    """Common cause, special cause improvement / concern (or neutral high / low) for each label."""
    check_direction(direction)
    out = []
    for label in labels:
        high = (
            1
            if ("Above" in label or "Increasing" in label)
            else -1
            if ("Below" in label or "Decreasing" in label)
            else 0
        )
        if high == 0:
            out.append(COMMON_CAUSE)
        elif direction == "neutral":
            out.append(NEUTRAL_HIGH if high > 0 else NEUTRAL_LOW)
        else:
            good = high * (1 if direction == "increase" else -1)
            out.append(IMPROVEMENT if good > 0 else CONCERN)
    return out


def variation_icon(last_point_type: str, direction: str) -> str:
    """The variation icon of a chart, from the type of its latest point.

    ``common_cause``, ``improvement_high`` / ``improvement_low``, ``concern_high`` / ``concern_low``,
    ``neutral_high`` / ``neutral_low`` (high / low: the side the special cause is on).
    """
    check_direction(direction)
    if last_point_type == IMPROVEMENT:
        return "improvement_high" if direction == "increase" else "improvement_low"
    if last_point_type == CONCERN:
        return "concern_low" if direction == "increase" else "concern_high"
    if last_point_type == NEUTRAL_HIGH:
        return "neutral_high"
    if last_point_type == NEUTRAL_LOW:
        return "neutral_low"
    return COMMON_CAUSE


def assurance_icon(target: float | None, lower: float, upper: float, direction: str) -> str | None:
    """Whether the process will meet a target, from the latest limits.

    ``consistent_pass`` / ``consistent_fail`` when the target lies beyond a limit (every month will
    pass, or fail), ``inconsistent`` ("hit and miss") when it lies between the limits or on one, and
    None without a target, without limits or with a neutral direction.
    """
    check_direction(direction)
    if target is None or direction == "neutral" or np.isnan([target, lower, upper]).any():
        return None
    increasing = direction == "increase"
    if target > upper:
        return "consistent_fail" if increasing else "consistent_pass"
    if target < lower:
        return "consistent_pass" if increasing else "consistent_fail"
    return "inconsistent"
