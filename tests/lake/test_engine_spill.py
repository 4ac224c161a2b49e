"""A DuckDB engine keeps its database and spill in a private folder of its own and removes it, never
writing into the working directory."""

from __future__ import annotations

from pathlib import Path

from derma.lake.engines import DuckDBEngine


def test_a_duckdb_engine_spills_into_a_private_folder_that_close_removes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    engine = DuckDBEngine(memory_limit="64MB")
    spill = Path(engine._folder)
    try:
        assert spill.stat().st_mode & 0o777 == 0o700
        assert engine.con.execute("select current_setting('temp_directory')").fetchall() == [(str(spill),)]
        # More than 64 MB of sorted text: DuckDB has to spill it.
        engine.materialise(
            "big", "select range as i, md5(range::varchar) as h from range(3000000) order by h", scratch=True
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
    own = Path(engine._folder)  # the database file is still in the engine's own folder
    assert own != folder and (own / "engine.duckdb").is_file()
    engine.close()
    assert folder.is_dir()
    assert not own.exists()


def test_a_fits_tables_are_stored_in_the_engines_file_and_a_steps_staging_in_memory(tmp_path, monkeypatch):
    """Tables every step reads live in the engine's database file (evicted without being written again);
    scratch tables (a step's staging) are temporary, in memory."""
    monkeypatch.chdir(tmp_path)
    engine = DuckDBEngine(memory_limit="64MB")
    folder = Path(engine._folder)
    try:
        engine.materialise("patterns", "select range as i, range * 0.5 as x from range(200000)")
        engine.materialise("stage", "select i, x * 2 as y from patterns", scratch=True)
        where = dict(
            engine.con.execute(
                "select table_name, temporary from duckdb_tables() where table_name in ('patterns', 'stage')"
            ).fetchall()
        )
        assert where == {"patterns": False, "stage": True}
        assert (folder / "engine.duckdb").is_file()
        assert engine.frame("select count(*) as n, sum(y) as s from stage").iloc[0].tolist() == [
            200000,
            sum(range(200000)),
        ]
        engine.drop("patterns")
        engine.drop("stage")
        assert engine.con.execute("select count(*) from duckdb_tables()").fetchall() == [(0,)]
    finally:
        engine.close()
    assert not folder.exists()
    assert list(tmp_path.iterdir()) == []
