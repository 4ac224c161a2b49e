"""The satisfaction model: proportional-odds (cumulative logit) regression of the 1–5 rating on the settings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.design import (
    ADJUSTMENT,
    SESSION_SPLINE,
    LinearFit,
    code_covariates,
)
from analysis.effects import odds_ratio_effects
from analysis.estimands import adjusted_for, direct_estimand, satisfaction_estimand
from analysis.guards import fit_guarded, too_small
from analysis.ordinal import SATISFIED_FROM
from analysis.results import Effect, ModelResult
from analysis.rows import FrameRows
from analysis.side_effects import clinic_words, t_words

SATISFACTION_FORMULA = "satisfaction ~ " + ADJUSTMENT.format(session=SESSION_SPLINE)
#: The extra term of the direct association: the session's side-effect status.
SIDE_EFFECT_TERM = "side_effect"
OUTCOME = "satisfaction 1-5"


def fit_satisfaction(sessions: pd.DataFrame) -> ModelResult:
    """Adjusted cumulative odds ratios of a higher satisfaction rating for the device settings.

    Parameters
    ----------
    sessions : pandas.DataFrame
        Rows of the warehouse ``sessions`` table (the covariate columns, ``satisfaction`` and
        ``patient_key``).

    Returns
    -------
    ModelResult
        Effects for ``vacuum_kpa``, ``passes``, ``particle_flow`` and every adjustment term on the
        ``odds_ratio`` scale: OR > 1 means higher ratings are more likely. ``n_events`` counts
        sessions rated 4–5.

    Notes
    -----
    Estimand: population-averaged cumulative odds ratios, ``odds(Y ≥ k | x + 1) / odds(Y ≥ k | x)``,
    assumed equal at every cut k = 2..5 (proportional odds; see :func:`check_proportional_odds`).
    Model: ``logit P(Y ≤ j) = θ_j − xβ`` (R ``ordinal::clm``'s parameterisation), fitted by Newton's
    method on collapsed covariate patterns with count weights (the same likelihood as the rows), with
    cluster-robust sandwich errors by patient from per-patient score sums and the analytic Hessian,
    factor G/(G-1). The adjustment set is the side-effect model's, clinic fixed effects included
    (association within clinics; see :func:`analysis.side_effects.fit_side_effects` for why fixed
    effects), so the two models' effects are comparable. Side effects are not adjusted for: they lie
    on the path from settings to satisfaction, so this is the total association
    (:func:`satisfaction_direct_model` gives the direct one). Sessions without a survey answer are
    excluded, assumed missing at random given the covariates (the dashboard shows the response rate
    and a best/worst-case band beside % satisfied).
    """
    return satisfaction_model(sessions)[0]


def satisfaction_model(sessions: pd.DataFrame) -> tuple[ModelResult, LinearFit | None]:
    """:func:`fit_satisfaction` plus the internal fit the curves and the explorer predict from."""
    result, fit, _ = _satisfaction_model(sessions)
    return result, fit


def satisfaction_direct_model(sessions: pd.DataFrame) -> tuple[ModelResult, LinearFit | None]:
    """The satisfaction model also adjusted for the session's side-effect status: the direct association.

    Notes
    -----
    Estimand: as :func:`fit_satisfaction`, but comparing sessions with the same side-effect status
    (none / some / not known: sessions without a follow-up keep their own level rather than being
    dropped), so the odds ratios leave out the path from a setting through a side effect in the same
    session to the rating. A controlled direct effect in the usual sense needs no unmeasured
    confounding of side effect and rating as well; read it beside the total association.
    """
    result, fit, _ = _satisfaction_model(sessions, direct=True)
    return result, fit


def _satisfaction_model(sessions: pd.DataFrame, direct: bool = False):
    rated = sessions.loc[sessions["satisfaction"].notna().to_numpy()].reset_index(drop=True)
    clinics = int(rated["clinic_id"].nunique()) if "clinic_id" in rated else 1
    frame, notes = code_covariates(rated)
    rows = frame.index.to_numpy()
    if direct:
        status = pd.array(rated["any_side_effect"], dtype="boolean")[rows]
        frame = frame.assign(
            side_effect=np.where(
                np.asarray(status.isna()),
                "not known",
                np.where(status.fillna(False).to_numpy(bool), "some", "none"),
            )
        )
    y = rated["satisfaction"].to_numpy()[rows].astype(int)
    data = FrameRows(frame, y, y >= SATISFIED_FROM, rated["patient_key"].to_numpy()[rows])
    return satisfaction_model_of(data, clinics, notes, direct)


def satisfaction_model_of(data, clinics: int, notes: list[str], direct: bool = False):
    """The satisfaction model (total, or ``direct``) of a model's rows; (result, fit, guarded fit)."""
    rhs = SATISFACTION_FORMULA.split("~", 1)[1].strip() + (f" + {SIDE_EFFECT_TERM}" if direct else "")
    n, n_events, n_patients = data.n, data.binary_events, data.n_patients
    notes = list(notes)
    name, estimand = (
        ("satisfaction_direct", direct_estimand) if direct else ("satisfaction", satisfaction_estimand)
    )

    def result(status, method, effects=(), warnings=(), details=None, fitted_rhs=None):
        return ModelResult(
            name,
            OUTCOME,
            method,
            n,
            n_patients,
            n_events,
            tuple(effects),
            tuple(warnings),
            status,
            details or {},
            adjusted_for=adjusted_for(fitted_rhs or rhs, clinics),
            estimand=estimand(clinics),
        )

    small = too_small(n, n_events, n - n_events, n_patients, ("rated 4-5", "rated 1-3"))
    if small:
        return result("not_enough_data", "none (too little data)", warnings=(*notes, small)), None, None
    guarded = fit_guarded(
        data,
        rhs,
        "ordinal",
        epv_events=ordinal_epv,
        intercepts=len(data.summary().y_counts) - 1,
    )
    notes += guarded.warnings
    fit = guarded.fit
    if fit is None:
        return result("not_enough_data", "none (model could not be fitted)", warnings=notes), None, None
    summary = guarded.summary
    clinics = max(len(summary.levels.get("clinic", {})), 1)
    n, n_patients = summary.n, fit.n_clusters
    n_events = int(fit.support["events"])
    effects = [
        Effect(**{k: v for k, v in e.items() if k not in ("log_estimate", "se")})
        for e in odds_ratio_effects(fit, summary)
    ]
    method = (
        f"Proportional-odds cumulative logit (logit P(Y<=j) = theta_j - x*beta), Newton fit on "
        f"{fit.support['n_patterns']} covariate patterns with count weights (same likelihood as the {n} rated "
        f"sessions); {clinic_words(clinics)}; cluster-robust (sandwich) SEs by patient, {fit.n_clusters} clusters, "
        f"factor G/(G-1){t_words(fit.n_clusters)}; population-averaged cumulative odds ratios of a higher rating"
        f"{'; adjusted for the session' + chr(39) + 's side-effect status (direct association)' if direct else ''}; "
        f"{guarded.decisions['session_number']}"
    )
    details = {
        "formula": "satisfaction ~ " + fit.rhs,
        "cov_type": fit.cov_type,
        "n_patterns": fit.support["n_patterns"],
        "rating_levels": [int(v) for v in fit.y_levels],
        "thresholds": [float(t) for t in fit.params[fit.k_beta :]],
        "session_number": guarded.decisions["session_number"],
        "vacuum_kpa": guarded.decisions.get("vacuum_kpa", ""),
    }
    return result(guarded.status, method, effects, notes, details, fit.rhs), fit, guarded


def ordinal_epv(y_counts: dict) -> float:
    """Harrell's effective sample size of an ordinal outcome from its counts, ``n − Σ n_j³ / n²``."""
    counts = np.array(list(y_counts.values()), dtype=float)
    n = counts.sum()
    return float(n - (counts**3).sum() / n**2)
