"""The sandbox's child process: runs one checked SELECT and streams at most the allowed rows as Arrow.

Started by :func:`etl.sandbox.run_sandboxed` through :mod:`etl.confine` (``python -m etl.sandbox_worker``)
with its address space and CPU seconds capped, so a statement that needs unbounded memory or time ends
this process, never the caller. The statement was already checked by the parent; the engine layer
here (read-only attach, no external access, locked configuration, memory limit, no spill files) is
the same as it always was.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from etl import confine

#: Rows per Arrow batch sent to the parent: small enough that one batch of wide rows stays bounded.
BATCH_ROWS = 256


def engine_config(memory_limit: str, timeout_s: float) -> dict:
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
        "threads": 2,
    }


def open_engine(snapshot: str | Path, memory_limit: str, timeout_s: float, catalog: str = "warehouse"):
    """The engine layer alone: the snapshot attached read-only to a locked-down private DuckDB."""
    import duckdb

    from etl.warehouse import allow_lake_files, connect_attached

    con = connect_attached(snapshot, catalog, engine_config(memory_limit, timeout_s))
    try:
        allow_lake_files(con, catalog)
        # The attach needed file access, so external access goes off only now (it may move from
        # true to false at any time); then the lock stops SET, RESET and PRAGMA reopening anything.
        con.execute("set enable_external_access = false")
        con.execute("set lock_configuration = true")
    except duckdb.Error:
        con.close()
        raise
    return con


def failure(exc: BaseException, timeout_s: float, memory_limit: str) -> str:
    """One line for a failed statement that quotes no warehouse value."""
    import duckdb

    from etl.sandbox_rules import first_line

    if isinstance(exc, duckdb.InterruptException):
        return f"stopped: the statement ran past the time limit of {timeout_s:g} s"
    if isinstance(exc, duckdb.OutOfMemoryException | MemoryError):
        return f"stopped: the statement needed more than the memory limit of {memory_limit}"
    if isinstance(exc, duckdb.PermissionException):
        return "refused: the sandbox has no file, network or extension access"
    if isinstance(exc, duckdb.ParserException | duckdb.BinderException | duckdb.CatalogException):
        return first_line(exc)  # raised before any row is read: quotes only the statement and schema
    # Raised while rows were read: the text may quote a value (a failed cast, error(), a bad regex
    # taken from a column), so only the kind of error leaves the sandbox.
    kind = first_line(exc).split(":", 1)[0] if ":" in first_line(exc) else type(exc).__name__
    return f"failed: {kind} while running the statement (details withheld: they may quote warehouse values)"


def _plain_types(schema):
    """DuckDB's DataFrame types for the parent: decimals (and hugeints) become doubles."""
    import pyarrow as pa

    fields = []
    for field in schema:
        kind = pa.float64() if pa.types.is_decimal(field.type) else field.type
        fields.append(pa.field(field.name, kind))
    return pa.schema(fields)


def main() -> None:
    confine.limit_self()
    request = confine.read_request()
    import duckdb
    import pyarrow as pa

    from etl.warehouse import WarehouseError, allow_lake_files, connect_attached

    timeout_s, memory_limit = float(request["timeout_s"]), str(request["memory_limit"])
    try:
        con = connect_attached(
            request["snapshot"], request["catalog"], engine_config(memory_limit, timeout_s)
        )
    except WarehouseError as exc:
        confine.fail(str(exc), kind="warehouse")
    try:
        allow_lake_files(con, request["catalog"])
        con.execute("set enable_external_access = false")
        con.execute("set lock_configuration = true")
        confine.ready()
        reader = con.execute(request["sql"]).to_arrow_reader(BATCH_ROWS)
        schema = _plain_types(reader.schema)
        wanted, sent = int(request["max_rows"]) + 1, 0
        out = sys.stdout.buffer
        with pa.ipc.new_stream(out, schema) as stream:
            for batch in reader:
                if sent >= wanted:
                    break
                batch = batch.slice(0, wanted - sent)
                stream.write_batch(
                    pa.RecordBatch.from_arrays(
                        [col.cast(f.type) for col, f in zip(batch.columns, schema, strict=True)],
                        schema=schema,
                    )
                )
                sent += batch.num_rows
        out.flush()
    except (duckdb.Error, MemoryError) as exc:
        confine.fail(failure(exc, timeout_s, memory_limit))
    finally:
        con.close()


if __name__ == "__main__":
    main()
