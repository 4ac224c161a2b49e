"""The side-effect model: population-averaged logistic regression of any side effect on the settings."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM

from analysis.design import (
    ADJUSTMENT,
    SESSION_SPLINE,
    Collapsed,
    FitFailure,
    LinearFit,
    build_design,
    check_information,
    cluster_sandwich,
    cluster_score_sums,
    code_covariates,
)
from analysis.effects import odds_ratio_effects
from analysis.estimands import adjusted_for, side_effect_estimand
from analysis.guards import fit_guarded, too_small
from analysis.results import Effect, ModelResult
from analysis.rows import FrameRows

SIDE_EFFECT_FORMULA = "any_side_effect ~ " + ADJUSTMENT.format(session=SESSION_SPLINE)
OUTCOME = "any side effect in the session"


def fit_side_effects(sessions: pd.DataFrame) -> ModelResult:
    """Adjusted odds ratios of any side effect per session for the device settings.

    Parameters
    ----------
    sessions : pandas.DataFrame
        Rows of the warehouse ``sessions`` table (at least the covariate columns,
        ``any_side_effect`` and ``patient_key``).

    Returns
    -------
    ModelResult
        Effects (odds ratios with 95% intervals) for ``vacuum_kpa`` (per 10 kPa), ``passes``
        (per additional pass), ``particle_flow`` (per 10 percentage points, crystal sessions)
        and every adjustment term; ``status`` ``"not_enough_data"`` (no effects) when the subset
        is too small, ``"simplified"`` when a guard dropped terms.

    Notes
    -----
    Estimand: association within clinics — population-averaged (marginal over patients) odds ratios
    of a session having any recorded side effect, comparing sessions of the same clinic (clinic fixed
    effects), adjusted for skin type (I–II / III / IV / V–VI), indication, treatment area, crystal
    type, session number and pre-care (missing = own level); the words are in
    :mod:`analysis.estimands`. Fixed effects rather than a random clinic intercept because clinics
    choose their settings (vacuum habits differ by clinic) and differ in outcomes for unrecorded
    reasons: a random intercept assumes those differences are unrelated to the settings and would
    let them leak into the effects, whereas fixed effects use only within-clinic contrasts, whatever
    the clinics' levels. Clinics whose outcome never varies are left out (they carry no within-clinic
    information). With fewer than 100 patients the intervals use t(G - 1). Sessions whose outcome is unknown
    (``any_side_effect`` null: no follow-up) are excluded, assumed missing at random given the
    covariates. Fitted as a binomial GLM with logit link on collapsed covariate patterns
    (binomial counts — the same likelihood as the rows) with cluster-robust sandwich errors by
    patient (per-patient score sums, factor G/(G-1)), which allow any correlation of a patient's
    sessions; the working model is independence. Particle flow is coded 0 for diamond-tip
    sessions, whose crystal-type indicator absorbs them, so the flow effect is within crystal
    sessions. Assumes linearity in vacuum, passes and flow on the logit scale, additivity (no
    interactions) and no unmeasured confounding within a clinic (``analysis.sensitivity`` checks
    clinicians).
    """
    return side_effect_model(sessions)[0]


def side_effect_model(sessions: pd.DataFrame) -> tuple[ModelResult, LinearFit | None]:
    """:func:`fit_side_effects` plus the internal fit the curves and the explorer predict from."""
    known = sessions.loc[sessions["any_side_effect"].notna().to_numpy()].reset_index(drop=True)
    clinics = int(known["clinic_id"].nunique()) if "clinic_id" in known else 1
    frame, notes = code_covariates(known)
    rows = frame.index.to_numpy()
    y = known["any_side_effect"].to_numpy()[rows].astype(bool)
    data = FrameRows(frame, y.astype(int), y, known["patient_key"].to_numpy()[rows])
    return side_effect_model_of(data, clinics, len(sessions) - len(known), notes)


def side_effect_model_of(
    data, clinics: int, unknown: int, notes: list[str]
) -> tuple[ModelResult, LinearFit | None]:
    """The side-effect model of a model's rows (in memory or on an engine, see :mod:`analysis.rows`).

    ``unknown`` counts the sessions left out for an unknown outcome, ``notes`` what coding left out.
    """
    n, n_events, n_patients = data.n, data.binary_events, data.n_patients
    notes = list(notes)
    if unknown:
        notes.insert(0, f"{unknown} sessions with an unknown outcome (no follow-up) were left out")

    def result(status, method, effects=(), warnings=(), details=None, rhs=None):
        return ModelResult(
            "side_effects",
            OUTCOME,
            method,
            n,
            n_patients,
            n_events,
            tuple(effects),
            tuple(warnings),
            status,
            details or {},
            adjusted_for=adjusted_for(rhs or SIDE_EFFECT_FORMULA.split("~", 1)[1].strip(), clinics),
            estimand=side_effect_estimand(clinics),
        )

    small = too_small(n, n_events, n - n_events, n_patients, ("with a side effect", "without one"))
    if small:
        return result("not_enough_data", "none (too little data)", warnings=(*notes, small)), None
    rhs = SIDE_EFFECT_FORMULA.split("~", 1)[1].strip()
    guarded = fit_guarded(data, rhs, "logit", epv_events=binary_epv, intercepts=1)
    notes += guarded.warnings
    fit = guarded.fit
    if fit is None:
        return result("not_enough_data", "none (model could not be fitted)", warnings=notes), None
    summary = guarded.summary
    clinics = max(len(summary.levels.get("clinic", {})), 1)
    n, n_patients = summary.n, fit.n_clusters
    n_events = int(np.round(fit.support["events"]))
    effects = [
        Effect(**{k: v for k, v in e.items() if k not in ("log_estimate", "se")})
        for e in odds_ratio_effects(fit, summary)
    ]
    method = (
        f"GLM binomial logit on {fit.support['n_patterns']} covariate patterns (binomial counts, same likelihood as "
        f"the {n} sessions); {clinic_words(clinics)}; cluster-robust (sandwich) SEs by patient, "
        f"{fit.n_clusters} clusters, factor G/(G-1){t_words(fit.n_clusters)}; population-averaged odds ratios; "
        f"{guarded.decisions['session_number']}"
    )
    details = {
        "formula": "any_side_effect ~ " + fit.rhs,
        "cov_type": fit.cov_type,
        "n_patterns": fit.support["n_patterns"],
        "session_number": guarded.decisions["session_number"],
        "vacuum_kpa": guarded.decisions.get("vacuum_kpa", ""),
    }
    return result(guarded.status, method, effects, notes, details, rhs=fit.rhs), fit


def binary_epv(y_counts: dict) -> float:
    """Events for the events-per-parameter rule of a binary outcome: the rarer of its two values."""
    events = sum(k for v, k in y_counts.items() if v)
    return float(min(events, sum(y_counts.values()) - events))


def clinic_words(clinics: int) -> str:
    """How the method text says clinic was handled."""
    return f"clinic fixed effects ({clinics} clinics)" if clinics > 1 else "one clinic"


def t_words(clusters: int) -> str:
    """The method text's note on t(G - 1) intervals when a fit has few patients."""
    from analysis.effects import reference_df

    df = reference_df(clusters)
    return f", t({df:g}) intervals (fewer than 100 patients)" if df else ""


def fit_logit(rhs: str, rows: Collapsed, env, reference: dict, cov_type: str = "cluster") -> LinearFit:
    """Fit a binomial logit GLM on collapsed patterns; cluster-robust or model-based covariance.

    The cluster-robust covariance is ``G/(G-1) · H⁻¹ (Σ_g s_g s_gᵀ) H⁻¹`` with ``s_g`` the sum of
    patient ``g``'s row scores ``x (y − μ)``, gathered through the patient × pattern aggregation.
    """
    x, info = build_design(rhs, rows.patterns, env)
    if rows.counts.shape[1] != 2:
        raise FitFailure("the outcome does not vary")
    events = rows.counts[:, 1]
    trials = rows.counts.sum(axis=1)
    # Newton from the intercept-only fit: at a million rows it is 4× faster than IRLS, whose
    # per-iteration least squares and final pseudo-inverse dominate.
    start = np.zeros(x.shape[1])
    start[0] = np.log(events.sum() / (trials.sum() - events.sum()))
    res = GLM(np.column_stack([events, trials - events]), x, family=families.Binomial()).fit(
        method="newton", start_params=start, maxiter=100, tol=1e-10, disp=0
    )
    if not res.mle_retvals.get("converged", False):
        raise FitFailure("the logistic fit did not converge")
    beta = np.asarray(res.params)
    mu = expit(x @ beta)
    hessian = -(x.T * (trials * mu * (1 - mu))) @ x
    check_information(hessian)
    if cov_type == "cluster":
        resid = rows.row_y - mu[rows.row_pattern]
        cov = cluster_sandwich(hessian, cluster_score_sums(resid, rows, x))
    else:
        cov = np.linalg.inv(-hessian)
    with np.errstate(divide="ignore", invalid="ignore"):
        loglike = float(np.sum(events * np.log(mu) + (trials - events) * np.log1p(-mu)))
    support = {"n_patterns": len(rows.patterns), "events": float(events.sum())}
    return LinearFit.from_rows(
        "logit", rhs, info.column_names, beta, cov, info, rows, reference, loglike, cov_type, support
    )
