"""Vendor-shaped exports converted to the export format by hand, for comparing loads through mappings.

The conversion is written out here, table by table, independently of ``etl/mapped.py``: it is what a
clinic's IT person would do in a spreadsheet before mappings existed. Values it cannot convert are left
as they are, so a messy row stays messy for the same reason in both files. The converted file is
``;``-delimited, where the format reads a decimal comma, so numbers need no conversion.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb
import openpyxl

#: The export format's columns the converted files use, in the order written.
CANONICAL = [
    "clinic_id",
    "session_id",
    "patient_id",
    "clinician_id",
    "session_date",
    "crystal_type",
    "vacuum_inhg",
    "vacuum_mmhg",
    "passes",
    "treatment_area",
    "indication",
    "fitzpatrick",
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
]

ACME_CRYSTAL = {
    "Aluminium Oxide 100": "corundum",
    "Hydroxide Fine": "aluminium_hydroxide",
    "Bicarb Soda": "sodium_bicarbonate",
    "Diamond Peel": "diamond_tip",
}
ACME_AREA = {
    "Full Face": "face",
    "Neck": "neck",
    "Décolleté": "decolletage",
    "Hands": "hands",
    "Back": "back",
    "Body": "body",
}
ACME_CONCERN = {
    "Fine Lines": "wrinkles",
    "Pigmentation": "hyperpigmentation",
    "Acne Scarring": "acne_scars",
    "Surgical Scar": "surgical_scars",
    "Stretch Marks": "stretch_marks",
    "Dull Skin": "texture",
}
ACME_SKIN = {"Type I": "1", "Type II": "2", "Type III": "3", "Type IV": "4", "Type V": "5", "Type VI": "6"}
ACME_RATING = {
    "Very satisfied": "5",
    "Satisfied": "4",
    "Neutral": "3",
    "Dissatisfied": "2",
    "Very dissatisfied": "1",
    "No response": "",
}
ACME_REACTION = {
    "Redness > 48h": "prolonged_erythema",
    "Pinpoint bleeding": "petechiae",
    "Graze": "abrasion",
    "Darkening": "hyperpigmentation",
    "Infection": "infection",
    "Eye irritation": "eye_irritation",
    "Other": "other",
    "None": "",
}
GLOW_CRYSTAL = {"Corundum": "corundum", "Al-Hydroxide": "aluminium_hydroxide", "Natron": "sodium_bicarbonate"}
GLOW_ZONE = {"Neckline": "decolletage"}
GLOW_EFFECT = {"Erythema": "prolonged_erythema"}


def _date(text: str, fmt: str) -> str:
    try:
        return dt.datetime.strptime(text, fmt).date().isoformat()
    except ValueError:
        return text


def _items(cell: str, separator: str, words: dict[str, str]) -> str:
    items = [words.get(item.strip(), item.strip()) for item in cell.split(separator)]
    return ";".join(item for item in items if item)


def convert_acme(path: Path, out: Path, clinic_id: str) -> Path:
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    converted = []
    for r in rows:
        converted.append(
            {
                "clinic_id": clinic_id,
                "session_id": r["Appointment Ref"],
                "patient_id": r["Client No."],
                "clinician_id": r["Practitioner"],
                "session_date": _date(r["Date of Service"], "%d/%m/%Y"),
                "crystal_type": ACME_CRYSTAL.get(r["Media"], r["Media"]),
                "vacuum_inhg": r["Suction (inHg)"],
                "passes": r["Passes"],
                "treatment_area": ACME_AREA.get(r["Area"], r["Area"]),
                "indication": ACME_CONCERN.get(r["Concern"], r["Concern"]),
                "fitzpatrick": ACME_SKIN.get(r["Skin Type"], r["Skin Type"]),
                "particle_flow": r["Flow %"],
                "session_number": r["Course Visit"],
                "device_model": r["Device"],
                "anaesthesia": r["Numbing"],
                "pre_care_followed": r["Pre-care OK"],
                "soothing_mask": {"Applied": "true", "Not applied": "false"}.get(
                    r["Cooling Mask"], r["Cooling Mask"]
                ),
                "birth_year": r["YOB"],
                "satisfaction": ACME_RATING.get(r["Client Rating"], r["Client Rating"]),
                "side_effects": _items(r["Reactions"], ",", ACME_REACTION),
                "follow_up_done": {"Completed": "true", "Not reached": "false"}.get(
                    r["Follow-up Call"], r["Follow-up Call"]
                ),
            }
        )
    return _write(out, converted)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def convert_glow(path: Path, out: Path) -> Path:
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    rows = book["Treatments"].iter_rows(values_only=True)
    header = list(next(rows))
    converted = []
    for values in rows:
        r = dict(zip(header, (_cell(v) for v in values), strict=True))
        converted.append(
            {
                "clinic_id": r["Site"],
                "session_id": r["Visit ID"],
                "patient_id": r["Patient Number"],
                "clinician_id": r["Therapist"],
                "session_date": _date(r["Visit Date"], "%d.%m.%Y"),
                "crystal_type": GLOW_CRYSTAL.get(r["Crystal"], r["Crystal"]),
                "vacuum_mmhg": r["Vacuum (mmHg)"],
                "passes": r["Passes"],
                "treatment_area": GLOW_ZONE.get(r["Zone"], r["Zone"]),
                "indication": r["Indication"],
                "fitzpatrick": r["Phototype"],
                "particle_flow": r["Flow"],
                "session_number": r["Session No"],
                "device_model": r["Device"],
                "anaesthesia": r["Local Anaesthetic"],
                "pre_care_followed": r["Pre-care"],
                "soothing_mask": r["Mask"],
                "birth_year": r["Birth Year"],
                "satisfaction": "" if r["Satisfaction (1-5)"] == "n/a" else r["Satisfaction (1-5)"],
                "side_effects": _items(r["Side Effects"], "|", GLOW_EFFECT),
                "follow_up_done": r["Follow-up"],
            }
        )
    book.close()
    return _write(out, converted)


def _write(out: Path, rows: list[dict]) -> Path:
    header = [c for c in CANONICAL if any(c in r for r in rows)]
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(header)
        for r in rows:
            writer.writerow([r.get(h, "") for h in header])
    return out


SESSION_COLUMNS = "* exclude (batch_id, source_file)"


def stored(data_dir: Path) -> tuple[list, list]:
    """The stored sessions (all but where they came from) and quarantine (row, column, value, reason)."""
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        sessions = con.execute(
            f"select {SESSION_COLUMNS} from sessions order by clinic_id, session_id"
        ).fetchall()
        quarantine = con.execute(
            'select "row", "column", value, reason from quarantine order by "row", "column", reason'
        ).fetchall()
    finally:
        con.close()
    return sessions, quarantine


def vendor_cells(path: Path) -> list[dict[str, str]]:
    """The data rows of a vendor export as text cells (1-based row i is element i - 1)."""
    if path.suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    rows = book["Treatments"].iter_rows(values_only=True)
    header = list(next(rows))
    cells = [dict(zip(header, (_cell(v) for v in values), strict=True)) for values in rows]
    book.close()
    return cells
