"""What the guards and the coding decide from: counts of a model's rows, never the rows themselves.

Every decision before and around a fit — which clinics to leave out, which sparse levels to merge, the
reference level of each categorical, spline knots, reference values, events per parameter, whether the
settings can be told apart — is a function of a few counts: outcome counts per level of each categorical,
value counts of each numeric covariate, and a small Gram matrix of the distinct settings. A frame gives
them with ``value_counts``; an engine gives them with ``group by`` (``derma.lake``). Both paths then make
the same decisions with the same functions, whatever the number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.design import CATEGORICALS, CLINIC, DIAMOND, LEVELS, NUMERICS, SESSION_SPLINE


@dataclass(frozen=True)
class RowsSummary:
    """Counts of the rows a model is fitted on (after the guards' merges and exclusions).

    ``values[col]`` holds the sorted distinct values of a numeric covariate and their counts;
    ``crystal_flow`` the same for the flow among crystal (not diamond-tip) rows. ``levels[col]`` maps
    each level of a categorical to its count. ``y_counts`` maps each outcome value to its count.
    ``settings_gram`` is ``XᵀX`` of ``[1, vacuum, passes, flow]`` over the distinct settings rows.
    """

    n: int
    values: dict[str, tuple[np.ndarray, np.ndarray]]
    crystal_flow: tuple[np.ndarray, np.ndarray]
    levels: dict[str, dict[str, int]]
    y_counts: dict
    settings_gram: np.ndarray = field(default_factory=lambda: np.zeros((4, 4)))


def value_counts(x) -> tuple[np.ndarray, np.ndarray]:
    values, counts = np.unique(np.asarray(x, dtype=float), return_counts=True)
    return values, counts.astype(np.int64)


def settings_gram(rows: np.ndarray) -> np.ndarray:
    """``XᵀX`` of ``[1, settings]`` over distinct settings rows (rank tells whether they determine one another)."""
    x = np.column_stack([np.ones(len(rows)), np.asarray(rows, dtype=float)])
    return x.T @ x


def summarise_frame(frame: pd.DataFrame, y) -> RowsSummary:
    """The :class:`RowsSummary` of a coded frame (``analysis.design.code_covariates`` columns) and outcome."""
    crystal = (frame["crystal_type"].astype(object) != DIAMOND).to_numpy()
    settings = frame[["vacuum_10kpa", "passes", "flow_10pct"]].drop_duplicates().to_numpy(float)
    y_values, y_counts = np.unique(np.asarray(y), return_counts=True)
    return RowsSummary(
        n=len(frame),
        values={c: value_counts(frame[c]) for c in NUMERICS},
        crystal_flow=value_counts(frame.loc[crystal, "flow_10pct"]),
        levels={
            c: {str(k): int(v) for k, v in frame[c].astype(object).value_counts(sort=False).items()}
            for c in CATEGORICALS
            if c in frame
        },
        y_counts={
            v.item() if hasattr(v, "item") else v: int(k) for v, k in zip(y_values, y_counts, strict=True)
        },
        settings_gram=settings_gram(settings),
    )


def weighted_quantile(values: np.ndarray, counts: np.ndarray, q: float) -> float:
    """``np.quantile`` (linear method) of the data whose distinct ``values`` occur ``counts`` times.

    Bit for bit what numpy computes on the expanded data: the same virtual index and the same
    interpolation (numpy's ``_lerp``), so knots and reference values agree between paths.
    """
    n = int(np.sum(counts))
    virtual = (n - 1) * q  # numpy's virtual index for the linear method
    previous = int(np.floor(virtual))
    following = previous + 1
    if virtual >= n - 1:
        previous = following = n - 1
    ends = np.cumsum(counts)
    below = float(values[np.searchsorted(ends, previous, side="right")])
    above = float(values[np.searchsorted(ends, following, side="right")])
    gamma = virtual - (previous if virtual < n - 1 else -1)
    diff = above - below
    if gamma >= 0.5:
        return float(above - diff * (1 - gamma))
    return float(below + diff * gamma)


def weighted_median(values: np.ndarray, counts: np.ndarray) -> float:
    """``np.median`` of the expanded data: the middle value, or the mean of the two middle ones."""
    n = int(np.sum(counts))
    ends = np.cumsum(counts)
    low = float(values[np.searchsorted(ends, (n - 1) // 2, side="right")])
    high = float(values[np.searchsorted(ends, n // 2, side="right")])
    return float(np.mean(np.array([low, high])))


def knots(summary: RowsSummary, column: str, n_knots: int = 4) -> tuple[float, ...]:
    """Knots at Harrell's default quantiles (4 knots: 5, 35, 65, 95 %), ties removed (as ``spline_knots``)."""
    qs = {3: (0.10, 0.5, 0.90), 4: (0.05, 0.35, 0.65, 0.95), 5: (0.05, 0.275, 0.5, 0.725, 0.95)}[n_knots]
    values, counts = summary.values[column]
    return tuple(float(v) for v in np.unique([weighted_quantile(values, counts, q) for q in qs]))


def category_order(column: str, counts: dict[str, int]) -> list[str]:
    """A categorical's levels, reference first: the preferred one while well populated, else the largest.

    Levels follow the canonical order of ``LEVELS`` and then sorted; among equally large levels the
    first in that order is the reference, whatever order the rows came in.
    """
    present = [lv for lv in LEVELS[column] if lv in counts]
    present += sorted(str(lv) for lv in counts if lv not in present)
    largest = max(counts.values())
    preferred = LEVELS[column][0] if LEVELS[column] else None
    if preferred is not None and counts.get(preferred, 0) >= min(20, largest):
        ref = preferred
    else:
        ref = next(lv for lv in present if counts[lv] == largest)
    return [ref] + [lv for lv in present if lv != ref]


def categories(summary: RowsSummary) -> dict[str, list[str]]:
    return {c: category_order(c, counts) for c, counts in summary.levels.items()}


def most_common(column: str, counts: dict[str, int]) -> str:
    """The most common level; ties go to the first in :func:`category_order`."""
    order = category_order(column, counts)
    largest = max(counts.values())
    return next(lv for lv in order if counts[lv] == largest)


def reference_values(summary: RowsSummary) -> dict:
    """Reference covariates (see ``analysis.design.reference_covariates``) from counts."""
    ref: dict = {c: most_common(c, counts) for c, counts in summary.levels.items()}
    if "followed" in summary.levels.get("pre_care", {}):
        ref["pre_care"] = "followed"
    ref["vacuum_10kpa"] = weighted_median(*summary.values["vacuum_10kpa"])
    ref["passes"] = float(np.round(weighted_median(*summary.values["passes"])))
    ref["session_number"] = float(np.round(weighted_median(*summary.values["session_number"])))
    values, counts = summary.crystal_flow
    ref["crystal_flow_10pct"] = weighted_median(values, counts) if counts.sum() else 0.0
    ref["flow_10pct"] = 0.0 if ref.get("crystal_type") == DIAMOND else ref["crystal_flow_10pct"]
    ref["crystal_levels"] = tuple(category_order("crystal_type", summary.levels["crystal_type"]))
    clinics = summary.levels.get(CLINIC, {})
    if len(clinics) > 1:
        total = sum(clinics.values())
        ref["clinic_weights"] = {str(k): v / total for k, v in clinics.items()}
    return ref


def support(summary: RowsSummary) -> dict:
    """Sessions per observed value of each numeric covariate (flow: crystal rows), for curve support."""
    out = {c: summary.values[c] for c in NUMERICS if c != "flow_10pct"}
    out["flow_10pct"] = summary.crystal_flow
    return out


def count_parameters(rhs: str, summary: RowsSummary, spline_knots: tuple) -> int:
    """Number of covariate coefficients (excluding intercept / thresholds) a right-hand side implies."""
    k = 0
    for term in rhs.split(" + "):
        if term in summary.levels:
            k += max(len(summary.levels[term]) - 1, 0)
        elif term == SESSION_SPLINE:
            k += 1 + max(len(spline_knots) - 2, 0)
        else:
            k += 1
    return k


def settings_determined(summary: RowsSummary, with_flow: bool) -> bool:
    """Whether vacuum, passes (and flow) determine one another in the rows (their effects cannot be told apart)."""
    keep = [0, 1, 2, 3] if with_flow else [0, 1, 2]
    gram = summary.settings_gram[np.ix_(keep, keep)]
    return bool(np.linalg.matrix_rank(gram) <= len(keep) - 1)
