"""Population-averaged truth: what a marginal (GEE-type) fit of the planted models converges to."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from sample_data.planted import (
    PLANTED,
    SETTING_TERMS,
    compute_linear_predictor,
    compute_satisfaction_terms,
    compute_side_effect_terms,
)

QUADRATURE_NODES = 40


def project_population_averaged(sessions: pd.DataFrame) -> dict[tuple[str, str], float]:
    """Project the subject-specific planted models onto population-averaged log-odds ratios.

    Parameters
    ----------
    sessions : pandas.DataFrame
        Clean contract rows, e.g. from :func:`sample_data.generator.generate_sessions`; the
        covariate mix they carry is the one the projection averages over.

    Returns
    -------
    dict of (str, str) to float
        ``(outcome, term) -> log-odds ratio`` for the three setting terms of each outcome.

    Notes
    -----
    The estimand is the limit of a marginal fit with the full planted covariate set: the
    marginal probabilities ``E_u[expit(eta + u)]``, ``u ~ N(0, sigma^2)``, are computed by
    Gauss–Hermite quadrature and a logistic (side effects, sessions with follow-up) or
    proportional-odds (satisfaction, answered surveys) model is fitted to them by maximum
    expected likelihood. This is exactly where GEE with an independence working correlation
    converges; exchangeable GEE lands close to it. Dropout that depends on earlier outcomes
    selects patients slightly and is ignored here.
    """
    cols = {name: sessions[name].to_numpy() for name in sessions.columns}
    cols["satisfaction"] = sessions["satisfaction"].to_numpy(dtype=float, na_value=np.nan)
    cols["side_effect"] = (sessions["side_effects"] != "").to_numpy()
    nodes, weights = np.polynomial.hermite_e.hermegauss(QUADRATURE_NODES)
    weights = weights / weights.sum()

    known = np.asarray(cols["follow_up_done"], dtype=bool)
    sub = {k: np.asarray(v)[known] for k, v in cols.items()}
    se_terms = compute_side_effect_terms(sub)
    model = PLANTED.side_effects
    eta = compute_linear_predictor(model, se_terms)
    marginal = _expit(eta[:, None] + model.patient_sd * nodes[None, :]) @ weights
    beta = fit_logistic(np.column_stack([np.ones(len(eta)), *se_terms.values()]), marginal)
    names = ["(intercept)", *se_terms]
    out = {("any_side_effect", term): float(beta[names.index(term)]) for term in SETTING_TERMS}

    answered = ~np.isnan(cols["satisfaction"])
    sub = {k: np.asarray(v)[answered] for k, v in cols.items()}
    sat_terms = compute_satisfaction_terms(sub)
    model = PLANTED.satisfaction
    eta = compute_linear_predictor(model, sat_terms)
    # P(rating > k) for k = 1..4, averaged over the patient intercept.
    above = _expit(
        eta[:, None, None]
        + model.patient_sd * nodes[None, None, :]
        - np.asarray(model.thresholds)[None, :, None]
    )
    above = above @ weights
    probs = -np.diff(np.column_stack([np.ones(len(eta)), above, np.zeros(len(eta))]), axis=1)
    beta = fit_proportional_odds(
        np.column_stack(list(sat_terms.values())), probs, np.asarray(model.thresholds)
    )
    out |= {("satisfaction", term): float(beta[list(sat_terms).index(term)]) for term in SETTING_TERMS}
    return out


def fit_logistic(x: np.ndarray, p: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Fit a logistic model to fractional responses ``p`` by Newton–Raphson; return coefficients."""
    beta = np.zeros(x.shape[1])
    beta[0] = np.log(p.mean() / (1 - p.mean()))
    for _ in range(iterations):
        mu = _expit(x @ beta)
        step = np.linalg.solve((x * (mu * (1 - mu))[:, None]).T @ x, x.T @ (p - mu))
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def fit_proportional_odds(x: np.ndarray, probs: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Fit ``P(Y <= k) = expit(theta_k - x @ beta)`` to expected category probabilities; return beta.

    ``probs`` has one column per category; the fit maximises the expected log-likelihood.
    """
    k = len(start)

    def objective(params: np.ndarray) -> tuple[float, np.ndarray]:
        theta, beta = params[:k], params[k:]
        cdf = _expit(theta[None, :] - (x @ beta)[:, None])
        dens = cdf * (1 - cdf)
        ones, zeros = np.ones((len(x), 1)), np.zeros((len(x), 1))
        cum = np.hstack([zeros, cdf, ones])
        pdf = np.hstack([zeros, dens, zeros])
        pi = np.clip(np.diff(cum, axis=1), 1e-300, None)
        ratio = probs / pi
        # d pi_j / d a_j = f(a_j) (upper edge), d pi_j / d a_{j-1} = -f(a_{j-1}) (lower edge).
        d_eta = (ratio * -(pdf[:, 1:] - pdf[:, :-1])).sum(axis=1)
        d_theta = ((ratio[:, :-1] - ratio[:, 1:]) * dens).sum(axis=0)
        loglik = float((probs * np.log(pi)).sum())
        grad = np.concatenate([d_theta, x.T @ d_eta])
        return -loglik / len(x), -grad / len(x)

    params = np.concatenate([start, np.zeros(x.shape[1])])
    result = minimize(objective, params, jac=True, method="BFGS", options={"gtol": 1e-9, "maxiter": 2000})
    return result.x[k:]


def _expit(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))
