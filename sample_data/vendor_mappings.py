"""The two vendors' words for the format's codes, and the mappings that read their exports back.

Kept apart from the writer (``sample_data/vendors.py``) so the words a vendor uses and the mapping
that undoes them are read side by side.
"""

from __future__ import annotations

ROMAN = ("", "I", "II", "III", "IV", "V", "VI")
ACME_WORDS = {
    "crystal_type": {
        "corundum": "Aluminium Oxide 100",
        "aluminium_hydroxide": "Hydroxide Fine",
        "sodium_bicarbonate": "Bicarb Soda",
        "diamond_tip": "Diamond Peel",
    },
    "treatment_area": {
        "face": "Full Face",
        "neck": "Neck",
        "decolletage": "Décolleté",
        "hands": "Hands",
        "back": "Back",
        "body": "Body",
    },
    "indication": {
        "wrinkles": "Fine Lines",
        "hyperpigmentation": "Pigmentation",
        "acne_scars": "Acne Scarring",
        "surgical_scars": "Surgical Scar",
        "stretch_marks": "Stretch Marks",
        "texture": "Dull Skin",
    },
    "satisfaction": {
        5: "Very satisfied",
        4: "Satisfied",
        3: "Neutral",
        2: "Dissatisfied",
        1: "Very dissatisfied",
    },
    "side_effects": {
        "prolonged_erythema": "Redness > 48h",
        "petechiae": "Pinpoint bleeding",
        "abrasion": "Graze",
        "hyperpigmentation": "Darkening",
        "infection": "Infection",
        "eye_irritation": "Eye irritation",
        "other": "Other",
    },
}
GLOW_WORDS = {
    "crystal_type": {
        "corundum": "Corundum",
        "aluminium_hydroxide": "Al-Hydroxide",
        "sodium_bicarbonate": "Natron",
        "diamond_tip": "Diamond",
    },
    "treatment_area": {
        "face": "Face",
        "neck": "Neck",
        "decolletage": "Neckline",
        "hands": "Hands",
        "back": "Back",
        "body": "Body",
    },
    "side_effects": {
        "prolonged_erythema": "Erythema",
        "petechiae": "Petechiae",
        "abrasion": "Abrasion",
        "hyperpigmentation": "Hyperpigmentation",
        "infection": "Infection",
        "eye_irritation": "Eye irritation",
        "other": "Other",
    },
}


def acme_mapping(clinic_id: str) -> str:
    """Acme's mapping for one clinic (Acme exports carry no clinic column)."""

    def table(column: str) -> str:
        return "\n".join(f'"{word}" = "{code}"' for code, word in ACME_WORDS[column].items())

    ratings = "\n".join(f'"{word}" = {score}' for score, word in ACME_WORDS["satisfaction"].items())
    return f'''# Acme Aesthetics exports for {clinic_id} (written by `derma sample --style vendor`).
[source]
name = "Acme Aesthetics export ({clinic_id})"
match = ["acme_{clinic_id}_*.csv"]

[columns]
"Appointment Ref" = "session_id"
"Client No." = "patient_id"
"Practitioner" = "clinician_id"
"Date of Service" = "session_date"
"Media" = "crystal_type"
"Suction (inHg)" = "vacuum_inhg"
"Area" = "treatment_area"
"Concern" = "indication"
"Skin Type" = "fitzpatrick"
"Flow %" = "particle_flow"
"Course Visit" = "session_number"
"Device" = "device_model"
"Numbing" = "anaesthesia"
"Pre-care OK" = "pre_care_followed"
"Cooling Mask" = "soothing_mask"
"YOB" = "birth_year"
"Client Rating" = "satisfaction"
"Reactions" = "side_effects"
"Follow-up Call" = "follow_up_done"

[constants]
clinic_id = "{clinic_id}"

[formats]
session_date = "%d/%m/%Y"
decimal = ","

[lists]
side_effects = ","

[values.crystal_type]
{table("crystal_type")}

[values.treatment_area]
{table("treatment_area")}

[values.indication]
{table("indication")}

[values.fitzpatrick]
{chr(10).join(f'"Type {ROMAN[k]}" = {k}' for k in range(1, 7))}

[values.satisfaction]
{ratings}
"No response" = ""

[values.side_effects]
{table("side_effects")}
"None" = ""

[values.soothing_mask]
"Applied" = true
"Not applied" = false

[values.follow_up_done]
"Completed" = true
"Not reached" = false
'''


def glow_mapping() -> str:
    """Glow's mapping (one for every clinic: its workbooks carry a site column)."""

    def table(column: str) -> str:
        return "\n".join(f'"{word}" = "{code}"' for code, word in GLOW_WORDS[column].items())

    return f"""# Glow Clinic Suite workbooks (written by `derma sample --style vendor`).
[source]
name = "Glow Clinic Suite export"
match = ["glow_*.xlsx"]
sheet = "Treatments"

[columns]
"Site" = "clinic_id"
"Visit ID" = "session_id"
"Patient Number" = "patient_id"
"Therapist" = "clinician_id"
"Visit Date" = "session_date"
"Crystal" = "crystal_type"
"Vacuum (mmHg)" = "vacuum_mmhg"
"Zone" = "treatment_area"
"Phototype" = "fitzpatrick"
"Flow" = "particle_flow"
"Session No" = "session_number"
"Device" = "device_model"
"Local Anaesthetic" = "anaesthesia"
"Pre-care" = "pre_care_followed"
"Mask" = "soothing_mask"
"Satisfaction (1-5)" = "satisfaction"
"Side Effects" = "side_effects"
"Follow-up" = "follow_up_done"

[formats]
session_date = "%d.%m.%Y"
decimal = ","

[lists]
side_effects = "|"

[values.crystal_type]
{table("crystal_type")}

[values.treatment_area]
{table("treatment_area")}

[values.satisfaction]
"n/a" = ""

[values.side_effects]
{table("side_effects")}
"""
