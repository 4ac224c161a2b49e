"""Excel exports: a workbook's size checked before it is opened, its sheet parsed in a capped child process.

The parse runs in ``etl/xlsx_worker.py`` (see :mod:`etl.confine`), so a workbook built to exhaust
memory or time is rejected by name while the rest of the batch loads. Its rows come back as Arrow,
held in this process's memory (never in a table DuckDB could spill), and are pseudonymised by the same
projection as every other format.
"""

from __future__ import annotations

import json
import signal
import zipfile
from pathlib import Path

import duckdb
import pyarrow as pa

from etl import contract as c
from etl.confine import memory_bytes, run_confined
from etl.escaping import shown_name
from etl.mapping import Mapping
from etl.pseudonym import hmac_params
from etl.readers import RawFile, RejectedFile, check_plan, decimal_comma, plan_for, project
from etl.warehouse import scalar

#: CPU seconds and wall-clock seconds one workbook may take to parse.
XLSX_CPU_SECONDS = 300
XLSX_WALL_SECONDS = 600
#: Address space the parsing process may use beyond the load's memory limit.
XLSX_HEADROOM = 1024 * 2**20


def unpacked_size(path: Path) -> int:
    """What the workbook's parts declare they unpack to (reading stops there: zipfile enforces it)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise RejectedFile(
            f"{shown_name(path.name)}: unreadable xlsx file (not a workbook: a damaged zip)"
        ) from None


def read_xlsx(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    key: bytes,
    memory_limit: str,
    mapping: Mapping | None = None,
) -> RawFile:
    """Read a workbook's sheet (the mapping's ``[source].sheet``, else ``sessions``, else the first)."""
    request: dict[str, object] = {"path": str(path)}
    if mapping is not None:
        request.update(sheet=mapping.sheet, renames=mapping.columns, constants=list(mapping.constants))
    output = run_worker(path, request, memory_limit, "the load may use (DERMA_MEMORY_LIMIT)")
    name = shown_name(path.name)
    try:
        arrow = pa.ipc.open_stream(output).read_all()
    except pa.ArrowInvalid:
        raise RejectedFile(f"{name}: unreadable xlsx file (its rows could not be read back)") from None
    header = json.loads(arrow.schema.metadata[b"header"])
    plan = plan_for(header, mapping)
    check_plan(path, plan)
    positions = {h: canonical for canonical, h in plan.mapping.items()}
    step = project(plan, positions, "_xlsx", "_row", mapping)
    con.register("_xlsx", arrow)
    try:
        con.execute(
            f"create or replace temp table {table} as {step.sql}", {**hmac_params(key), **step.params}
        )
    finally:
        con.unregister("_xlsx")
    del arrow
    rows = scalar(con, f"select count(*) from {table}")
    return RawFile(
        table, "xlsx", plan, rows, decimal_comma=decimal_comma(mapping, False), originals=step.originals
    )


def run_worker(path: Path, request: dict, memory_limit: str, memory_owner: str) -> bytes:
    """Run ``etl.xlsx_worker`` on a workbook under bounded memory and time; its output, or RejectedFile.

    A workbook that would unpack past the export limit is refused before any parsing.
    ``memory_owner`` says whose memory ran out in the message ("the load may use …").
    """
    name = shown_name(path.name)
    size = unpacked_size(path)
    if size > c.MAX_XLSX_UNPACKED_BYTES:
        raise RejectedFile(
            f"{name}: the workbook unpacks to {size / 2**20:,.0f} MB, more than the "
            f"{c.MAX_XLSX_UNPACKED_BYTES // 2**20} MB an .xlsx export may hold; send it as CSV"
        )
    outcome = run_confined(
        "etl.xlsx_worker",
        request,
        memory_bytes=memory_bytes(memory_limit) + XLSX_HEADROOM,
        cpu_seconds=XLSX_CPU_SECONDS,
        wall_seconds=XLSX_WALL_SECONDS,
        max_output=c.MAX_XLSX_UNPACKED_BYTES,
    )
    if outcome.error is not None:
        raise RejectedFile(f"{name}: {outcome.error}")
    if outcome.timed_out or outcome.killed_by == signal.SIGXCPU:
        raise RejectedFile(f"{name}: reading the workbook took longer than {XLSX_CPU_SECONDS} s")
    if not outcome.ok:
        raise RejectedFile(f"{name}: needs more memory than {memory_owner}")
    return outcome.output
