"""The atomic load: files in, one published snapshot out, every input row accounted for."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import duckdb

from etl import warehouse
from etl.batch import (
    PREVIEW_RECORDS,
    BatchResult,
    FileResult,
    LoadError,
    collect_files,
    new_batch_id,
    regular_file_digest,
)
from etl.escaping import shown_name
from etl.fastpath import read_checked
from etl.mapping import Mapping, MappingChooser
from etl.marts import build_marts, marts_are_current
from etl.pseudonym import key_fingerprint, load_secret_key
from etl.readers import RejectedFile, describe_read_error, detect_format
from etl.reuse import unchanged_since_loaded
from etl.schema_upgrade import add_missing_columns
from etl.settings import Settings
from etl.upsert import derive_session_numbers, record_batch, record_file, upsert_file
from etl.warehouse import scalar
from queries import list_queries


def ingest(
    paths: Iterable[Path],
    settings: Settings,
    *,
    today: dt.date | None = None,
    on_file: Callable[[FileResult], None] | None = None,
    after_load: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    mapping: Mapping | Path | None = None,
    dry_run: bool = False,
) -> BatchResult:
    """Load files and folders of exports as one atomic batch and publish a new snapshot.

    Parameters
    ----------
    paths : files and folders; folders are searched recursively for exports.
    settings : where the warehouse lives and how loads run.
    today : the date after which a session date counts as in the future (default: today).
    on_file : called after each file (for progress display).
    after_load : called with the connection (warehouse attached as ``wh``) after the marts are
        rebuilt and before publishing; an exception there aborts the batch.
    mapping : a mapping (or its file) that reads every file of the batch; without one, each file is
        read through the first mapping of ``<data dir>/mappings/`` whose globs match its name, if any.
    dry_run : do everything a load does, on a private copy of the current snapshot outside the data
        dir, and publish nothing; the result (with the quarantine records) is what the load would report.

    Notes
    -----
    Every mapping is checked before any file is read (a broken one raises ``MappingError``). Rows are
    checked in an in-memory DuckDB; the patient number is replaced by its pseudonym in the projection
    that reads the file, so it is in no table and nothing spilled to the load's private work folder
    can hold it. Only checked rows are written to a private copy of the current snapshot, which is
    published by an atomic rename once every count has been verified. A file that cannot be read or
    checked (damaged, too large, not a regular file, more than the memory limit) is rejected by name
    and the rest of the batch loads. A load under another pseudonym key than the warehouse's is
    refused before any file is read.
    """
    files, skipped = collect_files(paths)
    if not files:
        raise LoadError("no export files found (.csv, .csv.gz, .xlsx, .parquet, .jsonl, .ndjson)")
    chooser = MappingChooser(settings.data_dir, mapping)
    today = today or dt.date.today()
    key = load_secret_key(settings)
    data_dir = settings.data_dir
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    batch = _Batch(new_batch_id(started), started, key, today, settings, chooser, on_file)
    if dry_run:
        return _dry_run(files, skipped, batch)
    with warehouse.load_lock(data_dir):
        leftovers = warehouse.clear_leftovers(data_dir)
        building = warehouse.start_building(data_dir, batch.batch_id)
        con = _connect(settings, warehouse.work_dir(data_dir))
        try:
            con.execute("attach $p as wh", {"p": str(building)})
            results = _apply(con, files, batch)
            if after_load:
                after_load(con)
            warehouse.crash_point("before_checkpoint")
            con.execute("checkpoint wh")
            con.execute("detach wh")
        except BaseException:
            con.close()
            building.unlink(missing_ok=True)
            warehouse.clear_leftovers(data_dir)
            raise
        con.close()
        warehouse.publish(data_dir, building, batch.batch_id, settings.keep_snapshots)
        warehouse.clear_leftovers(data_dir)
    return BatchResult(batch.batch_id, batch.batch_id, tuple(results), tuple(skipped), leftovers)


@dataclass(frozen=True)
class _Batch:
    """What every file of one batch is loaded with."""

    batch_id: str
    started: dt.datetime
    key: bytes
    today: dt.date
    settings: Settings
    chooser: MappingChooser
    on_file: Callable[[FileResult], None] | None


def _connect(settings: Settings, spill: Path) -> duckdb.DuckDBPyConnection:
    return warehouse.connect_memory(
        {
            "memory_limit": settings.memory_limit,
            "temp_directory": str(spill),
            **({"threads": settings.threads} if settings.threads else {}),
        }
    )


def _apply(con: duckdb.DuckDBPyConnection, files: list[Path], batch: _Batch) -> list[FileResult]:
    """Load every file into the attached copy ``wh``, record the batch and rebuild the marts it touched."""
    _ensure_schema(con)
    _check_key(con, batch.key, batch.settings.data_dir)
    results = []
    for seq, path in enumerate(files, start=1):
        result = _load_file(con, path, seq, batch)
        warehouse.crash_point("after_file")
        results.append(result)
        if batch.on_file:
            batch.on_file(result)
    record_batch(con, batch.batch_id, batch.started, results)  # before the marts: clinic_freshness reads it
    current = marts_are_current(con)
    if any(r.inserted or r.updated for r in results) or not current:
        derive_session_numbers(con)
        # A batch that changed no session leaves every mart as it was; one that changed some
        # clinics rebuilds those clinics' rows (all of them when the marts' SQL changed).
        touched = [r[0] for r in con.execute("select distinct clinic_id from _touched").fetchall()]
        build_marts(con, clinics=touched if current and _few_clinics(con, touched) else None)
    return results


def _dry_run(files: list[Path], skipped: list[str], batch: _Batch) -> BatchResult:
    """The whole batch on a private copy of the current snapshot, outside the data dir; nothing published.

    The copy and the spill files live in a temporary folder of their own (mode 0700, under TMPDIR),
    removed at the end, so the data dir is left exactly as it was and no running load is disturbed.
    """
    with tempfile.TemporaryDirectory(prefix="derma-dry-run-") as folder:
        building = Path(folder) / "snapshot.duckdb"
        _copy_current(batch.settings.data_dir, building)
        spill = Path(folder) / "spill"
        spill.mkdir(mode=0o700)
        con = _connect(batch.settings, spill)
        try:
            con.execute("attach $p as wh", {"p": str(building)})
            results = _apply(con, files, batch)
            records = con.execute(
                """select file, "row", "column", value, reason from wh.quarantine where batch_id = $batch
                order by file, "row", "column", reason limit $limit""",
                {"batch": batch.batch_id, "limit": PREVIEW_RECORDS},
            ).fetchall()
        finally:
            con.close()
    return BatchResult(
        batch.batch_id, None, tuple(results), tuple(skipped), dry_run=True, quarantine=tuple(records)
    )


def _copy_current(data_dir: Path, target: Path) -> None:
    """Copy the current snapshot to ``target`` (nothing before the first load); a pruned one is re-resolved."""
    for _ in range(3):
        current = warehouse.current_snapshot(data_dir)
        if current is None:
            return
        try:
            shutil.copyfile(current.path, target)
            return
        except FileNotFoundError:
            continue  # a load published and pruned meanwhile: take the newer snapshot
    raise LoadError(f"the current snapshot in {shown_name(data_dir)} kept changing; try the dry run again")


def amend_snapshot(
    settings: Settings, write: Callable[[duckdb.DuckDBPyConnection], None]
) -> warehouse.Snapshot:
    """Publish a copy of the current snapshot with ``write`` applied (e.g. model results).

    Same guarantees as a load: readers keep the snapshot they opened, a crash leaves the current
    one serving, and one writer at a time holds the load lock. ``write`` gets a connection whose
    default catalog is the copy.
    """
    data_dir = settings.data_dir
    with warehouse.load_lock(data_dir):
        current = warehouse.current_snapshot(data_dir)
        if current is None:
            raise LoadError(f"no warehouse in {data_dir} yet: load data with 'derma ingest' first")
        warehouse.clear_leftovers(data_dir)
        snapshot_id = new_batch_id(dt.datetime.now(dt.UTC).replace(tzinfo=None))
        building = warehouse.start_building(data_dir, snapshot_id)
        try:
            con = warehouse.connect(building, read_only=False)
            try:
                write(con)
                con.execute("checkpoint")
            finally:
                con.close()
        except BaseException:
            building.unlink(missing_ok=True)
            raise
        return warehouse.publish(data_dir, building, snapshot_id, settings.keep_snapshots)


def _few_clinics(con: duckdb.DuckDBPyConnection, touched: list[str]) -> bool:
    """Whether rebuilding only ``touched`` clinics' mart rows beats rebuilding the marts whole.

    False on a first load (no marts yet) and when the batch touched half the clinics or more, where
    deleting and re-inserting their rows costs more than creating the tables afresh.
    """
    names = {q.name for q in list_queries("marts")}
    present = {
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_catalog = 'wh'"
        ).fetchall()
    }
    if not names <= present:
        return False
    clinics = scalar(con, "select count(*) from wh.clinic_freshness") or 0
    return len(touched) < 0.5 * clinics


def _ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    ddl = resources.files("etl").joinpath("schema.sql").read_text(encoding="utf-8")
    con.execute("use wh")
    con.execute(ddl)
    for column, kind in (
        ("clinics", "varchar[]"),
        ("first_session_date", "date"),
        ("last_session_date", "date"),
    ):
        con.execute(
            f"alter table load_files add column if not exists {column} {kind}"
        )  # snapshots before v0.2
    # Tables written by an older version: model results gained columns, load_files the mapping's
    # name and sha256 (issue 15); schema.sql is the one list of what a current snapshot has.
    add_missing_columns(con)
    con.execute("insert or replace into schema_info values ('schema_version', '1')")
    con.execute("use memory")
    con.execute("create or replace temp table _touched (clinic_id varchar, patient_key varchar)")


def _check_key(con: duckdb.DuckDBPyConnection, key: bytes, data_dir: Path) -> None:
    """Refuse a load under another key than the warehouse's; record the key's fingerprint on first use."""
    mine = key_fingerprint(key)
    stored = con.execute("select value from wh.schema_info where key = 'key_fingerprint'").fetchall()
    if stored and stored[0][0] != mine:
        raise LoadError(
            f"the pseudonym key is not the one the warehouse in {shown_name(data_dir)} was built with "
            f"(key fingerprint {mine}, warehouse {stored[0][0]}): every patient would get a second "
            "pseudonym; set DERMA_SECRET_KEY_FILE or DERMA_SECRET_KEY to the original key"
        )
    if not stored:
        con.execute("insert into wh.schema_info values ('key_fingerprint', $f)", {"f": mine})


def _load_file(con, path: Path, seq: int, batch: _Batch) -> FileResult:
    name = shown_name(path.name)
    fmt = detect_format(path) or "unknown"
    mapping = batch.chooser.choose(path)
    lineage = {"mapping": mapping.name, "mapping_sha256": mapping.sha256} if mapping else {}
    try:
        digest = regular_file_digest(path)
    except RejectedFile as exc:
        result = FileResult(name, "rejected", str(exc), 0, format=fmt, sha256="", **lineage)
        record_file(con, batch.batch_id, seq, path, result)
        return result
    reused = unchanged_since_loaded(con, path, seq, batch.batch_id, digest, mapping)
    if reused is not None:
        return reused
    memory_limit = batch.settings.memory_limit
    try:
        raw = read_checked(con, path, batch.key, batch.today, memory_limit=memory_limit, mapping=mapping)
    except duckdb.InterruptException:
        raise  # Ctrl-C: the batch stops, nothing is published
    except (RejectedFile, duckdb.Error, MemoryError) as exc:
        # One file that cannot be read or checked is rejected by name; the rest of the batch loads.
        reason = str(exc) if isinstance(exc, RejectedFile) else f"{name}: {describe_read_error(fmt, exc)}"
        _drop_work_tables(con)
        result = FileResult(name, "rejected", reason, 0, format=fmt, sha256=digest, **lineage)
        record_file(con, batch.batch_id, seq, path, result)
        return result
    try:
        counts, span, reasons = upsert_file(con, batch.batch_id, name)
    except (duckdb.Error, MemoryError) as exc:
        if isinstance(exc, duckdb.InterruptException):
            raise
        # Writing is all or nothing per batch: say which file, publish nothing.
        memory = isinstance(exc, duckdb.OutOfMemoryException | MemoryError)
        why = "more memory than DERMA_MEMORY_LIMIT allows" if memory else type(exc).__name__
        raise LoadError(f"{name}: could not be stored ({why}); nothing was published") from None
    result = FileResult(
        name,
        "loaded",
        None,
        raw.rows,
        *counts,
        format=raw.format,
        sha256=digest,
        ignored_columns=raw.plan.ignored,
        dropped_columns=raw.plan.dropped,
        reasons=reasons,
        **lineage,
    )
    if sum(counts) != raw.rows:
        raise LoadError(f"{name}: row counts do not add up ({sum(counts)} accounted for, {raw.rows} read)")
    record_file(con, batch.batch_id, seq, path, result, span)
    _drop_work_tables(con)
    return result


def _drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table in ("_raw", "_rows", "_rows_dups", "_lines"):
        con.execute(f"drop table if exists {table}")
