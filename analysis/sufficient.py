"""The outcome models fitted from sufficient statistics: Newton steps from sums an engine computes.

:func:`fit_logit_sums` and :func:`fit_cumulative_sums` are :func:`analysis.side_effects.fit_logit` and
:func:`analysis.ordinal.fit_cumulative_logit` with the data replaced by a *rows* object that answers
aggregation questions (``derma.lake.fitting.EngineRows``): at a parameter vector it returns the
log-likelihood, its gradient ``Xᵀ(y − μ)`` and Hessian ``−XᵀWX`` — sums over sessions or covariate
patterns that the engine computes in one query — and, at the estimate, the meat ``Σ_g s_g s_gᵀ`` of
the patient-cluster sandwich from per-patient score sums. Python holds only p × p matrices. The
iterations, convergence rules and covariance are those of the in-memory fits, so the estimates agree
to the convergence tolerance.
"""

from __future__ import annotations

import numpy as np

from analysis.design import SPLINE_COLUMN, FitFailure, LinearFit, build_design, check_information
from analysis.ordinal import SATISFIED_FROM, loglike_tolerance

MAX_ITERATIONS = 100
#: statsmodels' Newton stops when no coefficient moves by more than this (``fit_logit`` uses it).
LOGIT_TOL = 1e-10


def design_info(rhs: str, rows, env):
    """The patsy design of ``rhs`` for the rows' levels (built from a small skeleton frame, not the data)."""
    _, info = build_design(rhs, rows.skeleton(), env)
    return info


def sandwich(hessian: np.ndarray, meat: np.ndarray, clusters: int) -> np.ndarray:
    """``G/(G-1) · H⁻¹ M H⁻¹``: the cluster-robust covariance from the Hessian and the meat."""
    bread = np.linalg.inv(-hessian)
    return (clusters / (clusters - 1.0)) * bread @ meat @ bread


def _start(names: tuple[str, ...], warm: dict, default: np.ndarray) -> np.ndarray:
    """A warm start: the coefficients of an earlier fit of the same rows where the names match.

    A spline's first column is the variable itself (``rcs(x, knots)[0]`` is ``x``), so a spline's
    linear coefficient starts from the linear fit's slope, its other columns from 0: exactly the
    linear fit, a few steps from the spline's optimum. A linear term starts from a spline's linear
    coefficient. The rest start from ``default``.
    """
    slopes = {_slope_of(name): value for name, value in warm.items() if _slope_of(name)}

    def start(name: str, fallback: float) -> float:
        if name in warm:
            return warm[name]
        variable = _slope_of(name)
        return warm.get(variable, fallback) if variable else slopes.get(name, fallback)

    return np.array([start(n, d) for n, d in zip(names, default, strict=True)], dtype=float)


def _slope_of(name: str) -> str | None:
    """The variable whose slope a spline's first column is (``rcs(x, knots)[0]`` → ``x``), else None."""
    match = SPLINE_COLUMN.match(name)
    return match.group(1) if match and match.group(3) == "0" else None


def fit_logit_sums(rhs: str, rows, env, reference: dict, cov_type: str = "cluster") -> LinearFit:
    """A binomial logit GLM by Newton's method, each iteration one aggregation by the rows' engine.

    Starts from the intercept-only fit (as :func:`analysis.side_effects.fit_logit`), or from an earlier
    fit of the same rows when the rows carry one (fewer iterations, the same optimum). The covariance
    and log-likelihood come from the last iteration's sums, taken at most 1e-10 (the tolerance) from
    the estimate: another aggregation at the estimate would change them only in the tenth digit.
    """
    info = design_info(rhs, rows, env)
    names = tuple(info.column_names)
    events, trials = rows.events, rows.n
    if events <= 0 or events >= trials:
        raise FitFailure("the outcome does not vary")
    default = np.zeros(len(names))
    default[0] = np.log(events / (trials - events))
    beta = _start(names, rows.warm_start, default)
    for _ in range(MAX_ITERATIONS):
        loglike, score, hessian = rows.logit_sums(info, env, beta)
        check_finite(hessian, score)
        step = np.linalg.solve(-hessian, score)
        beta = beta + step
        check_finite(beta, step)  # a diverging step fails here, as its sums would at the next iteration
        if np.all(np.abs(step) <= LOGIT_TOL):
            break
    else:
        raise FitFailure("the logistic fit did not converge")
    check_information(hessian)
    if cov_type == "cluster":
        cov = sandwich(hessian, rows.logit_meat(info, env, beta), rows.n_clusters)
    else:
        cov = np.linalg.inv(-hessian)
    rows.remember(names, beta)
    support = {"n_patterns": rows.n_patterns, "events": float(events)}
    return LinearFit.from_rows(
        "logit", rhs, names, beta, cov, info, rows, reference, loglike, cov_type, support
    )


def fit_cumulative_sums(rhs: str, rows, env, reference: dict, cov_type: str = "cluster") -> LinearFit:
    """The proportional-odds model by Newton's method with step halving, each step one aggregation.

    The same iterations as :func:`analysis.ordinal.fit_cumulative_logit`: a trial step is kept when the
    log-likelihood does not fall, else halved; converged when the log-likelihood changes by less than
    :func:`~analysis.ordinal.loglike_tolerance` (1e-12 plus the rounding of an engine's sum, whose order
    varies between runs) and no parameter by more than 1e-8. Parameters are ``β`` then ``θ_1 < … < θ_{K-1}``; the
    start is as :func:`fit_logit_sums`'.
    """
    info = design_info(rhs, rows, env)
    names = tuple(info.column_names[1:])
    counts = np.asarray(rows.level_counts, dtype=float)
    if len(counts) < 2:
        raise FitFailure("the rating does not vary")
    cum = np.cumsum(counts)[:-1] / counts.sum()
    default = np.concatenate([np.zeros(len(names)), np.log(cum / (1 - cum))])
    theta_names = tuple(f"_theta{j}" for j in range(len(counts) - 1))
    params = _start(names + theta_names, rows.warm_start, default)
    if np.any(np.diff(params[len(names) :]) <= 0):
        params = default
    loglike, grad, hess = rows.ordinal_sums(info, env, params)
    for _ in range(MAX_ITERATIONS):
        check_finite(hess, grad)
        step = np.linalg.solve(-hess, grad)
        for _ in range(40):
            trial = params + step
            # A non-finite trial is no better (as its sums would say) and is not sent to an engine.
            if not np.all(np.isfinite(trial)) or np.any(np.diff(trial[len(names) :]) <= 0):
                new = -np.inf
            else:
                new, new_grad, new_hess = rows.ordinal_sums(info, env, trial)
            if np.isfinite(new) and new >= loglike - loglike_tolerance(loglike):
                break
            step = step / 2
        else:
            raise FitFailure("the ordinal fit did not converge")
        params, done = trial, abs(new - loglike) < loglike_tolerance(loglike) and np.max(np.abs(step)) < 1e-8
        loglike, grad, hess = new, new_grad, new_hess
        if done:
            break
    else:
        raise FitFailure("the ordinal fit did not converge in 100 iterations")
    check_information(hess)
    if cov_type == "cluster":
        cov = sandwich(hess, rows.ordinal_meat(info, env, params), rows.n_clusters)
    else:
        cov = np.linalg.inv(-hess)
    rows.remember(names + theta_names, params)
    levels = np.asarray(rows.y_levels)
    support = {"n_patterns": rows.n_patterns, "events": float(counts[levels >= SATISFIED_FROM].sum())}
    return LinearFit.from_rows(
        "cumulative_logit", rhs, names, params, cov, info, rows, reference, loglike, cov_type, support
    )


def check_finite(hessian: np.ndarray, score: np.ndarray) -> None:
    if not (np.all(np.isfinite(hessian)) and np.all(np.isfinite(score))):
        raise FitFailure("the fit produced non-finite values")
