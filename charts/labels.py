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
