"""Vendor-shaped exports: the same sessions as two clinic software vendors write them, with their mappings.

``derma sample --style vendor`` and the demo use them; tests convert them by hand and compare loads.

- **Acme Aesthetics** (CSV, one file per clinic and month, ``acme_<clinic>_<YYYY-MM>.csv``): its own
  headers, no clinic column (each clinic's mapping gives it as a constant), day-first dates
  (``14/10/2026``), suction in inHg with a decimal comma, text ratings, comma-separated reactions in
  its own words, ``Completed``/``Not reached`` follow-up calls, a client-name and a notes column.
- **Glow Clinic Suite** (XLSX, ``glow_<clinic>_<YYYY-MM>.xlsx``): a *Summary* sheet first and the rows
  on *Treatments*, a site column, dates as text ``14.10.2026``, vacuum in mmHg as text with a decimal
  comma, ``|``-separated side effects, ``n/a`` for no survey answer, a patient e-mail column.

Messy rows are planted in vendor terms (an unknown crystal word, an impossible date, suction past the
range, an unknown rating or reaction, a missing patient number, an identical repeat) and listed with
the reason the load gives them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd

from etl.contract import INHG_TO_KPA, MMHG_TO_KPA
from sample_data.defects import IDENTICAL_REPEAT, PlantedDefect
from sample_data.styles import FIRST_NAMES, LAST_NAMES, NOTES
from sample_data.vendor_mappings import ACME_WORDS, GLOW_WORDS, ROMAN, acme_mapping, glow_mapping
from sample_data.writer import ZIP_TIME, fix_xlsx_timestamps

#: Vendor-shaped defects: (kind, vendor header, bad cell, canonical column, reason); an identical repeat last.
DEFECTS = {
    "acme": (
        ("Media", "Crystal X", "crystal_type", "unknown_category"),
        ("Date of Service", "31/02/2026", "session_date", "bad_date"),
        ("Suction (inHg)", "40,00", "vacuum_inhg", "out_of_range"),
        ("Client Rating", "Meh", "satisfaction", "bad_type"),
        ("Reactions", "Redness > 48h, Itching", "side_effects", "unknown_category"),
        ("Client No.", "", "patient_id", "missing_required"),
        ("Follow-up Call", "Maybe", "follow_up_done", "bad_type"),
    ),
    "glow": (
        ("Crystal", "Glass Beads", "crystal_type", "unknown_category"),
        ("Visit Date", "31.02.2026", "session_date", "bad_date"),
        ("Vacuum (mmHg)", "900,0", "vacuum_mmhg", "out_of_range"),
        ("Satisfaction (1-5)", "great", "satisfaction", "bad_type"),
        ("Side Effects", "Erythema|Itching", "side_effects", "unknown_category"),
        ("Patient Number", "", "patient_id", "missing_required"),
    ),
}


@dataclass(frozen=True)
class VendorResult:
    """What :func:`write_vendor_exports` wrote: export files, mapping files, planted defects."""

    files: list[Path]
    mappings: list[Path]
    planted: list[PlantedDefect]


def vendor_of(clinic_id: str) -> str:
    """``acme`` for odd clinic numbers (ETB-01, HAM-03, ...), ``glow`` for even ones."""
    digits = "".join(ch for ch in str(clinic_id)[-2:] if ch.isdigit())
    return "acme" if not digits or int(digits) % 2 else "glow"


def _text(values: pd.Series, words: dict) -> np.ndarray:
    return values.map(words).to_numpy(dtype=object)


def _comma(values: np.ndarray, decimals: int) -> np.ndarray:
    return np.array([f"{v:.{decimals}f}".replace(".", ",") for v in values], dtype=object)


def _reactions(rows: pd.DataFrame, words: dict[str, str], separator: str, none_word: str) -> np.ndarray:
    out = []
    for codes, followed in zip(rows["side_effects"], rows["follow_up_done"], strict=True):
        items = [words[code] for code in str(codes).split(";") if code]
        out.append(separator.join(items) if items else (none_word if followed else ""))
    return np.array(out, dtype=object)


def render_acme(rows: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Acme's CSV columns for canonical rows (every cell text, as its export writes them)."""
    n = len(rows)
    w = ACME_WORDS
    satisfaction = rows["satisfaction"].map(
        lambda s: w["satisfaction"][int(s)] if pd.notna(s) else "No response"
    )
    names = (
        FIRST_NAMES[rng.integers(0, len(FIRST_NAMES), n)]
        + " "
        + LAST_NAMES[rng.integers(0, len(LAST_NAMES), n)]
    )
    flow = rows["particle_flow"].map(lambda f: "" if pd.isna(f) else str(int(f)))
    frame = {
        "Appointment Ref": rows["session_id"].to_numpy(),
        "Client No.": rows["patient_id"].to_numpy(),
        "Client Name": names,
        "Practitioner": rows["clinician_id"].to_numpy(),
        "Date of Service": rows["session_date"].dt.strftime("%d/%m/%Y").to_numpy(),
        "Media": _text(rows["crystal_type"], w["crystal_type"]),
        "Suction (inHg)": _comma(np.round(rows["vacuum_kpa"].to_numpy() / INHG_TO_KPA, 2), 2),
        "Passes": rows["passes"].astype(str).to_numpy(),
        "Area": _text(rows["treatment_area"], w["treatment_area"]),
        "Concern": _text(rows["indication"], w["indication"]),
        "Skin Type": np.array([f"Type {ROMAN[int(f)]}" for f in rows["fitzpatrick"]], dtype=object),
        "Flow %": flow.to_numpy(),
        "Course Visit": rows["session_number"].astype(str).to_numpy(),
        "Device": rows["device_model"].to_numpy(),
        "Numbing": np.where(rows["anaesthesia"], "Yes", "No"),
        "Pre-care OK": np.where(rows["pre_care_followed"], "Y", "N"),
        "Cooling Mask": np.where(rows["soothing_mask"], "Applied", "Not applied"),
        "YOB": rows["birth_year"].astype(str).to_numpy(),
        "Client Rating": satisfaction.to_numpy(),
        "Reactions": _reactions(rows, w["side_effects"], ", ", "None"),
        "Follow-up Call": np.where(rows["follow_up_done"], "Completed", "Not reached"),
        "Notes": NOTES[rng.integers(0, len(NOTES), n)],
    }
    return pd.DataFrame(frame, index=rows.index)


def render_glow(rows: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Glow's *Treatments* sheet for canonical rows (numbers as number cells where Glow writes them so)."""
    n = len(rows)
    w = GLOW_WORDS
    mail = np.char.lower(FIRST_NAMES[rng.integers(0, len(FIRST_NAMES), n)].astype(str)) + np.char.add(
        rng.integers(10, 99, n).astype(str), "@mail.example"
    )
    frame = {
        "Site": rows["clinic_id"].to_numpy(),
        "Visit ID": rows["session_id"].to_numpy(),
        "Patient Number": rows["patient_id"].to_numpy(),
        "Patient E-mail": mail.astype(object),
        "Therapist": rows["clinician_id"].to_numpy(),
        "Visit Date": rows["session_date"].dt.strftime("%d.%m.%Y").to_numpy(),
        "Crystal": _text(rows["crystal_type"], w["crystal_type"]),
        "Vacuum (mmHg)": _comma(np.round(rows["vacuum_kpa"].to_numpy() / MMHG_TO_KPA, 1), 1),
        "Passes": rows["passes"].to_numpy(dtype=object),
        "Zone": _text(rows["treatment_area"], w["treatment_area"]),
        "Indication": rows["indication"].str.replace("_", " ").str.capitalize().to_numpy(),
        "Phototype": np.array([ROMAN[int(f)] for f in rows["fitzpatrick"]], dtype=object),
        "Flow": rows["particle_flow"].map(lambda f: None if pd.isna(f) else int(f)).to_numpy(dtype=object),
        "Session No": rows["session_number"].to_numpy(dtype=object),
        "Device": rows["device_model"].to_numpy(),
        "Local Anaesthetic": np.where(rows["anaesthesia"], "Yes", "No"),
        "Pre-care": np.where(rows["pre_care_followed"], "Yes", "No"),
        "Mask": np.where(rows["soothing_mask"], "Yes", "No"),
        "Birth Year": rows["birth_year"].to_numpy(dtype=object),
        "Satisfaction (1-5)": rows["satisfaction"]
        .map(lambda s: "n/a" if pd.isna(s) else int(s))
        .to_numpy(dtype=object),
        "Side Effects": _reactions(rows, w["side_effects"], "|", ""),
        "Follow-up": np.where(rows["follow_up_done"], "Yes", "No"),
    }
    return pd.DataFrame(frame, index=rows.index)


def plant(
    frame: pd.DataFrame, vendor: str, name: str, count: int, rng: np.random.Generator, start: int = 0
) -> tuple[pd.DataFrame, list[PlantedDefect]]:
    """Spoil ``count`` rows of one file in vendor terms: the kinds in turn from ``start`` (a repeat last)."""
    if count <= 0 or frame.empty:
        return frame, []
    kinds = [*DEFECTS[vendor], IDENTICAL_REPEAT]
    rows = rng.choice(len(frame), size=min(count, len(frame)), replace=False)
    frame = frame.reset_index(drop=True).astype(object)
    planted = []
    repeats = []
    for i, row in enumerate(sorted(int(r) for r in rows)):
        kind = kinds[(start + i) % len(kinds)]
        if kind == IDENTICAL_REPEAT:
            repeats.append(row)
            continue
        header, cell, column, reason = kind
        frame.iat[row, frame.columns.get_loc(header)] = cell
        planted.append(PlantedDefect(name, row + 1, column, reason))
    if repeats:  # identical copies at the end: loaded once, the copies count as unchanged
        frame = pd.concat([frame, frame.iloc[repeats]], ignore_index=True)
        planted += [
            PlantedDefect(name, len(frame) - len(repeats) + k + 1, "", IDENTICAL_REPEAT)
            for k in range(len(repeats))
        ]
    return frame, planted


def write_glow_workbook(frame: pd.DataFrame, path: Path, clinic_id: str, month: str) -> None:
    """A *Summary* sheet first (as Glow's report does), then *Treatments*; reproducible bytes."""
    book = openpyxl.Workbook(write_only=True)
    book.properties.created = dt.datetime(*ZIP_TIME)
    summary = book.create_sheet("Summary")
    summary.append(["Glow Clinic Suite", "treatment report"])
    summary.append(["Site", clinic_id])
    summary.append(["Period", month])
    summary.append(["Treatments", len(frame)])
    sheet = book.create_sheet("Treatments")
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False, name=None):
        sheet.append(
            [None if v is None or (isinstance(v, float) and np.isnan(v)) else _plain(v) for v in row]
        )
    book.save(path)
    fix_xlsx_timestamps(path)


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def write_vendor_exports(
    df: pd.DataFrame, out_dir: str | Path, messy_rate: float = 0.0, seed: int = 7
) -> VendorResult:
    """Write ``df`` as the vendors export it (one file per clinic and month) and their mappings in ``mappings/``.

    Parameters
    ----------
    df : pandas.DataFrame
        Clean canonical rows, e.g. from :func:`sample_data.generator.generate_sessions`.
    out_dir : str or pathlib.Path
        Folder for the exports; the mappings go to ``out_dir/mappings/``.
    messy_rate : float
        Share of rows given a vendor-shaped defect (at least one per file when above 0).
    seed : int
        Seed of the writer's random stream (names, e-mails, notes, which rows are spoiled).
    """
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    (out / "mappings").mkdir(parents=True, exist_ok=True)
    months = df["session_date"].dt.strftime("%Y-%m")
    files, mappings, planted = [], [], []
    kinds_done = {"acme": 0, "glow": 0}  # so every kind of defect is planted before any repeats
    for clinic_id in sorted(df["clinic_id"].unique()):
        vendor = vendor_of(clinic_id)
        in_clinic = df[df["clinic_id"] == clinic_id]
        for month in sorted(months[in_clinic.index].unique()):
            rows = in_clinic[months[in_clinic.index] == month]
            frame = (render_acme if vendor == "acme" else render_glow)(rows, rng)
            name = f"{vendor}_{clinic_id}_{month}.{'csv' if vendor == 'acme' else 'xlsx'}"
            count = max(1, round(messy_rate * len(frame))) if messy_rate > 0 else 0
            frame, spoiled = plant(frame, vendor, name, count, rng, start=kinds_done[vendor])
            kinds_done[vendor] += count
            planted += spoiled
            path = out / name
            if vendor == "acme":
                frame.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
            else:
                write_glow_workbook(frame, path, clinic_id, month)
            files.append(path)
        mapping = out / "mappings" / (f"acme-{clinic_id}.toml" if vendor == "acme" else "glow.toml")
        if not mapping.exists():
            mapping.write_text(
                acme_mapping(clinic_id) if vendor == "acme" else glow_mapping(), encoding="utf-8"
            )
            mappings.append(mapping)
    return VendorResult(sorted(files), sorted(mappings), planted)
