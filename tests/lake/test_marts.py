"""``derma marts --lake``: every mart built from a lake's sessions, the same on DuckDB and on Spark."""

from __future__ import annotations

import json
import math

import duckdb
import pytest

from derma.lake.layout import Lake
from derma.lake.marts import build_lake_marts
from etl.export import read_manifest
from queries import list_queries
from tests.helpers import derma

MART_NAMES = sorted(q.name for q in list_queries("marts"))


def close(a, b, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def assert_same_marts(left: dict, right: dict) -> None:
    assert [m["name"] for m in left["marts"]] == [m["name"] for m in right["marts"]]
    for a, b in zip(left["marts"], right["marts"], strict=True):
        assert a["rows"] == b["rows"], a["name"]
        assert a["sums"].keys() == b["sums"].keys(), a["name"]
        for column in a["sums"]:
            assert close(a["sums"][column], b["sums"][column]), (a["name"], column, a["sums"], b["sums"])


def test_every_mart_has_the_same_rows_and_sums_on_duckdb_and_on_spark(lake_copy, spark):
    on_duckdb = build_lake_marts(lake_copy("duck"), "duckdb").to_dict()
    on_spark = build_lake_marts(lake_copy("spark"), "spark").to_dict()
    assert sorted(m["name"] for m in on_duckdb["marts"]) == MART_NAMES
    assert sum(m["rows"] for m in on_spark["marts"]) > 0
    assert_same_marts(on_duckdb, on_spark)


def test_the_lake_marts_equal_the_warehouse_marts_the_export_wrote(sample_lake, lake_copy, spark):
    """The lake's own marts (the warehouse's, exported) read back equal those Spark rebuilt from sessions."""
    lake = lake_copy()
    before = {}
    con = duckdb.connect()
    for name in MART_NAMES:
        table = Lake.open(sample_lake).table(name)
        before[name] = con.execute(
            "select count(*) from read_parquet($f, hive_partitioning = true)",
            {"f": [str(f) for f in table.files]},
        ).fetchone()[0]
    built = build_lake_marts(lake, "spark")
    assert {m.name: m.rows for m in built.marts} == before


def test_marts_are_written_back_with_the_export_layout_and_the_manifest_says_who_built_them(lake_copy, spark):
    lake = lake_copy()
    run = derma("marts", "--lake", str(lake), "--engine", "spark", "--format", "json", check_exit=0)
    printed = json.loads(run.stdout)
    assert printed["engine"] == "spark" and printed["lake"] == str(lake.absolute())
    manifest = read_manifest(lake)
    assert manifest["marts_built"]["engine"] == "spark"
    for name in MART_NAMES:
        entry = manifest["tables"][name]
        for file in entry["files"]:
            assert (lake / file["path"]).stat().st_size == file["bytes"]
        if "clinic_id" in entry["partition_by"]:
            assert all(p.name.startswith("clinic_id=") for p in (lake / name).iterdir())
    assert not [p for p in lake.rglob("*") if p.name == "_SUCCESS" or p.suffix == ".crc"]
    # DuckDB reads what Spark wrote: the rows the JSON says are there.
    con = duckdb.connect()
    for mart in printed["marts"]:
        files = [str(lake / f["path"]) for f in manifest["tables"][mart["name"]]["files"]]
        rows = (
            con.execute("select count(*) from read_parquet($f)", {"f": files}).fetchone()[0] if files else 0
        )
        assert rows == mart["rows"], mart["name"]


def test_a_folder_that_is_not_a_lake_is_one_clear_line(tmp_path):
    run = derma("marts", "--lake", str(tmp_path), "--format", "json")
    assert run.returncode == 1
    assert "is not a lake" in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_a_master_url_is_refused_for_duckdb(lake_copy):
    run = derma("marts", "--lake", str(lake_copy()), "--engine", "duckdb", "--master", "local[2]")
    assert run.returncode == 1 and "--master" in run.stderr


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_text_output_names_the_engine_and_each_mart(lake_copy, engine, spark):
    run = derma("marts", "--lake", str(lake_copy()), "--engine", engine, check_exit=0)
    assert f"on {engine}" in run.stdout
    for name in MART_NAMES:
        assert name in run.stdout


def test_spark_hands_a_result_to_python_through_parquet_in_order_and_leaves_nothing(
    sample_lake, tmp_path, spark
):
    """``SparkEngine.batches``: the executors write, Python reads a batch at a time, the folder goes."""
    import pyarrow as pa

    from derma.lake.engines import DuckDBEngine, SparkEngine
    from derma.lake.marts import register_inputs

    lake = Lake.open(sample_lake)
    sql = (
        "select clinic_id, session_id, satisfaction, cast(date_trunc('month', session_date) as timestamp) "
        "as month from sessions order by clinic_id, session_id"
    )
    engine = SparkEngine(result_dir=tmp_path)
    register_inputs(engine, lake)
    batches = list(engine.batches(sql, rows=500))
    expected_engine = DuckDBEngine()
    register_inputs(expected_engine, lake)
    try:
        expected = expected_engine.frame(sql)
    finally:
        expected_engine.close()
    assert len(expected) > 1000 and all(b.num_rows <= 500 for b in batches) and len(batches) > 2
    got = pa.Table.from_batches(batches).to_pandas()
    assert got["session_id"].tolist() == expected["session_id"].tolist()  # the query's order, kept
    assert got["satisfaction"].astype("Int64").equals(expected["satisfaction"].astype("Int64"))
    assert (got["month"].to_numpy() == expected["month"].to_numpy()).all()  # no time zone added
    assert list(tmp_path.iterdir()) == []  # the hand-over folder is removed
    assert sum(b.num_rows for b in engine.batches("select clinic_id from sessions where false")) == 0
