"""The Excel reader's child process: parses one workbook and streams its contract columns as Arrow.

Started by :func:`etl.xlsx.read_xlsx` through :mod:`etl.confine` (``python -m etl.xlsx_worker``) with
its address space and CPU seconds capped: a workbook is a zip of XML that can unpack to gigabytes
(one 300 MB cell in a 600 KB file), and parsing it must not take the load with it. Only the columns
the contract knows are sent back (protected and unknown columns never leave this process); the
header travels as the stream's metadata so the parent plans it the same way (through the same mapping's
columns and sheet, when a mapping reads the workbook).
"""

from __future__ import annotations

import datetime as dt
import json
import sys

from etl import confine

#: Rows per Arrow batch written to the parent.
BATCH_ROWS = 10_000


def cell_text(value: object) -> str | None:
    """A cell as the text a CSV export would hold (dates ISO, whole floats without ``.0``)."""
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


def sheet_header(sheet) -> list[str]:
    """A sheet's first row as header names (the sheet's width pads every row: the header ends at its last name)."""
    first = next(sheet.iter_rows(values_only=True, max_row=1), None) or ()
    header = ["" if v is None else str(v) for v in first]
    while header and header[-1] == "":
        header.pop()
    return header


def main() -> None:
    confine.limit_self()
    request = confine.read_request()
    import openpyxl
    import pyarrow as pa

    from etl.contract import plan_header

    confine.ready()
    try:
        book = openpyxl.load_workbook(request["path"], read_only=True, data_only=True)
    except MemoryError:
        confine.fail("needs more memory than the load may use (DERMA_MEMORY_LIMIT)", kind="memory")
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a damaged workbook
        confine.fail(f"unreadable xlsx file ({type(exc).__name__})")
    try:
        if request.get("headers_only"):  # for suggesting a mapping: every sheet's header, as JSON
            headers = [[name, sheet_header(book[name])] for name in book.sheetnames]
            sys.stdout.write(json.dumps({"sheets": headers}))
            sys.stdout.flush()
            return
        wanted_sheet = request.get("sheet")
        if wanted_sheet and wanted_sheet not in book.sheetnames:
            names = ", ".join(json.dumps(n, ensure_ascii=False) for n in book.sheetnames)
            confine.fail(
                f"no sheet named {json.dumps(wanted_sheet, ensure_ascii=False)} (the workbook has {names})"
            )
        if wanted_sheet:
            sheet = book[wanted_sheet]
        else:
            sheet = book["sessions"] if "sessions" in book.sheetnames else book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header_row = next(rows, None)
        if header_row is None or all(v is None for v in header_row):
            confine.fail(f"no header row in sheet {json.dumps(sheet.title)}")
        header = ["" if v is None else str(v) for v in header_row]
        while (
            header and header[-1] == ""
        ):  # the sheet's width pads every row: the header ends at its last name
            header.pop()
        if request.get("columns") is not None:  # for suggesting a mapping: chosen columns as they are
            wanted = {header.index(h): f"c{i}" for i, h in enumerate(request["columns"]) if h in header}
        else:
            plan = plan_header(header, request.get("renames"), tuple(request.get("constants") or ()))
            wanted = {header.index(h): name for name, h in plan.mapping.items()}
        width = len(header)
        schema = pa.schema(
            [("_row", pa.int64()), ("_bad_record", pa.string())]
            + [(n, pa.string()) for n in wanted.values()],
            metadata={"header": json.dumps(header)},
        )
        out = sys.stdout.buffer
        with pa.ipc.new_stream(out, schema) as stream:
            batch: list[list] = [[] for _ in schema]
            for number, row in enumerate(rows, start=1):
                if all(v is None for v in row):
                    continue  # Excel keeps formatted but empty rows: not data
                batch[0].append(number)
                batch[1].append(
                    "more fields than the header" if any(v is not None for v in row[width:]) else None
                )
                for slot, index in enumerate(wanted, start=2):
                    batch[slot].append(cell_text(row[index]) if index < len(row) else None)
                if len(batch[0]) >= BATCH_ROWS:
                    stream.write_batch(pa.record_batch(batch, schema=schema))
                    batch = [[] for _ in schema]
            stream.write_batch(pa.record_batch(batch, schema=schema))
        out.flush()
    except MemoryError:
        confine.fail("needs more memory than the load may use (DERMA_MEMORY_LIMIT)", kind="memory")
    except Exception as exc:  # noqa: BLE001 - a damaged sheet: the file is rejected, the batch goes on
        confine.fail(f"unreadable xlsx file ({type(exc).__name__})")
    finally:
        book.close()


if __name__ == "__main__":
    main()
