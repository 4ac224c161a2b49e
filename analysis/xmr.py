"""XmR process limits as Making Data Count draws them: per segment, screened moving ranges, limits fixed after n points."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.special_causes import RULES, classify_segment, point_types

LIMIT = 2.66  # 3 / d2 with d2 = 1.128, rounded as Making Data Count and NHSRplotthedots round it
CLOSE = 2 * LIMIT / 3  # the 2-sigma lines
SCREEN = 3.267  # a moving range at or above this many mean moving ranges is left out (D4 for n = 2)
MIN_FIXED = 12  # limits may be fixed after no fewer points than this

LIMIT_COLUMNS = [
    "segment",
    "in_baseline",
    "moving_range",
    "mr_screened",
    "centre",
    "lower",
    "upper",
    "lower_2s",
    "upper_2s",
]
RULE_COLUMNS = [f"rule_{name}" for name in RULES]
TYPE_COLUMNS = [*RULE_COLUMNS, "special_cause", "special_cause_type", "point_type", "rules"]


def segments(starts) -> np.ndarray:
    """Segment number of each point from flags that mark the first point of a new segment (a rebase)."""
    flags = np.asarray(starts, dtype=int)
    if len(flags):
        flags[0] = 0
    return np.cumsum(flags)


def check_fix_after(fix_after: int | None) -> None:
    if fix_after is not None and fix_after < MIN_FIXED:
        raise ValueError(f"limits can be fixed after no fewer than {MIN_FIXED} points; got {fix_after}")


def mean_moving_range(values: np.ndarray, screen: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """Moving ranges (NaN for the first point), which were screened out, and the mean of the rest.

    Screening (Nelson 1982; NHSRplotthedots' default): a moving range at or above 3.267 times the
    mean of all of them is left out and the mean recomputed once from the others.
    """
    mr = np.concatenate([[np.nan], np.abs(np.diff(values))])
    known = ~np.isnan(mr)
    if not known.any():
        return mr, np.zeros(len(mr), dtype=bool), float("nan")
    first = float(mr[known].mean())
    kept = known & (mr < SCREEN * first) if screen else known
    mr_bar = float(mr[kept].mean()) if kept.any() else float("nan")
    # No variation at all gives no limits rather than limits of zero width that flag every change.
    return mr, known & ~kept, mr_bar if mr_bar > 0 else float("nan")


def xmr_limits(y, segment=None, fix_after: int | None = None, screen: bool = True) -> pd.DataFrame:
    """Centre line, moving range, 3-sigma limits and 2-sigma lines of each point.

    Parameters
    ----------
    y : array-like
        Values in time order.
    segment : array-like of int, optional
        Segment of each point (non-decreasing; see :func:`segments`); one segment when omitted.
    fix_after : int, optional
        Compute each segment's centre and moving range from its first ``fix_after`` points only
        (at least 12) and apply them to the rest of the segment; all points when omitted.
    screen : bool
        Leave out moving ranges at or above 3.267 mean moving ranges (default, as NHSRplotthedots;
        Making Data Count's spreadsheets do not).

    Returns
    -------
    DataFrame
        :data:`LIMIT_COLUMNS` plus ``mr_bar``, ``side`` (sign of ``y - centre``), ``close``
        (strictly beyond a 2-sigma line and not beyond a limit) and ``outside`` (strictly beyond a limit).

    Notes
    -----
    Per segment: centre :math:`\\bar x` and mean moving range :math:`\\overline{MR}` of the fixed
    points; limits :math:`\\bar x \\pm 2.66\\,\\overline{MR}`, 2-sigma lines
    :math:`\\bar x \\pm \\tfrac23 2.66\\,\\overline{MR}`. The first point of a segment has no moving
    range, so a moving range never spans a rebase. This is NHSRplotthedots' ``ptd_spc_standard``.
    """
    check_fix_after(fix_after)
    y = np.asarray(y, dtype=float)
    seg = np.zeros(len(y), dtype=int) if segment is None else np.asarray(segment, dtype=int)
    out = {name: np.full(len(y), np.nan) for name in ("moving_range", "centre", "lower", "upper", "mr_bar")}
    out |= {"lower_2s": np.full(len(y), np.nan), "upper_2s": np.full(len(y), np.nan)}
    in_baseline = np.zeros(len(y), dtype=bool)
    screened = np.zeros(len(y), dtype=bool)
    for value in np.unique(seg):
        idx = np.flatnonzero(seg == value)
        k = len(idx) if fix_after is None else min(fix_after, len(idx))
        base = y[idx[:k]]
        mr, left_out, mr_bar = mean_moving_range(base, screen)
        centre = float(base.mean())
        out["moving_range"][idx[:k]] = mr
        screened[idx[:k]] = left_out
        in_baseline[idx[:k]] = True
        out["centre"][idx] = centre
        out["mr_bar"][idx] = mr_bar
        out["lower"][idx], out["upper"][idx] = centre - LIMIT * mr_bar, centre + LIMIT * mr_bar
        out["lower_2s"][idx], out["upper_2s"][idx] = centre - CLOSE * mr_bar, centre + CLOSE * mr_bar
    if fix_after is not None:
        # After the fixed points the moving range is still shown; it just no longer moves the limits.
        rest = ~in_baseline
        follow = np.concatenate([[False], seg[1:] == seg[:-1]])
        shown = np.concatenate([[np.nan], np.abs(np.diff(y))]) if len(y) else np.array([])
        out["moving_range"][rest & follow] = shown[rest & follow]
    frame = pd.DataFrame({"segment": seg, "in_baseline": in_baseline, **out, "mr_screened": screened})
    with np.errstate(invalid="ignore"):
        frame["outside"] = (y > frame["upper"]) | (y < frame["lower"])
        frame["side"] = np.nan_to_num(np.sign(y - frame["centre"])).astype(int)
        frame["close"] = ~frame["outside"] & ((y < frame["lower_2s"]) | (y > frame["upper_2s"]))
    return frame


def classify(y, limits: pd.DataFrame, direction: str) -> pd.DataFrame:
    """Rule flags, label, point type and rule names of each point, segment by segment.

    Runs, trends and two-of-three windows never cross a rebase; a segment without limits (too few
    points) gets no special causes.
    """
    y = np.asarray(y, dtype=float)
    n = len(y)
    flags = {name: np.zeros(n, dtype=bool) for name in RULES}
    labels = ["Common Cause"] * n
    seg = limits["segment"].to_numpy()
    upper = limits["upper"].to_numpy()
    side, close, outside = (limits[c].to_numpy() for c in ("side", "close", "outside"))
    for value in np.unique(seg) if n else []:
        idx = np.flatnonzero(seg == value)
        if np.isnan(upper[idx]).all():
            continue
        part, named = classify_segment(y[idx], side[idx], close[idx], outside[idx])
        for name in RULES:
            flags[name][idx] = part[name]
        for k, i in enumerate(idx):
            labels[i] = named[k]
    matrix = np.column_stack([flags[name] for name in RULES]) if n else np.zeros((0, len(RULES)), dtype=bool)
    out = pd.DataFrame({f"rule_{name}": flags[name] for name in RULES})
    out["special_cause"] = matrix.any(axis=1)
    out["special_cause_type"] = labels
    out["point_type"] = point_types(labels, direction)
    out["rules"] = [[name for name, hit in zip(RULES, row, strict=True) if hit] for row in matrix]
    return out
