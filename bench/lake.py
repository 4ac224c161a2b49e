"""The lake and the engines at 1M and 10M sessions: marts and model fits on DuckDB and on Spark local, and
the warehouse refresh before (every session in Python) and after (fitted in the engine), in one run.

    python -m bench.lake --sizes 1000000 10000000
    python -m bench.lake --sizes 1000000 --stages refresh --before-source /path/to/main/checkout
    python -m bench.lake --sizes 1000000 --stages fits --scopes HAN-12 network
    python -m bench.lake --sizes 10000000 --stages handover --engines duckdb spark

Each stage runs as a child process (``derma ...`` or the refresh of another source tree), timed (wall
seconds, and CPU seconds of the child and what it waited for: on a shared machine the fairer figure) with
its peak memory: ``peak_rss_mb`` is the child's own peak (wait4; for Spark the Python driver), and
``tree_peak_mb`` the peak of the sum over the child and every process under it, sampled every 0.2 s (for
Spark this includes the JVM, which does the work). ``written_gb`` is what it wrote to the file system
(wait4's output blocks), its spill included. ``before`` runs ``derma models --refresh`` from the
source tree given by ``--before-source`` (main before this change: the refresh that loads every session
into pandas); ``after`` runs this tree's. Both refresh a private copy of the bench warehouse. The lake is
``derma export`` of the warehouse, written once per size under the bench cache and reused.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.common import CACHE, machine, save
from bench.warehouse import warehouse

ENV = {"DERMA_SECRET_KEY": "bench-key", "OPENBLAS_NUM_THREADS": "1"}


def descendants(pid: int) -> list[int]:
    """``pid`` and every process under it (from /proc's parent links)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_stage(label: str, command: list[str], env: dict | None = None, cwd: Path | None = None) -> dict:
    """Run ``command``: wall seconds, its own peak RSS (wait4) and the peak RSS of its process tree."""
    peak = [0.0]
    start = time.perf_counter()
    proc = subprocess.Popen(
        command,
        env={**os.environ, **ENV, **(env or {})},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], sum(rss_mb(p) for p in descendants(proc.pid)))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    error = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{label} failed: {error[-800:]}")
    result = {
        "seconds": round(seconds, 2),
        # CPU time of the child and the processes it waited for: on a shared machine the fairer measure.
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        # What the child and the processes it waited for wrote to the file system (512-byte blocks), spill
        # included: a count of work that does not depend on how fast the disk was (the 10M refresh spills).
        "written_gb": round(usage.ru_oublock * 512 / 1e9, 2),
    }
    result["tree_peak_mb"] = round(max(peak[0], result["peak_rss_mb"]), 1)
    print(label, result, flush=True)
    return result


def lake_of(size: int) -> Path:
    """``derma export`` of the bench warehouse of ``size`` sessions (written once, then reused)."""
    lake = CACHE / f"lake_{size}"
    if not (lake / "_manifest.json").exists():
        shutil.rmtree(lake, ignore_errors=True)
        run_stage(
            f"export_{size}",
            [
                sys.executable,
                "-m",
                "derma.cli",
                "export",
                "--out",
                str(lake),
                "--data-dir",
                str(warehouse(size)),
            ],
        )
    return lake


def private_copy(size: int) -> Path:
    """A copy of the bench warehouse's current snapshot as a data dir of its own (the refresh publishes)."""
    from etl.warehouse import current_snapshot

    source = current_snapshot(warehouse(size))
    target = CACHE / f"refresh_{size}"
    shutil.rmtree(target, ignore_errors=True)
    (target / "snapshots").mkdir(parents=True)
    shutil.copyfile(source.path, target / "snapshots" / source.path.name)
    (target / "warehouse.duckdb").symlink_to(Path("snapshots") / source.path.name)
    return target


def refresh(size: int, before_source: Path | None, out: dict, checkpoint) -> dict:
    """``derma models --refresh`` before (another source tree) and after (this one), on private copies."""
    sides = [("after", None)] + ([("before", before_source)] if before_source else [])
    for side, source in sides:
        data_dir = private_copy(size)
        env = {"PYTHONPATH": str(source)} if source else {}
        command = [sys.executable, "-m", "derma.cli", "models", "--refresh", "--data-dir", str(data_dir)]
        out[side] = run_stage(f"refresh_{side}_{size}", command, env=env, cwd=source)
        shutil.rmtree(data_dir, ignore_errors=True)
        checkpoint()
    if "before" in out:
        out["after_vs_before_time"] = round(out["after"]["seconds"] / out["before"]["seconds"], 3)
        out["after_vs_before_memory"] = round(out["after"]["tree_peak_mb"] / out["before"]["tree_peak_mb"], 3)
    return out


def engines(size: int, names: list[str], stages: list[str], out: dict, checkpoint) -> dict:
    """``derma marts --lake`` and ``derma models --lake`` on each engine, on the same lake."""
    lake = lake_of(size)
    for engine in names:
        for stage in stages:
            command = [sys.executable, "-m", "derma.cli", stage, "--lake", str(lake), "--engine", engine]
            if stage == "models":
                command += ["--format", "json"]
            out.setdefault(stage, {})[engine] = run_stage(f"{stage}_{engine}_{size}", command)
            checkpoint()
    for by_engine in (out[stage] for stage in stages):
        if {"duckdb", "spark"} <= by_engine.keys():
            by_engine["spark_vs_duckdb_time"] = round(
                by_engine["spark"]["seconds"] / by_engine["duckdb"]["seconds"], 2
            )
    return out


ENGINE_FIT = """
import sys
from derma.lake.engines import DuckDBEngine
from derma.lake.models import fit_outcome_models_on
from etl.warehouse import current_snapshot
engine = DuckDBEngine.over_snapshot(current_snapshot(sys.argv[1]).path, memory_limit="1GB")
fit_outcome_models_on(engine, sys.argv[2])
"""
MEMORY_FIT = """
import sys
from analysis.curves import fit_outcome_models
from derma.refresh import load_inputs
from etl.warehouse import connect_current
_, con = connect_current(sys.argv[1])
sessions = load_inputs(con, sys.argv[2])
con.close()
fit_outcome_models(sessions)
"""


def fits(size: int, scopes: list[str], out: dict, checkpoint) -> dict:
    """The three outcome models and the checks within clinicians alone: in the engine, and in memory.

    ``engine`` is :func:`derma.lake.models.fit_outcome_models_on` on a DuckDB over the bench warehouse's
    snapshot (1 GB for DuckDB); ``memory`` loads the scope's sessions into pandas and runs
    :func:`analysis.curves.fit_outcome_models`, the fit the refresh used before. Same tree, same run.
    """
    data_dir = str(warehouse(size))
    for scope in scopes:
        entry = out.setdefault(scope, {})
        for side, code in (("engine", ENGINE_FIT), ("memory", MEMORY_FIT)):
            entry[side] = run_stage(
                f"fits_{side}_{scope}_{size}", [sys.executable, "-c", code, data_dir, scope]
            )
            checkpoint()
        entry["engine_vs_memory_time"] = round(entry["engine"]["seconds"] / entry["memory"]["seconds"], 3)
        entry["engine_vs_memory_peak"] = round(
            entry["engine"]["tree_peak_mb"] / entry["memory"]["tree_peak_mb"], 3
        )
    return out


HANDOVER = """
import sys
from derma.lake.engines import open_engine
from derma.lake.layout import Lake
from derma.lake.marts import register_inputs
from derma.lake.models import scope_filter
from derma.lake.results import engine_courses, unit_frame
lake = Lake.open(sys.argv[1])
engine = open_engine(sys.argv[2], result_dir=lake.path.parent)
try:
    register_inputs(engine, lake)
    where = scope_filter("network")
    print(len(unit_frame(engine, where)), len(engine_courses(engine, where)[0]))
finally:
    engine.close()
"""


def handover(size: int, names: list[str], out: dict, checkpoint) -> dict:
    """What ``derma models --lake`` hands from the engine to Python beside the fits, on each engine.

    The per-session columns of the funnels and alerts and the summarised courses of the network
    (:func:`derma.lake.results.unit_frame`, :func:`~derma.lake.results.engine_courses`): the stage that
    ran Spark's driver out of heap at 10M while it collected them whole.
    """
    lake = str(lake_of(size))
    for engine in names:
        out[engine] = run_stage(f"handover_{engine}_{size}", [sys.executable, "-c", HANDOVER, lake, engine])
        checkpoint()
    return out


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--engines", nargs="+", default=["duckdb", "spark"], choices=["duckdb", "spark"])
    parser.add_argument(
        "--stages",
        nargs="+",
        default=["marts", "models", "refresh"],
        choices=["marts", "models", "refresh", "fits", "handover"],
    )
    parser.add_argument(
        "--scopes", nargs="+", default=["network"], help="scopes of the fits stage (network or a clinic id)"
    )
    parser.add_argument(
        "--before-source",
        type=Path,
        default=None,
        help="a source tree whose refresh is the baseline (e.g. `git archive` of main before this change)",
    )
    parser.add_argument("--name", default=None, help="results file name (default lake_<sizes>)")
    args = parser.parse_args()
    results: dict[str, dict] = {}
    name = args.name or "lake_" + "_".join(str(s) for s in args.sizes)

    def checkpoint() -> None:
        """Results so far (a long run stopped part-way keeps the stages it finished), with the load now."""
        for entry in results.values():
            entry.setdefault("load_during", []).append(load_average())
        save(name, {"command": " ".join(["python -m bench.lake", *sys.argv[1:]]), "results": results})

    for size in args.sizes:
        entry = results.setdefault(str(size), {"load_before": load_average()})
        lake_stages = [s for s in args.stages if s in ("marts", "models")]
        if "fits" in args.stages:
            fits(size, args.scopes, entry.setdefault("fits", {}), checkpoint)
        if lake_stages:
            engines(size, args.engines, lake_stages, entry, checkpoint)
        if "handover" in args.stages:
            handover(size, args.engines, entry.setdefault("handover", {}), checkpoint)
        if "refresh" in args.stages:
            refresh(size, args.before_source, entry.setdefault("refresh", {}), checkpoint)
        entry["load_after"] = load_average()
        checkpoint()
    print(machine())


if __name__ == "__main__":
    main()
