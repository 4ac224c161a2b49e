"""The atomic load: files in, one published snapshot out, every input row accounted for."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path

import duckdb

from etl import warehouse
from etl.batch import (
    BatchResult,
    FileResult,
    LoadError,
    collect_files,
    new_batch_id,
    regular_file_digest,
    software_version,
)
from etl.escaping import shown_name
from etl.fastpath import read_checked
from etl.marts import build_marts, marts_are_current
from etl.pseudonym import key_fingerprint, load_secret_key
from etl.readers import RejectedFile, describe_read_error, detect_format
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

    Notes
    -----
    Rows are checked in an in-memory DuckDB; the patient number is replaced by its pseudonym in the
    projection that reads the file, so it is in no table and nothing spilled to the load's private
    work folder can hold it. Only checked rows are written to a private copy of the current
    snapshot, which is published by an atomic rename once every count has been verified. A file
    that cannot be read or checked (damaged, too large, not a regular file, more than the memory
    limit) is rejected by name and the rest of the batch loads. A load under another pseudonym key
    than the warehouse's is refused before any file is read.
    """
    files, skipped = collect_files(paths)
    if not files:
        raise LoadError("no export files found (.csv, .csv.gz, .xlsx, .parquet, .jsonl, .ndjson)")
    today = today or dt.date.today()
    key = load_secret_key(settings)
    data_dir = settings.data_dir
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    batch_id = new_batch_id(started)
    with warehouse.load_lock(data_dir):
        leftovers = warehouse.clear_leftovers(data_dir)
        building = warehouse.start_building(data_dir, batch_id)
        con = warehouse.connect_memory(
            {
                "memory_limit": settings.memory_limit,
                "temp_directory": str(warehouse.work_dir(data_dir)),
                **({"threads": settings.threads} if settings.threads else {}),
            }
        )
        try:
            con.execute("attach $p as wh", {"p": str(building)})
            _ensure_schema(con)
            _check_key(con, key, data_dir)
            results = []
            for seq, path in enumerate(files, start=1):
                result = _load_file(con, path, seq, batch_id, key, today, settings.memory_limit)
                warehouse.crash_point("after_file")
                results.append(result)
                if on_file:
                    on_file(result)
            record_batch(con, batch_id, started, results)  # before the marts: clinic_freshness reads it
            current = marts_are_current(con)
            if any(r.inserted or r.updated for r in results) or not current:
                derive_session_numbers(con)
                # A batch that changed no session leaves every mart as it was; one that changed some
                # clinics rebuilds those clinics' rows (all of them when the marts' SQL changed).
                touched = [r[0] for r in con.execute("select distinct clinic_id from _touched").fetchall()]
                build_marts(con, clinics=touched if current and _few_clinics(con, touched) else None)
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
        warehouse.publish(data_dir, building, batch_id, settings.keep_snapshots)
        warehouse.clear_leftovers(data_dir)
    return BatchResult(batch_id, batch_id, tuple(results), tuple(skipped), leftovers)


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
    add_missing_columns(con)  # tables written by an older version (model results gained columns)
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


def _load_file(
    con, path: Path, seq: int, batch_id: str, key: bytes, today: dt.date, memory_limit: str
) -> FileResult:
    name = shown_name(path.name)
    fmt = detect_format(path) or "unknown"
    try:
        digest = regular_file_digest(path)
    except RejectedFile as exc:
        result = FileResult(name, "rejected", str(exc), 0, format=fmt, sha256="")
        record_file(con, batch_id, seq, path, result)
        return result
    reused = _unchanged_since_loaded(con, path, seq, batch_id, digest)
    if reused is not None:
        return reused
    try:
        raw = read_checked(con, path, key, today, memory_limit=memory_limit)
    except duckdb.InterruptException:
        raise  # Ctrl-C: the batch stops, nothing is published
    except (RejectedFile, duckdb.Error, MemoryError) as exc:
        # One file that cannot be read or checked is rejected by name; the rest of the batch loads.
        reason = str(exc) if isinstance(exc, RejectedFile) else f"{name}: {describe_read_error(fmt, exc)}"
        _drop_work_tables(con)
        result = FileResult(name, "rejected", reason, 0, format=fmt, sha256=digest)
        record_file(con, batch_id, seq, path, result)
        return result
    try:
        counts, span = upsert_file(con, batch_id, name)
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
    )
    if sum(counts) != raw.rows:
        raise LoadError(f"{name}: row counts do not add up ({sum(counts)} accounted for, {raw.rows} read)")
    record_file(con, batch_id, seq, path, result, span)
    _drop_work_tables(con)
    return result


def _drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table in ("_raw", "_rows", "_rows_dups", "_lines"):
        con.execute(f"drop table if exists {table}")


# The last load of a file with these bytes, if re-applying it now could change nothing: same software
# (same rules), no row set aside for a date rule that moves with today, and no stored session of its
# clinics within its date span written by a later batch or earlier in this one (else it might revert
# a correction, so it is loaded in full).
_SAME_FILE_LOADED = """
    select f.batch_id, f.file, f.format, f.rows, f.inserted + f.updated + f.unchanged as stored, f.quarantined,
           f.ignored_columns, f.dropped_columns, f.clinics, f.first_session_date, f.last_session_date
    from wh.load_files as f
    inner join wh.load_batches as b using (batch_id)
    where f.sha256 = $sha and f.status = 'loaded' and f.clinics is not null and b.software_version = $version
      and not exists (select 1 from wh.quarantine as q where q.batch_id = f.batch_id and q.file = f.file
                      and q.reason in ('future_date', 'out_of_range'))
      and not exists (select 1 from wh.sessions as s
                      where list_contains(f.clinics, s.clinic_id) and s.batch_id > f.batch_id
                        and s.session_date between f.first_session_date and f.last_session_date)
    order by f.batch_id desc, f.file_seq desc
    limit 1"""


def _unchanged_since_loaded(con, path: Path, seq: int, batch_id: str, digest: str) -> FileResult | None:
    """Account for a file already loaded byte for byte without reading it again (None: load it in full).

    Its rows count as unchanged and its quarantined rows are recorded again for this batch, exactly
    as a full re-load of the same bytes would record them; nothing is written to ``sessions``.
    """
    rows = con.execute(_SAME_FILE_LOADED, {"sha": digest, "version": software_version()}).fetchall()
    if not rows:
        return None
    (before, old_name, fmt, total, stored, quarantined, ignored, dropped, clinics, first, last) = rows[0]
    con.execute(
        """insert into wh.quarantine
        select $batch, $file, "row", "column", value, reason, clinic_id, session_id, patient_key
        from wh.quarantine where batch_id = $before and file = $old""",
        {"batch": batch_id, "file": shown_name(path.name), "before": before, "old": old_name},
    )
    result = FileResult(
        shown_name(path.name),
        "loaded",
        None,
        total,
        0,
        0,
        stored,
        quarantined,
        format=fmt,
        sha256=digest,
        ignored_columns=tuple(ignored or ()),
        dropped_columns=tuple(dropped or ()),
        same_as_batch=before,
    )
    record_file(con, batch_id, seq, path, result, (clinics, first, last))
    return result
