"""``derma sample --style vendor``: vendor-shaped exports with the mappings that load them."""

from __future__ import annotations

import shutil

import openpyxl

from tests.helpers import derma


def test_the_vendor_sample_writes_a_csv_and_a_workbook_vendor_with_mappings_that_load_them(tmp_path):
    out = tmp_path / "vendor"
    run = derma(
        "sample", "--style", "vendor", "--out", str(out), "--clinics", "2", "--patients", "80",
        "--months", "2", "--end-month", "2026-10", "--messy-rate", "0.05", check_exit=0,
    )  # fmt: skip
    assert "4 vendor-shaped file(s)" in run.stdout and "2 mapping(s)" in run.stdout
    names = sorted(p.name for p in out.iterdir() if p.is_file())
    assert names == [
        "acme_ETB-01_2026-09.csv", "acme_ETB-01_2026-10.csv", "glow_MUC-02_2026-09.xlsx", "glow_MUC-02_2026-10.xlsx",
    ]  # fmt: skip
    header = (out / "acme_ETB-01_2026-10.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith(
        "Appointment Ref,Client No.,Client Name,Practitioner,Date of Service,Media,Suction (inHg)"
    )
    book = openpyxl.load_workbook(out / "glow_MUC-02_2026-10.xlsx", read_only=True)
    assert book.sheetnames == ["Summary", "Treatments"]
    book.close()
    mappings = sorted((out / "mappings").iterdir())
    assert [p.name for p in mappings] == ["acme-ETB-01.toml", "glow.toml"]
    for mapping in mappings:
        derma("mapping", "check", str(mapping), check_exit=0)
    data = tmp_path / "data"
    shutil.copytree(out / "mappings", data / "mappings")
    loaded = derma(
        "ingest", str(out), "--format", "json", "--skip-models", data_dir=data, check_exit=0
    ).json()
    assert len(loaded["files"]) == 4 and all(
        f["status"] == "loaded" and f["mapping"] for f in loaded["files"]
    )
    assert loaded["totals"]["inserted"] > 0 and loaded["totals"]["quarantined"] > 0
    same = derma("sample", "--style", "vendor", "--out", str(tmp_path / "again"), "--clinics", "2", "--patients",
                 "80", "--months", "2", "--end-month", "2026-10", "--messy-rate", "0.05", check_exit=0)  # fmt: skip
    assert same.stdout.replace("again", "vendor") == run.stdout
    for name in names:  # the same arguments give the same bytes
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes()
