"""Reading and checking a file in one pass: a CSV's rows go from the parallel reader straight to the checks.

The text path (``etl/readers.py``) stores every file as a table of text and the checks
(``etl/checks.py``) then type that table. For a well-formed CSV, the most common export, both are one
statement here: DuckDB's parallel reader feeds the reader's projection (trim, pseudonym) and the
checks' typing in one pipeline (a vendor mapping's formats and value tables included), and only the
checked rows are stored, so a million rows of text are neither written nor read again. Nothing about a row's outcome changes: the SQL that reads and the SQL
that checks are the very functions the text path runs, and every row's values are typed (or set aside
with their reasons) by the same expressions, so a value that fails to cast is quarantined exactly as
the text path would (``tests/etl/test_fastpath.py`` compares the two table by table).

A file the strict parallel reader cannot read (ragged rows, a record over the limit, bytes that are not
UTF-8) raises inside that one statement; it is then read through the text path from the start, whose
tolerant reader turns each malformed record into a quarantined row, or rejects the file by name. Other
formats always take the text path.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import duckdb

from etl import readers
from etl.checks import check_rows
from etl.mapping import Mapping
from etl.pseudonym import hmac_params
from etl.readers import (
    RawFile,
    RejectedFile,
    check_plan,
    csv_options,
    decimal_comma,
    detect_format,
    plan_for,
    project,
    read_export,
    sniff_header,
)
from etl.warehouse import scalar

#: Tables the fast path may leave behind when it gives way to the text path.
WORK_TABLES = ("_rows", "_rows_dups")


def read_checked(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    key: bytes,
    today,
    *,
    memory_limit: str = "2GB",
    mapping: Mapping | None = None,
) -> RawFile:
    """Read one export (through ``mapping`` when one is given) and check its rows into ``_rows`` and
    ``_rows_dups`` (see :func:`check_rows`).

    Returns the file's description; ``rows`` counts the rows read. Raises what
    :func:`read_export` and :func:`check_rows` raise for a file that cannot be loaded.
    """
    try:
        streamed = stream_csv(path, key, memory_limit, mapping) if detect_format(path) == "csv" else None
    except (RejectedFile, OSError, ValueError, UnicodeError, EOFError, gzip.BadGzipFile, csv.Error):
        streamed = None  # the text path rejects it, with its own words for why
    if streamed is not None:
        try:
            check_rows(con, streamed, today, "_rows")
        except duckdb.InterruptException:
            raise
        except duckdb.Error:
            for table in WORK_TABLES:  # the text path reads the file again from the start
                con.execute(f"drop table if exists {table}")
        else:
            rows = scalar(con, "select count(*) from _rows")
            return RawFile(
                "_rows",
                "csv",
                streamed.plan,
                rows,
                streamed.decimal_comma,
                row_expr="_row",
                originals=streamed.originals,
            )
    raw = read_export(con, path, "_raw", key, memory_limit=memory_limit, mapping=mapping)
    check_rows(con, raw, today, "_rows")
    return raw


def stream_csv(path: Path, key: bytes, memory_limit: str, mapping: Mapping | None = None) -> RawFile | None:
    """The reader's SELECT over DuckDB's strict parallel CSV reader, for :func:`check_rows` to read from.

    The header is sniffed and planned (through ``mapping``) as the text path does, and a file it would
    reject raises RejectedFile here too. Returns a :class:`RawFile` whose ``table`` is that SELECT and
    whose ``params`` bind the path, delimiter, columns, padded keys and the mapping's values.
    """
    header, delimiter = sniff_header(path)
    plan = plan_for(header, mapping)
    check_plan(path, plan)
    names = [f"c{i}" for i in range(len(header))]
    source = (
        "(select cast(null as varchar) as _bad_record, * "
        f"from read_csv($path, {csv_options(readers.record_limit(memory_limit))}))"
    )
    step = project(plan, dict(zip(header, names, strict=True)), source, mapping=mapping)
    params: dict[str, object] = {
        "path": str(path),
        "delim": delimiter,
        "columns": dict.fromkeys(names, "VARCHAR"),
        **hmac_params(key),
        **step.params,
    }
    return RawFile(
        f"({step.sql})",
        "csv",
        plan,
        0,
        decimal_comma(mapping, delimiter == ";"),
        row_expr=None,
        originals=step.originals,
        params=params,
    )
