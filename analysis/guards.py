"""Guards around model fitting: subset size, sparse and separated levels, events per parameter, failed fits."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from statsmodels.tools.sm_exceptions import (
    ConvergenceWarning,
    HessianInversionWarning,
    PerfectSeparationError,
    PerfectSeparationWarning,
)

from analysis.design import (
    CLINIC,
    SESSION_LINEAR,
    SESSION_SPLINE,
    VACUUM_SPLINE,
    FitFailure,
    LinearFit,
    design_env,
    wald_test,
)
from analysis.merges import clinics_to_drop, plan_merges
from analysis.rows import FrameRows
from analysis.summary import (
    RowsSummary,
    categories,
    count_parameters,
    knots,
    reference_values,
    settings_determined,
    support,
)

MIN_SESSIONS = 200
MIN_EVENTS = 20
MIN_PATIENTS = 30
MIN_EPV = 10.0
# Simplification order when events are too few per parameter or a fit fails: the spline first,
# then the adjustment terms least tied to the settings questions. Crystal type stays (the flow
# coding needs it); vacuum, passes and flow are what the models are for.
SIMPLIFY_ORDER = (SESSION_SPLINE, "treatment_area", "indication", "pre_care", "skin_type")
NONLINEAR_ALPHA = 0.05
READABLE = {
    "skin_type": "skin type",
    "indication": "indication",
    "treatment_area": "treatment area",
    "crystal_type": "crystal type",
    "pre_care": "pre-care",
}
MAX_ABS_LOG_ODDS = 10.0

Fitter = Callable[[str, object, object, dict], LinearFit]


@dataclass(frozen=True)
class GuardedFit:
    """The outcome of a guarded fit: the fit (or None), the rows it used, their counts, what the guards did."""

    status: str
    fit: LinearFit | None
    data: object
    warnings: tuple[str, ...]
    decisions: dict = field(default_factory=dict)
    summary: RowsSummary | None = None

    @property
    def frame(self) -> pd.DataFrame:
        """The coded frame the fit used (rows held in memory only)."""
        return self.data.frame

    @property
    def y(self) -> np.ndarray:
        return self.data.y

    @property
    def clusters(self) -> np.ndarray:
        return self.data.clusters


def too_small(
    n_sessions: int, n_events: int, n_nonevents: int, n_patients: int, what: tuple[str, str]
) -> str | None:
    """A plain message when a subset is too small to model, else None.

    ``what`` names the two outcome groups, e.g. ``("with a side effect", "without one")``.
    """
    if n_sessions < MIN_SESSIONS:
        return f"Only {n_sessions} sessions with a known outcome (at least {MIN_SESSIONS} needed): no model fitted."
    if min(n_events, n_nonevents) < MIN_EVENTS:
        fewer, label = (n_events, what[0]) if n_events <= n_nonevents else (n_nonevents, what[1])
        return f"Only {fewer} sessions {label} (at least {MIN_EVENTS} needed): no model fitted."
    if n_patients < MIN_PATIENTS:
        return f"Only {n_patients} patients (at least {MIN_PATIENTS} needed): no model fitted."
    return None


def merge_sparse_levels(
    frame: pd.DataFrame, y_binary: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Merge sparse or separated categorical levels of a coded frame (:func:`analysis.merges.plan_merges`).

    Returns the frame, the matching outcome and one plain message per change.
    """
    rows = FrameRows(frame, np.asarray(y_binary), np.asarray(y_binary), np.zeros(len(frame)))
    ops, notes = plan_merges(rows.level_cube())
    merged = rows.with_operations(ops)
    return merged.frame, np.asarray(merged.y_binary, dtype=bool), notes


def fit_guarded(
    data, rhs: str, kind: str, epv_events: Callable[[dict], float], intercepts: int
) -> GuardedFit:
    """Fit ``rhs`` (``kind`` "logit" or "ordinal") on ``data`` behind every guard; never raises for data reasons.

    ``data`` is a model's rows: :class:`analysis.rows.FrameRows` in memory, or an engine's
    (``derma.lake.fitting.EngineRows``); every decision here comes from its counts. Order: leave out
    clinics that cannot be compared within, merge sparse/separated levels, simplify until ≥ 10 events
    per parameter, fit (a failed fit — non-convergence, separation, singular information — is retried
    with the next simplification), then keep the session-number spline only if a Wald test of its
    nonlinear terms rejects linearity at 5 %.
    """
    dropped, notes = clinics_to_drop(data.clinic_counts())
    if dropped:
        data = data.without_clinics(dropped)
    ops, merge_notes = plan_merges(data.level_cube())
    data = data.with_operations(ops)
    notes += merge_notes
    n, n_events = data.n, data.binary_events
    if n < MIN_SESSIONS or min(n_events, n - n_events) < MIN_EVENTS:
        return GuardedFit(
            "not_enough_data",
            None,
            data,
            (*notes, "Too few sessions are left after the merges above: no model fitted."),
        )
    summary = data.summary()
    for col, label in (("vacuum_10kpa", "vacuum"), ("passes", "passes")):
        if len(summary.values[col][0]) < 2:
            return GuardedFit(
                "not_enough_data",
                None,
                data,
                (*notes, f"{label.capitalize()} did not vary in these sessions: no model fitted."),
                summary=summary,
            )
    terms = rhs.split(" + ")
    if CLINIC in terms and len(summary.levels.get(CLINIC, {})) < 2:
        terms.remove(CLINIC)  # one clinic: every comparison is already within it
    if len(summary.crystal_flow[0]) < 2:
        terms.remove("flow_10pct")
        notes.append(
            "Particle flow did not vary among crystal sessions (or there were none): its term was left out."
        )
    if settings_determined(summary, "flow_10pct" in terms):
        return GuardedFit(
            "not_enough_data",
            None,
            data,
            (
                *notes,
                "Vacuum, passes and particle flow determine one "
                "another in these sessions, so their effects cannot be told apart: no model fitted.",
            ),
            summary=summary,
        )
    status = "simplified" if merge_notes else "ok"
    spline = knots(summary, "session_number")
    if len(spline) < 3 and SESSION_SPLINE in terms:
        terms[terms.index(SESSION_SPLINE)] = SESSION_LINEAR
    levels = categories(summary)
    data = data.categorised(levels)
    reference = reference_values(summary)
    env = design_env(spline)
    rows = data.collapsed()
    fitter = data.fitter(kind)
    events = epv_events(summary.y_counts)

    def epv(ts):
        return events / (count_parameters(" + ".join(ts), summary, spline) + intercepts)

    full = epv(terms)
    changes = []
    while epv(terms) < MIN_EPV and (change := _simplify(terms)):
        changes.append(change)
    if changes:
        status = "simplified"
        notes.append(
            f"Too few events for the full adjustment ({full:.1f} per parameter, {MIN_EPV:g} wanted): "
            + "; ".join(changes)
            + "."
        )
    if epv(terms) < MIN_EPV:
        notes.append(
            f"Only {epv(terms):.1f} events per parameter even in the simplest model: treat the intervals with caution."
        )

    while True:
        fit, failure = _attempt(fitter, " + ".join(terms), rows, env, reference)
        if fit is not None:
            break
        change = _simplify(terms)
        if change is None:
            return GuardedFit(
                "not_enough_data",
                None,
                data,
                (*notes, f"The model could not be fitted: {failure}."),
                summary=summary,
            )
        status = "simplified"
        notes.append(f"The model could not be fitted ({failure}); refitted with {change}.")

    decisions = {}
    if SESSION_SPLINE in terms:
        nonlinear = [n for n in fit.names if n.startswith(SESSION_SPLINE) and not n.endswith("[0]")]
        stat, df, p = wald_test(fit, nonlinear)
        knot_text = ", ".join(f"{k:g}" for k in spline)
        if p < NONLINEAR_ALPHA:
            decisions["session_number"] = (
                f"session number as a restricted cubic spline (knots {knot_text}): nonlinearity Wald "
                f"chi2 = {stat:.1f}, df = {df}, p = {p:.3g}"
            )
        else:
            linear_terms = [SESSION_LINEAR if t == SESSION_SPLINE else t for t in terms]
            linear, _ = _attempt(fitter, " + ".join(linear_terms), rows, env, reference)
            if linear is not None:
                fit = linear
            decisions["session_number"] = (
                f"session number linear: a spline's nonlinear terms were not needed (Wald chi2 = {stat:.1f}, "
                f"df = {df}, p = {p:.3g})"
            )
    else:
        decisions["session_number"] = "session number linear"
    curve_fits = _vacuum_spline(fitter, fit, rows, spline, summary, reference, decisions)
    extra = {
        "levels": {c: tuple(order) for c, order in levels.items()},
        "support": {**fit.support, **support(summary)},
        "decisions": decisions,
    }
    fit = replace(fit, curve_fits={k: replace(v, **extra) for k, v in curve_fits.items()}, **extra)
    return GuardedFit(status, fit, data, tuple(notes), decisions, summary=summary)


def _vacuum_spline(fitter: Fitter, fit: LinearFit, rows, spline, summary, reference, decisions) -> dict:
    """Refit with a spline in vacuum; keep it for the vacuum curves only if a Wald test rejects linearity."""
    vacuum_knots = knots(summary, "vacuum_10kpa")
    if len(vacuum_knots) < 3:
        decisions["vacuum_kpa"] = "vacuum linear (too few distinct values for a spline)"
        return {}
    rhs = fit.rhs.replace("vacuum_10kpa", VACUUM_SPLINE, 1)
    fitted, failure = _attempt(fitter, rhs, rows, design_env(spline, vacuum_knots), reference)
    if fitted is None:
        decisions["vacuum_kpa"] = f"vacuum linear (a spline in vacuum could not be fitted: {failure})"
        return {}
    stat, df, p = wald_test(
        fitted, [n for n in fitted.names if n.startswith(VACUUM_SPLINE) and not n.endswith("[0]")]
    )
    test = f"Wald chi2 = {stat:.1f}, df = {df}, p = {p:.3g}"
    if p < NONLINEAR_ALPHA:
        kpa = ", ".join(f"{10 * k:g}" for k in vacuum_knots)
        decisions["vacuum_kpa"] = (
            f"vacuum as a restricted cubic spline (knots {kpa} kPa) for the vacuum curves: nonlinearity {test}; "
            "the odds ratio per 10 kPa is the linear summary"
        )
        return {"vacuum_10kpa": fitted}
    decisions["vacuum_kpa"] = f"vacuum linear: a spline's nonlinear terms were not needed ({test})"
    return {}


def _simplify(terms: list[str]) -> str | None:
    """Apply the next simplification to ``terms`` in place; say what it was (None when none is left)."""
    for term in SIMPLIFY_ORDER:
        if term in terms:
            if term == SESSION_SPLINE:
                terms[terms.index(term)] = SESSION_LINEAR
                return "session number entered linearly instead of as a spline"
            terms.remove(term)
            return f"{READABLE[term]} no longer adjusted for"
    return None


def _attempt(fitter: Fitter, rhs: str, rows, env, reference: dict):
    """Run one fit, turning every way it can fail into a plain message."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            warnings.simplefilter("error", PerfectSeparationWarning)
            warnings.simplefilter("error", HessianInversionWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            fit = fitter(rhs, rows, env, reference)
    except ConvergenceWarning:
        return None, "it did not converge"
    except FitFailure as exc:
        return None, str(exc)
    except (PerfectSeparationWarning, PerfectSeparationError):
        return None, "an outcome is perfectly predicted by some settings (separation)"
    except (np.linalg.LinAlgError, HessianInversionWarning):
        return None, "its information matrix is singular"
    beta = fit.params[: fit.k_beta]
    if not np.all(np.isfinite(fit.cov)) or not np.all(np.isfinite(fit.params)):
        return None, "it produced non-finite estimates"
    slope = beta[1:] if fit.kind == "logit" else beta
    if np.any(np.abs(slope) > MAX_ABS_LOG_ODDS):
        return None, "an estimate ran off to an implausible size (a sign of separation)"
    return fit, None
