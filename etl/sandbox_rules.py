"""What a sandboxed statement may contain: one SELECT, allow-listed table functions, nothing that
reveals host paths or settings, no hidden write. Checked on DuckDB's own parse, before anything runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import duckdb

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


class SandboxError(ValueError):
    """The statement was refused or failed; the message says why in one line and quotes no data."""


def one_select(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.Statement:
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise SandboxError(f"syntax error: {first_line(exc)}") from None
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


def check_tokens(sql: str) -> None:
    words = _words(sql)
    if not words or words[0] not in _LEADING_WORDS | {"("}:
        raise SandboxError("refused: the statement must start with SELECT, WITH, FROM, VALUES or TABLE")
    written = sorted(_WRITE_WORDS.intersection(words))
    if written:
        raise SandboxError(
            f'refused: {written[0].upper()} is a write keyword (quote it as "{written[0]}" '
            "if it is a column name)"
        )


def serialize(con: duckdb.DuckDBPyConnection, sql: str) -> dict:
    try:
        text = con.execute("select json_serialize_sql($sql)", {"sql": sql}).fetchone()[0]
        tree = json.loads(text)
    except duckdb.Error as exc:
        raise SandboxError(f"refused: the statement could not be checked ({first_line(exc)})") from None
    except RecursionError:
        raise SandboxError("refused: the statement is nested too deeply to check") from None
    if tree.get("error") or len(tree.get("statements", ())) != 1:
        raise SandboxError("refused: the statement could not be checked as a single SELECT")
    return tree


def check_tree(tree: dict, setting_names: set[str]) -> None:
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


def first_line(exc: BaseException, limit: int = 300) -> str:
    # DuckDB puts a hint ("Did you mean ...?") on the next line and the echoed SQL after a blank
    # line or "LINE n:"; keep the message and the hint, drop the echo.
    kept = []
    for line in str(exc).splitlines():
        if not line.strip() or line.lstrip().startswith("LINE "):
            break
        kept.append(line.strip())
    text = " ".join(kept) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
