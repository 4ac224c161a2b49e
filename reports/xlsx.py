"""The report as a workbook: one sheet per table, typed cells, frozen headers, fitted widths, fixed metadata.

Numbers are numbers (percentages with a percent format), months and dates are dates, a suppressed cell
is the text ``<N``. The workbook's created/modified properties come from the snapshot and every zip
entry gets a fixed time, so the same snapshot and month give the same bytes.

Text is only ever text: a value from a clinic's file that starts like a formula (``=HYPERLINK(…)``,
``+``, ``-``, ``@``, tab, CR) is stored as a string cell with Excel's quote prefix, never as a formula,
and control characters a workbook cannot hold (a NUL) are written as visible escapes instead of
stopping the report.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from etl.escaping import escape_controls, is_formula_like
from reports.content import Content
from reports.html import cell, hidden_text

NUMBER_FORMATS = {
    "int": "#,##0",
    "level": "0",
    "pct": "0.0%",
    "pp": "+0.0%;-0.0%;0.0%",
    "ratio": "0.00",
    "num": "0.000",
    "month": "mmm yyyy",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm",
}


def _typed(value, fmt: str):
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if fmt in ("month", "date"):
        return pd.Timestamp(value).date()
    if fmt == "datetime":
        return pd.Timestamp(value).to_pydatetime().replace(tzinfo=None)
    if fmt in ("int", "level"):
        return round(float(value))
    if fmt in ("pct", "pp", "ratio", "num"):
        return float(value)
    return str(value)


def _text_safe(value):
    """A value openpyxl may store: text with its control characters escaped; anything else unchanged."""
    return escape_controls(value) if isinstance(value, str) else value


def append_row(sheet, values: list) -> None:
    """Append ``values`` as one row; text stays text (a formula-like string is a quoted string cell)."""
    sheet.append([_text_safe(v) for v in values])
    for written in sheet[sheet.max_row]:
        if isinstance(written.value, str):
            written.data_type = "s"  # openpyxl made any text starting with '=' a formula
            if is_formula_like(written.value):
                written.quotePrefix = True  # and Excel keeps it text when the cell is edited


def snapshot_time(snapshot_id: str) -> dt.datetime:
    """The publication time in a snapshot id (``20261124T044048521196Z-…``); a fixed epoch otherwise."""
    try:
        return dt.datetime.strptime(snapshot_id[:15], "%Y%m%dT%H%M%S")
    except ValueError:
        return dt.datetime(2000, 1, 1)


def write_xlsx(content: Content, path: Path, snapshot_id: str) -> Path:
    book = Workbook()
    about = book.active
    about.title = "About"
    append_row(about, ["Report", content.title])
    for key, value in content.stamp:
        if not key.startswith("Generated"):  # the one varying stamp stays out, so the bytes repeat
            append_row(about, [key, value])
    for section in content.sections:
        for text in section.paragraphs:
            append_row(about, [section.title, text])
    seen: set[str] = {"About"}
    for section in content.sections:
        for table in section.tables:
            name = table.key if table.key not in seen else f"{table.key} {len(seen)}"
            seen.add(name)
            sheet = book.create_sheet(name[:31])
            append_row(sheet, [c.replace("_", " ") for c in table.formats])
            for c in sheet[1]:
                c.font = Font(bold=True)
            mask = table.hidden_mask()
            for i, row in table.frame.iterrows():
                values, formats = [], []
                for column, fmt in table.formats.items():
                    if fmt in ("by_unit", "by_unit_delta"):
                        fmt = ("pct" if fmt == "by_unit" else "pp") if row.get("unit") == "rate" else "int"
                    hidden = bool(mask.at[i, column])
                    values.append(hidden_text(fmt, content.min_cell) if hidden else _typed(row[column], fmt))
                    formats.append(None if hidden else NUMBER_FORMATS.get(fmt))
                append_row(sheet, values)
                for c, number_format in zip(sheet[sheet.max_row], formats, strict=True):
                    if number_format:
                        c.number_format = number_format
            sheet.freeze_panes = "A2"
            for index, column in enumerate(table.formats, start=1):
                texts = [column] + [
                    cell(v, table.formats[column], None)
                    if table.formats[column] not in ("by_unit", "by_unit_delta")
                    else "+00.0 pp"
                    for v in table.frame[column]
                ]
                sheet.column_dimensions[get_column_letter(index)].width = min(
                    60, max(len(t) for t in texts) + 2
                )
    about.column_dimensions["A"].width = 28
    about.column_dimensions["B"].width = 100
    stamp = snapshot_time(snapshot_id)
    book.properties.created = stamp
    book.properties.modified = stamp  # openpyxl overwrites it on save: see _fix_zip_times
    book.properties.creator = "derma-outcomes"
    buffer = io.BytesIO()
    book.save(buffer)
    _fix_zip_times(buffer.getvalue(), path, stamp)
    return path


def _fix_zip_times(data: bytes, path: Path, stamp: dt.datetime) -> None:
    """Rewrite the workbook's zip with every entry dated ``stamp`` (openpyxl dates them 'now')."""
    when = (max(stamp.year, 1980), stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=when)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            payload = source.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps 'modified' with the save time
                payload = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(<)",
                    rb"\g<1>" + stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode() + rb"\g<2>",
                    payload,
                )
            target.writestr(entry, payload)
