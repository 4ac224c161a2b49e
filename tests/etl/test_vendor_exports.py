"""Vendor exports through their mappings load exactly as the same files converted by hand.

Acme's CSV and Glow's workbook (``sample_data/vendors.py``, with planted messy rows) are loaded three
ways into separate warehouses under one key: through their mapping given with ``--mapping``, through
the mapping matched from ``<data dir>/mappings/``, and as the export format after a hand conversion
(``tests/etl/vendor_support.py``). The stored sessions (every normalised value, pseudonym and source
row) and the load counts must be identical; the quarantine must hold the same rows, columns and
reasons, with the original vendor cell as the value where the mapping transformed the column.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from etl.load import ingest
from etl.settings import Settings
from sample_data.generator import generate_sessions
from sample_data.vendors import write_vendor_exports
from tests.etl.vendor_support import convert_acme, convert_glow, stored, vendor_cells
from tests.helpers import TODAY, derma

KEY = "vendor-test-key"
ACME = "acme_ETB-01_2026-10.csv"
GLOW = "glow_MUC-02_2026-10.xlsx"
#: Vendor header of each column the mappings transform (the quarantine shows these cells as written).
TRANSFORMED = {
    ACME: {
        "session_date": "Date of Service",
        "crystal_type": "Media",
        "treatment_area": "Area",
        "indication": "Concern",
        "fitzpatrick": "Skin Type",
        "satisfaction": "Client Rating",
        "side_effects": "Reactions",
        "soothing_mask": "Cooling Mask",
        "follow_up_done": "Follow-up Call",
    },
    GLOW: {
        "session_date": "Visit Date",
        "crystal_type": "Crystal",
        "treatment_area": "Zone",
        "satisfaction": "Satisfaction (1-5)",
        "side_effects": "Side Effects",
    },
}

#: The vendor's columns that are never stored (names, e-mail, free text), dropped at the door.
PROTECTED = {ACME: ("Client Name", "Notes"), GLOW: ("Patient E-mail",)}


@pytest.fixture(scope="module")
def vendor(tmp_path_factory):
    """One October file per vendor (ETB-01 by Acme, MUC-02 by Glow), 6 % of rows spoiled, and their mappings."""
    folder = tmp_path_factory.mktemp("vendor")
    frame = generate_sessions(clinics=2, patients=150, months=2, seed=11, end_month="2026-10")
    frame = frame[frame["session_date"].dt.month == 10]
    result = write_vendor_exports(frame, folder / "exports", messy_rate=0.06, seed=11)
    return result


def settings_in(folder: Path) -> Settings:
    return Settings(data_dir=folder / "data", secret_key=KEY, memory_limit="1GB", threads=2)


def counts(result) -> list[tuple]:
    keys = ("rows", "inserted", "updated", "unchanged", "quarantined")
    return [(*(getattr(f, k) for k in keys), f.reasons) for f in result.files]


def by_hand(vendor, name: str, folder: Path) -> Path:
    source = vendor.files[[p.name for p in vendor.files].index(name)]
    target = folder / "by-hand" / name.replace(".xlsx", ".csv")
    return convert_acme(source, target, "ETB-01") if name == ACME else convert_glow(source, target)


@pytest.mark.parametrize("name", [ACME, GLOW])
def test_a_vendor_export_loads_through_its_mapping_exactly_as_by_hand(vendor, name, tmp_path):
    export = next(p for p in vendor.files if p.name == name)
    mapping = next(p for p in vendor.mappings if (p.name == "glow.toml") == (name == GLOW))
    given = settings_in(tmp_path / "given")
    through = ingest([export], given, today=TODAY, mapping=mapping)
    matched_settings = settings_in(tmp_path / "matched")
    (matched_settings.data_dir / "mappings").mkdir(parents=True)
    for path in vendor.mappings:
        shutil.copy(path, matched_settings.data_dir / "mappings" / path.name)
    matched = ingest([export], matched_settings, today=TODAY)
    hand_settings = settings_in(tmp_path / "hand")
    hand = ingest([by_hand(vendor, name, tmp_path)], hand_settings, today=TODAY)

    assert through.files[0].mapping == matched.files[0].mapping != None  # noqa: E711
    assert hand.files[0].mapping is None
    assert counts(through) == counts(matched) == counts(hand)
    assert through.files[0].quarantined > 0 and through.files[0].unchanged > 0  # messy rows and a repeat
    assert through.files[0].dropped_columns == matched.files[0].dropped_columns == PROTECTED[name]
    sessions, quarantine = stored(given.data_dir)
    hand_sessions, hand_quarantine = stored(hand_settings.data_dir)
    assert sessions == hand_sessions and len(sessions) == through.files[0].inserted
    assert stored(matched_settings.data_dir) == (sessions, quarantine)
    assert [q[:2] + q[3:] for q in quarantine] == [q[:2] + q[3:] for q in hand_quarantine]
    cells = vendor_cells(export)
    for row, column, value, _reason in quarantine:
        header = TRANSFORMED[name].get(column)
        if header is not None:  # the original cell, as the vendor wrote it
            assert value == cells[row - 1][header], (row, column)
    planted = {(d.row, d.column, d.reason) for d in vendor.planted if d.file == name and d.column}
    assert planted <= {(row, column, reason) for row, column, _value, reason in quarantine}


def test_a_workbook_is_read_from_the_mappings_sheet_not_the_summary_before_it(vendor, tmp_path):
    export = next(p for p in vendor.files if p.name == GLOW)
    plain = ingest([export], settings_in(tmp_path / "plain"), today=TODAY)
    assert plain.files[0].status == "rejected" and "missing required column" in plain.files[0].reason
    broken = tmp_path / "wrong-sheet.toml"
    text = next(p for p in vendor.mappings if p.name == "glow.toml").read_text()
    broken.write_text(text.replace('sheet = "Treatments"', 'sheet = "Visits"'))
    result = ingest([export], settings_in(tmp_path / "wrong"), today=TODAY, mapping=broken)
    assert result.files[0].status == "rejected"
    assert 'no sheet named "Visits" (the workbook has "Summary", "Treatments")' in result.files[0].reason


def test_the_vendor_sample_loads_by_matching_through_the_cli_and_records_each_mapping(vendor, tmp_path):
    settings = settings_in(tmp_path)
    (settings.data_dir / "mappings").mkdir(parents=True)
    for path in vendor.mappings:
        shutil.copy(path, settings.data_dir / "mappings" / path.name)
    run = derma(
        "ingest",
        str(vendor.files[0].parent),
        "--format",
        "json",
        "--skip-models",
        data_dir=settings.data_dir,
        env={"DERMA_SECRET_KEY": KEY},
    )
    assert run.returncode == 0, run.stderr
    files = {f["file"]: f for f in run.json()["files"]}
    assert set(files) == {ACME, GLOW} and all(f["status"] == "loaded" for f in files.values())
    assert files[ACME]["mapping"]["name"] == "Acme Aesthetics export (ETB-01)"
    assert files[GLOW]["mapping"]["name"] == "Glow Clinic Suite export"
    con = duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True)
    lineage = con.execute("select file, mapping_name, mapping_sha256 from load_files").fetchall()
    con.close()
    for file, name, sha in lineage:
        mapping = next(p for p in vendor.mappings if (p.name == "glow.toml") == file.startswith("glow"))
        assert sha == hashlib.sha256(mapping.read_bytes()).hexdigest()
        assert name == files[file]["mapping"]["name"]


def test_the_same_bytes_through_a_changed_mapping_are_read_again(tmp_path):
    frame = generate_sessions(clinics=1, patients=60, months=1, seed=3, end_month="2026-10")
    clean = write_vendor_exports(frame, tmp_path / "clean", messy_rate=0.0)  # no row set aside by a date rule
    export, mapping = clean.files[0], clean.mappings[0]
    settings = settings_in(tmp_path)
    first = ingest([export], settings, today=TODAY, mapping=mapping)
    again = ingest([export], settings, today=TODAY, mapping=mapping)
    assert again.files[0].same_as_batch == first.batch_id  # same bytes, same mapping: counts reused
    changed = tmp_path / "changed.toml"
    changed.write_text(mapping.read_text().replace('"Dull Skin" = "texture"', '"Dull Skin" = "wrinkles"'))
    third = ingest([export], replace(settings), today=TODAY, mapping=changed)
    assert third.files[0].same_as_batch is None and third.files[0].updated > 0


def test_an_older_snapshot_gains_the_mapping_columns_at_its_next_load(tmp_path):
    frame = generate_sessions(clinics=1, patients=60, months=2, seed=3, end_month="2026-10")
    written = write_vendor_exports(frame, tmp_path / "exports", messy_rate=0.0)
    september, october = sorted(written.files)
    settings = settings_in(tmp_path)
    ingest([september], settings, today=TODAY, mapping=written.mappings[0])
    con = duckdb.connect(str(settings.data_dir / "warehouse.duckdb"))
    con.execute("alter table load_files drop column mapping_name")  # as a snapshot before mappings
    con.execute("alter table load_files drop column mapping_sha256")
    con.close()

    ingest([october], settings, today=TODAY, mapping=written.mappings[0])
    con = duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True)
    lineage = con.execute(
        "select file, mapping_name, mapping_sha256 from load_files order by file"
    ).fetchall()
    con.close()
    digest = hashlib.sha256(written.mappings[0].read_bytes()).hexdigest()
    assert lineage == [
        (september.name, None, None),
        (october.name, "Acme Aesthetics export (ETB-01)", digest),
    ]
