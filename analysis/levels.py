"""Levels a fit cannot use as they are: sparse or separated categories merged, clinics that carry no
within-clinic information left out, each change said in plain words.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.design import (
    CLINIC,
    DIAMOND,
)
from analysis.effects import SOURCE_NAMES

#: A level (or clinic) with fewer sessions than this cannot anchor a comparison.
MIN_LEVEL_SESSIONS = 20


def clinics_to_compare(frame: pd.DataFrame, y: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Which rows stay in a fit with clinic fixed effects, and a plain message per clinic left out.

    A clinic whose outcome never varies (no side effect at all, or every rating the same) says
    nothing about the settings *within* a clinic, and its own effect would run off to infinity; a
    clinic with fewer than 20 sessions cannot anchor a comparison. Both are left out of the network
    fit (as a conditional likelihood would leave them out), never merged with another clinic.
    """
    if CLINIC not in frame or frame[CLINIC].nunique() < 2:
        return np.ones(len(frame), dtype=bool), []
    clinics = frame[CLINIC].astype(object).to_numpy()
    stats = pd.DataFrame({"clinic": clinics, "y": y}).groupby("clinic")["y"].agg(["size", "nunique"])
    notes = []
    dropped = []
    for clinic, row in stats.iterrows():
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
    return ~np.isin(clinics, dropped), notes


def merge_sparse_levels(
    frame: pd.DataFrame, y_binary: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Merge categorical levels that are sparse or separated (no events, or only events).

    Skin-type groups merge with their smaller neighbour (``IV`` + ``V–VI`` → ``IV–VI``); other
    levels are pooled (``hands or back``) and, if the pool is still sparse, merged into the most
    common level. Diamond-tip sessions, whose flow coding needs their own level, are left out
    instead. Returns the frame, the matching outcome and one plain message per change.
    """
    notes: list[str] = []
    frame = frame.copy()
    y = np.asarray(y_binary, dtype=bool)
    for col, (source, _) in SOURCE_NAMES.items():
        if col not in frame:
            continue
        for _ in range(20):
            values = frame[col].astype(object).to_numpy()
            stats = pd.DataFrame({"level": values, "y": y}).groupby("level")["y"].agg(["size", "sum"])
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
                keep = values != DIAMOND
                frame, y = frame.loc[keep], y[keep]
                notes.append(f"Diamond-tip sessions left out: {why}.")
                continue
            target = _merge_target(col, level, stats, set(bad.index))
            merged = _merged_name(col, level, target)
            frame[col] = np.where(np.isin(values, [level, target]), merged, values)
            notes.append(f"{source} '{level}' {why}: merged with '{target}' as '{merged}'.")
    return frame, y, notes


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
    others = [lv for lv in bad if lv != level and lv != DIAMOND]
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
