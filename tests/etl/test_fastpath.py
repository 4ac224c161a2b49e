"""The one-pass CSV load stores exactly what the text path stores: sessions, quarantine, lineage and marts."""

from __future__ import annotations

import duckdb
import pytest

import etl.fastpath
from etl.load import ingest
from etl.settings import Settings
from sample_data.generator import generate_sessions
from sample_data.vendors import write_vendor_exports
from sample_data.writer import write_exports
from tests.helpers import FIELDS, TODAY, row, write_csv

#: Columns that name the batch or the clock, which differ between any two loads.
WHEN = {"batch_id", "snapshot", "loaded_at", "started_at", "finished_at", "last_loaded_at"}

#: Values a typed reader might read otherwise than the export format does, each in its own row.
AWKWARD = [
    {"passes": "1e19"},
    {"passes": "99999999999999999999"},
    {"passes": "3000000000"},
    {"passes": "2.5"},
    {"passes": "3.0"},
    {"passes": " 3 "},
    {"passes": "+3"},
    {"passes": "0x3"},
    {"passes": "1_0"},
    {"passes": "nan"},
    {"passes": "3\x00"},
    {"vacuum_kpa": "-1e400"},
    {"vacuum_kpa": "inf"},
    {"vacuum_kpa": "35,5"},
    {"vacuum_kpa": "3.5e1"},
    {"fitzpatrick": "IV"},
    {"fitzpatrick": "iv"},
    {"fitzpatrick": "1e400"},
    {"particle_flow": "2e308"},
    {"particle_flow": "-0"},
    {"satisfaction": "4294967296"},
    {"satisfaction": "5.0"},
    {"session_date": "2026-10-01T09:30"},
    {"session_date": "2026-1-05"},
    {"session_date": "2026/10/01"},
    {"session_date": "20261001"},
    {"session_date": "2026-02-30"},
    {"session_date": "2031-01-01"},
    {"session_date": "1999-12-31"},
    {"crystal_type": "Diamond-Tip", "particle_flow": ""},
    {"crystal_type": "  corundum  "},
    {"crystal_type": "CORUNDUM"},
    {"treatment_area": "décolletage"},
    {"side_effects": "Petechiae; none"},
    {"side_effects": "petechiae;;abrasion"},
    {"side_effects": "petechiae\x07"},
    {"follow_up_done": "Yes"},
    {"follow_up_done": "maybe"},
    {"clinician_id": "K1\x1b[2J"},
    {"session_id": "S\u202e9"},
    {"device_model": "x" * 5000},
    {"patient_id": ""},
    {"patient_id": "PN1\t2"},
    {"clinic_id": ""},
]


def snapshot_tables(settings: Settings) -> dict[str, list[tuple]]:
    """Every table of the current snapshot, rows sorted, without the columns that name the batch or time."""
    con = duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True)
    try:
        tables = [r[0] for r in con.execute("select table_name from duckdb_tables() order by 1").fetchall()]
        out = {}
        for table in tables:
            columns = [r[0] for r in con.execute(f'describe "{table}"').fetchall() if r[0] not in WHEN]
            listed = ", ".join(f'"{c}"' for c in columns)
            out[table] = con.execute(f'select {listed} from "{table}" order by all').fetchall()
        return out
    finally:
        con.close()


def load_both_ways(tmp_path, paths, monkeypatch, **options) -> tuple[dict, dict, list]:
    """Load ``paths`` through the one-pass path and through the text path into two fresh warehouses."""
    streamed = []
    real = etl.fastpath.stream_csv

    def spied(*args, **kwargs):
        streamed.append(args[0].name)
        return real(*args, **kwargs)

    fast = Settings.from_env(data_dir=tmp_path / "fast", memory_limit="1GB", threads=2)
    text = Settings.from_env(data_dir=tmp_path / "text", memory_limit="1GB", threads=2)
    monkeypatch.setattr(etl.fastpath, "stream_csv", spied)
    fast_result = ingest(paths, fast, today=TODAY, **options)
    monkeypatch.setattr(etl.fastpath, "stream_csv", lambda *_, **__: None)
    text_result = ingest(paths, text, today=TODAY, **options)
    counts = [(f.file, f.status, f.rows, f.inserted, f.unchanged, f.quarantined) for f in fast_result.files]
    assert counts == [
        (f.file, f.status, f.rows, f.inserted, f.unchanged, f.quarantined) for f in text_result.files
    ]
    return snapshot_tables(fast), snapshot_tables(text), streamed


@pytest.fixture(scope="module")
def messy_exports(tmp_path_factory):
    """Two clinics' generated exports with every quarantine reason planted among many good rows."""
    root = tmp_path_factory.mktemp("messy")
    frame = generate_sessions(clinics=2, patients=300, months=4, seed=17, end_month="2026-10")
    written = write_exports(frame, root, fmt="csv", messy_rate=0.05, seed=3)
    return sorted(root.rglob("*.csv")), written.planted


def test_a_messy_export_stores_the_same_sessions_quarantine_and_marts_as_the_text_path(
    tmp_path, messy_exports, monkeypatch
):
    paths, planted = messy_exports
    fast, text, streamed = load_both_ways(tmp_path, paths, monkeypatch)
    assert sorted(streamed) == sorted(p.name for p in paths)  # every file took the one pass
    reasons = {r[4] for r in fast["quarantine"]}  # file, row, column, value, reason, ...
    assert {p.reason for p in planted} - {"identical_repeat"} <= reasons
    for table in text:
        assert fast[table] == text[table], table
    assert len(fast["sessions"]) > 1000 and len(fast["quarantine"]) > 20


@pytest.mark.parametrize("delimiter", [",", ";"], ids=["comma", "semicolon"])
def test_every_awkward_value_is_typed_or_quarantined_as_the_text_path_does(tmp_path, monkeypatch, delimiter):
    header = [*FIELDS, "device_model", "birth_year", "session_number"]
    good = [row(session_id=f"G{i}", patient_id=f"PN2{i:07d}") for i in range(200)]
    odd = [
        row(**{"session_id": f"A{i}", "patient_id": f"PN3{i:07d}", **change})
        for i, change in enumerate(AWKWARD)
    ]
    odd += [
        row(session_id="D1", vacuum_kpa="30"),
        row(session_id="D1", vacuum_kpa="31"),
        row(session_id="G5"),
    ]
    path = write_csv(
        tmp_path / "in" / "awkward.csv", good[:100] + odd + good[100:], header=header, delimiter=delimiter
    )
    fast, text, streamed = load_both_ways(tmp_path, [path], monkeypatch)
    assert streamed == ["awkward.csv"]
    for table in text:
        assert fast[table] == text[table], table
    reasons = {r[4] for r in fast["quarantine"]}
    assert {"bad_type", "out_of_range", "bad_date", "future_date", "bad_characters", "too_long"} <= reasons
    assert {"missing_required", "unknown_category", "duplicate_in_file"} <= reasons


def test_a_ragged_file_falls_back_to_the_text_path_and_leaves_nothing_of_the_first_try(tmp_path, monkeypatch):
    path = write_csv(tmp_path / "in" / "ragged.csv", [row(session_id=f"S{i}") for i in range(50)])
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("ETB-01,S99,PN1\n")  # a record of three fields
    fast, text, streamed = load_both_ways(tmp_path, [path], monkeypatch)
    assert streamed == ["ragged.csv"]
    for table in text:
        assert fast[table] == text[table], table
    assert [(r[1], r[4]) for r in fast["quarantine"]] == [(51, "bad_shape")]


def test_a_vendor_csv_through_its_mapping_stores_the_same_as_the_text_path(tmp_path, monkeypatch):
    frame = generate_sessions(clinics=2, patients=150, months=2, seed=11, end_month="2026-10")
    written = write_vendor_exports(frame, tmp_path / "exports", messy_rate=0.06, seed=11)
    export = next(p for p in written.files if p.suffix == ".csv")
    mapping = next(p for p in written.mappings if p.name != "glow.toml")
    fast, text, streamed = load_both_ways(tmp_path, [export], monkeypatch, mapping=mapping)
    assert streamed == [export.name]
    for table in text:
        assert fast[table] == text[table], table
    assert fast["quarantine"] and fast["sessions"]
