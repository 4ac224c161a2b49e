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

import json
import math
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from etl.warehouse import connect_attached

#: The catalog name the snapshot is attached under (and made the default, so ``sessions`` resolves).
CATALOG = "warehouse"
#: Longer text is refused before it reaches the parser.
MAX_SQL_CHARS = 100_000

# Only these query nodes may appear: DuckDB 2.0 serializes a write hidden in a CTE as
# INSERT_/UPDATE_/DELETE_/COPY_QUERY_NODE under a statement whose type is still SELECT.
_QUERY_NODES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"})

# Table functions are allow-listed: the rest read files (read_*, glob, parquet_*, read_duckdb), run
# SQL given as a string (query, query_table, json_execute_serialized_sql), change state
# (checkpoint, enable_logging, truncate_duckdb_logs, *_external_resource) or reveal paths and
# settings (duckdb_databases, duckdb_settings, duckdb_extensions, duckdb_secrets, ...).
_TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        "repeat",
        "repeat_row",
        "json_each",
        "json_tree",
        "duckdb_tables",
        "duckdb_views",
        "duckdb_columns",
        "duckdb_schemas",
        "duckdb_types",
        "duckdb_functions",
        "duckdb_constraints",
        "duckdb_indexes",
        "duckdb_keywords",
        "duckdb_dependencies",
        "duckdb_sequences",
        "pragma_table_info",
        "pragma_show",
        "pragma_version",
        "pg_timezone_names",
        "icu_calendar_names",
    }
)

# Functions refused wherever they appear, with the reason given to the analyst.
_HIDDEN_FUNCTIONS = {
    "current_setting": "shows engine settings, which include host paths",
    "getenv": "reads the host environment",
    "nextval": "changes a sequence",
    "setval": "changes a sequence",
    "currval": "reads sequence state",
    "write_log": "writes to the engine log",
}

# System views (no parentheses needed) that show file paths or settings; the catalog and schema
# names are ignored because ``system.main.duckdb_databases`` is the same view.
_HIDDEN_TABLES = {
    "duckdb_databases": "shows database file paths",
    "pragma_database_list": "shows database file paths",
    "duckdb_settings": "shows engine settings, which include host paths",
    "pg_settings": "shows engine settings, which include host paths",
    "duckdb_logs": "shows the engine log",
}

# A table name with a path separator, a URL scheme, a home-directory tilde or a file extension is
# DuckDB's file replacement scan ('x.csv', '/etc/passwd', 's3://...'); refuse it by name.
_FILE_LIKE = re.compile(r"[/\\:~]|\.[A-Za-z0-9]{1,10}$")

# Words a query may start with (DESCRIBE, SHOW, SUMMARIZE and PIVOT parse to SELECT statements).
_LEADING_WORDS = frozenset(
    {"select", "with", "from", "values", "table", "describe", "show", "summarize", "pivot", "unpivot"}
)
# Keywords that only a write uses; outside strings, quoted names and comments they are refused even
# if the parser checks above were somehow bypassed.
_WRITE_WORDS = frozenset({"insert", "update", "delete", "merge", "copy", "returning", "truncate"})

# Errors raised before any row is read quote only the statement and the schema.
_BIND_ERRORS = (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException)
_MEMORY_LIMIT = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


class SandboxError(ValueError):
    """The statement was refused or failed; the message says why in one line and quotes no data."""


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
        statement = _one_select(con, sql)
        _check_tree(_serialize(con, statement.query), setting_names)
        _check_tokens(statement.query)
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


def _one_select(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.Statement:
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise SandboxError(f"syntax error: {_first_line(exc)}") from None
    if not statements:
        raise SandboxError("refused: the text holds no statement (only comments or semicolons)")
    if len(statements) > 1:
        raise SandboxError(
            f"refused: the sandbox runs exactly one statement; this text holds {len(statements)}"
        )
    statement = statements[0]
    kind = statement.type.name
    if kind == "MULTI":
        raise SandboxError(
            "refused: the statement runs as several (PIVOT needs an explicit IN (...) list here)"
        )
    if kind != "SELECT":
        # Name the verb the analyst typed: DuckDB files USE under SET and IMPORT under PRAGMA.
        verb = (_words(statement.query) or [kind])[0].upper()
        raise SandboxError(f"refused: only a SELECT runs in the sandbox, not {verb}")
    if statement.named_parameters:
        raise SandboxError("refused: the sandbox runs statements without parameters ($name or ?)")
    return statement


def _words(sql: str) -> list[str]:
    """The keywords of ``sql`` in order (lower case), led by its first token whatever its kind."""
    words = []
    for start, kind in duckdb.tokenize(sql):
        if kind == duckdb.token_type.comment:
            continue
        if kind == duckdb.token_type.keyword:
            word = re.match(r"[A-Za-z_]+", sql[start:])
            words.append(word.group(0).lower() if word else "")
        elif not words:
            words.append(sql[start])
    return words


def _check_tokens(sql: str) -> None:
    words = _words(sql)
    if not words or words[0] not in _LEADING_WORDS | {"("}:
        raise SandboxError("refused: the statement must start with SELECT, WITH, FROM, VALUES or TABLE")
    written = sorted(_WRITE_WORDS.intersection(words))
    if written:
        raise SandboxError(
            f'refused: {written[0].upper()} is a write keyword (quote it as "{written[0]}" '
            "if it is a column name)"
        )


def _serialize(con: duckdb.DuckDBPyConnection, sql: str) -> dict:
    try:
        text = con.execute("select json_serialize_sql($sql)", {"sql": sql}).fetchone()[0]
        tree = json.loads(text)
    except duckdb.Error as exc:
        raise SandboxError(f"refused: the statement could not be checked ({_first_line(exc)})") from None
    except RecursionError:
        raise SandboxError("refused: the statement is nested too deeply to check") from None
    if tree.get("error") or len(tree.get("statements", ())) != 1:
        raise SandboxError("refused: the statement could not be checked as a single SELECT")
    return tree


def _check_tree(tree: dict, setting_names: set[str]) -> None:
    for node in _dicts(tree):
        kind = node.get("type")
        if isinstance(kind, str) and kind.endswith("_NODE") and kind not in _QUERY_NODES:
            verb = kind.removesuffix("_NODE").removesuffix("_QUERY")
            raise SandboxError(f"refused: the statement hides a write ({verb}) inside a SELECT")
        name = node.get("function_name")
        if isinstance(name, str) and name.lower() in _HIDDEN_FUNCTIONS:
            raise SandboxError(f"refused: {name.lower()}() {_HIDDEN_FUNCTIONS[name.lower()]}")
        if kind == "TABLE_FUNCTION":
            function = node.get("function") or {}
            table_function = str(function.get("function_name", "")).lower()
            if table_function not in _TABLE_FUNCTIONS:
                raise SandboxError(
                    f"refused: table function {table_function or '(unnamed)'}() is not available "
                    "in the sandbox (no file, network, settings or system access)"
                )
        elif kind == "BASE_TABLE":
            table = str(node.get("table_name", ""))
            if table.lower() in _HIDDEN_TABLES:
                raise SandboxError(f"refused: {table.lower()} {_HIDDEN_TABLES[table.lower()]}")
            if _FILE_LIKE.search(table):
                raise SandboxError("refused: reading files or URLs is not allowed in the sandbox")
        elif kind == "SHOW_REF" and node.get("query") is None:
            shown = str(node.get("table_name", "")).strip('"').lower()
            if shown in setting_names:
                raise SandboxError("refused: engine settings are not visible in the sandbox")


def _dicts(tree: object) -> Iterator[dict]:
    # Iterative: a deeply nested expression must not hit Python's recursion limit.
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


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
        return SandboxError(_first_line(exc))
    # Raised while rows were read: the text may quote a value (a failed cast, error(), a bad
    # regex taken from a column), so only the kind of error leaves the sandbox.
    kind = _first_line(exc).split(":", 1)[0] if ":" in _first_line(exc) else type(exc).__name__
    return SandboxError(
        f"failed: {kind} while running the statement (details withheld: they may quote warehouse values)"
    )


def _first_line(exc: BaseException, limit: int = 300) -> str:
    # DuckDB puts a hint ("Did you mean ...?") on the next line and the echoed SQL after a blank
    # line or "LINE n:"; keep the message and the hint, drop the echo.
    kept = []
    for line in str(exc).splitlines():
        if not line.strip() or line.lstrip().startswith("LINE "):
            break
        kept.append(line.strip())
    text = " ".join(kept) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
