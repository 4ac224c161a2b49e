"""Messy rows: planting every quarantine reason (and identical repeats) into export files, on record."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from etl.contract import REASONS
from sample_data.styles import ExportStyle

IDENTICAL_REPEAT = "identical_repeat"
#: Reasons of hostile input, tested with hand-made files in tests/etl (a row of the wrong shape cannot be
#: written to Parquet or JSON lines at all); the sample plants the others.
HOSTILE = ("bad_characters", "too_long", "bad_shape")
#: Defect kinds, planted in turn: the spec's quarantine reasons, then an identical repeat (``unchanged``).
KINDS = (*(r for r in REASONS if r not in HOSTILE), IDENTICAL_REPEAT)
#: A legitimate value with both delimiters and a quote in it: must load, not quarantine. (A line break
#: in a field is quarantined since a stray quote can make a field run over the rows after it.)
QUIRKY_DEVICE = 'Derma, Pro; 2 rev. "B"'
FUTURE_YEAR = 2099
INCONSISTENT_FLOW = 40
MISSING = ("clinician_id", "patient_id", "treatment_area", "passes", "fitzpatrick", "indication")
BAD_TYPE = (
    ("passes", "three"),
    ("vacuum_kpa", "strong"),
    ("pre_care_followed", "maybe"),
    ("satisfaction", "good"),
)
UNKNOWN = (("treatment_area", "scalp"), ("indication", "rosacea"))
OUT_OF_RANGE = ("passes", "vacuum_kpa", "particle_flow")
OUT_OF_RANGE_VALUES = {"passes": 9, "vacuum_kpa": 95.0, "particle_flow": 130}


@dataclass(frozen=True)
class PlantedDefect:
    """One planted messy row: file name, 1-based data row (header excluded), canonical column, reason."""

    file: str
    row: int
    column: str
    reason: str


def plan_defects(
    rng: np.random.Generator, sizes: list[int], messy_rate: float
) -> list[list[tuple[int, str, int]]]:
    """Pick the rows to spoil across all files and what to do to each.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream of the writer.
    sizes : list of int
        Rows per file, in writing order.
    messy_rate : float
        Share of rows to spoil; when above 0, at least one row of every kind is planted.

    Returns
    -------
    list of list of (int, str, int)
        Per file: ``(0-based row, kind, variant)``; kinds cycle through ``KINDS`` so every
        reason appears, and the variant cycles through each kind's columns.
    """
    total = int(sum(sizes))
    if messy_rate <= 0 or total == 0:
        return [[] for _ in sizes]
    count = min(total, max(len(KINDS), round(messy_rate * total)))
    targets = rng.choice(total, size=count, replace=False)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    plan: list[list[tuple[int, str, int]]] = [[] for _ in sizes]
    for i, target in enumerate(targets):
        f = int(np.searchsorted(starts, target, side="right") - 1)
        plan[f].append((int(target - starts[f]), KINDS[i % len(KINDS)], i // len(KINDS)))
    return plan


@dataclass(frozen=True)
class SpoiledFile:
    """One file's rows after planting: typed rows, the cells their dtype cannot hold, and the record."""

    frame: pd.DataFrame  # in file order, extra rows included
    overrides: list[tuple[int, str, object]]  # (0-based row, header, value) written over the typed cell
    planted: list[PlantedDefect]


def plant_defects(
    frame: pd.DataFrame,
    base: pd.DataFrame,
    style: ExportStyle,
    plan: list[tuple[int, str, int]],
    file_name: str,
    rng: np.random.Generator,
) -> SpoiledFile:
    """Spoil one file's rows as planned and record exactly where each defect ended up.

    Parameters
    ----------
    frame : pandas.DataFrame
        The file's rows in the clinic's style (from :func:`sample_data.styles.render_clinic`).
    base : pandas.DataFrame
        The same rows in canonical form (to see e.g. which rows are diamond tip).
    style : ExportStyle
        The clinic's style (header names, vacuum unit).
    plan : list of (int, str, int)
        This file's part of :func:`plan_defects`.
    file_name : str
        Name recorded in each :class:`PlantedDefect`.
    rng : numpy.random.Generator
        Random stream of the writer (positions of inserted rows, the quirky row).

    Returns
    -------
    SpoiledFile
        The rows in file order, the spoiled cells a typed column cannot hold (``"three"`` in
        an integer column) kept aside so clean columns stay typed and fast to write, and one
        record per planted row (both rows of a ``duplicate_in_file`` pair).
    """
    frame = frame.reset_index(drop=True).copy()
    base = base.reset_index(drop=True)
    n = len(frame)
    extras: list[tuple[int, bool]] = []  # (source row, is a duplicate with other content)
    extra_keys: list[float] = []
    overrides: list[tuple[int, str, object]] = []
    records: list[tuple[int, str, str]] = []  # (row in frame + extras, canonical column, reason)

    def put(row: int, column: str, value: object) -> None:
        header = style.header(column)
        if fits(frame[header], value):
            frame.at[row, header] = value
        else:
            overrides.append((row, header, value))

    if plan and n > len(plan):
        taken = {row for row, _, _ in plan}
        put(next(r for r in rng.permutation(n) if r not in taken), "device_model", QUIRKY_DEVICE)
    for row, kind, variant in plan:
        diamond = base.at[row, "crystal_type"] == "diamond_tip"
        date = pd.Timestamp(frame.at[row, style.header("session_date")])
        column = "session_id"
        if kind == "missing_required":
            column = MISSING[variant % len(MISSING)]
            put(row, column, None)
        elif kind == "bad_type":
            column, value = BAD_TYPE[variant % len(BAD_TYPE)]
            put(row, column, value)
        elif kind == "bad_date":
            column = "session_date"
            put(row, column, f"{date:%Y-%m}-32")
        elif kind == "future_date":
            column = "session_date"
            put(row, column, date.replace(year=FUTURE_YEAR, day=min(date.day, 28)))
        elif kind == "out_of_range":
            column = OUT_OF_RANGE[variant % len(OUT_OF_RANGE)]
            column = "passes" if column == "particle_flow" and diamond else column
            value = OUT_OF_RANGE_VALUES[column]
            put(row, column, float(style.convert_vacuum(value)) if column == "vacuum_kpa" else value)
        elif kind == "unknown_category":
            column, value = UNKNOWN[variant % len(UNKNOWN)]
            put(row, column, value)
        elif kind == "inconsistent":
            # Particles on a diamond tip: give a diamond row a flow, or call a crystal row diamond.
            column = "particle_flow"
            put(row, *(("particle_flow", INCONSISTENT_FLOW) if diamond else ("crystal_type", "diamond_tip")))
        elif kind == "duplicate_in_file":
            extras.append((row, True))
            extra_keys.append(rng.integers(0, n) + 0.5)
            records.append((n + len(extras) - 1, column, kind))
        elif kind == IDENTICAL_REPEAT:
            extras.append((row, False))
            extra_keys.append(rng.integers(row, n) + 0.5)
            records.append((n + len(extras) - 1, column, kind))
            continue
        records.append((row, column, kind))

    combined = frame
    if extras:
        # Copies are taken after all cells are set; their sources are never spoiled themselves.
        copies = frame.iloc[[row for row, _ in extras]].reset_index(drop=True)
        passes = style.header("passes")
        changed = np.array([dup for _, dup in extras])
        copies.loc[changed, passes] = np.where(copies.loc[changed, passes].to_numpy() == 3, 2, 3)
        combined = pd.concat([frame, copies], ignore_index=True)
    order = np.argsort(np.concatenate([np.arange(n, dtype=float), extra_keys]), kind="stable")
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    planted = [
        PlantedDefect(file_name, int(position[i]) + 1, column, reason) for i, column, reason in records
    ]
    return SpoiledFile(
        frame=combined.iloc[order].reset_index(drop=True),
        overrides=[(int(position[row]), header, value) for row, header, value in overrides],
        planted=sorted(planted, key=lambda d: (d.row, d.reason)),
    )


def fits(column: pd.Series, value: object) -> bool:
    """Whether a typed column holds ``value`` as it is (no silent float-for-int, no object column)."""
    kind = column.dtype
    if value is None:
        return pd.api.types.is_string_dtype(kind) or pd.api.types.is_float_dtype(kind) or kind == "Int64"
    if isinstance(value, str):
        return pd.api.types.is_string_dtype(kind)
    if isinstance(value, pd.Timestamp):
        return pd.api.types.is_datetime64_any_dtype(kind)
    if isinstance(value, int):
        return pd.api.types.is_integer_dtype(kind) or pd.api.types.is_float_dtype(kind)
    return isinstance(value, float) and pd.api.types.is_float_dtype(kind)
