"""The committed sample: regenerates ``sample_data/sample/`` (a CSV inbox plus one file per other format).

Run ``python -m sample_data.make_sample``.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from sample_data.defects import PlantedDefect
from sample_data.generator import generate_sessions
from sample_data.writer import write_exports

HERE = Path(__file__).resolve().parent
SAMPLE_DIR = HERE / "sample"
#: The planted defects of the sample, kept beside (not inside) the inbox folder so no loader reads it.
MANIFEST = HERE / "sample_planted.csv"
#: Ten months are generated: February–October 2026 go to the CSV inbox, January to ``mixed/``.
NETWORK = {"clinics": 4, "patients": 480, "months": 10, "seed": 7, "end_month": "2026-10"}
CSV_CLINICS = ("ETB-01", "MUC-02", "HAM-03")
CSV_FROM = "2026-02"
MESSY_RATE = 0.02
MIXED_MONTH = "2026-01"
MIXED = (("ETB-01", "xlsx"), ("MUC-02", "parquet"), ("HAM-03", "jsonl"), ("KOE-04", "csv.gz"))


def build_sample(
    out_dir: Path = SAMPLE_DIR, manifest: Path = MANIFEST
) -> tuple[list[Path], list[PlantedDefect]]:
    """Write the sample inbox and its manifest of planted defects, replacing what was there.

    Parameters
    ----------
    out_dir : pathlib.Path
        The inbox folder: 3 clinics × 9 months of CSV with 2 % messy rows, plus ``mixed/`` with
        one clean January file per format (xlsx, parquet, jsonl, csv.gz), each from a
        different clinic so every export style appears in a non-CSV format.
    manifest : pathlib.Path
        CSV of the planted defects (file, row, column, reason) of the CSV inbox.

    Returns
    -------
    tuple of (list of pathlib.Path, list of PlantedDefect)
        Every file written and every defect planted.
    """
    sessions = generate_sessions(**NETWORK)
    month = sessions["session_date"].dt.strftime("%Y-%m")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    inbox = sessions[sessions["clinic_id"].isin(CSV_CLINICS) & (month >= CSV_FROM)]
    result = write_exports(inbox, out_dir, fmt="csv", messy_rate=MESSY_RATE, seed=NETWORK["seed"])
    files = list(result.files)
    for clinic_id, fmt in MIXED:
        rows = sessions[(sessions["clinic_id"] == clinic_id) & (month == MIXED_MONTH)]
        files += write_exports(rows, out_dir / "mixed", fmt=fmt, seed=NETWORK["seed"]).files
    write_manifest(result.planted, manifest)
    return files, result.planted


def write_manifest(planted: list[PlantedDefect], path: Path) -> None:
    """Write the planted defects as CSV, one per line, ordered by file and row."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "row", "column", "reason"], lineterminator="\n")
        writer.writeheader()
        for item in sorted(planted, key=lambda d: (d.file, d.row, d.reason)):
            writer.writerow(asdict(item))


def main() -> None:
    """Regenerate the committed sample and say what was written."""
    files, planted = build_sample()
    size = sum(f.stat().st_size for f in files) + MANIFEST.stat().st_size
    reasons = pd.Series([d.reason for d in planted]).value_counts().to_dict()
    print(
        f"wrote {len(files)} files ({size / 1024:.0f} KiB) under {SAMPLE_DIR}; planted {len(planted)}: {reasons}"
    )


if __name__ == "__main__":
    main()
