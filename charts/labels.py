"""Words for codes: how skin types, categories and column names read to a clinic manager."""

from __future__ import annotations

#: Fitzpatrick skin phototypes as clinicians write them.
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "VI"}


def skin_type(value: object) -> str:
    """``3`` -> ``"Type III"``; anything that is not a phototype is shown as it is."""
    try:
        return f"Type {ROMAN[int(value)]}"
    except (KeyError, TypeError, ValueError):
        return f"Type {value}"


def funnel_words(summary: dict) -> list[str]:
    """What a funnel compares, what its expected counts allow for and what its limits assume, in sentences.

    ``summary`` is one row of the ``funnel_summaries`` query (as a dict).
    """
    kind = summary.get("unit_type") or "unit"
    words = []
    if summary.get("comparison"):
        words.append(f"It compares {summary['comparison']}.")
    adjusted_for = list(summary.get("adjusted_for") if summary.get("adjusted_for") is not None else [])
    if adjusted_for:
        words.append(f"Expected side effects allow for {', '.join(adjusted_for)}.")
    phi = summary.get("phi")
    spread = f" (dispersion ratio {phi:.2f})" if isinstance(phi, int | float) and phi == phi else ""
    if summary.get("adjustment") == "additive":
        words.append(
            f"The {kind}s differ more than chance alone would make them{spread}, so the limits allow for "
            "that spread (Spiegelhalter's random-effects method); the dotted lines show chance alone."
        )
    else:
        words.append("The limits show how far chance alone moves a ratio.")
    return words


#: Control-chart point types (neutral high and low together) as a manager reads them.
POINT_WORDS = {
    "common_cause": "common cause",
    "special_cause_improvement": "special cause: improvement",
    "special_cause_concern": "special cause: concern",
    "special_cause_neutral": "special cause",
}
#: Making Data Count's variation icons: what the latest month says.
VARIATION_WORDS = {
    "common_cause": "common cause: no significant change",
    "improvement_high": "improvement (higher)",
    "improvement_low": "improvement (lower)",
    "concern_high": "concern (higher)",
    "concern_low": "concern (lower)",
    "neutral_high": "special cause (higher)",
    "neutral_low": "special cause (lower)",
}
#: Making Data Count's assurance icons: whether the process will meet its target.
ASSURANCE_WORDS = {
    "consistent_pass": "will meet the target every month",
    "consistent_fail": "will miss the target every month",
    "inconsistent": "hit and miss against the target",
}


#: Column headers as a manager reads them; a column not listed is shown with its words spaced and capitalised.
COLUMNS = {
    "clinic_id": "Clinic",
    "clinician_id": "Clinician",
    "patient_key": "Patient (pseudonym)",
    "session_date": "Date",
    "session_number": "Session no.",
    "indication": "Indication",
    "treatment_area": "Area",
    "fitzpatrick": "Skin type",
    "crystal_type": "Crystal",
    "vacuum_kpa": "Vacuum (kPa)",
    "passes": "Passes",
    "particle_flow": "Particle flow (%)",
    "satisfaction": "Rating (1–5)",
    "side_effects": "Side effects",
    "any_side_effect": "Any side effect",
    "follow_up_done": "Follow-up done",
    "pre_care_followed": "Pre-care followed",
    "sessions_done": "Sessions done",
    "first_session_date": "First session",
    "last_session_date": "Last session",
    "planned_sessions": "Planned sessions",
    "status": "Status",
    "best_satisfaction": "Best rating",
    "last_satisfaction": "Latest rating",
    "side_effect_sessions": "Sessions with a side effect",
    "outcome_known_sessions": "Sessions with a known outcome",
    "answered_sessions": "Sessions rated",
    "batch_id": "Load batch",
    "n_sessions": "Sessions",
    "ci_low": "95% CI low",
    "ci_high": "95% CI high",
    "p_value": "p-value",
    "pct_satisfied": "% satisfied",
    "side_effect_rate": "Side-effect rate",
    "response_rate": "Survey response",
    "oe_ratio": "Observed ÷ expected",
    "file": "File",
    "row": "Row",
    "column": "Column",
    "value": "Value",
    "reason": "Rule broken",
    "loaded_at": "Loaded (UTC)",
}


def column_label(name: str) -> str:
    """``vacuum_kpa`` -> ``"Vacuum (kPa)"``; an unlisted ``some_name`` -> ``"Some name"``."""
    text = str(name)
    return COLUMNS.get(text) or (text[:1].upper() + text[1:]).replace("_", " ")


def labelled(frame):
    """The frame with every column header in words (for tables on screen; downloads keep the names)."""
    return frame.rename(columns={c: column_label(c) for c in frame.columns})
