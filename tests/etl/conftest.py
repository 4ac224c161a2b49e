"""Fixtures of the sandbox tests: a small published snapshot, and a folder outside the warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.warehouse import connect


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A published snapshot with sessions (500 rows), clinics, devices and a view.

    Shared by the module: every test that could change it asserts it did not, so sharing only
    makes the check stricter (a change would also fail every later test).
    """
    path = tmp_path_factory.mktemp("warehouse") / "snapshots" / "20250101T000000Z.duckdb"
    path.parent.mkdir()
    con = connect(path, read_only=False)
    con.execute(
        """
        create table sessions as
        select i as session_id,
               'PT-' || lpad((i % 7)::varchar, 4, '0') as patient_id,
               ['ETB-01', 'ETB-02'][1 + i % 2] as clinic_id,
               date '2024-01-01' + (i % 300)::int as session_date,
               (20 + i % 40)::double as vacuum_kpa,
               i % 3 = 0 as side_effect
        from range(500) t(i)
        """
    )
    con.execute("create table clinics (clinic_id varchar, region varchar)")
    con.execute("insert into clinics values ('ETB-01', 'East'), ('ETB-02', 'West')")
    # A column literally named like a statement keyword: analysts must still be able to select it.
    con.execute("create table devices as select 'D1' as device_id, 35.0 as vacuum, 2 as load")
    con.execute(
        "create view recent_sessions as select * from sessions where session_date >= date '2024-06-01'"
    )
    con.execute("checkpoint")
    con.close()
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder a hostile statement would like to write to or read from."""
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder
