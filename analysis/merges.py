"""The guards' decisions about rows, from counts: clinics left out of a within-clinic fit, sparse levels merged.

Both work on outcome counts per level (a *cube*: one row per combination of categorical levels and
outcome, with its number of sessions), so a frame and an engine make the same decisions; the decisions
are returned as operations that either applies to its own rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.design import DIAMOND
from analysis.effects import SOURCE_NAMES

MIN_LEVEL_SESSIONS = 20

#: An operation on the rows: ("drop", column, level) leaves a level's rows out; ("merge", column,
#: (a, b), name) relabels two levels as one.
Operation = tuple


def clinics_to_drop(stats: pd.DataFrame) -> tuple[list, list[str]]:
    """Clinics to leave out of a fit with clinic fixed effects, with a plain message for each.

    ``stats`` has one row per clinic (index) with ``size`` (sessions) and ``nunique`` (distinct outcome
    values). A clinic whose outcome never varies (no side effect at all, or every rating the same) says
    nothing about the settings *within* a clinic, and its own effect would run off to infinity; a
    clinic with fewer than 20 sessions cannot anchor a comparison. Both are left out of the network
    fit (as a conditional likelihood would leave them out), never merged with another clinic.
    """
    if len(stats) < 2:
        return [], []
    dropped, notes = [], []
    for clinic, row in stats.sort_index().iterrows():
        if row["size"] < MIN_LEVEL_SESSIONS:
            dropped.append(clinic)
            notes.append(
                f"Clinic {clinic} left out of the comparison within clinics: only {int(row['size'])} sessions."
            )
        elif row["nunique"] < 2:
            dropped.append(clinic)
            notes.append(
                f"Clinic {clinic} left out of the comparison within clinics: its outcome never varied, so it "
                "says nothing about the settings."
            )
    return dropped, notes


def plan_merges(cube: pd.DataFrame) -> tuple[list[Operation], list[str]]:
    """Merge categorical levels that are sparse or separated (no events, or only events).

    ``cube`` has a column per categorical (those of ``SOURCE_NAMES`` present), ``y`` (the binary
    outcome) and ``n`` (sessions). Skin-type groups merge with their smaller neighbour (``IV`` +
    ``V–VI`` → ``IV–VI``); other levels are pooled (``hands or back``) and, if the pool is still
    sparse, merged into the most common level. Diamond-tip sessions, whose flow coding needs their own
    level, are left out instead. Returns the operations in order and one plain message per change.
    """
    ops: list[Operation] = []
    notes: list[str] = []
    cube = cube.assign(events=cube["n"] * cube["y"].astype(int))
    for col, (source, _) in SOURCE_NAMES.items():
        if col not in cube:
            continue
        for _ in range(20):
            stats = cube.groupby(col)[["n", "events"]].sum().rename(columns={"n": "size", "events": "sum"})
            stats = stats[stats["size"] > 0]
            if len(stats) < 2:
                break
            bad = stats[
                (stats["size"] < MIN_LEVEL_SESSIONS) | (stats["sum"] == 0) | (stats["sum"] == stats["size"])
            ]
            if bad.empty:
                break
            level = bad["size"].idxmin()
            why = _why(stats.loc[level])
            if col == "crystal_type" and level == DIAMOND:
                cube = cube[cube[col] != DIAMOND]
                ops.append(("drop", col, DIAMOND))
                notes.append(f"Diamond-tip sessions left out: {why}.")
                continue
            target = _merge_target(col, level, stats, set(bad.index))
            merged = _merged_name(col, level, target)
            values = cube[col].to_numpy(object)
            cube = cube.assign(**{col: np.where(np.isin(values, [level, target]), merged, values)})
            ops.append(("merge", col, (level, target), merged))
            notes.append(f"{source} '{level}' {why}: merged with '{target}' as '{merged}'.")
    return ops, notes


def apply_to_frame(frame: pd.DataFrame, ops: list[Operation]) -> np.ndarray:
    """Apply the operations to a frame's columns in place; returns which of its rows stay."""
    keep = np.ones(len(frame), dtype=bool)
    for kind, col, levels, *merged in ops:
        values = frame[col].astype(object).to_numpy()
        if kind == "drop":
            keep &= values != levels
        else:
            frame[col] = np.where(np.isin(values, list(levels)), merged[0], values)
    return keep


def _why(row) -> str:
    if row["sum"] == 0:
        return "had no events (separation)"
    if row["sum"] == row["size"]:
        return "had only events (separation)"
    return f"had only {int(row['size'])} sessions"


def _merge_target(col: str, level, stats: pd.DataFrame, bad: set):
    levels = list(stats.index)
    if col == "skin_type":
        order = sorted(levels, key=_roman_start)
        i = order.index(level)
        neighbours = [order[j] for j in (i - 1, i + 1) if 0 <= j < len(order)]
        return min(neighbours, key=lambda lv: stats.loc[lv, "size"])
    others = sorted(lv for lv in bad if lv != level and lv != DIAMOND)
    if others:
        return min(others, key=lambda lv: stats.loc[lv, "size"])
    candidates = stats.drop(index=[lv for lv in (level, DIAMOND) if lv in stats.index])
    return candidates["size"].idxmax()


_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6}


def _roman_start(name: str) -> int:
    return _ROMAN[str(name).split("–")[0]]


def _merged_name(col: str, a, b) -> str:
    if col == "skin_type":
        lo, hi = sorted((a, b), key=_roman_start)
        return f"{str(lo).split('–')[0]}–{str(hi).split('–')[-1]}"
    return f"{a} or {b}"
