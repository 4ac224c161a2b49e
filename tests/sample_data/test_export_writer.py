"""Tests of the export writer: formats, clinic styles, planted defects and their 1-based row numbers."""

from __future__ import annotations

import datetime as dt
import gzip
from collections import Counter
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest

from etl.contract import ROMAN, SYNONYMS, TRUE_WORDS, VACUUM_COLUMNS, normalise_header, plan_header
from sample_data.defects import BAD_TYPE, KINDS, QUIRKY_DEVICE
from sample_data.generator import generate_sessions
from sample_data.make_sample import MANIFEST, SAMPLE_DIR, build_sample
from sample_data.styles import choose_style
from sample_data.writer import FORMATS, write_exports


@pytest.fixture(scope="module")
def sessions() -> pd.DataFrame:
    return generate_sessions(clinics=4, patients=260, months=3, seed=5)


def as_text(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, dt.datetime | pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_back(path: Path) -> tuple[pd.DataFrame, float]:
    """Any export file as text with canonical headers; also the factor that turns its vacuum into kPa."""
    name = path.name
    if name.endswith((".csv", ".csv.gz")):
        raw = pd.read_csv(
            path, sep=choose_style(name[:6]).delimiter, dtype=str, keep_default_na=False, encoding="utf-8-sig"
        )
    elif name.endswith(".jsonl"):
        raw = pd.read_json(path, lines=True, dtype=False)
    elif name.endswith(".parquet"):
        raw = pq.read_table(path).to_pandas()
    else:
        book = openpyxl.load_workbook(path, read_only=True)
        rows = list(book["sessions"].iter_rows(values_only=True))
        raw = pd.DataFrame(rows[1:], columns=rows[0], dtype=object)
    plan = plan_header(list(raw.columns))
    assert not plan.missing and not plan.duplicated
    text = pd.DataFrame({c: [as_text(v) for v in raw[h]] for c, h in plan.mapping.items()})
    unit = next(c for c in VACUUM_COLUMNS if c in text.columns)
    return text.rename(columns={unit: "vacuum_kpa"}), VACUUM_COLUMNS[unit]


def canonical(column: str, value: str) -> str:
    key = normalise_header(value)
    if column == "fitzpatrick" and value in ROMAN:
        return str(ROMAN[value])
    if column in SYNONYMS:
        return SYNONYMS[column].get(key, key)
    return value


def number(text: str) -> float:
    return float(text.replace(",", "."))


def check_planted(row: pd.Series, column: str, reason: str, factor: float) -> None:
    value = row[column]
    if reason == "missing_required":
        assert value == ""
    elif reason == "bad_type":
        assert (column, value) in BAD_TYPE
    elif reason == "bad_date":
        assert value.endswith("-32")
    elif reason == "future_date":
        assert value.startswith("2099-")
    elif reason == "out_of_range":
        limit = {"passes": 6, "vacuum_kpa": 80, "particle_flow": 100}[column]
        assert number(value) * (factor if column == "vacuum_kpa" else 1) > limit
    elif reason == "unknown_category":
        assert value in ("scalp", "rosacea")
    elif reason == "inconsistent":
        assert canonical("crystal_type", row["crystal_type"]) == "diamond_tip" and number(value) > 0
    else:
        assert column == "session_id"


@pytest.mark.parametrize("fmt", FORMATS)
def test_clean_exports_read_back_as_the_generated_rows(sessions, tmp_path, fmt):
    result = write_exports(sessions, tmp_path, fmt=fmt)
    assert result.planted == []
    month = sessions["session_date"].dt.strftime("%Y-%m")
    assert [p.name for p in result.files] == sorted(
        f"{c}_{m}.{fmt}" for c, m in set(zip(sessions["clinic_id"], month, strict=True))
    )
    for path in result.files:
        text, factor = read_back(path)
        want = sessions[(sessions["clinic_id"] == path.name[:6]) & (month == path.name[7:14])]
        assert list(text["session_id"]) == list(want["session_id"])
        assert list(text["patient_id"]) == list(want["patient_id"])
        assert [v[:10] for v in text["session_date"]] == list(want["session_date"].dt.strftime("%Y-%m-%d"))
        kpa = np.array([number(v) for v in text["vacuum_kpa"]]) * factor
        assert np.allclose(kpa, want["vacuum_kpa"], atol=0.06)
        for column in ("crystal_type", "treatment_area", "indication", "fitzpatrick"):
            assert [canonical(column, v) for v in text[column]] == [str(v) for v in want[column]]
        assert [v.lower() in TRUE_WORDS for v in text["follow_up_done"]] == list(want["follow_up_done"])
        assert list(text["satisfaction"]) == [as_text(v) for v in want["satisfaction"].astype(object)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_messy_exports_plant_every_reason_where_the_record_says(sessions, tmp_path, fmt):
    result = write_exports(sessions, tmp_path, fmt=fmt, messy_rate=0.03, seed=2)
    reasons = Counter(d.reason for d in result.planted)
    assert set(reasons) == set(KINDS)
    assert reasons["duplicate_in_file"] % 2 == 0
    by_file = {p.name: read_back(p) for p in result.files}
    extra_rows = reasons["duplicate_in_file"] // 2 + reasons["identical_repeat"]
    assert sum(len(text) for text, _ in by_file.values()) == len(sessions) + extra_rows
    assert abs(len({(d.file, d.row) for d in result.planted}) - 0.03 * len(sessions)) <= extra_rows + 2
    for defect in result.planted:
        text, factor = by_file[defect.file]
        check_planted(text.iloc[defect.row - 1], defect.column, defect.reason, factor)
    for name, (text, _) in by_file.items():
        recorded = {d.row: d.reason for d in result.planted if d.file == name}
        for _, rows in text.groupby("session_id").groups.items():
            if len(rows) == 1:
                continue
            numbers = [int(r) + 1 for r in rows]
            kinds = sorted(recorded.get(n, "") for n in numbers)
            if kinds == ["duplicate_in_file", "duplicate_in_file"]:
                assert not text.loc[rows[0]].equals(text.loc[rows[1]])
            else:
                assert kinds == ["", "identical_repeat"] and text.loc[rows[0]].equals(text.loc[rows[1]])
                assert recorded.get(numbers[1]) == "identical_repeat"  # the later copy is the repeat
    quirky = [text for text, _ in by_file.values() if (text["device_model"] == QUIRKY_DEVICE).any()]
    assert quirky


def test_clinic_styles_are_legitimate_spec_variants(sessions, tmp_path):
    files = {p.name[:6]: p for p in write_exports(sessions, tmp_path).files}
    european = files["MUC-02"].read_text(encoding="utf-8")
    assert european.startswith("Clinic ID;Session ID;") and "Vacuum mmHg" in european.splitlines()[0]
    assert any(";III;" in line for line in european.splitlines())
    assert files["HAM-03"].read_bytes().startswith(b"\xef\xbb\xbf")
    plan = plan_header(list(pd.read_csv(files["HAM-03"], nrows=0, encoding="utf-8-sig").columns))
    assert "Vacuum-InHg" in plan.mapping.values()
    assert set(plan.dropped) == {"patient_name", "notes"} and plan.ignored == ("room",)
    upper = pd.read_csv(files["KOE-04"], dtype=str, keep_default_na=False)
    assert upper["SESSION_DATE"].str.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}").all()


def test_xlsx_has_a_sessions_sheet_with_real_date_cells(sessions, tmp_path):
    path = write_exports(sessions, tmp_path, fmt="xlsx").files[0]
    sheet = openpyxl.load_workbook(path)["sessions"]
    header = [c.value for c in sheet[1]]
    cells = [row[header.index("session_date")] for row in sheet.iter_rows(min_row=2)]
    assert cells and all(c.is_date for c in cells)


def test_parquet_columns_are_typed(sessions, tmp_path):
    path = write_exports(sessions, tmp_path, fmt="parquet").files[0]
    schema = pq.read_schema(path)
    assert str(schema.field("session_date").type) == "date32[day]"
    assert str(schema.field("vacuum_kpa").type) == "double" and str(schema.field("passes").type) == "int64"
    assert str(schema.field("follow_up_done").type) == "bool"


def test_jsonl_is_one_object_per_line(sessions, tmp_path):
    path = write_exports(sessions, tmp_path, fmt="jsonl", messy_rate=0.05).files[0]
    lines = path.read_text(encoding="utf-8").splitlines()
    assert all(line.startswith("{") and line.endswith("}") for line in lines)


def test_the_committed_sample_is_what_make_sample_writes(tmp_path):
    files, planted = build_sample(tmp_path / "sample", tmp_path / "planted.csv")
    assert (tmp_path / "planted.csv").read_text(encoding="utf-8") == MANIFEST.read_text(encoding="utf-8")
    for path in files:
        committed = SAMPLE_DIR / path.relative_to(tmp_path / "sample")
        if path.suffix == ".gz":
            assert gzip.decompress(path.read_bytes()) == gzip.decompress(committed.read_bytes())
        else:
            assert path.read_bytes() == committed.read_bytes(), path.name
    assert sum(p.stat().st_size for p in files) < 1_000_000
    assert {d.reason for d in planted} == set(KINDS)
