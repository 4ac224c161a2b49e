"""A DuckDB engine spills into a private folder of its own and removes it, never into the working directory."""

from __future__ import annotations

from pathlib import Path

from derma.lake.engines import DuckDBEngine


def test_a_duckdb_engine_spills_into_a_private_folder_that_close_removes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    engine = DuckDBEngine(memory_limit="64MB")
    spill = Path(engine._spill)
    try:
        assert spill.stat().st_mode & 0o777 == 0o700
        assert engine.con.execute("select current_setting('temp_directory')").fetchall() == [(str(spill),)]
        # More than 64 MB of sorted text: DuckDB has to spill it.
        engine.materialise(
            "big", "select range as i, md5(range::varchar) as h from range(3000000) order by h"
        )
        assert engine.con.execute("select count(*) from duckdb_temporary_files()").fetchall()[0][0] > 0
        assert any(spill.iterdir())
    finally:
        engine.close()
    assert not spill.exists()
    assert list(tmp_path.iterdir()) == []  # nothing in the working directory (DuckDB's default is .tmp)


def test_a_named_spill_folder_is_the_callers_and_stays(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir(mode=0o700)
    engine = DuckDBEngine(memory_limit="64MB", temp_directory=str(folder))
    engine.close()
    assert folder.is_dir()
