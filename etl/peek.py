"""A look into an export for suggesting its mapping: the header, and chosen columns as text, in memory.

Nothing read here is stored or logged: the columns land in a private in-memory DuckDB that the caller
closes, and only what ``etl/suggest.py`` decides may be written (never a patient number, name or
e-mail) leaves it. Every format is read the way the load reads it (the same header sniffing, the same
confined Excel parser), so a suggestion sees what a load would see.
"""

from __future__ import annotations

import csv
import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from etl import contract as c
from etl.escaping import shown_name
from etl.readers import RejectedFile, describe_read_error, detect_format, record_limit, sniff_header
from etl.xlsx import run_worker

#: The memory one look may use (an export read for a suggestion, not a load).
PEEK_MEMORY = "1GB"


@dataclass(frozen=True)
class Peek:
    """An export's header as the load would read it, and where it came from."""

    path: Path
    format: str
    header: list[str]
    delimiter: str = ","
    sheet: str | None = None  # the workbook sheet read
    sheets: tuple[tuple[str, tuple[str, ...]], ...] = ()  # every sheet's name and header (workbooks)


def peek_header(path: Path, sheet: str | None = None) -> Peek:
    """The header of ``path`` (for a workbook: of ``sheet``, else of the sheet whose header fits the format best)."""
    name = shown_name(path.name)
    fmt = detect_format(path)
    if fmt is None:
        raise RejectedFile(
            f"{name}: not a supported export (.csv, .csv.gz, .xlsx, .parquet, .jsonl, .ndjson)"
        )
    try:
        if fmt == "csv":
            header, delimiter = sniff_header(path)
            return Peek(path, fmt, header, delimiter)
        con = duckdb.connect(":memory:", config={"memory_limit": PEEK_MEMORY})
        try:
            if fmt == "parquet":
                rows = con.execute(
                    "select column_name from (describe select * from read_parquet($p))", {"p": str(path)}
                )
                return Peek(path, fmt, [r[0] for r in rows.fetchall()])
            if fmt == "jsonl":
                keys = con.execute(
                    f"""select list_sort(list_distinct(flatten(list(json_keys(line)))))
                    from (select line from {_lines()} where json_valid(line) and json_type(line) = 'OBJECT')""",
                    {"p": str(path)},
                ).fetchall()[0][0]
                return Peek(path, fmt, list(keys or []))
        finally:
            con.close()
        return _workbook_header(path, sheet)
    except RejectedFile:
        raise
    except (duckdb.Error, OSError, ValueError, UnicodeError, EOFError, gzip.BadGzipFile, csv.Error) as exc:
        raise RejectedFile(f"{name}: {describe_read_error(fmt, exc)}") from None


def _lines() -> str:
    limit = record_limit(PEEK_MEMORY)
    return f"""read_csv($p, delim=chr(31), quote='', escape='', header=false, columns={{'line': 'VARCHAR'}},
        auto_detect=false, parallel=false, max_line_size={limit}, buffer_size={2 * limit})"""


def _fitting(header: tuple[str, ...]) -> int:
    return sum(c.normalise_header(h) in c.KNOWN for h in header)


def _workbook_header(path: Path, sheet: str | None) -> Peek:
    output = run_worker(path, {"path": str(path), "headers_only": True}, PEEK_MEMORY, "a look at it may use")
    sheets = tuple((name, tuple(header)) for name, header in json.loads(output)["sheets"])
    names = [name for name, _ in sheets]
    if sheet is not None and sheet not in names:
        raise RejectedFile(
            f"{shown_name(path.name)}: no sheet named {json.dumps(sheet, ensure_ascii=False)} "
            f"(the workbook has {', '.join(json.dumps(n, ensure_ascii=False) for n in names)})"
        )
    if sheet is None:  # the load's default, unless another sheet's header fits the format better
        default = "sessions" if "sessions" in names else names[0]
        best = max(sheets, key=lambda s: (_fitting(s[1]), s[0] == default))
        sheet = default if _fitting(best[1]) == _fitting(dict(sheets)[default]) else best[0]
    return Peek(path, "xlsx", list(dict(sheets)[sheet]), sheet=sheet, sheets=sheets)


def peek_columns(
    con: duckdb.DuckDBPyConnection, peek: Peek, headers: list[str], table: str = "_peek"
) -> None:
    """Create ``table`` in ``con`` with the columns ``headers`` of the export as trimmed text (``v0``, ``v1``, ...)."""
    name = shown_name(peek.path.name)
    positions = [peek.header.index(h) for h in headers]
    try:
        if peek.format == "csv":
            limit = record_limit(PEEK_MEMORY)
            columns = {f"c{i}": "VARCHAR" for i in range(len(peek.header))} | {"_extra": "VARCHAR"}
            source = f"""read_csv($p, delim=$delim, header=true, quote='"', escape='"', encoding='utf-8',
                auto_detect=false, columns=$columns, null_padding=true, parallel=false, strict_mode=false,
                max_line_size={limit}, buffer_size={2 * limit})"""
            picked = [f"c{p}" for p in positions]
            params: dict[str, object] = {"p": str(peek.path), "delim": peek.delimiter, "columns": columns}
        elif peek.format == "parquet":
            source = "read_parquet($p)"
            picked = ['"' + peek.header[p].replace('"', '""') + '"' for p in positions]
            params = {"p": str(peek.path)}
        elif peek.format == "jsonl":
            source = f"(select line from {_lines()} where json_valid(line) and json_type(line) = 'OBJECT')"
            params = {"p": str(peek.path)}
            picked = []
            for i, p in enumerate(positions):
                params[f"k{i}"] = '$."' + peek.header[p].replace("\\", "\\\\").replace('"', '\\"') + '"'
                picked.append(f"json_extract_string(line, $k{i})")
        else:
            output = run_worker(
                peek.path,
                {"path": str(peek.path), "sheet": peek.sheet, "columns": headers},
                PEEK_MEMORY,
                "a look at it may use",
            )
            arrow = pa.ipc.open_stream(output).read_all()
            con.register("_peek_xlsx", arrow)
            source, params = "_peek_xlsx", {}
            picked = [f"c{i}" for i in range(len(headers))]
        items = ", ".join(
            f"nullif(trim(cast({expr} as varchar)), '') as v{i}" for i, expr in enumerate(picked)
        )
        con.execute(
            f"create or replace temp table {table} as select {items or 'null as v0'} from {source}", params
        )
    except RejectedFile:
        raise
    except (
        duckdb.Error,
        OSError,
        ValueError,
        UnicodeError,
        EOFError,
        gzip.BadGzipFile,
        pa.ArrowInvalid,
    ) as exc:
        raise RejectedFile(f"{name}: {describe_read_error(peek.format, exc)}") from None
