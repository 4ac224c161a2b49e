"""What vendor exports call things: header synonyms and value words, for suggesting a mapping.

Every phrase is written as :func:`etl.suggest.words` makes it: lower case, accents removed, words
joined by ``_``. A header or value equal to a phrase is a sure match; one that merely contains a phrase
or resembles one is a guess the suggestion marks ``# check:``. These lists only ever propose: the
mapping a person checks is what reads the data.
"""

from __future__ import annotations

# fmt: off
#: Header synonyms per contract column (the column's own name always matches exactly).
HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "clinic_id": ("clinic", "clinic_code", "clinic_no", "site", "site_code", "site_id", "location", "location_id",
                  "branch", "branch_code", "practice", "practice_code"),
    "session_id": ("session", "appointment", "appointment_id", "appointment_ref", "appointment_no", "booking",
                   "booking_id", "booking_ref", "visit", "visit_id", "visit_no", "treatment_id", "treatment_ref",
                   "record_id", "ref", "reference"),
    "patient_id": ("patient", "patient_no", "patient_number", "patient_ref", "client", "client_id", "client_no",
                   "client_number", "client_ref", "customer", "customer_id", "customer_no", "customer_number",
                   "mrn", "chart_no", "chart_number", "file_no"),
    "clinician_id": ("clinician", "practitioner", "practitioner_id", "therapist", "therapist_id", "staff",
                     "staff_id", "provider", "provider_id", "operator", "aesthetician", "technician",
                     "treated_by", "performed_by"),
    "session_date": ("date", "session_date", "date_of_service", "service_date", "treatment_date",
                     "appointment_date", "visit_date", "booking_date", "date_of_treatment", "treated_on"),
    "crystal_type": ("crystal", "crystals", "crystal_type", "media", "medium", "abrasive", "tip", "tip_type",
                     "exfoliant", "particles", "particle_type"),
    "vacuum_kpa": ("vacuum", "suction", "pressure", "negative_pressure", "vacuum_level", "suction_level",
                   "vacuum_pressure", "suction_pressure"),
    "passes": ("passes", "no_of_passes", "number_of_passes", "pass_count", "passes_count", "strokes"),
    "treatment_area": ("area", "areas", "treatment_area", "body_area", "zone", "treated_area", "treatment_zone",
                       "region", "body_part", "site_treated"),
    "indication": ("indication", "concern", "skin_concern", "reason", "goal", "condition", "treatment_goal",
                   "complaint", "diagnosis"),
    "fitzpatrick": ("fitzpatrick", "fitzpatrick_type", "skin_type", "phototype", "skin_phototype", "fitz",
                    "fitzpatrick_scale"),
    "particle_flow": ("flow", "crystal_flow", "particle_flow", "flow_rate", "flow_setting", "crystal_flow_rate"),
    "session_number": ("session_no", "session_number", "visit_number", "course_visit", "course_session",
                       "treatment_no", "treatment_number", "session_in_course"),
    "device_model": ("device", "machine", "device_model", "model", "equipment", "unit"),
    "anaesthesia": ("anaesthesia", "anesthesia", "anaesthetic", "anesthetic", "local_anaesthetic",
                    "local_anesthetic", "numbing", "numbing_cream"),
    "pre_care_followed": ("pre_care", "precare", "pre_care_ok", "pre_care_followed", "prep_followed",
                          "preparation_followed", "pre_treatment_care"),
    "soothing_mask": ("mask", "soothing_mask", "cooling_mask", "post_mask", "calming_mask", "after_mask"),
    "birth_year": ("birth_year", "year_of_birth", "yob", "born"),
    "satisfaction": ("satisfaction", "rating", "client_rating", "patient_rating", "score", "survey",
                     "survey_score", "satisfaction_score", "feedback"),
    "side_effects": ("side_effects", "reactions", "reaction", "adverse_events", "adverse_reactions",
                     "complications", "side_effect", "adverse_effects"),
    "follow_up_done": ("follow_up", "follow_up_call", "followup", "follow_up_done", "callback",
                       "aftercare_call", "follow_up_status", "check_in_call"),
}

#: Words for category codes, per column (the codes and the format's own synonyms match as well).
CATEGORY_WORDS: dict[str, dict[str, str]] = {
    "crystal_type": {
        "aluminium_oxide": "corundum", "aluminum_oxide": "corundum", "alox": "corundum", "corundum": "corundum",
        "aluminium_hydroxide": "aluminium_hydroxide", "aluminum_hydroxide": "aluminium_hydroxide",
        "hydroxide": "aluminium_hydroxide", "sodium_bicarbonate": "sodium_bicarbonate",
        "bicarbonate": "sodium_bicarbonate", "bicarb": "sodium_bicarbonate", "baking_soda": "sodium_bicarbonate",
        "natron": "sodium_bicarbonate", "diamond": "diamond_tip", "diamond_tip": "diamond_tip",
        "crystal_free": "diamond_tip",
    },
    "treatment_area": {
        "face": "face", "full_face": "face", "facial": "face", "neck": "neck", "decollete": "decolletage",
        "decolletage": "decolletage", "chest": "decolletage", "neckline": "decolletage", "hands": "hands", "hand": "hands", "back": "back",
        "body": "body", "full_body": "body", "arms": "body", "legs": "body", "abdomen": "body",
    },
    "indication": {
        "wrinkles": "wrinkles", "fine_lines": "wrinkles", "lines": "wrinkles", "anti_ageing": "wrinkles",
        "anti_aging": "wrinkles", "ageing": "wrinkles", "aging": "wrinkles", "pigmentation": "hyperpigmentation",
        "hyperpigmentation": "hyperpigmentation", "sun_damage": "hyperpigmentation", "melasma": "hyperpigmentation",
        "age_spots": "hyperpigmentation", "sun_spots": "hyperpigmentation", "acne_scars": "acne_scars",
        "acne_scarring": "acne_scars", "acne": "acne_scars", "surgical_scars": "surgical_scars",
        "surgical_scar": "surgical_scars", "scars": "surgical_scars", "scar": "surgical_scars",
        "stretch_marks": "stretch_marks", "striae": "stretch_marks", "texture": "texture", "dull_skin": "texture",
        "dullness": "texture", "rejuvenation": "texture", "uneven_texture": "texture", "dull_complexion": "texture",
    },
}

#: Words for side-effect codes (``""``: none reported).
SIDE_EFFECT_WORDS: dict[str, str] = {
    "redness": "prolonged_erythema", "erythema": "prolonged_erythema", "prolonged_redness": "prolonged_erythema",
    "prolonged_erythema": "prolonged_erythema", "persistent_redness": "prolonged_erythema",
    "petechiae": "petechiae", "pinpoint_bleeding": "petechiae", "bleeding": "petechiae", "spotting": "petechiae",
    "abrasion": "abrasion", "graze": "abrasion", "scratch": "abrasion", "broken_skin": "abrasion",
    "hyperpigmentation": "hyperpigmentation", "darkening": "hyperpigmentation", "dark_spots": "hyperpigmentation",
    "pih": "hyperpigmentation", "infection": "infection", "pustules": "infection", "eye_irritation": "eye_irritation",
    "eye": "eye_irritation", "watery_eyes": "eye_irritation", "other": "other",
    "none": "", "nil": "", "no_reaction": "", "no_reactions": "", "nothing": "", "no_side_effects": "",
}

#: Words for booleans (the format already reads true/false, yes/no, y/n, 1/0).
BOOLEAN_WORDS: dict[str, bool] = {
    "completed": True, "complete": True, "done": True, "reached": True, "contacted": True, "given": True,
    "applied": True, "used": True, "followed": True, "ok": True, "x": True, "ja": True, "si": True, "oui": True,
    "not_reached": False, "not_completed": False, "missed": False, "no_answer": False, "not_contacted": False,
    "not_given": False, "not_applied": False, "not_used": False, "not_followed": False, "skipped": False,
    "not_done": False, "nein": False, "non": False,
}

#: Words for satisfaction ratings (``""``: no survey answer).
SATISFACTION_WORDS: dict[str, int | str] = {
    "very_satisfied": 5, "extremely_satisfied": 5, "excellent": 5, "delighted": 5, "very_happy": 5,
    "satisfied": 4, "good": 4, "happy": 4, "neutral": 3, "ok": 3, "okay": 3, "average": 3, "fair": 3,
    "neither": 3, "dissatisfied": 2, "unsatisfied": 2, "poor": 2, "unhappy": 2, "very_dissatisfied": 1,
    "very_unsatisfied": 1, "very_poor": 1, "terrible": 1, "very_unhappy": 1,
    "no_response": "", "no_answer": "", "not_answered": "", "n_a": "", "na": "", "declined": "", "not_asked": "",
    "pending": "", "unknown": "",
}
# fmt: on
