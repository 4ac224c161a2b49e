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
