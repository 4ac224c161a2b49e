"""The analyst sandbox: one read-only SELECT against a snapshot, with no file, network, extension or settings access.

``derma sql`` and the dashboard's SQL page run text somebody typed. Three layers keep it harmless:

1. the engine: the snapshot is attached read-only to a private in-memory DuckDB whose external
   access is off (no files, network, extensions or Python objects), whose configuration is locked
   before the statement arrives, with a memory limit, no spilling and an execution-time limit;
2. DuckDB's own parser: exactly one statement, of type SELECT, whose serialized tree holds only
   select nodes (DuckDB 2.0 accepts INSERT/UPDATE/DELETE/COPY inside a CTE of a "SELECT"), only
   allow-listed table functions and none of the functions or views that reveal host paths;
3. DuckDB's tokenizer as defence in depth: the statement starts like a query and no write keyword
   appears outside strings, quoted identifiers and comments.

A timer thread interrupts the connection when the time limit passes, because the engine's own limit
does not stop everything (``sleep_ms`` runs on). Error text that DuckDB raises while reading rows can
quote warehouse values, so only its kind is reported; parser, binder and catalog errors (which
only quote the statement and the schema) are passed on as their first line.
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from etl.sandbox_rules import (
    MAX_SQL_CHARS,
    SandboxError,
    check_tokens,
    check_tree,
    first_line,
    one_select,
    serialize,
)
from etl.warehouse import connect_attached

#: The catalog name the snapshot is attached under (and made the default, so ``sessions`` resolves).
CATALOG = "warehouse"


# Errors raised before any row is read quote only the statement and the schema.
_BIND_ERRORS = (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException)
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
    Each call opens a fresh in-memory DuckDB, attaches the snapshot and closes everything before
    returning, so calls share no state and may run concurrently from several threads. The
    settings in force are ``enable_external_access=false`` and ``lock_configuration=true`` (set
    after the attach), ``autoinstall_known_extensions``/``autoload_known_extensions=false``,
    ``allow_community_extensions=false``, ``python_enable_replacements=false``,
    ``memory_limit``, ``temp_directory=''`` with ``max_temp_directory_size='0KB'`` (no spill
    files) and ``max_execution_time``; a timer thread calls ``interrupt()`` at the same limit.
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

    con = _open(snapshot_path, memory_limit, timeout_s)
    try:
        setting_names = {
            row[0] for row in con.execute("select lower(name) from duckdb_settings()").fetchall()
        }
        statement = one_select(con, sql)
        check_tree(serialize(con, statement.query), setting_names)
        check_tokens(statement.query)
        frame, truncated, elapsed = _run(con, statement, max_rows, timeout_s, memory_limit)
    finally:
        con.close()
    return SandboxResult(
        columns=tuple(str(c) for c in frame.columns),
        frame=frame,
        truncated=truncated,
        row_limit=max_rows,
        elapsed_s=elapsed,
    )


def _open(snapshot_path: Path, memory_limit: str, timeout_s: float) -> duckdb.DuckDBPyConnection:
    """The engine layer alone: the snapshot attached read-only to a locked-down private DuckDB."""
    con = connect_attached(snapshot_path, CATALOG, _engine_config(memory_limit, timeout_s))
    try:
        # The attach needed file access, so external access goes off only now (it may move from
        # true to false at any time); then the lock stops SET, RESET and PRAGMA reopening anything.
        con.execute("set enable_external_access = false")
        con.execute("set lock_configuration = true")
    except duckdb.Error:
        con.close()
        raise
    return con


def _engine_config(memory_limit: str, timeout_s: float) -> dict:
    return {
        "memory_limit": memory_limit,
        "temp_directory": "",
        "max_temp_directory_size": "0KB",
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "allow_persistent_secrets": False,
        "python_enable_replacements": False,
        "max_execution_time": max(1, math.ceil(timeout_s * 1000)),
    }


def _run(
    con: duckdb.DuckDBPyConnection,
    statement: duckdb.Statement,
    max_rows: int,
    timeout_s: float,
    memory_limit: str,
) -> tuple[pd.DataFrame, bool, float]:
    guard = threading.Lock()
    finished = False

    def stop() -> None:
        # Under the lock so the interrupt never lands on a connection that is closing.
        with guard:
            if not finished:
                con.interrupt()

    timer = threading.Timer(timeout_s, stop)
    timer.daemon = True
    started = time.monotonic()
    timer.start()
    try:
        con.execute(statement)
        frame = _fetch(con, max_rows + 1)
    except duckdb.Error as exc:
        raise _failure(exc, timeout_s, memory_limit) from None
    finally:
        with guard:
            finished = True
        timer.cancel()
    elapsed = time.monotonic() - started
    truncated = len(frame) > max_rows
    if truncated:
        frame = frame.iloc[:max_rows].reset_index(drop=True)
    return frame, truncated, elapsed


def _fetch(con: duckdb.DuckDBPyConnection, wanted: int) -> pd.DataFrame:
    # The result streams, so fetching only max_rows + 1 rows also stops DuckDB computing the rest.
    vectors = max(1, min(64, math.ceil(wanted / duckdb.__standard_vector_size__)))
    frames: list[pd.DataFrame] = []
    got = 0
    while got < wanted:
        chunk = con.fetch_df_chunk(vectors)
        if len(chunk) == 0:
            if not frames:
                frames.append(chunk)  # keeps the column names and types of an empty result
            break
        frames.append(chunk)
        got += len(chunk)
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _failure(exc: duckdb.Error, timeout_s: float, memory_limit: str) -> SandboxError:
    if isinstance(exc, duckdb.InterruptException):
        return SandboxError(f"stopped: the statement ran past the time limit of {timeout_s:g} s")
    if isinstance(exc, duckdb.OutOfMemoryException):
        return SandboxError(f"stopped: the statement needed more than the memory limit of {memory_limit}")
    if isinstance(exc, duckdb.PermissionException):
        return SandboxError("refused: the sandbox has no file, network or extension access")
    if isinstance(exc, _BIND_ERRORS):
        return SandboxError(first_line(exc))
    # Raised while rows were read: the text may quote a value (a failed cast, error(), a bad
    # regex taken from a column), so only the kind of error leaves the sandbox.
    kind = first_line(exc).split(":", 1)[0] if ":" in first_line(exc) else type(exc).__name__
    return SandboxError(
        f"failed: {kind} while running the statement (details withheld: they may quote warehouse values)"
    )
