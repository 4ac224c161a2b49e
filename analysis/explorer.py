"""The settings explorer: predicted satisfaction and side-effect risk over a vacuum × passes grid."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.curves import OutcomeFits, probability_band
from analysis.design import DIAMOND, SKIN_GROUPS, LinearFit, reference_frame

COLUMNS = [
    "vacuum_kpa",
    "passes",
    "p_satisfied",
    "p_satisfied_low",
    "p_satisfied_high",
    "p_side_effect",
    "p_side_effect_low",
    "p_side_effect_high",
]


def explore_settings(
    fits: OutcomeFits,
    skin_type,
    indication: str,
    area: str,
    crystal_type: str | None = None,
    vacuum_grid=range(10, 71, 5),
    passes_grid=range(1, 7),
) -> pd.DataFrame:
    """Predicted P(satisfaction ≥ 4) and P(any side effect), with 95% bands, for each vacuum × passes.

    Parameters
    ----------
    fits : OutcomeFits
        From :func:`analysis.curves.fit_outcome_models`.
    skin_type : int or str
        Fitzpatrick type 1–6 or a skin-type group (``"IV"``, ``"V–VI"``).
    indication, area : str
        Canonical codes (``"acne_scars"``, ``"face"``).
    crystal_type : str, optional
        Defaults to the most common crystal type in the side-effect data.
    vacuum_grid, passes_grid : iterable of numbers
        The settings to compare (kPa; passes).

    Returns
    -------
    pandas.DataFrame
        One row per setting: ``vacuum_kpa, passes, p_satisfied, p_satisfied_low, p_satisfied_high,
        p_side_effect, p_side_effect_low, p_side_effect_high``; a model that could not be fitted gives
        NaN columns. ``DataFrame.attrs["reference"]`` states the other covariates and
        ``attrs["notes"]`` any level that was mapped to a merged group.

    Notes
    -----
    Population-averaged predictions from the two fitted models at the given patient profile, with
    session number, particle flow (median among crystal sessions; none for the diamond tip) and
    pre-care (followed) at the side-effect model's reference values; vacuum enters as a spline where
    the model's linearity check rejected a straight line. Bands are pointwise 95%
    delta-method intervals on the logit scale; the two outcomes' uncertainties are shown separately,
    not jointly. Settings outside the observed range are extrapolations of a logit-linear relation.
    """
    grid = pd.DataFrame(
        [(float(v), float(p)) for v in vacuum_grid for p in passes_grid], columns=["vacuum_kpa", "passes"]
    )
    out = grid.copy()
    notes: list[str] = []
    reference: dict = {}
    base = fits.side_effect_fit or fits.satisfaction_fit
    for fit, prefix in ((fits.satisfaction_fit, "p_satisfied"), (fits.side_effect_fit, "p_side_effect")):
        if fit is None:
            out[prefix] = out[f"{prefix}_low"] = out[f"{prefix}_high"] = np.nan
            continue
        profile = _profile(fit, base, skin_type, indication, area, crystal_type, notes)
        reference = reference or profile
        data = reference_frame(
            fit,
            len(grid),
            **profile,
            vacuum_10kpa=grid["vacuum_kpa"].to_numpy() / 10,
            passes=grid["passes"].to_numpy(),
        )
        band = probability_band(fit.curve_fits.get("vacuum_10kpa", fit), data)
        out[prefix], out[f"{prefix}_low"], out[f"{prefix}_high"] = band
    out = out[COLUMNS]
    out.attrs["reference"] = reference
    out.attrs["notes"] = list(dict.fromkeys(notes))
    return out


def _profile(fit: LinearFit, base: LinearFit, skin_type, indication, area, crystal_type, notes) -> dict:
    skin = (
        SKIN_GROUPS.get(skin_type, skin_type) if isinstance(skin_type, int | np.integer) else str(skin_type)
    )
    crystal = crystal_type or base.reference["crystal_type"]
    profile = {
        "skin_type": _level(fit, "skin_type", skin, notes),
        "indication": _level(fit, "indication", indication, notes),
        "treatment_area": _level(fit, "treatment_area", area, notes),
        "crystal_type": _level(fit, "crystal_type", crystal, notes),
        "pre_care": "followed"
        if "followed" in fit.levels.get("pre_care", ())
        else base.reference["pre_care"],
        "session_number": base.reference["session_number"],
    }
    profile["flow_10pct"] = (
        0.0 if profile["crystal_type"] == DIAMOND else base.reference["crystal_flow_10pct"]
    )
    return profile


def _level(fit: LinearFit, column: str, value: str, notes: list[str]) -> str:
    """The fit's level for ``value``: itself, the merged group containing it, or an error naming the choices."""
    levels = fit.levels.get(column)
    if levels is None:  # the term was dropped by a guard: any level predicts the same
        return fit.reference[column]
    if value in levels:
        return value
    for level in levels:
        parts = str(level).split(" or ")
        if value in parts or (column == "skin_type" and _skin_in_range(value, level)):
            notes.append(f"{column} '{value}' is modelled within the merged level '{level}'")
            return level
    raise ValueError(f"unknown {column} '{value}': the model knows {', '.join(map(str, levels))}")


_ROMAN = ("I", "II", "III", "IV", "V", "VI")


def _skin_in_range(value: str, level: str) -> bool:
    """Whether skin-type group ``value`` (e.g. ``"V–VI"``) lies inside a merged range (``"IV–VI"``)."""
    try:
        lo, hi = (_ROMAN.index(p) for p in ([*str(level).split("–"), str(level)])[:2])
        v_lo, v_hi = (_ROMAN.index(p) for p in ([*str(value).split("–"), str(value)])[:2])
    except ValueError:
        return False
    hi = max(hi, lo)
    return lo <= v_lo and max(v_hi, v_lo) <= hi
