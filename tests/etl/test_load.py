"""Batches: counts that add up, idempotent re-loads, corrections, atomicity and crash safety."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from etl import load as load_module
from etl import warehouse
from etl.load import LoadError, ingest
from tests.helpers import TODAY, row, write_csv


def counts(settings) -> dict:
    con = duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True)
    out = {
        t: con.execute(f"select count(*) from {t}").fetchall()[0][0]
        for t in ("sessions", "quarantine", "load_batches", "load_files")
    }
    out["content"] = con.sql("select * exclude (batch_id, source_file) from sessions order by all").fetchall()
    con.close()
    return out


def month_file(tmp_path: Path, name: str, n: int, *, start: int = 0, bad_every: int = 0, **overrides) -> Path:
    rows = []
    for i in range(start, start + n):
        r = row(
            session_id=f"S{i:06d}",
            patient_id=f"PN{20000000 + i // 5:08d}",
            session_date=f"2026-{1 + (i % 9):02d}-{1 + (i % 27):02d}",
            **overrides,
        )
        if bad_every and i % bad_every == 0:
            r["passes"] = "9"
        rows.append(r)
    return write_csv(tmp_path / "in" / name, rows)


def test_every_row_is_inserted_updated_unchanged_or_quarantined(tmp_path, settings):
    month_file(tmp_path, "a.csv", 50, bad_every=7)
    month_file(tmp_path, "b.csv", 30, start=100)
    result = ingest([tmp_path / "in"], settings, today=TODAY)
    for f in result.files:
        assert f.inserted + f.updated + f.unchanged + f.quarantined == f.rows
    assert result.totals == {"rows": 80, "inserted": 72, "updated": 0, "unchanged": 0, "quarantined": 8}
    assert counts(settings)["sessions"] == 72


def test_reloading_the_same_files_changes_nothing(tmp_path, settings):
    month_file(tmp_path, "a.csv", 40, bad_every=9)
    ingest([tmp_path / "in"], settings, today=TODAY)
    before = counts(settings)
    again = ingest([tmp_path / "in"], settings, today=TODAY)
    assert again.totals["inserted"] == again.totals["updated"] == 0
    assert again.totals["unchanged"] == 40 - again.totals["quarantined"]
    after = counts(settings)
    assert after["content"] == before["content"]
    assert after["sessions"] == before["sessions"]


def test_a_corrected_row_replaces_the_stored_one(tmp_path, settings):
    month_file(tmp_path, "a.csv", 10, satisfaction="")
    ingest([tmp_path / "in"], settings, today=TODAY)
    corrected = tmp_path / "fix" / "a.csv"
    write_csv(
        corrected,
        [row(session_id="S000003", patient_id="PN20000000", session_date="2026-04-04", satisfaction="5")],
    )
    result = ingest([corrected], settings, today=TODAY)
    assert (result.totals["updated"], result.totals["inserted"]) == (1, 0)
    con = duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True)
    got = con.sql("select satisfaction, batch_id from sessions where session_id = 'S000003'").fetchall()
    assert got == [(5, result.batch_id)]
    assert con.execute("select count(*) from sessions").fetchall()[0][0] == 10


def test_a_later_file_in_the_same_batch_wins(tmp_path, settings):
    write_csv(tmp_path / "in" / "1.csv", [row(satisfaction="2")])
    write_csv(tmp_path / "in" / "2.csv", [row(satisfaction="5")])
    result = ingest([tmp_path / "in"], settings, today=TODAY)
    assert [(f.inserted, f.updated) for f in result.files] == [(1, 0), (0, 1)]
    con = duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True)
    assert con.sql("select satisfaction from sessions").fetchall() == [(5,)]


def test_a_failure_mid_batch_publishes_nothing(tmp_path, settings, monkeypatch):
    month_file(tmp_path, "a.csv", 20)
    ingest([tmp_path / "in"], settings, today=TODAY)
    before_snapshot = warehouse.current_snapshot(settings.data_dir)
    before = counts(settings)
    month_file(tmp_path, "b.csv", 20, start=100)
    month_file(tmp_path, "c.csv", 20, start=200)
    real = load_module._load_file
    calls = []

    def failing(con, path, *args):
        calls.append(path.name)
        if len(calls) == 3:
            raise OSError("disk went away")
        return real(con, path, *args)

    monkeypatch.setattr(load_module, "_load_file", failing)
    with pytest.raises(OSError):
        ingest([tmp_path / "in"], settings, today=TODAY)
    assert warehouse.current_snapshot(settings.data_dir) == before_snapshot
    assert counts(settings) == before
    assert not list((settings.data_dir / "snapshots").glob(".building-*"))


def test_a_failing_after_load_step_publishes_nothing(tmp_path, settings):
    month_file(tmp_path, "a.csv", 5)

    def broken(con):
        raise RuntimeError("mart failed")

    with pytest.raises(RuntimeError):
        ingest([tmp_path / "in"], settings, today=TODAY, after_load=broken)
    assert warehouse.current_snapshot(settings.data_dir) is None


def test_old_snapshots_are_pruned_to_the_configured_number(tmp_path, settings):
    from dataclasses import replace

    settings = replace(settings, keep_snapshots=2)
    for i in range(4):
        path = write_csv(tmp_path / f"m{i}.csv", [row(session_id=f"S{i}")])
        ingest([path], settings, today=TODAY)
    snaps = warehouse.list_snapshots(settings.data_dir)
    assert len(snaps) == 2
    assert warehouse.current_snapshot(settings.data_dir).path == snaps[-1].path


def test_a_second_load_at_the_same_time_is_refused_with_a_clear_message(tmp_path, settings):
    path = write_csv(tmp_path / "a.csv", [row()])
    with (
        warehouse.load_lock(settings.data_dir),
        pytest.raises(warehouse.WarehouseError, match="another load is running"),
    ):
        ingest([path], settings, today=TODAY)


def test_no_export_files_is_a_clear_error(tmp_path, settings):
    (tmp_path / "empty").mkdir()
    with pytest.raises(LoadError, match="no export files"):
        ingest([tmp_path / "empty"], settings)
    with pytest.raises(LoadError, match="no such file"):
        ingest([tmp_path / "missing.csv"], settings)


READER = textwrap.dedent("""
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    print(con.execute("select count(*) from sessions").fetchall()[0][0], flush=True)
    sys.stdin.readline()
    print(con.execute("select count(*) from sessions").fetchall()[0][0], flush=True)
    fresh = duckdb.connect(sys.argv[1], read_only=True)
    print(fresh.execute("select count(*) from sessions").fetchone()[0], flush=True)
""")


def test_a_reader_holding_the_warehouse_never_blocks_a_load_and_keeps_its_snapshot(tmp_path, settings):
    month_file(tmp_path, "a.csv", 10)
    ingest([tmp_path / "in"], settings, today=TODAY)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(settings.data_dir / "warehouse.duckdb")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "10"
        month_file(tmp_path, "b.csv", 5, start=100)
        ingest([tmp_path / "in"], settings, today=TODAY)  # would fail with a lock error if it wrote in place
        out, _ = reader.communicate("go\n", timeout=60)
    finally:
        reader.kill()
    # The old connection keeps reading the snapshot it opened; a new one sees the new data.
    assert out.split() == ["10", "15"]


def big_file(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "big" / "ETB-01_2026-09.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"""copy (select 'ETB-01' as clinic_id, 'B' || i as session_id, 'PN' || lpad((30000000 + i // 6)::varchar, 8, '0')
                    as patient_id, 'K1' as clinician_id, date '2026-09-01' + (i % 29)::int as session_date,
                    'corundum' as crystal_type, 20 + i % 30 as vacuum_kpa, 1 + i % 4 as passes, 'face' as treatment_area,
                    'wrinkles' as indication, 1 + i % 6 as fitzpatrick, 50 as particle_flow
                    from range({n}) r(i)) to '{path}' (header)""")
    return path


CRASH_POINTS = [
    "after_file",
    "before_checkpoint",
    "before_rename",
    "after_rename",
    "before_link_swap",
    "after_link_swap",
]


def run_cli_ingest(path: Path, settings, env_extra: dict) -> subprocess.CompletedProcess:
    env = {**os.environ, "DERMA_DATA_DIR": str(settings.data_dir), **env_extra}
    return subprocess.run(
        [sys.executable, "-m", "derma.cli", "ingest", str(path), "--skip-models"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_load_killed_at_any_step_leaves_a_serving_snapshot_and_the_next_load_converges(
    tmp_path, settings, point
):
    first = month_file(tmp_path, "a.csv", 10)
    ingest([first], settings, today=TODAY)
    before = counts(settings)
    second = write_csv(tmp_path / "second" / "b.csv", [row(session_id="NEW", session_date="2026-10-05")])
    killed = run_cli_ingest(second, settings, {"DERMA_CRASH_AT": point})
    assert killed.returncode == -9
    served = counts(settings)  # the link always names a complete snapshot
    assert served["sessions"] in (before["sessions"], before["sessions"] + 1)
    if point in ("after_file", "before_checkpoint", "before_rename", "after_rename", "before_link_swap"):
        assert served == before
    result = ingest([second], settings, today=TODAY)
    assert result.totals["inserted"] + result.totals["unchanged"] == 1
    assert counts(settings)["sessions"] == before["sessions"] + 1
    assert not list((settings.data_dir / "snapshots").glob(".building-*"))
    assert not (settings.data_dir / warehouse.WORK_DIR).exists()


def test_a_load_killed_at_random_moments_never_corrupts_the_warehouse(tmp_path, settings):
    ingest([month_file(tmp_path, "a.csv", 10)], settings, today=TODAY)
    before = counts(settings)
    path = big_file(tmp_path, 150_000)
    env = {**os.environ, "DERMA_DATA_DIR": str(settings.data_dir)}
    for delay in (0.3, 0.8, 1.5):
        proc = subprocess.Popen(
            [sys.executable, "-m", "derma.cli", "ingest", str(path), "--skip-models"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.kill()
        proc.wait()
        now = counts(settings)
        assert now["sessions"] in (before["sessions"], before["sessions"] + 150_000)
    result = ingest([path], settings, today=TODAY)
    assert result.totals["rows"] == 150_000
    assert counts(settings)["sessions"] == before["sessions"] + 150_000
