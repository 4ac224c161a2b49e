"""The analyst sandbox: one read-only SELECT against a snapshot, with no file, network, extension or settings access.

``derma sql`` and the dashboard's SQL page run text somebody typed. Four layers keep it harmless:

1. DuckDB's own parser, before anything runs: exactly one statement, of type SELECT, whose serialized
   tree holds only select nodes (DuckDB 2.0 accepts INSERT/UPDATE/DELETE/COPY inside a CTE of a
   "SELECT"), only allow-listed table functions and none of the functions or views that reveal host
   paths;
2. DuckDB's tokenizer as defence in depth: the statement starts like a query and no write keyword
   appears outside strings, quoted identifiers and comments;
3. the engine: the snapshot is attached read-only to a private in-memory DuckDB whose external
   access is off (no files, network, extensions or Python objects), whose configuration is locked
   before the statement arrives, with a memory limit, no spilling and an execution-time limit;
4. the process: that engine lives in a child process (``etl/sandbox_worker.py`` through
   ``etl/confine.py``) whose address space and CPU seconds are capped, which is killed at the time
   limit, and whose result is read back as Arrow up to a byte cap. DuckDB's own limits do not cover
   everything (a result is materialised outside the memory limit; ``sleep_ms`` ignores the time
   limit), so a runaway ends the child, never the caller.

Error text that DuckDB raises while reading rows can quote warehouse values, so only its kind is
reported; parser, binder and catalog errors (which only quote the statement and the schema) are
passed on as their first line.
"""

from __future__ import annotations

import math
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from etl.confine import memory_bytes, run_confined
from etl.sandbox_rules import (
    MAX_SQL_CHARS,
    SandboxError,
    check_tokens,
    check_tree,
    one_select,
    serialize,
)
from etl.warehouse import WarehouseError

#: The catalog name the snapshot is attached under (and made the default, so ``sessions`` resolves).
CATALOG = "warehouse"
#: The most a result may weigh (Arrow bytes) whatever its row count: a few wide rows can be gigabytes.
MAX_RESULT_BYTES = 64 * 2**20
#: Address space the child may use beyond the engine's memory limit (interpreter, libraries, threads).
PROCESS_HEADROOM = 1024 * 2**20
#: Seconds the child may take to start and attach the snapshot before the time limit begins to count.
STARTUP_S = 15.0

_MEMORY_LIMIT = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


@dataclass(frozen=True, eq=False)
class SandboxResult:
    """The rows of one sandboxed SELECT, capped at ``row_limit``."""

    columns: tuple[str, ...]
    frame: pd.DataFrame
    truncated: bool
    row_limit: int
    elapsed_s: float


def run_sandboxed(
    sql: str,
    snapshot_path: Path,
    *,
    max_rows: int = 10_000,
    timeout_s: float = 10.0,
    memory_limit: str = "1GB",
) -> SandboxResult:
    """Run one read-only SELECT typed by an analyst against a published snapshot.

    Parameters
    ----------
    sql : str
        Exactly one SELECT (``WITH ... SELECT``, ``FROM``-first, ``VALUES``, ``TABLE``, ``DESCRIBE``,
        ``SUMMARIZE`` and ``PIVOT ... IN (...)`` are selects too); a trailing ``;`` is fine.
    snapshot_path : Path
        The snapshot file, attached read-only as catalog ``warehouse`` (the default catalog).
    max_rows : int
        Rows returned at most; one more is fetched to tell whether the result was cut.
    timeout_s : float
        Wall-clock limit for running the statement and fetching its rows.
    memory_limit : str
        DuckDB memory limit such as ``"1GB"``; nothing spills to disk, so larger work fails.

    Returns
    -------
    SandboxResult
        Column names, the rows as a DataFrame with DuckDB's types, whether rows were cut off, the
        row limit and the seconds spent running and fetching.

    Raises
    ------
    SandboxError
        The statement was refused (not a single read-only SELECT, or it reaches files, settings,
        extensions or host paths) or it failed (syntax, unknown name, time or memory limit).
    WarehouseError
        The snapshot cannot be opened.
    ValueError
        A limit argument is out of range.

    Notes
    -----
    The statement is checked here, on DuckDB's parse alone, then run in a fresh child process that
    attaches the snapshot to a private in-memory DuckDB, so calls share no state and may run
    concurrently from several threads. The engine's settings are ``enable_external_access=false``
    and ``lock_configuration=true`` (set after the attach),
    ``autoinstall_known_extensions``/``autoload_known_extensions=false``,
    ``allow_community_extensions=false``, ``python_enable_replacements=false``, ``memory_limit``,
    ``temp_directory=''`` with ``max_temp_directory_size='0KB'`` (no spill files) and
    ``max_execution_time``. The process may use ``memory_limit`` plus :data:`PROCESS_HEADROOM` of
    address space, is killed ``timeout_s`` after the snapshot is attached, and its result is cut off
    (an error, not a partial result) past :data:`MAX_RESULT_BYTES`.
    """
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 0:
        raise ValueError(f"max_rows must be a non-negative integer, not {max_rows!r}")
    if not (isinstance(timeout_s, int | float) and math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError(f"timeout_s must be a positive number of seconds, not {timeout_s!r}")
    if not _MEMORY_LIMIT.match(memory_limit.strip()):
        raise ValueError(f"memory_limit must look like '1GB' or '512MB', not {memory_limit!r}")
    if not isinstance(sql, str) or not sql.strip():
        raise SandboxError("refused: the statement is empty")
    if len(sql) > MAX_SQL_CHARS:
        raise SandboxError(f"refused: the statement is longer than {MAX_SQL_CHARS:,} characters")

    snapshot_path = Path(snapshot_path)
    if not snapshot_path.is_file():
        raise WarehouseError(f"cannot open the warehouse {snapshot_path}: no such snapshot file")
    checker = duckdb.connect(":memory:", config={"enable_external_access": False})
    try:  # parse-level checks only: nothing runs here, and no warehouse is attached
        setting_names = {
            row[0] for row in checker.execute("select lower(name) from duckdb_settings()").fetchall()
        }
        statement = one_select(checker, sql)
        check_tree(serialize(checker, statement.query), setting_names)
        check_tokens(statement.query)
    finally:
        checker.close()
    frame, truncated, elapsed = _run(statement.query, snapshot_path, max_rows, timeout_s, memory_limit)
    return SandboxResult(
        columns=tuple(str(c) for c in frame.columns),
        frame=frame,
        truncated=truncated,
        row_limit=max_rows,
        elapsed_s=elapsed,
    )


def _run(
    sql: str, snapshot_path: Path, max_rows: int, timeout_s: float, memory_limit: str
) -> tuple[pd.DataFrame, bool, float]:
    import pyarrow as pa

    started = time.monotonic()
    outcome = run_confined(
        "etl.sandbox_worker",
        {
            "sql": sql,
            "snapshot": str(snapshot_path),
            "catalog": CATALOG,
            "max_rows": max_rows,
            "timeout_s": timeout_s,
            "memory_limit": memory_limit,
        },
        memory_bytes=memory_bytes(memory_limit) + PROCESS_HEADROOM,
        cpu_seconds=math.ceil(2 * timeout_s + STARTUP_S),  # two engine threads count CPU twice as fast
        wall_seconds=timeout_s,
        max_output=MAX_RESULT_BYTES,
        startup_seconds=STARTUP_S,
    )
    elapsed = time.monotonic() - started
    if outcome.too_big:
        raise SandboxError(
            f"stopped: the result is larger than {MAX_RESULT_BYTES // 2**20} MB; select fewer rows or columns"
        )
    if outcome.timed_out or outcome.killed_by == signal.SIGXCPU:
        raise SandboxError(f"stopped: the statement ran past the time limit of {timeout_s:g} s")
    if outcome.error is not None:
        if outcome.error_kind == "warehouse":
            raise WarehouseError(outcome.error)
        raise SandboxError(outcome.error)
    if not outcome.ok:
        # Ended without a word: the address-space cap made a library abort, or the kernel stopped it.
        raise SandboxError(f"stopped: the statement needed more than the memory limit of {memory_limit}")
    try:
        table = pa.ipc.open_stream(outcome.output).read_all()
    except pa.ArrowInvalid:
        raise SandboxError("failed: the statement's result could not be read back") from None
    frame = table.to_pandas(date_as_object=False)
    truncated = len(frame) > max_rows
    if truncated:
        frame = frame.iloc[:max_rows].reset_index(drop=True)
    return frame, truncated, elapsed
