"""Readers, one per export format: each puts a file's rows into an in-memory DuckDB table of text.

Every reader produces the same shape, so the checks in ``etl/checks.py`` are written once:

    _row            1-based data-row number in the file (header excluded; JSON lines: the line number)
    _bad_record     why the record's shape is wrong (more or fewer fields than the header, not a JSON
                    object) or NULL; every other column of such a row is NULL, whatever it held
    <canonical>     one VARCHAR column per contract column the header maps to (trimmed; '' is NULL),
                    except ``patient_id``, which never reaches a table:
    patient_key     its pseudonym, computed in the projection that reads the file (NULL when unusable)
    _patient_issue  why the patient number is unusable (missing_required, too_long, bad_characters)

The raw patient number lives only in the scan that reads the file; the tables hold the pseudonym, so
nothing DuckDB spills to disk can hold one. A row whose shape is wrong keeps none of its values:
a patient number shifted into another column is not stored either.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from etl import contract as c
from etl.confine import memory_bytes
from etl.escaping import CONTROL_CLASS, shown_name
from etl.mapped import MappedStep
from etl.mapping import Mapping
from etl.pseudonym import hmac_params, pseudonym_sql
from etl.warehouse import scalar

FORMATS = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".xlsx": "xlsx",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
#: A value holding one of these is quarantined as ``bad_characters`` (identifiers: a tab too). A line
#: break is refused in every column read: no field of a session needs one, and a stray quote in a
#: file makes a field run over the following rows (their patient numbers included) up to the next quote.
TEXT_CONTROLS = f"[{CONTROL_CLASS}\\n\\r]"
ID_CONTROLS = f"[{CONTROL_CLASS}\\t\\n\\r]"


class RejectedFile(Exception):
    """The whole file cannot be loaded; the message names the file and the reason."""


@dataclass(frozen=True)
class RawFile:
    """One export read into the load's in-memory database."""

    table: str
    format: str
    plan: c.HeaderPlan
    rows: int
    decimal_comma: bool
    #: SQL giving the 1-based data-row number in ``table``; None when ``table`` is a SELECT read in
    #: the same statement as the checks, whose output numbers its rows in the file's order
    row_expr: str | None = "_row"
    originals: tuple[str, ...] = ()  # columns a mapping transformed; ``_orig_<column>`` holds the cell
    #: parameters ``table`` binds when it is a SELECT (``etl/fastpath.py``)
    params: dict[str, object] = field(default_factory=dict)


def detect_format(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMATS[suffix]
    return None


def read_export(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    key: bytes,
    *,
    memory_limit: str = "2GB",
    mapping: Mapping | None = None,
) -> RawFile:
    """Read one export into ``table`` (in the in-memory catalog), through ``mapping`` when one is given.

    Raises RejectedFile if the file is unusable.
    """
    from etl.xlsx import read_xlsx  # a child process of its own; only Excel loads pay for it

    fmt = detect_format(path)
    readers = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl}
    name = shown_name(path.name)
    if fmt is None:
        raise RejectedFile(
            f"{name}: not a supported export (.csv, .csv.gz, .xlsx, .parquet, .jsonl, .ndjson)"
        )
    try:
        if fmt == "xlsx":
            return read_xlsx(con, path, table, key, memory_limit, mapping)
        return readers[fmt](con, path, table, key, record_limit(memory_limit), mapping)
    except RejectedFile:
        raise
    except (duckdb.Error, OSError, ValueError, UnicodeError, EOFError, gzip.BadGzipFile, csv.Error) as exc:
        raise RejectedFile(f"{name}: {describe_read_error(fmt, exc)}") from None


def record_limit(memory_limit: str) -> int:
    """The longest record read: MAX_RECORD_BYTES, or an eighth of a smaller memory limit.

    DuckDB reads a compressed file in buffers of twice this size, which must fit the memory limit.
    """
    return min(c.MAX_RECORD_BYTES, max(2 * 2**20, memory_bytes(memory_limit) // 8))


def _mb(size: int) -> str:
    return f"{size / 2**20:g} MB"


def describe_read_error(fmt: str, exc: BaseException) -> str:
    """Why a file could not be read, in words that quote none of its values."""
    text = str(exc)
    line = re.search(r"CSV Error on Line: (\d+)", text)
    where = f"line {line.group(1)}: " if line else ""
    if isinstance(exc, duckdb.OutOfMemoryException | MemoryError):
        return "needs more memory than the load may use (DERMA_MEMORY_LIMIT); nothing of it was loaded"
    if "Maximum line size" in text:
        limit = re.search(r"Maximum line size of (\d+) bytes", text)
        size = _mb(int(limit.group(1))) if limit else _mb(c.MAX_RECORD_BYTES)
        return f"{where}a record longer than {size}; nothing of the file was loaded"
    if "Invalid unicode" in text or isinstance(exc, UnicodeError):
        return f"{where}not UTF-8 text; save the export as UTF-8"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    first = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", first)  # never echo a value from the file
    return f"unreadable {fmt} file ({first[:200]})"


def plan_for(header: list[str], mapping: Mapping | None) -> c.HeaderPlan:
    """How a file's header maps onto the contract, through ``mapping`` when one reads the file."""
    if mapping is None:
        return c.plan_header(header)
    return c.plan_header(header, mapping.columns, tuple(mapping.constants))


def decimal_comma(mapping: Mapping | None, default: bool) -> bool:
    """Whether numbers in text cells use a decimal comma: the mapping's ``[formats].decimal``, else ``default``."""
    return mapping.decimal == "," if mapping is not None and mapping.decimal else default


def check_plan(path: Path, plan: c.HeaderPlan) -> None:
    if plan.duplicated:
        raise RejectedFile(
            f"{shown_name(path.name)}: column(s) given more than once: "
            f"{', '.join(shown_name(d) for d in sorted(set(plan.duplicated)))}"
        )
    if plan.missing:
        raise RejectedFile(f"{shown_name(path.name)}: missing required column(s): {', '.join(plan.missing)}")


def text_issue(value: str, controls: str = TEXT_CONTROLS) -> str:
    """SQL: ``too_long`` or ``bad_characters`` for a trimmed text value, else NULL."""
    return (
        f"(case when length({value}) > {c.MAX_FIELD_CHARS} then 'too_long' "
        f"when regexp_matches({value}, '{controls}') then 'bad_characters' end)"
    )


@dataclass(frozen=True)
class Projection:
    """A reader's SELECT (see :func:`project`) with the parameters it binds and the columns it kept as read."""

    sql: str
    params: dict[str, object]
    originals: tuple[str, ...]


def project(
    plan: c.HeaderPlan,
    positions: dict[str, str],
    source: str,
    extra: str = "",
    mapping: Mapping | None = None,
) -> Projection:
    """A SELECT over ``source`` giving the reader shape (see the module docstring).

    ``positions`` maps the file's header text to the SQL naming that column in ``source``; ``source``
    must give a ``_bad_record`` column; ``extra`` adds columns (e.g. ``_row``) passed through as they are.
    With a ``mapping``, its constants join the file's columns and its formats and value tables are
    applied in the same pass (``etl/mapped.py``); a transformed column keeps its cell as
    ``_orig_<column>``. The pseudonym is computed from the mapped clinic and the patient number as read.
    """
    step = MappedStep(mapping, plan)
    inner = ", ".join(
        [
            f"nullif(trim(cast({positions[header]} as varchar)), '') as {canonical}"
            for canonical, header in plan.mapping.items()
        ]
        + step.constants()
    )
    names = [*plan.mapping, *plan.constants]
    lead = f"{extra}, " if extra else ""
    mapped = f"select {lead}_bad_record, {step.select(names)} from (select {lead}_bad_record, {inner} from {source})"
    kept = [name for name in names if name != "patient_id"] + [f"_orig_{name}" for name in step.originals]
    outer = ", ".join(f"case when _bad_record is null then {name} end as {name}" for name in kept)
    issue = (
        f"case when patient_id is null then 'missing_required' "
        f"else {text_issue('patient_id', ID_CONTROLS)} end"
    )
    key = pseudonym_sql("clinic_id", "patient_id")
    sql = f"""select {lead}_bad_record, {outer},
            case when _bad_record is null and _patient_issue is null and clinic_id is not null
                 then {key} end as patient_key,
            case when _bad_record is null then _patient_issue end as _patient_issue
        from (select *, {issue} as _patient_issue from ({mapped}))"""
    return Projection(sql, step.params, tuple(step.originals))


# --- CSV -------------------------------------------------------------------------------------------


def _open_text(path: Path) -> io.TextIOBase:
    raw = gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _first_record(text: str) -> str | None:
    """The first CSV record of ``text`` (quoted line breaks included), or None if it does not end in it."""
    quoted = False
    for i, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char in "\r\n" and not quoted:
            return text[:i]
    return None


def sniff_header(path: Path) -> tuple[list[str], str]:
    """The header record, read whole, and the delimiter (``,`` or ``;``: whichever gives more fields)."""
    with _open_text(path) as handle:
        sample = handle.read(c.MAX_HEADER_BYTES + 1)
    if not sample.strip():
        raise RejectedFile(f"{shown_name(path.name)}: empty file, no header row")
    record = _first_record(sample)
    if record is None:
        if len(sample) > c.MAX_HEADER_BYTES:
            raise RejectedFile(
                f"{shown_name(path.name)}: the header row is longer than {c.MAX_HEADER_BYTES // 2**20} MB"
            )
        record = sample  # a file of one line: the header alone
    best: tuple[list[str], str] = ([], ",")
    for delimiter in (",", ";"):
        header = next(csv.reader(io.StringIO(record), delimiter=delimiter), [])
        if len(header) > len(best[0]):
            best = (header, delimiter)
    if len(best[0]) > c.MAX_COLUMNS:
        raise RejectedFile(
            f"{shown_name(path.name)}: {len(best[0]):,} columns; an export has at most {c.MAX_COLUMNS:,}"
        )
    return best


def csv_options(limit: int) -> str:
    """``read_csv`` options of every CSV read: the delimiter, columns and patient key are bound."""
    # The record limit is given to both readers: without it DuckDB's parallel reader silently drops a
    # record longer than its default (2 MB) instead of failing.
    return (
        "delim=$delim, header=true, quote='\"', escape='\"', encoding='utf-8', auto_detect=false, "
        f"columns=$columns, max_line_size={limit}, buffer_size={2 * limit}"
    )


def _read_csv(
    con: duckdb.DuckDBPyConnection, path: Path, table: str, key: bytes, limit: int, mapping: Mapping | None
) -> RawFile:
    header, delimiter = sniff_header(path)
    plan = plan_for(header, mapping)
    check_plan(path, plan)
    names = [f"c{i}" for i in range(len(header))]
    positions = dict(zip(header, names, strict=True))
    options = csv_options(limit)
    params: dict[str, object] = {"path": str(path), "delim": delimiter, **hmac_params(key)}
    params["columns"] = dict.fromkeys(names, "VARCHAR")
    # One pass from file to pseudonymised table; the table's rowid keeps the file's order (row = rowid + 1).
    try:  # fast path: the parallel reader, for well-formed files
        source = f"(select cast(null as varchar) as _bad_record, * from read_csv($path, {options}))"
        step = project(plan, positions, source, mapping=mapping)
        con.execute(f"create or replace temp table {table} as {step.sql}", {**params, **step.params})
    except duckdb.Error:
        # Ragged rows or long records: the single-threaded reader pads short rows (padding is NULL,
        # an empty field is '' under this nullstr) and one spare column catches long ones.
        params["columns"] = dict.fromkeys([*names, "_extra"], "VARCHAR")
        tolerant = f"{options}, null_padding=true, parallel=false, strict_mode=false, nullstr=chr(1)"
        shape = (
            "case when _extra is not null then 'more fields than the header' "
            f"when {names[-1]} is null then 'fewer fields than the header' end"
        )
        source = f"(select {shape} as _bad_record, * from read_csv($path, {tolerant}))"
        step = project(plan, positions, source, mapping=mapping)
        con.execute(f"create or replace temp table {table} as {step.sql}", {**params, **step.params})
    rows = scalar(con, f"select count(*) from {table}")
    return RawFile(
        table,
        "csv",
        plan,
        rows,
        decimal_comma=decimal_comma(mapping, delimiter == ";"),
        row_expr="rowid + 1",
        originals=step.originals,
    )


# --- Parquet ---------------------------------------------------------------------------------------


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _read_parquet(
    con: duckdb.DuckDBPyConnection, path: Path, table: str, key: bytes, _limit: int, mapping: Mapping | None
) -> RawFile:
    header = [
        r[0]
        for r in con.execute(
            "select column_name from (describe select * from read_parquet($p))", {"p": str(path)}
        ).fetchall()
    ]
    plan = plan_for(header, mapping)
    check_plan(path, plan)
    positions = {h: _quote_ident(h) for h in header}
    source = (
        "(select file_row_number + 1 as _row, cast(null as varchar) as _bad_record, * "
        "from read_parquet($p, file_row_number = true))"
    )
    step = project(plan, positions, source, "_row", mapping)
    con.execute(
        f"create or replace temp table {table} as {step.sql}",
        {"p": str(path), **hmac_params(key), **step.params},
    )
    rows = scalar(con, f"select count(*) from {table}")
    return RawFile(
        table, "parquet", plan, rows, decimal_comma=decimal_comma(mapping, False), originals=step.originals
    )


# --- JSON lines ------------------------------------------------------------------------------------


# Each line is read as one text value (0x1F cannot occur raw inside valid JSON), so a bad line
# becomes a quarantined row instead of failing the file. The file is scanned twice (keys, then values)
# rather than kept as raw lines in a table.
def _lines(limit: int) -> str:
    return f"""read_csv($p, delim=chr(31), quote='', escape='', header=false, columns={{'line': 'VARCHAR'}},
    auto_detect=false, parallel=false, max_line_size={limit}, buffer_size={2 * limit})"""


def _read_jsonl(
    con: duckdb.DuckDBPyConnection, path: Path, table: str, key: bytes, limit: int, mapping: Mapping | None
) -> RawFile:
    keys, lines = con.execute(
        f"""select list_sort(list_distinct(flatten(list(json_keys(case when ok then line end))))),
                   count(*) filter (line is not null and trim(line) <> '')
            from (select line, coalesce(case when json_valid(line) then json_type(line) = 'OBJECT' end, false) as ok from {_lines(limit)})""",
        {"p": str(path)},
    ).fetchall()[0]
    if not lines:
        raise RejectedFile(f"{shown_name(path.name)}: empty file, no records")
    plan = plan_for(list(keys or []), mapping)
    check_plan(path, plan)
    params: dict[str, object] = {"p": str(path), **hmac_params(key)}
    positions = {}
    for i, name in enumerate(plan.mapping.values()):
        params[f"k{i}"] = '$."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        positions[name] = f"json_extract_string(case when ok then line end, $k{i})"
    source = f"""(select case when not ok then 'not a JSON object' end as _bad_record, *
        from (select line, coalesce(case when json_valid(line) then json_type(line) = 'OBJECT' end, false) as ok from {_lines(limit)}))"""
    blank = "line is null or trim(line) = ''"
    step = project(plan, positions, f"(select *, {blank} as _blank from {source})", "_blank", mapping)
    con.execute(f"create or replace temp table _lines as {step.sql}", {**params, **step.params})
    # rowid is the line's place in the file; blank lines are not records, but they keep the count.
    con.execute(
        f"""create or replace temp table {table} as
        select rowid + 1 as _row, * exclude (_blank) from _lines where not _blank order by _row"""
    )
    con.execute("drop table _lines")
    rows = scalar(con, f"select count(*) from {table}")
    return RawFile(
        table, "jsonl", plan, rows, decimal_comma=decimal_comma(mapping, False), originals=step.originals
    )
