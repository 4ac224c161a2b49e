"""Bench warehouses of a given size: 1M sessions ingested for real, larger sizes scaled from it.

Scaling copies the 1M sessions k times inside DuckDB with distinct clinic ids and patient keys
(``ETB-01`` -> ``ETB-01x3``), then rebuilds the marts with the product's own SQL, so every query
sees a network k times larger with the same per-clinic structure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench.common import CACHE, export_csv

BASE_ROWS = 1_000_000


def warehouse(rows: int) -> Path:
    """A data dir whose warehouse holds about ``rows`` sessions (built once, then cached)."""
    target = CACHE / f"wh_{rows}"
    if (target / "warehouse.duckdb").exists():
        return target
    base_rows = min(rows, BASE_ROWS)
    base = CACHE / f"wh_{base_rows}"
    if not (base / "warehouse.duckdb").exists():
        csv = export_csv(base_rows)
        shutil.rmtree(base, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "derma.cli", "ingest", str(csv), "--skip-models", "--data-dir", str(base)],
            check=True,
            env={**os.environ, "DERMA_SECRET_KEY": "bench-key"},
            stdout=subprocess.DEVNULL,
        )
    if rows <= BASE_ROWS:
        return base
    _scale(base, target, rows // BASE_ROWS)
    return target


def _scale(base: Path, target: Path, copies: int) -> None:
    from etl import warehouse as wh
    from etl.marts import build_marts

    shutil.rmtree(target, ignore_errors=True)
    (target / "snapshots").mkdir(parents=True)
    snapshot = wh.current_snapshot(base)
    scaled = target / "snapshots" / f"{snapshot.snapshot_id}-x{copies}.duckdb"
    shutil.copyfile(snapshot.path, scaled)
    con = wh.connect_memory({"memory_limit": "6GB", "temp_directory": str(target / ".work")})
    con.execute("attach $p as wh", {"p": str(scaled)})
    con.execute("create temp table base as select * from wh.sessions")
    for k in range(1, copies):
        con.execute(
            # A copy's pseudonyms keep the product's shape (pk_ + 24 hex), so its patients are new ones
            # under every patient count, patient_number() included.
            "insert into wh.sessions select * replace (clinic_id || $s as clinic_id, "
            "clinician_id || $s as clinician_id, 'pk_' || left(md5(patient_key || $s), 24) as patient_key) "
            "from base",
            {"s": f"x{k}"},
        )
    build_marts(con)
    con.execute("checkpoint wh")
    con.execute("detach wh")
    con.close()
    shutil.rmtree(target / ".work", ignore_errors=True)
    os.symlink(Path("snapshots") / scaled.name, target / "warehouse.duckdb")
