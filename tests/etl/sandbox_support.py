"""What the sandbox tests check with: patient ids that must never leak, and a fingerprint of the warehouse."""

from __future__ import annotations

import hashlib
from pathlib import Path

from etl.warehouse import connect

# Patient ids and notes that must never appear in an error message.
PATIENT_IDS = [f"PT-{i:04d}" for i in range(7)]


def fingerprint(path: Path) -> dict:
    """Bytes, mtime, sibling files, tables and row counts of a snapshot."""
    stat = path.stat()
    con = connect(path, read_only=True)
    try:
        tables = con.execute("select table_name from duckdb_tables() order by 1").fetchall()
        counts = {name: con.execute(f'select count(*) from "{name}"').fetchone()[0] for (name,) in tables}
    finally:
        con.close()
    return {
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "mtime_ns": stat.st_mtime_ns,
        "size": stat.st_size,
        "siblings": sorted(p.name for p in path.parent.iterdir()),
        "counts": counts,
    }
