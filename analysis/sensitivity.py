"""Sensitivity of the setting effects to who gave the session: clinician fixed effects in place of clinic's.

The network models compare sessions within a clinic. Clinicians of one clinic may also differ in how
they set the hand piece and in their patients' outcomes; refitting with clinician fixed effects
(which contain the clinic's) shows whether that moves the settings' odds ratios.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from analysis.results import ModelResult

SETTING_TERMS = ("vacuum_kpa", "passes", "particle_flow")
#: A setting's odds ratio moving by more than this (relative, on the log scale's exp) is worth a word.
MATERIAL_CHANGE = 0.10


def within_clinicians(
    sessions: pd.DataFrame, fit: Callable[[pd.DataFrame], tuple[ModelResult, object]], result: ModelResult
) -> tuple[str, ...]:
    """Plain-words checks comparing ``result`` (clinic fixed effects) with a refit within clinicians.

    Parameters
    ----------
    sessions : DataFrame
        The rows ``result`` was fitted on (with ``clinic_id`` and ``clinician_id``).
    fit : callable
        The model function (``side_effect_model`` or ``satisfaction_model``).
    result : ModelResult
        The network fit with clinic fixed effects.

    Returns
    -------
    tuple of str
        One sentence per setting effect present in both fits, then one saying whether the change
        matters; empty when there is nothing to compare (one clinic, no clinician column, one
        clinician per clinic, or a fit that did not succeed).

    Notes
    -----
    Clinician ids are made unique per clinic (``clinic / clinician``), so the refit's fixed effects
    nest the clinic's. Both fits are population-averaged over patients with patient-clustered
    errors; the comparison is descriptive (no test), since the two estimands differ by design.
    """
    if result.status == "not_enough_data" or "clinician_id" not in sessions or "clinic_id" not in sessions:
        return ()
    if sessions["clinic_id"].nunique() < 2:
        return ()
    units = sessions["clinic_id"].astype(str) + " / " + sessions["clinician_id"].astype(str)
    if units.nunique() <= sessions["clinic_id"].nunique():
        return ()
    refit, _ = fit(sessions.assign(clinic_id=units))
    return compare_within(result, refit)


def compare_within(result: ModelResult, refit: ModelResult) -> tuple[str, ...]:
    """The check's sentences from the fit within clinics (``result``) and the refit within clinicians."""
    if refit.status == "not_enough_data":
        return (f"Check within clinicians could not be fitted: {' '.join(refit.warnings[-1:])}",)
    mine = {e.term: e for e in result.effects}
    theirs = {e.term: e for e in refit.effects}
    sentences, moved = [], []
    for term in SETTING_TERMS:
        if term in mine and term in theirs:
            a, b = mine[term], theirs[term]
            sentences.append(
                f"Within clinicians (clinician fixed effects), {a.label.lower()} {a.unit}: odds ratio {b.estimate:.2f} "
                f"(95% CI {b.ci_low:.2f}–{b.ci_high:.2f}) against {a.estimate:.2f} within clinics."
            )
            if abs(b.estimate / a.estimate - 1) > MATERIAL_CHANGE:
                moved.append(a.label.lower())
    if not sentences:
        return ()
    if moved:
        sentences.append(
            f"The {', '.join(moved)} effect moves by more than {MATERIAL_CHANGE:.0%} when clinicians are compared "
            "with themselves: clinicians of a clinic differ in settings and outcomes, so read it with care."
        )
    else:
        sentences.append(
            f"The setting effects move by less than {MATERIAL_CHANGE:.0%} within clinicians: differences between "
            "clinicians of a clinic do not explain them."
        )
    return tuple(sentences)
