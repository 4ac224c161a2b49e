"""Clinic export styles: the legitimate spec variants each clinic's software writes (headers, units, words)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from etl.contract import BOOLEANS, INHG_TO_KPA, MMHG_TO_KPA, OPTIONAL, REQUIRED

SHUFFLE_SEED = 4
ROMAN = np.array(["", "I", "II", "III", "IV", "V", "VI"], dtype=object)
#: Spellings a synonym-style clinic uses for a canonical code (the canonical code included).
SPELLINGS = {
    "crystal_type": {
        "corundum": ("Aluminium Oxide", "al2o3", "aluminum-oxide", "corundum"),
        "aluminium_hydroxide": ("aluminum_hydroxide", "Aluminium Hydroxide"),
        "sodium_bicarbonate": ("bicarbonate", "Sodium Bicarbonate"),
        "diamond_tip": ("Diamond", "diamond peel", "crystal-free"),
    },
    "treatment_area": {"decolletage": ("decollete", "Chest", "decolletage"), "face": ("Face",)},
    "indication": {
        "hyperpigmentation": ("pigmentation", "sun spots", "Age-Spots", "melasma"),
        "acne_scars": ("acne", "Acne Scars"),
        "surgical_scars": ("scars", "surgical_scars"),
        "stretch_marks": ("striae", "Stretch Marks"),
        "texture": ("rejuvenation", "dull skin", "texture"),
    },
}
FIRST_NAMES = np.array(
    ["Anna", "Lena", "Murat", "Sofia", "Jonas", "Mia", "Elif", "Paul", "Hanna", "Amira"], dtype=object
)
LAST_NAMES = np.array(
    ["Schmidt", "Yilmaz", "Weber", "Novak", "Fischer", "Kowalski", "Becker", "Rossi"], dtype=object
)
NOTES = np.array(
    [
        "",
        "",
        "",
        "tolerated well, no issues",
        "asked about price; rebooked",
        "mild redness, advised SPF 50",
        "first visit\nreferred by GP",
        'prefers Tuesday, "late" slot',
    ],
    dtype=object,
)


@dataclass(frozen=True)
class ExportStyle:
    """How one clinic's software writes the export; every choice is allowed by the spec."""

    name: str
    header_case: str = "snake"  # snake | title | kebab | upper
    vacuum_unit: str = "kpa"  # kpa | mmhg | inhg
    delimiter: str = ","
    decimal: str = "."
    bom: bool = False
    true_false: tuple[str, str] | None = None  # None: real booleans ("true"/"false" in text)
    roman_fitzpatrick: bool = False
    synonyms: bool = False
    with_time: bool = False  # session_date carries a time of day
    none_word: str = ""  # side_effects written for "followed up, nothing reported"
    extra_columns: bool = False  # patient_name, notes (dropped at the door) and room (unknown)
    shuffled: bool = False

    def header(self, column: str) -> str:
        """Return this style's header text for a canonical column (``vacuum_kpa`` in the style's unit)."""
        if column == "vacuum_kpa":
            column = f"vacuum_{self.vacuum_unit}"
        words = column.split("_")
        if self.header_case == "title":
            special = {"id": "ID", "mmhg": "mmHg", "inhg": "inHg"}
            return " ".join(special.get(w, w.capitalize()) for w in words)
        if self.header_case == "kebab":
            return "Vacuum-InHg" if column == "vacuum_inhg" else "-".join(words)
        if self.header_case == "upper":
            return column.upper()
        return column

    def convert_vacuum(self, kpa: np.ndarray | float) -> np.ndarray | float:
        """Convert kPa to the style's unit, rounded as the clinic's device shows it."""
        if self.vacuum_unit == "mmhg":
            return np.round(np.asarray(kpa) / MMHG_TO_KPA, 1)
        if self.vacuum_unit == "inhg":
            return np.round(np.asarray(kpa) / INHG_TO_KPA, 2)
        return np.round(np.asarray(kpa, dtype=float), 1)


STYLES = (
    ExportStyle("canonical"),
    ExportStyle(
        "european",
        header_case="title",
        vacuum_unit="mmhg",
        delimiter=";",
        decimal=",",
        true_false=("1", "0"),
        roman_fitzpatrick=True,
    ),
    ExportStyle(
        "synonyms",
        header_case="kebab",
        vacuum_unit="inhg",
        bom=True,
        true_false=("yes", "no"),
        synonyms=True,
        none_word="none",
        extra_columns=True,
    ),
    ExportStyle("upper_with_time", header_case="upper", true_false=("Y", "N"), with_time=True, shuffled=True),
)


def choose_style(clinic_id: str) -> ExportStyle:
    """Return the export style of a clinic: by its number (``ETB-01`` → the first style), cycled."""
    digits = "".join(ch for ch in str(clinic_id)[-2:] if ch.isdigit())
    return STYLES[(int(digits) - 1) % len(STYLES) if digits else 0]


def render_clinic(rows: pd.DataFrame, style: ExportStyle, rng: np.random.Generator) -> pd.DataFrame:
    """Rewrite one clinic's canonical rows the way its software exports them (typed values, style headers).

    Parameters
    ----------
    rows : pandas.DataFrame
        Canonical contract rows of one clinic.
    style : ExportStyle
        The clinic's export style.
    rng : numpy.random.Generator
        Draws spellings, times of day and the extra free-text columns.

    Returns
    -------
    pandas.DataFrame
        Same rows and index, headers and values in the clinic's style.
    """
    n = len(rows)
    out = {c: rows[c].to_numpy() for c in (*REQUIRED, *OPTIONAL)}
    out["vacuum_kpa"] = style.convert_vacuum(rows["vacuum_kpa"].to_numpy())
    out["particle_flow"] = rows["particle_flow"].astype("Int64").array
    out["satisfaction"] = rows["satisfaction"].array
    if style.with_time:
        minutes = rng.integers(8 * 60, 18 * 60 + 30, n).astype("timedelta64[m]")
        out["session_date"] = (rows["session_date"].to_numpy().astype("datetime64[m]") + minutes).astype(
            "datetime64[ns]"
        )
    if style.true_false is not None:
        words = np.array(style.true_false, dtype=object)
        for column in BOOLEANS:
            out[column] = np.where(out[column].astype(bool), words[0], words[1])
    if style.roman_fitzpatrick:
        out["fitzpatrick"] = ROMAN[out["fitzpatrick"].astype(int)]
    if style.synonyms:
        for column, table in SPELLINGS.items():
            out[column] = spell_codes(rng, out[column], table)
    if style.none_word:
        followed = rows["follow_up_done"].to_numpy(dtype=bool)
        out["side_effects"] = np.where(
            followed & (out["side_effects"] == ""), style.none_word, out["side_effects"]
        )
    frame = pd.DataFrame({style.header(c): v for c, v in out.items()}, index=rows.index)
    if style.extra_columns:
        frame.insert(
            3,
            "patient_name",
            FIRST_NAMES[rng.integers(0, len(FIRST_NAMES), n)]
            + " "
            + LAST_NAMES[rng.integers(0, len(LAST_NAMES), n)],
        )
        frame["room"] = np.strings.add("R", rng.integers(1, 5, n).astype(str))
        frame["notes"] = NOTES[rng.integers(0, len(NOTES), n)]
    if style.shuffled:
        frame = frame[list(np.random.default_rng(SHUFFLE_SEED).permutation(frame.columns))]
    return frame


def spell_codes(rng: np.random.Generator, codes: np.ndarray, table: dict[str, tuple[str, ...]]) -> np.ndarray:
    """Replace canonical codes by one of their spellings, drawn per row."""
    out = codes.astype(object).copy()
    for code, spellings in table.items():
        rows = np.flatnonzero(codes == code)
        out[rows] = np.asarray(spellings, dtype=object)[rng.integers(0, len(spellings), len(rows))]
    return out
