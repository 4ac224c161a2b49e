"""``derma models --lake``: every model of a scope fitted on a lake by the named engine, reported as ``derma models``.

The sessions stay in the engine (:func:`derma.lake.results.fit_everything_on`); the control charts read
the lake's ``monthly_outcomes`` mart as the warehouse's refresh reads its own. The results are put into a
private in-memory DuckDB holding the warehouse's model tables, and the same named queries that print
``derma models --format json`` read them back, so the two commands give one JSON shape. The model
tables are then written into the lake (one Parquet file each, replacing that scope's earlier run), so
``derma serve --lake`` shows them.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from importlib import resources
from pathlib import Path

import duckdb

from derma.lake.engines import open_engine
from derma.lake.layout import (
    Lake,
    LakeError,
    clear_leftovers,
    describe_table,
    locked,
    quoted,
    replace_tables,
    staging_folder,
)
from derma.lake.marts import referenced_tables, register_inputs
from derma.lake.model_sql import lit
from derma.lake.results import fit_everything_on
from etl.access import NETWORK
from etl.batch import new_batch_id, software_version
from queries import get_query, list_queries

#: The mart the control charts read (through the ``monthly_series`` query).
SERIES_MART = "monthly_outcomes"


def lake_model_report(
    lake_path: Path | str,
    engine_name: str,
    master: str | None = None,
    memory_limit: str | None = None,
    scope: str = NETWORK,
) -> dict:
    """Fit every model of ``scope`` on the lake with ``engine_name``; the report ``derma models`` prints."""
    from derma.model_report import model_report_from
    from derma.refresh import insert_results, run_record

    lake = Lake.open(lake_path)
    if SERIES_MART not in lake.manifest["tables"]:
        raise LakeError(f"the lake {lake.path} has no {SERIES_MART} mart: build it with 'derma marts --lake'")
    engine = open_engine(engine_name, master, memory_limit, result_dir=lake.path.parent)
    try:
        register_inputs(engine, lake)
        engine.register(SERIES_MART, lake.table(SERIES_MART))
        if scope != NETWORK and not _count(
            engine, f"select count(*) as n from sessions where clinic_id = {lit(scope)}"
        ):
            raise LakeError(f"no sessions for clinic '{scope}' in the lake {lake.path}")
        sql = get_query("monthly_series").sql.replace("$scope", lit(scope))
        series = engine.frame(sql)
        started = time.perf_counter()
        tables, n_sessions = fit_everything_on(engine, scope, series)
        seconds = time.perf_counter() - started
    finally:
        engine.close()
    with locked(lake):
        lake = Lake.open(lake.path)  # as it is now: another fit may have stored its scope meanwhile
        con = results_connection(lake)
        try:
            run_id = new_batch_id(dt.datetime.now(dt.UTC).replace(tzinfo=None))
            batch = con.execute("select max(batch_id) from load_batches").fetchone()[0]
            tables["model_runs"] = run_record(run_id, scope, batch or "", seconds, n_sessions)
            previous_runs(con, lake, scope)
            insert_results(con, tables, run_id)
            report = model_report_from(con, lake.manifest.get("snapshot", ""), scope)
            store_results(con, lake, engine.name)
        finally:
            con.close()
    report["engine"] = engine.name
    return report


def previous_runs(con: duckdb.DuckDBPyConnection, lake: Lake, scope: str) -> None:
    """The model results the lake already holds, but those of ``scope`` (replaced by this fit)."""
    from derma.refresh import MODEL_TABLES

    for name in MODEL_TABLES:
        if name not in lake.manifest["tables"] or not lake.table(name).files:
            continue
        files = "[" + ", ".join(quoted(f) for f in lake.table(name).files) + "]"
        con.execute(f"insert into {name} by name select * from read_parquet({files})")
    old = "select run_id from model_runs where scope = $s"
    for name in MODEL_TABLES:
        con.execute(f"delete from {name} where run_id in ({old})", {"s": scope})


def store_results(con: duckdb.DuckDBPyConnection, lake: Lake, engine: str) -> None:
    """Every model table written into the lake as Parquet (one file each), the manifest updated."""
    from derma.refresh import MODEL_TABLES

    clear_leftovers(lake)
    staged = staging_folder(lake)
    try:
        entries = {}
        for name in MODEL_TABLES:
            folder = staged / name
            folder.mkdir()
            con.execute(
                f"copy (select * from {name}) to {quoted(folder / 'data_0.parquet')} "
                "(format parquet, compression zstd)"
            )
            entries[name] = describe_table(folder, staged, ())
        replace_tables(
            lake, staged, entries, {"engine": engine, "software_version": software_version()}, "models_fitted"
        )
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def _count(engine, sql: str) -> int:
    return int(engine.frame(sql).iloc[0]["n"] or 0)


def results_connection(lake: Lake) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the warehouse's schema and the lake's load batches, for the model tables."""
    con = duckdb.connect()
    con.execute(resources.files("etl").joinpath("schema.sql").read_text(encoding="utf-8"))
    batches = lake.table("load_batches") if "load_batches" in lake.manifest["tables"] else None
    if batches is not None and batches.files:
        files = "[" + ", ".join(quoted(f) for f in batches.files) + "]"
        columns = ", ".join(f'"{c}"' for c, _ in batches.columns)
        con.execute(f"insert into load_batches ({columns}) select {columns} from read_parquet({files})")
    tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
    for query in list_queries("staging"):
        if referenced_tables(query.sql) <= tables:
            con.execute(f'create or replace view "{query.name}" as\n{query.sql}')
    return con


def lake_clinics(lake_path: Path | str) -> list[str]:
    """The clinics of a lake: its sessions' partitions, as the manifest lists them."""
    lake = Lake.open(lake_path)
    entry = lake.manifest["tables"]["sessions"]
    clinics = {
        part.split("=", 1)[1]
        for f in entry["files"]
        for part in Path(f["path"]).parts
        if part.startswith("clinic_id=")
    }
    return sorted(clinics)
