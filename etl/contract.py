"""The session-log export contract (v1): columns, categories, synonyms and quarantine reasons."""

from __future__ import annotations

import re
from dataclasses import dataclass

REASONS = (
    "missing_required",
    "bad_type",
    "bad_date",
    "future_date",
    "out_of_range",
    "unknown_category",
    "inconsistent",
    "duplicate_in_file",
    "bad_characters",
    "too_long",
    "bad_shape",
)

#: Longest value of any field, in characters; a longer one is quarantined (``too_long``).
MAX_FIELD_CHARS = 1_000
#: Longest record (one CSV row, one JSON line) read at all; a file with a longer one is rejected.
MAX_RECORD_BYTES = 64 * 2**20
#: Longest header row; a file with a longer one is rejected.
MAX_HEADER_BYTES = 1 * 2**20
#: Most columns a file's header may have.
MAX_COLUMNS = 4_096
#: Most bytes an .xlsx file may unpack to (its parts together); a larger workbook is rejected.
MAX_XLSX_UNPACKED_BYTES = 256 * 2**20
#: Columns that identify something: tab, newline and carriage return are refused there as well.
IDENTIFIER_COLUMNS = ("clinic_id", "session_id", "patient_id", "clinician_id")

CRYSTAL_TYPES = ("corundum", "aluminium_hydroxide", "sodium_bicarbonate", "diamond_tip")
TREATMENT_AREAS = ("face", "neck", "decolletage", "hands", "back", "body")
INDICATIONS = ("wrinkles", "hyperpigmentation", "acne_scars", "surgical_scars", "stretch_marks", "texture")
SIDE_EFFECTS = (
    "prolonged_erythema",
    "petechiae",
    "abrasion",
    "hyperpigmentation",
    "infection",
    "eye_irritation",
    "other",
)

SYNONYMS: dict[str, dict[str, str]] = {
    "crystal_type": {
        "aluminium_oxide": "corundum",
        "aluminum_oxide": "corundum",
        "al2o3": "corundum",
        "aluminum_hydroxide": "aluminium_hydroxide",
        "diamond": "diamond_tip",
        "diamond_peel": "diamond_tip",
        "crystal_free": "diamond_tip",
        "bicarbonate": "sodium_bicarbonate",
    },
    "treatment_area": {"decollete": "decolletage", "chest": "decolletage"},
    "indication": {
        "pigmentation": "hyperpigmentation",
        "sun_spots": "hyperpigmentation",
        "age_spots": "hyperpigmentation",
        "melasma": "hyperpigmentation",
        "acne": "acne_scars",
        "scars": "surgical_scars",
        "striae": "stretch_marks",
        "rejuvenation": "texture",
        "dull_skin": "texture",
    },
}

CATEGORIES: dict[str, tuple[str, ...]] = {
    "crystal_type": CRYSTAL_TYPES,
    "treatment_area": TREATMENT_AREAS,
    "indication": INDICATIONS,
}

ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6}
TRUE_WORDS = ("true", "yes", "y", "1")
FALSE_WORDS = ("false", "no", "n", "0")

MMHG_TO_KPA = 0.133322
INHG_TO_KPA = 3.38639

REQUIRED = (
    "clinic_id",
    "session_id",
    "patient_id",
    "clinician_id",
    "session_date",
    "crystal_type",
    "vacuum_kpa",
    "passes",
    "treatment_area",
    "indication",
    "fitzpatrick",
)
OPTIONAL = (
    "particle_flow",
    "session_number",
    "device_model",
    "anaesthesia",
    "pre_care_followed",
    "soothing_mask",
    "birth_year",
    "satisfaction",
    "side_effects",
    "follow_up_done",
)
#: The vacuum may come in one of three units; any one of them satisfies ``vacuum_kpa``.
VACUUM_COLUMNS = {"vacuum_kpa": 1.0, "vacuum_mmhg": MMHG_TO_KPA, "vacuum_inhg": INHG_TO_KPA}
BOOLEANS = ("anaesthesia", "pre_care_followed", "soothing_mask", "follow_up_done")
KNOWN = (*REQUIRED, *OPTIONAL, "vacuum_mmhg", "vacuum_inhg")

#: Free text and direct identifiers: never stored, dropped at the door.
PHI_EXACT = ("notes", "comments")
PHI_PARTS = ("name", "email", "phone", "address", "dob")
#: Further spellings of the same identifiers, looked for with the underscores taken out of the name
#: (``E-mail``, ``Date of Birth``): stricter than the format's own rule, never looser.
PHI_JOINED = ("email", "dateofbirth", "birthdate")


def normalise_header(name: object) -> str:
    """``Session ID``, ``session-id`` and ``SESSION_ID`` all become ``session_id``."""
    text = str(name).replace("\ufeff", "").strip().lower()
    return re.sub(r"[\s\-]+", "_", text)


def is_phi_column(normalised: str) -> bool:
    joined = normalised.replace("_", "")
    return (
        normalised in PHI_EXACT
        or any(part in normalised for part in PHI_PARTS)
        or any(part in joined for part in PHI_JOINED)
    )


@dataclass(frozen=True)
class HeaderPlan:
    """How one file's header maps onto the contract."""

    mapping: dict[str, str]  # canonical column -> the file's own header text
    ignored: tuple[str, ...]  # unknown columns, reported once per file
    dropped: tuple[str, ...]  # PHI / free-text columns, never read into the warehouse
    missing: tuple[str, ...]  # required columns the file lacks
    duplicated: tuple[str, ...]  # canonical names that more than one header maps to
    constants: tuple[str, ...] = ()  # columns a mapping gives as constants (no header of the file)


def plan_header(
    headers: list[str], renames: dict[str, str] | None = None, constants: tuple[str, ...] = ()
) -> HeaderPlan:
    """Match a file's header to the contract (case-insensitive, spaces/dashes as ``_``).

    ``renames`` (a mapping's ``[columns]``: normalised export header -> contract column) and
    ``constants`` (columns a mapping fills with one value) come first: a header that already names a
    column the mapping reads from elsewhere is ignored, and so is any vacuum column when the mapping
    gives the vacuum. A protected header is dropped whatever a mapping says, unless it is read as
    ``patient_id`` (which is pseudonymised at the door).
    """
    renames = renames or {}
    taken = set(renames.values()) | set(constants)
    vacuum_taken = bool(taken & set(VACUUM_COLUMNS))
    mapping: dict[str, str] = {}
    ignored: list[str] = []
    dropped: list[str] = []
    duplicated: list[str] = []
    for raw in headers:
        name = normalise_header(raw)
        target = renames.get(name)
        if target is None and name in KNOWN and name not in taken:
            target = None if (vacuum_taken and name in VACUUM_COLUMNS) else name
        if target is not None and (target == "patient_id" or not is_phi_column(name)):
            if target in mapping:
                duplicated.append(target)
            mapping[target] = raw
        elif is_phi_column(name):
            dropped.append(str(raw))
        elif name:
            ignored.append(str(raw))
    missing = [c for c in REQUIRED if c != "vacuum_kpa" and c not in mapping and c not in constants]
    if not any(c in mapping or c in constants for c in VACUUM_COLUMNS):
        missing.append("vacuum_kpa (or vacuum_mmhg / vacuum_inhg)")
    return HeaderPlan(
        mapping, tuple(ignored), tuple(dropped), tuple(missing), tuple(duplicated), tuple(constants)
    )
