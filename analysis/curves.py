"""Predicted outcome curves (with confidence bands) from the fitted models, at stated reference covariates."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.special import expit

from analysis.design import AVERAGE_CLINIC, DIAMOND, LinearFit, linear_predictor, reference_frame
from analysis.results import Curve, CurvePoint, ModelResult
from analysis.satisfaction import SATISFIED_FROM, satisfaction_direct_model, satisfaction_model
from analysis.sensitivity import within_clinicians
from analysis.side_effects import side_effect_model

Z95 = 1.959963984540054
SATISFIED = f"P(satisfaction >= {SATISFIED_FROM})"
SIDE_EFFECT = "P(any side effect)"


@dataclass(frozen=True)
class OutcomeFits:
    """The models' published results and the internal fits that predictions are made from.

    ``satisfaction_direct`` is the satisfaction model adjusted for side effects (the direct
    association); curves and the explorer predict from the total one.
    """

    side_effects: ModelResult
    satisfaction: ModelResult
    side_effect_fit: LinearFit | None
    satisfaction_fit: LinearFit | None
    satisfaction_direct: ModelResult | None = None

    @property
    def results(self) -> tuple[ModelResult, ...]:
        return tuple(
            r for r in (self.side_effects, self.satisfaction, self.satisfaction_direct) if r is not None
        )


def fit_outcome_models(sessions: pd.DataFrame, checks: bool = True) -> OutcomeFits:
    """Fit the side-effect and satisfaction models once, keeping what curves and the explorer need.

    Parameters
    ----------
    sessions : pandas.DataFrame
        Rows of the warehouse ``sessions`` table.

    Returns
    -------
    OutcomeFits
        Both :class:`~analysis.results.ModelResult` objects and their internal fits (None when a
        model was not fitted).

    Notes
    -----
    Estimands and assumptions as in :func:`analysis.side_effects.fit_side_effects` and
    :func:`analysis.satisfaction.fit_satisfaction`: associations within clinics (clinic fixed
    effects), population-averaged over patients, with patient-clustered sandwich errors and the same
    adjustment set in both models; plus the direct association of satisfaction. With ``checks``,
    each network model is refitted within clinicians (:mod:`analysis.sensitivity`) and says whether
    its setting effects move.
    """
    side, side_fit = side_effect_model(sessions)
    sat, sat_fit = satisfaction_model(sessions)
    direct, _ = satisfaction_direct_model(sessions)
    if checks:
        side = replace(side, checks=within_clinicians(sessions, side_effect_model, side))
        sat = replace(sat, checks=within_clinicians(sessions, satisfaction_model, sat))
    return OutcomeFits(side, sat, side_fit, sat_fit, direct)


def model_curves(fits: OutcomeFits) -> tuple[Curve, ...]:
    """Every standard curve the models support (a model that was not fitted gives none).

    Notes
    -----
    Each curve is a population-averaged probability at stated reference covariates (most common
    level of each categorical, median numerics, pre-care followed) with a pointwise 95%
    delta-method band computed on the logit scale; see the individual curve functions.
    """
    curves: list[Curve] = []
    if fits.satisfaction_fit is not None:
        curves += [
            satisfied_by_session_number(fits.satisfaction_fit),
            satisfied_by_vacuum(fits.satisfaction_fit),
        ]
    if fits.side_effect_fit is not None:
        f = fits.side_effect_fit
        curves += [side_effect_risk_by_vacuum(f), side_effect_risk_by_passes(f)]
        if "flow_10pct" in f.rhs and any(c != DIAMOND for c in f.reference["crystal_levels"]):
            curves.append(side_effect_risk_by_flow(f))
    return tuple(curves)


def satisfied_by_session_number(fit: LinearFit, sessions=range(1, 11), **fixed) -> Curve:
    """P(satisfaction ≥ 4) by session number at the reference covariates.

    Notes
    -----
    Population-averaged probability from the proportional-odds model, ``expit(xβ − θ_3|4)``, with a
    95% delta-method band computed on the logit scale and transformed. Session number enters as a
    restricted cubic spline only when a Wald test rejected linearity (stated in ``note``).
    """
    return _curve(
        fit,
        "satisfied_by_session_number",
        "session_number",
        SATISFIED,
        "session_number",
        np.asarray(list(sessions), float),
        1.0,
        **fixed,
    )


def satisfied_by_vacuum(fit: LinearFit, vacuum_kpa=range(10, 71, 5), **fixed) -> Curve:
    """P(satisfaction ≥ 4) by vacuum (kPa) at the reference covariates (see :func:`satisfied_by_session_number`)."""
    return _curve(
        fit,
        "satisfied_by_vacuum",
        "vacuum_kpa",
        SATISFIED,
        "vacuum_10kpa",
        np.asarray(list(vacuum_kpa), float),
        0.1,
        **fixed,
    )


def side_effect_risk_by_vacuum(fit: LinearFit, vacuum_kpa=range(10, 71, 5), **fixed) -> Curve:
    """P(any side effect) by vacuum (kPa) at the reference covariates.

    Notes
    -----
    Population-averaged risk ``expit(xβ)`` from the side-effect model with a 95% delta-method band
    on the logit scale (cluster-robust covariance), transformed. Vacuum enters linearly on the
    logit scale, the assumption behind the single per-10-kPa odds ratio.
    """
    return _curve(
        fit,
        "side_effect_risk_by_vacuum",
        "vacuum_kpa",
        SIDE_EFFECT,
        "vacuum_10kpa",
        np.asarray(list(vacuum_kpa), float),
        0.1,
        **fixed,
    )


def side_effect_risk_by_passes(fit: LinearFit, passes=range(1, 7), **fixed) -> Curve:
    """P(any side effect) by number of passes at the reference covariates (see :func:`side_effect_risk_by_vacuum`)."""
    return _curve(
        fit,
        "side_effect_risk_by_passes",
        "passes",
        SIDE_EFFECT,
        "passes",
        np.asarray(list(passes), float),
        1.0,
        **fixed,
    )


def side_effect_risk_by_flow(fit: LinearFit, particle_flow=range(0, 101, 10)) -> Curve:
    """P(any side effect) by particle flow (%) for the reference crystal type (a crystal, never the diamond tip)."""
    crystal = fit.reference["crystal_type"]
    if crystal == DIAMOND:
        crystal = next(c for c in fit.levels["crystal_type"] if c != DIAMOND)
    return _curve(
        fit,
        "side_effect_risk_by_flow",
        "particle_flow",
        SIDE_EFFECT,
        "flow_10pct",
        np.asarray(list(particle_flow), float),
        0.1,
        crystal_type=crystal,
    )


def probability_band(fit: LinearFit, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Modelled probability (an event; a rating ≥ 4) with its 95% band, computed on the logit scale."""
    cut = None
    if fit.kind == "cumulative_logit":
        cut = int(np.sum(np.asarray(fit.y_levels) < SATISFIED_FROM)) - 1
        if cut < 0 or cut >= len(fit.y_levels) - 1:
            nan = np.full(len(data), np.nan)
            return nan, nan, nan
    est, se = linear_predictor(fit, data, cut)
    return expit(est), expit(est - Z95 * se), expit(est + Z95 * se)


AVERAGE_CLINIC_WORDS = "average of the network's clinics (weighted by sessions)"


def describe_reference(fit: LinearFit, **overrides) -> dict:
    """The reference covariates in the warehouse's own names and units (the clinic: the average one)."""
    ref = {**fit.reference, **overrides}
    clinic = {}
    if fit.reference.get("clinic_weights"):
        chosen = overrides.get("clinic", AVERAGE_CLINIC)
        clinic = {"clinic": AVERAGE_CLINIC_WORDS if chosen == AVERAGE_CLINIC else str(chosen)}
    return {
        "fitzpatrick": ref["skin_type"],
        "indication": ref["indication"],
        "treatment_area": ref["treatment_area"],
        "crystal_type": ref["crystal_type"],
        "pre_care_followed": ref["pre_care"],
        "vacuum_kpa": round(10 * ref["vacuum_10kpa"], 1),
        "passes": int(ref["passes"]),
        "particle_flow": None if ref["crystal_type"] == DIAMOND else round(10 * ref["flow_10pct"], 1),
        "session_number": int(ref["session_number"]),
        **clinic,
    }


def _curve(
    fit: LinearFit, name: str, x_name: str, y_name: str, column: str, xs: np.ndarray, scale: float, **fixed
) -> Curve:
    overrides = dict(fixed)
    if column == "flow_10pct" or fixed.get("crystal_type") not in (None, DIAMOND):
        overrides.setdefault("flow_10pct", fit.reference["crystal_flow_10pct"])
    data = reference_frame(fit, len(xs), **{**overrides, column: xs * scale})
    est, low, high = probability_band(fit.curve_fits.get(column, fit), data)
    support = _support(fit, column, xs * scale, scale)
    points = tuple(
        CurvePoint(float(x), float(e), float(lo), float(hi), n)
        for x, e, lo, hi, n in zip(xs, est, low, high, support, strict=True)
    )
    reference = describe_reference(fit, **overrides)
    reference.pop(x_name, None)
    model = "satisfaction (proportional odds)" if fit.kind == "cumulative_logit" else "side-effect (logistic)"
    thin = [float(x) for x, n in zip(xs, support, strict=True) if n < 30]
    decision = fit.decisions.get("session_number", "")
    note = (
        f"Population-averaged {y_name} from the {model} model at the reference covariates"
        f"{' and the average clinic' if 'clinic' in reference and reference['clinic'] == AVERAGE_CLINIC_WORDS else ''}; 95% delta-method "
        f"band on the logit scale ({fit.cov_type} covariance). {decision[:1].upper() + decision[1:]}."
    )
    if column == "vacuum_10kpa":
        vacuum = fit.decisions.get("vacuum_kpa", "vacuum linear")
        note += f" {vacuum[:1].upper() + vacuum[1:]}."
    elif column != "session_number":
        note += f" {x_name} enters linearly on the logit scale."
    if thin:
        note += f" Fewer than 30 sessions observed near {x_name} = {', '.join(f'{v:g}' for v in thin)}: extrapolated there."
    return Curve(name, x_name, y_name, points, reference, note)


def _support(fit: LinearFit, column: str, grid: np.ndarray, scale: float) -> list[int]:
    """Sessions observed within half a grid step of each point (where the curve rests on data)."""
    values, counts = fit.support.get(column, (np.array([]), np.array([])))
    half = (np.diff(grid).min() / 2) if len(grid) > 1 else 0.5 * scale
    return [int(counts[np.abs(values - g) <= half + 1e-9].sum()) for g in grid]
