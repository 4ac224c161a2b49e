"""What a model's effects estimate, in words: the adjustment set and the estimand of each model.

Every model result carries both (``ModelResult.adjusted_for``, ``ModelResult.estimand``) so the
dashboard, the report and ``derma models --format json`` can say what an odds ratio means — and what
it does not: an association in the clinics' recorded practice, not a promise of what changing a
setting will do.
"""

from __future__ import annotations

from analysis.design import CLINIC, SESSION_LINEAR, SESSION_SPLINE

#: The words for each adjustment term of a model formula.
TERM_WORDS = {
    "skin_type": "skin type (I–II, III, IV, V–VI)",
    "indication": "indication",
    "treatment_area": "treatment area",
    "crystal_type": "crystal type",
    "pre_care": "pre-care followed, skipped or not recorded",
    SESSION_SPLINE: "session number in the course (a spline)",
    SESSION_LINEAR: "session number in the course",
    CLINIC: "clinic (fixed effects: sessions are compared within the same clinic)",
    "side_effect": "whether the session had a side effect (none, some, not known)",
}
SETTINGS = {"vacuum_10kpa", "passes", "flow_10pct"}
SETTINGS_WORDS = "the other settings (each of vacuum, passes and particle flow holds the other two fixed)"
ONE_CLINIC = "one clinic's own sessions only (no comparison across clinics)"

NOT_A_PROMISE = (
    "It describes the clinics' recorded practice and is not a promise of what changing a setting will do: "
    "settings were chosen for patients, not assigned at random, so anything that drives both the choice and "
    "the outcome and is not in the adjustment set can bias it."
)
AVERAGED = (
    "Population-averaged over patients: the odds ratio of the network's (or clinic's) patients as a group, "
    "which is closer to 1 than one patient's own odds ratio would be."
)


def adjusted_for(rhs: str, clinics: int) -> tuple[str, ...]:
    """The adjustment set of a fitted right-hand side in words, how clinic was handled included.

    ``clinics`` is the number of clinics in the fitted rows (1 for a clinic's own fit).
    """
    terms = rhs.split(" + ")
    words = [SETTINGS_WORDS] if SETTINGS & set(terms) else []
    for term in terms:
        base = term.split("(")[0] if term.startswith("rcs(session_number") else term
        if term in SETTINGS:
            continue
        words.append(TERM_WORDS.get(term, TERM_WORDS.get(base, term)))
    if CLINIC not in terms:
        words.append(ONE_CLINIC if clinics <= 1 else "clinic: not adjusted for")
    return tuple(dict.fromkeys(words))


def _where(clinics: int) -> tuple[str, str]:
    """("within clinics", "in the same clinic") for the network, the same words for one clinic."""
    if clinics <= 1:
        return "within this clinic", "in this clinic"
    return "within clinics", "in the same clinic"


def side_effect_estimand(clinics: int) -> str:
    """What the side-effect model's odds ratios mean."""
    within, same = _where(clinics)
    return (
        f"Association {within}: how much the odds of any side effect in a session differ between sessions one "
        f"step of a setting apart {same}, for patients alike in everything listed under 'adjusted for'. "
        f"{AVERAGED} {NOT_A_PROMISE}"
    )


def satisfaction_estimand(clinics: int) -> str:
    """What the satisfaction model's odds ratios mean (the total effect)."""
    within, same = _where(clinics)
    return (
        f"Total association {within}: how much the odds of a higher rating differ between sessions one step of a "
        f"setting apart {same}, for patients alike in everything listed under 'adjusted for'. Total: it includes "
        "the path through side effects (a setting that causes side effects that spoil the rating shows here); "
        "the direct association holds side effects fixed. The odds ratio is assumed the same at every cut of "
        f"the 1–5 rating (see the proportional-odds check). {AVERAGED} {NOT_A_PROMISE}"
    )


def direct_estimand(clinics: int) -> str:
    """What the satisfaction model adjusted for side effects estimates (the direct effect)."""
    within, same = _where(clinics)
    return (
        f"Direct association {within}: as the satisfaction model, but comparing sessions with the same side-effect "
        f"status (none, some, or not known) {same}, so it leaves out the part of the association that runs "
        "through a side effect in the same session. It is not the whole effect of a setting on satisfaction "
        f"(that is the total association). {AVERAGED} {NOT_A_PROMISE}"
    )
