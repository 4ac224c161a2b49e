"""``derma export``: hive-partitioned Parquet of the marts that a second engine (DataFusion) reads identically.

The second engine and the analyst SQL it runs live in ``tests/etl/second_engine.py`` (shared with
``bench/export.py``, which times the same queries on both engines).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot

from derma.lake.transpile import duckdb_macros, to_datafusion
from etl.export import MANIFEST, SOURCES, ExportError, export_marts, exportable_tables, read_manifest
from etl.warehouse import connect_current, current_snapshot
from queries import bind_params, get_query, list_queries
from tests.etl.second_engine import (
    ANALYST_QUERIES,
    NAMED_ANALYSES,
    assert_same_result,
    datafusion_context,
    duckdb_over_parquet,
)
from tests.helpers import derma

# ---------------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def export_dir(sample_warehouse, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "marts"
    export_marts(current_snapshot(sample_warehouse.data_dir).path, out)
    return out


@pytest.fixture(scope="module")
def warehouse(sample_warehouse):
    _, con = connect_current(sample_warehouse.data_dir)
    yield con
    con.close()


@pytest.fixture(scope="module")
def datafusion(export_dir):
    return datafusion_context(export_dir)


def _siblings(out: Path) -> list[str]:
    """Anything an export left next to ``out`` besides ``out`` itself and its lock file (temporary folders)."""
    return sorted(
        p.name
        for p in out.parent.iterdir()
        if p.name not in (out.name, f".{out.name}.export.lock") and p.name.startswith(f".{out.name}")
    )


# ---------------------------------------------------------------------------------------------------
# The export itself
# ---------------------------------------------------------------------------------------------------


def test_the_export_holds_every_mart_and_sessions_with_hive_folders_per_clinic(
    export_dir, warehouse, sample_warehouse
):
    manifest = read_manifest(export_dir)
    marts = [q.name for q in list_queries("marts")]
    assert (
        list(manifest["tables"])
        == exportable_tables()
        == [*marts, "sessions", "load_batches", "quarantined_files"]
    )
    assert manifest["snapshot"] == current_snapshot(sample_warehouse.data_dir).snapshot_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", manifest["exported_at"])
    assert manifest["software_version"] and manifest["marts_current"] is True
    clinics = {r[0] for r in warehouse.execute("select distinct clinic_id from sessions").fetchall()}
    assert "ETB-01" in clinics
    for name, table in manifest["tables"].items():
        relation = f"({SOURCES[name]})" if name in SOURCES else f'"{name}"'
        described = warehouse.execute(f"describe select * from {relation}").fetchall()
        assert [c["name"] for c in table["columns"]] == [r[0] for r in described], name
        assert table["rows"] == warehouse.execute(f"select count(*) from {relation}").fetchone()[0], name
        for file in table["files"]:
            assert (export_dir / file["path"]).stat().st_size == file["bytes"]
        if any(r[0] == "clinic_id" for r in described):
            assert table["partition_by"] == ["clinic_id"]
            folders = {p.name for p in (export_dir / name).iterdir()}
            expected = {
                r[0] for r in warehouse.execute(f"select distinct clinic_id from {relation}").fetchall()
            }
            assert folders == {f"clinic_id={c}" for c in expected}, name
            assert all(
                re.fullmatch(rf"{name}/clinic_id=[^/]+/data_0\.parquet", f["path"]) for f in table["files"]
            )
        else:
            assert table["partition_by"] == [] and [f["path"] for f in table["files"]] == [
                f"{name}/data_0.parquet"
            ]
    assert (export_dir / "sessions" / "clinic_id=ETB-01" / "data_0.parquet").is_file()
    assert sorted(p.name for p in export_dir.iterdir()) == sorted([*manifest["tables"], MANIFEST])


def test_the_lake_inputs_besides_sessions_hold_no_rejected_value_or_patient_key(export_dir):
    tables = read_manifest(export_dir)["tables"]
    assert [c["name"] for c in tables["quarantined_files"]["columns"]] == ["file", "clinic_id"]
    assert "patient_key" not in {c["name"] for c in tables["load_batches"]["columns"]}


def test_integer_sums_that_duckdb_keeps_as_hugeint_are_exported_as_exact_bigints(export_dir):
    columns = {c["name"]: c for c in read_manifest(export_dir)["tables"]["monthly_outcomes"]["columns"]}
    assert columns["rating_sum"] == {"name": "rating_sum", "type": "BIGINT", "warehouse_type": "HUGEINT"}
    assert columns["clinic_id"]["type"] == "VARCHAR" and "warehouse_type" not in columns["sessions"]


def test_two_exports_of_one_snapshot_are_byte_identical_file_by_file(sample_warehouse, export_dir, tmp_path):
    again = export_marts(current_snapshot(sample_warehouse.data_dir).path, tmp_path / "again").manifest()
    first = read_manifest(export_dir)
    for manifest in (first, again):
        manifest.pop("exported_at")
    assert again == first  # the manifest lists every file's sha256


def test_only_the_chosen_tables_are_exported(sample_warehouse, tmp_path):
    result = export_marts(
        current_snapshot(sample_warehouse.data_dir).path,
        tmp_path / "out",
        tables=["sessions", "monthly_patients"],
    )
    assert [t.name for t in result.tables] == ["monthly_patients", "sessions"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [MANIFEST, "monthly_patients", "sessions"]
    with pytest.raises(ExportError, match="cannot export 'quarantine': not a mart or sessions"):
        export_marts(
            current_snapshot(sample_warehouse.data_dir).path, tmp_path / "bad", tables=["quarantine"]
        )
    assert not (tmp_path / "bad").exists() and _siblings(tmp_path / "bad") == []


def test_the_folder_a_killed_export_left_behind_is_removed_by_the_next(sample_warehouse, tmp_path):
    leftover = tmp_path / ".out.export-deadbeef0000"
    (leftover / "sessions").mkdir(parents=True)
    (leftover / "sessions" / "data_0.parquet").write_bytes(b"half-written")
    export_marts(
        current_snapshot(sample_warehouse.data_dir).path, tmp_path / "out", tables=["monthly_patients"]
    )
    assert not leftover.exists() and _siblings(tmp_path / "out") == []


def test_an_export_to_a_file_fails_and_leaves_nothing(sample_warehouse, tmp_path):
    target = tmp_path / "out"
    target.write_text("not a folder", encoding="utf-8")
    with pytest.raises(ExportError, match="it is a file, not a folder"):
        export_marts(current_snapshot(sample_warehouse.data_dir).path, target)
    assert target.read_text(encoding="utf-8") == "not a folder"
    assert _siblings(target) == []


def test_an_export_failing_half_way_leaves_no_partial_folder(sample_warehouse, tmp_path, monkeypatch):
    import etl.export

    real = etl.export._export_table

    def fail_at_sessions(con, name, staging):
        if name == "sessions":  # every mart is written by now
            assert any(staging.iterdir())
            raise ExportError("disk full (forced)")
        return real(con, name, staging)

    monkeypatch.setattr(etl.export, "_export_table", fail_at_sessions)
    target = tmp_path / "out"
    with pytest.raises(ExportError, match="forced"):
        export_marts(current_snapshot(sample_warehouse.data_dir).path, target)
    assert not target.exists() and _siblings(target) == []


def test_a_failed_overwrite_keeps_the_earlier_export(sample_warehouse, tmp_path, monkeypatch):
    import etl.export

    snapshot = current_snapshot(sample_warehouse.data_dir).path
    target = tmp_path / "out"
    export_marts(snapshot, target, tables=["monthly_patients"])
    before = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}

    def fail(con, name, staging):
        raise ExportError("forced")

    monkeypatch.setattr(etl.export, "_export_table", fail)
    with pytest.raises(ExportError, match="forced"):
        export_marts(snapshot, target, overwrite=True)
    assert {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()} == before
    assert _siblings(target) == []


def test_a_non_empty_folder_is_refused_and_only_an_earlier_export_is_overwritten(sample_warehouse, tmp_path):
    snapshot = current_snapshot(sample_warehouse.data_dir).path
    target = tmp_path / "out"
    export_marts(snapshot, target, tables=["monthly_patients"])
    with pytest.raises(ExportError, match="is not empty; use --overwrite"):
        export_marts(snapshot, target, tables=["unit_patients"])
    (target / "stale.txt").write_text("from the earlier export", encoding="utf-8")
    export_marts(snapshot, target, tables=["unit_patients"], overwrite=True)
    assert sorted(p.name for p in target.iterdir()) == [MANIFEST, "unit_patients"]
    assert _siblings(target) == []

    someone_elses = tmp_path / "home"
    (someone_elses / "notes").mkdir(parents=True)
    with pytest.raises(ExportError, match="holds no earlier export"):
        export_marts(snapshot, someone_elses, overwrite=True)
    assert [p.name for p in someone_elses.iterdir()] == ["notes"]

    empty = tmp_path / "empty"
    empty.mkdir()
    export_marts(snapshot, empty, tables=["monthly_patients"])
    assert (empty / MANIFEST).is_file()


def test_no_raw_patient_number_reaches_any_exported_byte(export_dir):
    # Patient numbers look like PN10549719 in the exports; six digits keep random bytes of compressed
    # pages from matching by chance (about 1e-13 per position).
    pattern = re.compile(rb"PN[0-9]{6,}")
    sample = Path(__file__).parents[2] / "sample_data" / "sample"
    assert any(pattern.search(p.read_bytes()) for p in sample.glob("*.csv")), "the check would see one"
    files = [p for p in export_dir.rglob("*") if p.is_file()]
    assert files and not [
        p for p in files if pattern.search(p.read_bytes()) or pattern.search(str(p).encode())
    ]
    # Parquet pages are compressed: look at every decoded text value too.
    con = duckdb_over_parquet(export_dir)
    for name, table in read_manifest(export_dir)["tables"].items():
        for column in table["columns"]:
            if column["type"] in ("VARCHAR", "VARCHAR[]"):
                value = (
                    f"array_to_string(\"{column['name']}\", ',')"
                    if column["type"] == "VARCHAR[]"
                    else f'"{column["name"]}"'
                )
                hits = con.execute(
                    f"select count(*) from \"{name}\" where regexp_matches({value}, 'PN[0-9]{{6,}}')"
                ).fetchone()[0]
                assert hits == 0, f"{name}.{column['name']}"


def test_derma_export_prints_the_manifest_and_records_one_audit_entry(sample_warehouse, tmp_path):
    from etl.audit import read
    from etl.settings import Settings

    out = tmp_path / "cli-export"
    data_dir = str(sample_warehouse.data_dir)
    done = derma("export", "--out", str(out), "--format", "json", "--data-dir", data_dir, check_exit=0)
    manifest = json.loads(done.stdout)
    assert manifest == read_manifest(out)
    total = sum(t["rows"] for t in manifest["tables"].values())
    records = [
        r for r in read(Settings.from_env().audit_path) if r["action"] == "export" and r["what"] == "marts"
    ]
    assert len(records) == 1
    assert records[0]["params"] == {"out": str(out), "tables": list(manifest["tables"])}
    assert records[0]["rows"] == total and records[0]["outcome"] == "ok"

    again = derma("export", "--out", str(out), "--data-dir", data_dir, check_exit=1)
    assert again.stderr.strip().count("\n") == 0
    assert "is not empty; use --overwrite" in again.stderr

    text = derma("export", "--out", str(out), "--overwrite", "--data-dir", data_dir, check_exit=0)
    assert "sessions" in text.stdout and f"{total} rows" in text.stdout


# ---------------------------------------------------------------------------------------------------
# The second engine reads it identically
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ANALYST_QUERIES))
def test_datafusion_over_the_export_answers_analyst_queries_as_duckdb_does(name, datafusion, warehouse):
    sql = ANALYST_QUERIES[name]
    expected = warehouse.sql(sql).to_arrow_table()
    actual = datafusion.sql(to_datafusion(sql)).to_arrow_table()
    assert expected.num_rows > 0
    assert_same_result(actual, expected)


@pytest.mark.parametrize(
    ("name", "values"), NAMED_ANALYSES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(NAMED_ANALYSES)]
)
def test_named_analyses_run_on_datafusion_with_the_same_results(name, values, datafusion, warehouse):
    query = get_query(name)
    params = bind_params(query, values)
    expected = warehouse.sql(query.sql, params=params).to_arrow_table()
    actual = datafusion.sql(to_datafusion(query.sql, duckdb_macros(warehouse), params)).to_arrow_table()
    assert expected.num_rows > 0
    assert_same_result(actual, expected)


def test_datafusion_reads_every_exported_table_back_as_the_warehouse_holds_it(
    export_dir, datafusion, warehouse
):
    for name, table in read_manifest(export_dir)["tables"].items():
        columns = [c["name"] for c in table["columns"]]
        # The warehouse side with the export's exact-integer narrowing (HUGEINT sums -> BIGINT).
        wanted = ", ".join(
            f'cast("{c["name"]}" as {c["type"]}) as "{c["name"]}"'
            if "warehouse_type" in c
            else f'"{c["name"]}"'
            for c in table["columns"]
        )
        relation = f"({SOURCES[name]})" if name in SOURCES else f'"{name}"'
        expected = warehouse.sql(f"select {wanted} from {relation}").to_arrow_table()
        actual = datafusion.sql(
            f'select {", ".join(chr(34) + c + chr(34) for c in columns)} from "{name}"'
        ).to_arrow_table()
        if "side_effects" in columns:  # lists do not sort; compare them as text
            expected, actual = (
                t.set_column(
                    t.column_names.index("side_effects"),
                    "side_effects",
                    pa.array(
                        [None if v is None else "|".join(v) for v in t.column("side_effects").to_pylist()]
                    ),
                )
                for t in (expected, actual)
            )
        assert_same_result(actual, expected)


def test_a_silently_dropped_construct_fails_the_transpile_instead():
    with pytest.raises(sqlglot.errors.UnsupportedError):
        to_datafusion("select clinic_id, first(x) respect nulls from t group by all")
    assert "ANY_VALUE(planned_sessions)" in to_datafusion("select any_value(planned_sessions) from t")


@pytest.mark.parametrize("name", sorted(ANALYST_QUERIES))
def test_duckdb_over_the_parquet_answers_as_over_the_warehouse(name, export_dir, warehouse):
    con = duckdb_over_parquet(export_dir)
    try:
        assert_same_result(
            con.sql(ANALYST_QUERIES[name]).to_arrow_table(),
            warehouse.sql(ANALYST_QUERIES[name]).to_arrow_table(),
        )
    finally:
        con.close()
