"""The atomic load: files in, one published snapshot out, every input row accounted for."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import duckdb
import pyarrow as pa

from etl import warehouse
from etl.checks import TYPED_COLUMNS, check_rows
from etl.marts import build_marts, marts_are_current
from etl.pseudonym import load_secret_key, pseudonymise_many
from etl.readers import RejectedFile, detect_format, read_export
from etl.settings import Settings
from etl.warehouse import scalar
from queries import list_queries

#: Columns written to ``sessions`` (the table's order), the load's own ones included.
SESSION_COLUMNS = (
    "clinic_id",
    "session_id",
    "patient_key",
    "clinician_id",
    "session_date",
    "crystal_type",
    "vacuum_kpa",
    "passes",
    "treatment_area",
    "indication",
    "fitzpatrick",
    "particle_flow",
    "session_number",
    "reported_session_number",
    "device_model",
    "anaesthesia",
    "pre_care_followed",
    "soothing_mask",
    "birth_year",
    "age_years",
    "satisfaction",
    "side_effects",
    "follow_up_done",
    "any_side_effect",
    "batch_id",
    "source_file",
    "source_row",
)
#: What decides "unchanged": the stored content of a row, not where or when it was loaded.
CONTENT_COLUMNS = tuple(
    c
    for c in SESSION_COLUMNS
    if c not in ("session_number", "batch_id", "source_file", "source_row", "clinic_id", "session_id")
)
MASK = "•••"


class LoadError(RuntimeError):
    """The batch failed as a whole; nothing was published. The message is one line."""


@dataclass(frozen=True)
class FileResult:
    file: str
    status: str
    reason: str | None
    rows: int
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    format: str = ""
    sha256: str = ""
    ignored_columns: tuple[str, ...] = ()
    dropped_columns: tuple[str, ...] = ()
    #: The batch whose load of the same bytes these counts come from, when the file was not read again.
    same_as_batch: str | None = None

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "status": self.status,
            "reason": self.reason,
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "quarantined": self.quarantined,
            "format": self.format,
            "sha256": self.sha256,
            "ignored_columns": list(self.ignored_columns),
            "dropped_columns": list(self.dropped_columns),
            "same_as_batch": self.same_as_batch,
        }


@dataclass(frozen=True)
class BatchResult:
    batch_id: str
    snapshot: str
    files: tuple[FileResult, ...]
    skipped: tuple[str, ...] = field(default=())

    @property
    def totals(self) -> dict[str, int]:
        keys = ("rows", "inserted", "updated", "unchanged", "quarantined")
        return {k: sum(getattr(f, k) for f in self.files) for k in keys}

    @property
    def any_rejected(self) -> bool:
        return any(f.status == "rejected" for f in self.files)

    def to_dict(self) -> dict:
        return {
            "batch_id": self.batch_id,
            "snapshot": self.snapshot,
            "files": [f.to_dict() for f in self.files],
            "totals": self.totals,
        }


def software_version() -> str:
    try:
        return version("derma-outcomes")
    except PackageNotFoundError:
        return "0+unknown"


def collect_files(paths: Iterable[Path]) -> tuple[list[Path], list[str]]:
    """Expand folders (recursively, sorted); files named on the command line are always tried.

    Returns the export files and the names of files inside folders that are not exports.
    """
    files: list[Path] = []
    skipped: list[str] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if any(part.startswith(".") for part in child.relative_to(path).parts):
                    continue
                (files.append(child) if detect_format(child) else skipped.append(str(child)))
        elif path.exists():
            files.append(path)
        else:
            raise LoadError(f"{path}: no such file or folder")
    return files, skipped


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def new_batch_id(now: dt.datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(3)


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
    Rows are checked in an in-memory DuckDB, so raw patient numbers never touch the data
    directory; only pseudonymised, checked rows are written to a private copy of the current
    snapshot, which is published by an atomic rename once every count has been verified.
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
        warehouse.clear_leftovers(data_dir)
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
            results = []
            for seq, path in enumerate(files, start=1):
                result = _load_file(con, path, seq, batch_id, key, today)
                warehouse.crash_point("after_file")
                results.append(result)
                if on_file:
                    on_file(result)
            _record_batch(con, batch_id, started, results)  # before the marts: clinic_freshness reads it
            current = marts_are_current(con)
            if any(r.inserted or r.updated for r in results) or not current:
                _derive_session_numbers(con)
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
    return BatchResult(batch_id, batch_id, tuple(results), tuple(skipped))


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
    con.execute("insert or replace into schema_info values ('schema_version', '1')")
    con.execute("use memory")
    con.execute("create or replace temp table _touched (clinic_id varchar, patient_key varchar)")


def _load_file(con, path: Path, seq: int, batch_id: str, key: bytes, today: dt.date) -> FileResult:
    digest = sha256_file(path)
    name = path.name
    fmt = detect_format(path) or "unknown"
    reused = _unchanged_since_loaded(con, path, seq, batch_id, digest)
    if reused is not None:
        return reused
    try:
        raw = read_export(con, path, "_raw")
    except RejectedFile as exc:
        result = FileResult(name, "rejected", str(exc), 0, format=fmt, sha256=digest)
        _record_file(con, batch_id, seq, path, result)
        return result
    check_rows(con, raw, today, "_rows")
    _pseudonymise(con, key)
    counts, span = _apply(con, batch_id, name)
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
    _record_file(con, batch_id, seq, path, result, span)
    con.execute("drop table _raw; drop table _rows; drop table _rows_dups; drop table _keys")
    return result


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
        {"batch": batch_id, "file": path.name, "before": before, "old": old_name},
    )
    result = FileResult(
        path.name,
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
    _record_file(con, batch_id, seq, path, result, (clinics, first, last))
    return result


def _pseudonymise(con: duckdb.DuckDBPyConnection, key: bytes) -> None:
    """``_keys``: one pseudonym per distinct (clinic, patient number) of the file, computed in Python."""
    pairs = con.sql(
        "select distinct clinic_id, patient_id from _rows where clinic_id is not null and patient_id is not null"
    ).to_arrow_table()
    clinics = pairs.column("clinic_id").to_pylist()
    patients = pairs.column("patient_id").to_pylist()
    keys = pa.table(
        {
            "clinic_id": pa.array(clinics, pa.string()),
            "patient_id": pa.array(patients, pa.string()),
            "patient_key": pa.array(pseudonymise_many(key, clinics, patients), pa.string()),
        }
    )
    con.register("_keys_arrow", keys)
    con.execute("create or replace temp table _keys as select * from _keys_arrow")
    con.unregister("_keys_arrow")


def _apply(
    con: duckdb.DuckDBPyConnection, batch_id: str, name: str
) -> tuple[tuple[int, int, int, int], tuple]:
    """Upsert the file's good rows by natural key and quarantine the rest, in one transaction.

    Returns (inserted, updated, unchanged, quarantined) counted over the file's rows, and the span of
    its good rows (clinics, first and last session date) for the unchanged-file short cut.
    """
    typed = ", ".join(f"r.{c}" for c in TYPED_COLUMNS if c != "patient_id")
    same = " and ".join(f"i.{c} is not distinct from s.{c}" for c in CONTENT_COLUMNS)
    con.execute(f"""create or replace temp table _incoming as
        with good as (
            select {typed}, k.patient_key, r._row
            from _rows as r
            inner join _keys as k using (clinic_id, patient_id)
            anti join _rows_dups as d on d._row = r._row
            where len(r.problems) = 0
        )
        select i.*, case when s.session_id is null then 'insert' when {same} then 'unchanged' else 'update' end
                    as action
        from good as i
        left join wh.sessions as s on s.clinic_id = i.clinic_id and s.session_id = i.session_id""")
    inserted, updated, unchanged_new, clinics, first, last = con.execute(
        "select count(*) filter (action = 'insert'), count(*) filter (action = 'update'), "
        "count(*) filter (action = 'unchanged'), coalesce(list(distinct clinic_id), []), min(session_date), "
        "max(session_date) from _incoming"
    ).fetchall()[0]
    # Rows with problems, and every row of a key with differing contents, go to quarantine.
    con.execute(f"""create or replace temp table _bad as
        select r._row, r.clinic_id, r.session_id, k.patient_key,
               list_transform(
                   r.problems || case when d.kind = 'duplicate_in_file' then
                       [{{'column': 'session_id', 'reason': 'duplicate_in_file', 'value': r.session_id}}] else [] end,
                   lambda p: case when p.column = 'patient_id' and p.value is not null
                                  then {{'column': p.column, 'reason': p.reason, 'value': '{MASK}'}} else p end)
                   as problems
        from _rows as r
        left join _rows_dups as d on d._row = r._row
        left join _keys as k using (clinic_id, patient_id)
        where len(r.problems) > 0 or d.kind = 'duplicate_in_file'""")
    quarantined, records = con.execute(
        "select count(*), coalesce(sum(len(problems)), 0) from _bad"
    ).fetchall()[0]
    repeats = scalar(
        con,
        """select count(*) from _rows_dups as d inner join _rows as r using (_row)
                             where d.kind = 'repeat' and len(r.problems) = 0""",
    )
    before_sessions = scalar(con, "select count(*) from wh.sessions")
    before_quarantine = scalar(con, "select count(*) from wh.quarantine")
    columns = ", ".join(SESSION_COLUMNS)
    values = ", ".join(
        {
            "session_number": "coalesce(reported_session_number, 0)",
            "batch_id": "$batch",
            "source_file": "$file",
            "source_row": "_row",
        }.get(c, c)
        for c in SESSION_COLUMNS
    )
    con.execute("begin transaction")
    try:
        con.execute("""delete from wh.sessions s using _incoming i
                       where i.action = 'update' and s.clinic_id = i.clinic_id and s.session_id = i.session_id""")
        con.execute(
            f"""insert into wh.sessions ({columns})
            select {values} from _incoming where action in ('insert', 'update')""",
            {"batch": batch_id, "file": name},
        )
        con.execute(
            """insert into wh.quarantine
            select $batch, $file, _row, p.column, left(p.value, 200), p.reason, clinic_id, session_id, patient_key
            from (select _row, unnest(problems) as p, clinic_id, session_id, patient_key from _bad)""",
            {"batch": batch_id, "file": name},
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    after_sessions = scalar(con, "select count(*) from wh.sessions")
    after_quarantine = scalar(con, "select count(*) from wh.quarantine")
    # A failed statement inside an explicit transaction can make COMMIT a silent no-op: verify.
    if after_sessions != before_sessions + inserted or after_quarantine != before_quarantine + records:
        raise LoadError(f"{name}: stored counts do not match the load; the batch was abandoned")
    con.execute(
        "insert into _touched select distinct clinic_id, patient_key from _incoming where action <> 'unchanged'"
    )
    con.execute("drop table _incoming; drop table _bad")
    return (inserted, updated, unchanged_new + repeats, quarantined), (clinics, first, last)


def _derive_session_numbers(con: duckdb.DuckDBPyConnection) -> None:
    """Number each touched patient's sessions in date order where the file gave no number."""
    con.execute("""update wh.sessions s set session_number = d.n
        from (select clinic_id, session_id,
                     row_number() over (partition by patient_key order by session_date, session_id) as n
              from wh.sessions where patient_key in (select patient_key from _touched)) d
        where s.clinic_id = d.clinic_id and s.session_id = d.session_id
          and s.reported_session_number is null and s.session_number is distinct from d.n""")


def _record_file(
    con, batch_id: str, seq: int, path: Path, r: FileResult, span: tuple = (None, None, None)
) -> None:
    clinics, first, last = span
    con.execute(
        """insert into wh.load_files (batch_id, file_seq, file, format, sha256, bytes, status, reason, rows, inserted,
               updated, unchanged, quarantined, ignored_columns, dropped_columns, loaded_at, clinics,
               first_session_date, last_session_date)
           values ($batch, $seq, $file, $format, $sha, $bytes, $status, $reason, $rows, $inserted, $updated,
               $unchanged, $quarantined, $ignored, $dropped, current_timestamp::timestamp, $clinics::varchar[],
               $first::date, $last::date)""",
        {
            "batch": batch_id,
            "seq": seq,
            "file": r.file,
            "format": r.format,
            "sha": r.sha256,
            "bytes": path.stat().st_size,
            "status": r.status,
            "reason": r.reason,
            "rows": r.rows,
            "inserted": r.inserted,
            "updated": r.updated,
            "unchanged": r.unchanged,
            "quarantined": r.quarantined,
            "ignored": list(r.ignored_columns),
            "dropped": list(r.dropped_columns),
            "clinics": clinics,
            "first": first,
            "last": last,
        },
    )


def _record_batch(con, batch_id: str, started: dt.datetime, results: list[FileResult]) -> None:
    con.execute(
        """insert into wh.load_batches values ($batch, $snapshot, $started, current_timestamp::timestamp, $version,
           $files, $rejected, $rows, $inserted, $updated, $unchanged, $quarantined)""",
        {
            "batch": batch_id,
            "snapshot": batch_id,
            "started": started,
            "version": software_version(),
            "files": len(results),
            "rejected": sum(r.status == "rejected" for r in results),
            **{
                k: sum(getattr(r, k) for r in results)
                for k in ("rows", "inserted", "updated", "unchanged", "quarantined")
            },
        },
    )
