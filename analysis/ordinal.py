"""The proportional-odds (cumulative logit) fit itself: Newton on collapsed patterns, the analytic
Hessian and per-patient score sums for the cluster-robust covariance.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy.special import expit

from analysis.design import (
    Collapsed,
    FitFailure,
    LinearFit,
    build_design,
    check_information,
    cluster_sandwich,
    cluster_score_sums,
    collapse,
    design_env,
)

SATISFIED_FROM = 4


def loglike_tolerance(loglike: float) -> float:
    """How far apart two log-likelihoods may be and still count as equal: 1e-12, plus the rounding of a
    sum of that size (``1e-14·|ℓ|``).

    A sum over 10^6 sessions (``|ℓ| ≈ 10^6``) computed by a parallel engine comes back in a different
    order each time and differs in its last digits (about 1e-10 at that size); an absolute 1e-12 would be met
    only by chance, and a converged fit would take extra steps of ~1e-15 until two sums happened to
    agree. The parameter test (no parameter moves by more than 1e-8) still decides convergence.
    """
    return 1e-12 + 1e-14 * abs(loglike)


def effective_sample_size(y: np.ndarray) -> float:
    """Harrell's effective sample size of an ordinal outcome, ``n − Σ n_j³ / n²``."""
    counts = np.unique(y, return_counts=True)[1].astype(float)
    n = counts.sum()
    return float(n - (counts**3).sum() / n**2)


def fit_ordinal_formula(formula: str, data: pd.DataFrame, cov_type: str = "model", groups=None) -> LinearFit:
    """Fit a proportional-odds model from a formula such as ``"rating ~ temp + contact"``.

    The same collapsing, coding and fitting path as :func:`fit_satisfaction`, for any data
    (used to check the implementation against published fits). ``cov_type`` is ``"model"``
    (inverse observed information) or ``"cluster"`` (needs ``groups``).

    Notes
    -----
    Estimand: the cumulative log-odds ratios ``β`` of ``logit P(Y ≤ j) = θ_j − xβ`` (R
    ``ordinal::clm``'s parameterisation), assuming proportional odds and independent rows (or,
    with ``cov_type="cluster"``, independent groups). String columns are treatment-coded with the
    alphabetically first level as reference, as R does.
    """
    outcome, rhs = (part.strip() for part in formula.split("~", 1))
    names = [c for c in data.columns if re.search(rf"\b{re.escape(c)}\b", rhs)]
    rows = collapse(data[names], names, data[outcome], groups)
    return fit_cumulative_logit(rhs, rows, design_env(()), {}, cov_type=cov_type)


def fit_cumulative_logit(
    rhs: str, rows: Collapsed, env, reference: dict, cov_type: str = "cluster"
) -> LinearFit:
    """Maximum-likelihood proportional-odds fit by Newton's method with step halving.

    Parameters are ``β`` (no intercept: the thresholds take its place) then ``θ_1 < … < θ_{K-1}``;
    ``logit P(Y ≤ y_j | x) = θ_j − xβ``.
    """
    x, info = build_design(rhs, rows.patterns, env)
    x, names = x[:, 1:], tuple(info.column_names[1:])
    w = rows.counts
    n_levels = w.shape[1]
    if n_levels < 2:
        raise FitFailure("the rating does not vary")
    cum = np.cumsum(w.sum(axis=0))[:-1] / w.sum()
    params = np.concatenate([np.zeros(x.shape[1]), np.log(cum / (1 - cum))])
    loglike = _loglike(params, x, w)
    for _ in range(100):
        grad, hess = _derivatives(params, x, w)
        step = np.linalg.solve(-hess, grad)
        for _ in range(40):
            trial = params + step
            new = _loglike(trial, x, w)
            if np.isfinite(new) and new >= loglike - loglike_tolerance(loglike):
                break
            step = step / 2
        else:
            raise FitFailure("the ordinal fit did not converge")
        params, done = trial, abs(new - loglike) < loglike_tolerance(loglike) and np.max(np.abs(step)) < 1e-8
        loglike = new
        if done:
            break
    else:
        raise FitFailure("the ordinal fit did not converge in 100 iterations")
    _, hess = _derivatives(params, x, w)
    check_information(hess)
    if cov_type == "cluster":
        cov = cluster_sandwich(hess, _cluster_scores(params, x, rows))
    else:
        cov = np.linalg.inv(-hess)
    support = {
        "n_patterns": len(rows.patterns),
        "events": float(w[:, np.asarray(rows.y_levels) >= SATISFIED_FROM].sum())
        if np.issubdtype(np.asarray(rows.y_levels).dtype, np.number)
        else float("nan"),
    }
    return LinearFit.from_rows(
        "cumulative_logit", rhs, names, params, cov, info, rows, reference, loglike, cov_type, support
    )


def _bounds(params, x):
    """Upper and lower logits ``θ_j − η`` and ``θ_{j-1} − η`` for every pattern × level (±inf at the ends)."""
    k = x.shape[1]
    eta = x @ params[:k]
    theta = np.concatenate([[-np.inf], params[k:], [np.inf]])
    upper = theta[None, 1:] - eta[:, None]
    lower = theta[None, :-1] - eta[:, None]
    return upper, lower


def _pieces(params, x):
    upper, lower = _bounds(params, x)
    fu, fl = expit(upper), expit(lower)
    prob = np.clip(fu - fl, 1e-300, None)
    du, dl = fu * (1 - fu), fl * (1 - fl)  # densities, 0 at ±inf
    gu, gl = du * (1 - 2 * fu), dl * (1 - 2 * fl)  # their derivatives
    return prob, du, dl, gu, gl


def _loglike(params, x, w):
    k = x.shape[1]
    if np.any(np.diff(params[k:]) <= 0):
        return -np.inf
    prob = _pieces(params, x)[0]
    return float(np.sum(w * np.log(prob)))


def _derivatives(params, x, w):
    """Analytic gradient and Hessian of the count-weighted log-likelihood."""
    k, n_levels = x.shape[1], w.shape[1]
    prob, du, dl, gu, gl = _pieces(params, x)
    d = du - dl
    u_eta = -d / prob  # ∂ℓ/∂η per pattern × level
    h_eta = (gu - gl) / prob - (d / prob) ** 2
    h_eta_up = -gu / prob + d * du / prob**2  # ∂²ℓ/∂η∂θ_j
    h_eta_lo = gl / prob - d * dl / prob**2  # ∂²ℓ/∂η∂θ_{j-1}
    h_up = gu / prob - (du / prob) ** 2
    h_lo = -gl / prob - (dl / prob) ** 2
    h_cross = du * dl / prob**2
    m = n_levels - 1
    grad = np.concatenate(
        [x.T @ (w * u_eta).sum(axis=1), (w * du / prob)[:, :m].sum(0) - (w * dl / prob)[:, 1:].sum(0)]
    )
    hess = np.zeros((k + m, k + m))
    hess[:k, :k] = (x.T * (w * h_eta).sum(axis=1)) @ x
    v = (w * h_eta_up)[:, :m] + (w * h_eta_lo)[:, 1:]
    hess[:k, k:] = x.T @ v
    hess[k:, :k] = hess[:k, k:].T
    diag = (w * h_up)[:, :m].sum(0) + (w * h_lo)[:, 1:].sum(0)
    hess[k:, k:] = np.diag(diag)
    off = (w * h_cross)[:, 1:m].sum(0)  # level j (1..m-1) links θ_j and θ_{j-1}
    for j in range(1, m):
        hess[k + j, k + j - 1] = hess[k + j - 1, k + j] = off[j - 1]
    return grad, hess


def _cluster_scores(params, x, rows: Collapsed) -> np.ndarray:
    """Per-patient sums of the row scores (β part through the pattern design, θ part by level)."""
    n_levels = rows.counts.shape[1]
    prob, du, dl, _, _ = _pieces(params, x)
    p, j = rows.row_pattern, rows.row_y
    beta_part = cluster_score_sums(-(du - dl)[p, j] / prob[p, j], rows, x)
    m = n_levels - 1
    theta_part = np.zeros((rows.n_clusters, m))
    up = j < m
    np.add.at(theta_part, (rows.row_cluster[up], j[up]), du[p[up], j[up]] / prob[p[up], j[up]])
    lo = j > 0
    np.add.at(theta_part, (rows.row_cluster[lo], j[lo] - 1), -dl[p[lo], j[lo]] / prob[p[lo], j[lo]])
    return np.column_stack([beta_part, theta_part])
