"""Readers, one per export format: each puts a file's rows into an in-memory DuckDB table of text.

Every reader produces the same shape, so the checks in ``etl/checks.py`` are written once:

    _row        1-based data-row number in the file (header excluded; JSON lines: the line number)
    _bad_record why the record itself is unreadable (too many fields, not a JSON object) or NULL
    <canonical> one VARCHAR column per contract column the header maps to (trimmed; '' is NULL)

Raw rows (patient numbers included) only ever live in the in-memory database of the load.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from etl.contract import HeaderPlan, plan_header
from etl.warehouse import scalar

FORMATS = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".xlsx": "xlsx",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


class RejectedFile(Exception):
    """The whole file cannot be loaded; the message names the file and the reason."""


@dataclass(frozen=True)
class RawFile:
    """One export read into the load's in-memory database."""

    table: str
    format: str
    plan: HeaderPlan
    rows: int
    decimal_comma: bool
    row_expr: str = "_row"  # SQL giving the 1-based data-row number in ``table``


def detect_format(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMATS[suffix]
    return None


def read_export(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> RawFile:
    """Read one export into ``table`` (in the in-memory catalog); raise RejectedFile if unusable."""
    fmt = detect_format(path)
    reader = {"csv": _read_csv, "xlsx": _read_xlsx, "parquet": _read_parquet, "jsonl": _read_jsonl}.get(
        fmt or ""
    )
    if reader is None:
        raise RejectedFile(
            f"{path.name}: not a supported export (.csv, .csv.gz, .xlsx, .parquet, .jsonl, .ndjson)"
        )
    try:
        return reader(con, path, table)
    except RejectedFile:
        raise
    except (duckdb.Error, OSError, ValueError, UnicodeError, EOFError, gzip.BadGzipFile) as exc:
        raise RejectedFile(f"{path.name}: unreadable {fmt} file ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _check_plan(path: Path, plan: HeaderPlan) -> None:
    if plan.duplicated:
        raise RejectedFile(
            f"{path.name}: column(s) given more than once: {', '.join(sorted(set(plan.duplicated)))}"
        )
    if plan.missing:
        raise RejectedFile(f"{path.name}: missing required column(s): {', '.join(plan.missing)}")


def _select_canonical(plan: HeaderPlan, positions: dict[str, str]) -> str:
    """Projection from positional columns (c0, c1, …) to trimmed canonical text columns."""
    parts = []
    for canonical, header in plan.mapping.items():
        source = positions[header]
        parts.append(f"nullif(trim(cast({source} as varchar)), '') as {canonical}")
    return ", ".join(parts)


# --- CSV -------------------------------------------------------------------------------------------


def _open_text(path: Path) -> io.TextIOBase:
    raw = gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _sniff_header(path: Path) -> tuple[list[str], str]:
    """The header record and the delimiter (``,`` or ``;``: whichever splits the header into more fields)."""
    with _open_text(path) as handle:
        sample = handle.read(64 * 1024)
    if not sample.strip():
        raise RejectedFile(f"{path.name}: empty file, no header row")
    best: tuple[list[str], str] = ([], ",")
    for delimiter in (",", ";"):
        header = next(csv.reader(io.StringIO(sample), delimiter=delimiter), [])
        if len(header) > len(best[0]):
            best = (header, delimiter)
    return best


def _read_csv(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> RawFile:
    header, delimiter = _sniff_header(path)
    plan = plan_header(header)
    _check_plan(path, plan)
    names = [f"c{i}" for i in range(len(header))]
    positions = dict(zip(header, names, strict=True))
    options = "delim=$delim, header=true, quote='\"', escape='\"', encoding='utf-8', auto_detect=false, columns=$columns"
    params = {"path": str(path), "delim": delimiter, "columns": dict.fromkeys(names, "VARCHAR")}
    projection = _select_canonical(plan, positions)
    # One pass from file to trimmed table; the table's rowid keeps the file's order (row = rowid + 1).
    try:  # fast path: the parallel reader, for well-formed files
        con.execute(
            f"""create or replace temp table {table} as
            select cast(null as varchar) as _bad_record, {projection} from read_csv($path, {options})""",
            params,
        )
    except duckdb.Error:
        # Ragged rows: the single-threaded reader pads short rows; one spare column catches long ones.
        params["columns"] = dict.fromkeys([*names, "_extra"], "VARCHAR")
        tolerant = options + ", null_padding=true, parallel=false, strict_mode=false"
        con.execute(
            f"""create or replace temp table {table} as
            select case when _extra is not null then 'more fields than the header' end as _bad_record, {projection}
            from read_csv($path, {tolerant})""",
            params,
        )
    rows = scalar(con, f"select count(*) from {table}")
    return RawFile(table, "csv", plan, rows, decimal_comma=delimiter == ";", row_expr="rowid + 1")


# --- Excel -----------------------------------------------------------------------------------------


def _cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_xlsx(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> RawFile:
    import openpyxl  # imported here: only Excel loads pay for it

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a damaged workbook
        raise RejectedFile(f"{path.name}: unreadable xlsx file ({_first_line(exc)})") from None
    try:
        sheet = book["sessions"] if "sessions" in book.sheetnames else book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header_row = next(rows, None)
        if header_row is None or all(v is None for v in header_row):
            raise RejectedFile(f"{path.name}: no header row in sheet '{sheet.title}'")
        header = ["" if v is None else str(v) for v in header_row]
        plan = plan_header(header)
        _check_plan(path, plan)
        wanted = {header.index(h): c for c, h in plan.mapping.items()}
        columns: dict[str, list] = {c: [] for c in wanted.values()}
        numbers, bad = [], []
        width = len(header)
        for number, row in enumerate(rows, start=1):
            if all(v is None for v in row):
                continue  # Excel keeps formatted but empty rows: not data
            numbers.append(number)
            bad.append("more fields than the header" if any(v is not None for v in row[width:]) else None)
            for index, canonical in wanted.items():
                columns[canonical].append(_cell_text(row[index]) if index < len(row) else None)
    finally:
        book.close()
    arrow = pa.table(
        {
            "_row": pa.array(numbers, pa.int64()),
            "_bad_record": pa.array(bad, pa.string()),
            **{c: pa.array(v, pa.string()) for c, v in columns.items()},
        }
    )
    con.register("_xlsx", arrow)
    trimmed = ", ".join(f"nullif(trim({c}), '') as {c}" for c in columns)
    con.execute(f"create or replace temp table {table} as select _row, _bad_record, {trimmed} from _xlsx")
    con.unregister("_xlsx")
    return RawFile(table, "xlsx", plan, len(numbers), decimal_comma=False)


# --- Parquet ---------------------------------------------------------------------------------------


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _read_parquet(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> RawFile:
    header = [
        r[0]
        for r in con.execute(
            "select column_name from (describe select * from read_parquet($p))", {"p": str(path)}
        ).fetchall()
    ]
    plan = plan_header(header)
    _check_plan(path, plan)
    positions = {h: _quote_ident(h) for h in header}
    con.execute(
        f"""create or replace temp table {table} as
        select file_row_number + 1 as _row, cast(null as varchar) as _bad_record, {_select_canonical(plan, positions)}
        from read_parquet($p, file_row_number = true)""",
        {"p": str(path)},
    )
    rows = scalar(con, f"select count(*) from {table}")
    return RawFile(table, "parquet", plan, rows, decimal_comma=False)


# --- JSON lines ------------------------------------------------------------------------------------


def _read_jsonl(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> RawFile:
    # Each line is read as one text value (0x1F cannot occur raw inside valid JSON), so a bad line
    # becomes a quarantined row instead of failing the file.
    con.execute(
        """create or replace temp table _lines as
        select line from read_csv($p, delim=chr(31), quote='', escape='', header=false,
                                  columns={'line': 'VARCHAR'}, auto_detect=false)""",
        {"p": str(path)},
    )
    con.execute("create or replace temp table _lines as select rowid + 1 as _row, line from _lines")
    con.execute("delete from _lines where line is null or trim(line) = ''")
    con.execute("alter table _lines add column _ok boolean")
    con.execute(
        "update _lines set _ok = case when json_valid(line) then json_type(line) = 'OBJECT' else false end"
    )
    keys = [
        r[0]
        for r in con.execute(
            "select distinct unnest(json_keys(case when _ok then line end)) as k from _lines order by k"
        ).fetchall()
    ]
    if not keys and scalar(con, "select count(*) from _lines") == 0:
        raise RejectedFile(f"{path.name}: empty file, no records")
    plan = plan_header(keys)
    _check_plan(path, plan)
    params: dict[str, object] = {}
    exprs = []
    for i, (canonical, key) in enumerate(plan.mapping.items()):
        params[f"k{i}"] = '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
        exprs.append(
            f"case when _ok then nullif(trim(json_extract_string(line, $k{i})), '') end as {canonical}"
        )
    con.execute(
        f"""create or replace temp table {table} as
        select _row, case when not _ok then 'not a JSON object' end as _bad_record, {", ".join(exprs)}
        from _lines order by _row""",
        params,
    )
    con.execute("drop table _lines")
    rows = scalar(con, f"select count(*) from {table}")
    return RawFile(table, "jsonl", plan, rows, decimal_comma=False)
