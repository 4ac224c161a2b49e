"""``derma ingest --dry-run``: exactly what the load would report, then nothing published and nothing left behind."""

from __future__ import annotations

import fcntl
import hashlib
import os
import stat
import tempfile
from pathlib import Path

import pytest

from etl.load import ingest
from etl.warehouse import LOCK_FILE, current_snapshot
from tests.helpers import TODAY, derma, row, write_csv


def listing(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder``: kind, mode, and a file's size and SHA-256 or a link's target."""
    out = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        key = str(path.relative_to(folder))
        if stat.S_ISLNK(info.st_mode):
            out[key] = ("link", os.readlink(path))
        elif stat.S_ISDIR(info.st_mode):
            out[key] = ("dir", stat.S_IMODE(info.st_mode))
        else:
            out[key] = (
                "file",
                stat.S_IMODE(info.st_mode),
                info.st_size,
                hashlib.sha256(path.read_bytes()).hexdigest(),
            )
    return out


@pytest.fixture
def loaded(tmp_path, settings):
    """A warehouse with one load, and a second batch that inserts, updates, repeats, quarantines and rejects."""
    first = [row(session_id=f"S{i}", patient_id=f"PN{i}") for i in range(1, 6)]
    ingest([write_csv(tmp_path / "first" / "a.csv", first)], settings, today=TODAY)
    second = [
        row(session_id="S1", patient_id="PN1"),  # unchanged
        row(session_id="S2", patient_id="PN2", satisfaction="5"),  # updated (a late survey answer)
        row(session_id="S9", patient_id="PN9"),  # inserted
        row(session_id="S10", patient_id="PN10", passes="9"),  # quarantined: out_of_range
        row(
            session_id="S11", patient_id="PN11", session_date="2026-13-01", crystal_type="glass"
        ),  # two rules
    ]
    batch = tmp_path / "second"
    write_csv(batch / "b.csv", second)
    (batch / "broken.csv").write_text("nothing,useful\n1,2\n")  # rejected whole: no required columns
    return batch


def test_a_dry_run_leaves_the_data_dir_byte_for_byte_as_it_was_and_reports_what_the_load_then_does(
    loaded, settings
):
    before = listing(settings.data_dir)
    snapshot = current_snapshot(settings.data_dir)
    dry = derma("ingest", str(loaded), "--dry-run", "--format", "json", data_dir=settings.data_dir)
    assert listing(settings.data_dir) == before
    assert current_snapshot(settings.data_dir) == snapshot
    real = derma("ingest", str(loaded), "--format", "json", "--skip-models", data_dir=settings.data_dir)
    assert dry.returncode == real.returncode == 1  # a file rejected whole: the same exit status
    dry_out, real_out = dry.json(), real.json()
    assert dry_out["dry_run"] is True and dry_out["snapshot"] is None
    assert real_out["dry_run"] is False and real_out["snapshot"] is not None
    assert dry_out["files"] == real_out["files"]
    assert dry_out["totals"] == real_out["totals"] == {
        "rows": 5, "inserted": 1, "updated": 1, "unchanged": 1, "quarantined": 2,
    }  # fmt: skip
    by_file = {f["file"]: f for f in dry_out["files"]}
    assert by_file["b.csv"]["reasons"] == {"bad_date": 1, "out_of_range": 1, "unknown_category": 1}
    assert by_file["broken.csv"]["status"] == "rejected"
    stored = derma("quarantine", "--format", "json", data_dir=settings.data_dir, check_exit=0).json()
    latest = [{k: q[k] for k in ("file", "row", "column", "value", "reason")} for q in stored
              if q["batch_id"] == real_out["batch_id"]]  # fmt: skip
    assert sorted(dry_out["quarantine"], key=str) == sorted(latest, key=str)


def test_a_dry_run_before_the_first_load_creates_no_data_dir(tmp_path, settings):
    export = write_csv(tmp_path / "in" / "a.csv", [row(), row(session_id="S2", passes="x")])
    result = ingest([export], settings, today=TODAY, dry_run=True)
    assert (result.files[0].inserted, result.files[0].quarantined) == (1, 1)
    assert result.quarantine == (("a.csv", 2, "passes", "x", "bad_type"),)
    assert not settings.data_dir.exists()


def test_a_dry_run_neither_waits_for_nor_takes_the_load_lock(loaded, settings):
    with open(settings.data_dir / LOCK_FILE, "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # a load is running
        result = ingest([loaded / "b.csv"], settings, today=TODAY, dry_run=True)
    assert result.totals["inserted"] == 1


def test_a_dry_run_removes_its_private_copy_and_spill_folder(loaded, settings, tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    seen = []

    def look(_result):  # while the dry run works: its folder is private
        folders = list(scratch.iterdir())
        seen.extend((p.name, stat.S_IMODE(p.stat().st_mode)) for p in folders)

    ingest([loaded / "b.csv"], settings, today=TODAY, dry_run=True, on_file=look)
    assert seen and all(name.startswith("derma-dry-run-") and mode == 0o700 for name, mode in seen)
    assert list(scratch.iterdir()) == []


def test_a_dry_run_with_a_broken_mapping_is_refused_like_the_load(loaded, settings, tmp_path):
    broken = tmp_path / "m.toml"
    broken.write_text('[source]\nname = "x"\n[columns]\n"A" = "nope"\n', encoding="utf-8")
    run = derma("ingest", str(loaded), "--dry-run", "--mapping", str(broken), data_dir=settings.data_dir)
    assert run.returncode == 1 and "m.toml: [columns].\"A\": 'nope' is not a column" in run.stderr


def test_the_text_of_a_dry_run_says_nothing_was_published_and_shows_the_quarantine(loaded, settings):
    run = derma("ingest", str(loaded / "b.csv"), "--dry-run", data_dir=settings.data_dir, check_exit=0)
    assert "dry run of batch" in run.stdout and "nothing was published" in run.stdout
    assert "quarantine: the first 3 of 3 record(s) (2 row(s))" in run.stdout
    assert "published snapshot" not in run.stdout
