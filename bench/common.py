"""Shared bench plumbing: realistic exports of a given size, timed subprocesses with peak memory."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("DERMA_BENCH_CACHE", "/tmp/derma-bench"))
RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Run:
    label: str
    seconds: float
    peak_rss_mb: float


def machine() -> dict:
    mem_kb = 0
    with contextlib.suppress(OSError, StopIteration), open("/proc/meminfo") as meminfo:
        mem_kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def data_rows(path: Path) -> int:
    """Data rows of a CSV file (the header not counted)."""
    with open(path) as handle:
        return sum(1 for _ in handle) - 1


def export_csv(rows: int, seed: int = 11) -> Path:
    """One realistic session-log CSV of ``rows`` rows, generated once in a child process, then cached.

    Generating in a child keeps this process small: Linux carries a parent's peak RSS into the
    children it forks, which would otherwise inflate every measured child's peak.
    """
    path = CACHE / f"sessions_{rows}.csv"
    if not path.exists():
        subprocess.run(
            [sys.executable, "-c", f"from bench.common import _write_csv; _write_csv({rows}, {seed})"],
            check=True,
        )
    return path


def correction_csv(rows: int, one_clinic: bool = False) -> Path:
    """A 1% correction of ``export_csv(rows)``: 1% of its sessions again with their satisfaction changed (cached).

    Spread over every clinic by default; with ``one_clinic``, all from the first clinic, as a clinic's
    own correction file would be (the same number of rows: 1% of the network's sessions).
    """
    source = export_csv(rows)
    path = CACHE / f"sessions_{rows}_correction_1pct{'_one_clinic' if one_clinic else ''}.csv"
    if not path.exists():
        import duckdb

        with duckdb.connect() as con:
            con.execute(f"create view export as select * from read_csv('{source}', all_varchar = true)")
            if one_clinic:
                clinics = con.execute("select count(distinct clinic_id) from export").fetchall()[0][0]
                where = (
                    f"clinic_id = (select min(clinic_id) from export) "
                    f"and hash(session_id) % {max(1, round(100 / clinics))} = 0"
                )
            else:
                where = "hash(session_id) % 100 = 0"
            con.execute(f"""copy (
                select * replace (case when satisfaction = '5' then '4' else '5' end as satisfaction)
                from export where {where}
            ) to '{path}' (header, quote '"', force_quote *)""")
    return path


def _write_csv(rows: int, seed: int) -> None:
    path = CACHE / f"sessions_{rows}.csv"
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from sample_data.generator import generate_sessions

    CACHE.mkdir(parents=True, exist_ok=True)
    frames = []
    made = 0
    chunk = 0
    while made < rows:  # chunks keep the generator's memory flat at 10M rows
        want = min(1_000_000, rows - made)
        frame = generate_sessions(
            clinics=12,
            patients=max(50, int(want / 5.7) + 1),
            months=12,
            seed=seed + chunk,
            end_month="2026-10",
        )
        frame["session_date"] = frame["session_date"].dt.strftime("%Y-%m-%d")
        frame = frame.iloc[: rows - made].copy()
        frame["session_id"] = [f"B{chunk}-{s}" for s in frame["session_id"]]
        frames.append(frame)
        made += len(frame)
        chunk += 1
    tmp = path.with_suffix(".tmp")
    schema = pa.Table.from_pandas(frames[0], preserve_index=False).schema
    with pacsv.CSVWriter(tmp, schema) as writer:
        for frame in frames:
            writer.write_table(pa.Table.from_pandas(frame, preserve_index=False, schema=schema))
    tmp.rename(path)


def timed(label: str, command: list[str], env: dict | None = None) -> Run:
    """Run a command, returning wall time and the child's own peak RSS (from wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0,):
        raise RuntimeError(f"{label} failed: {proc.stderr.read().decode()[-500:]}")
    return Run(label, seconds, usage.ru_maxrss / 1024)


def summarise(runs: list[Run]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for label in dict.fromkeys(r.label for r in runs):
        mine = [r for r in runs if r.label == label]
        out[label] = {
            "median_s": statistics.median(r.seconds for r in mine),
            "runs_s": [round(r.seconds, 3) for r in mine],
            "peak_rss_mb": max(r.peak_rss_mb for r in mine),
        }
    return out


def save(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n", encoding="utf-8")
    return path


PYTHON = sys.executable
