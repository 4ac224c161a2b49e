"""Where a load's time goes, stage by stage, at several sizes (in-process, one run per size).

    python -m bench.ingest_stages --rows 100000 1000000 10000000
    python -m bench.ingest_stages --rows 100000 1000000 --base main --out ingest_stages_ab

Wraps the stages of ``etl.load.ingest`` with timers (reading with the pseudonyms, row checks, upsert,
session numbers, marts, copy of the previous snapshot, checkpoint and publish) and loads each cached
bench CSV into a fresh data dir. With ``--base``, an earlier commit's load is profiled too, each size
and side in a fresh process, the sides interleaved, so both tables come from the same run; a stage
one version does not have is left out of its table. The growth of each stage from the smallest to the largest size
(a log-log slope: 1 = linear) shows which stage grows faster than the data.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.common import export_csv, save

ROOT = Path(__file__).resolve().parents[1]

STAGES = {
    "read": ("etl.load", "read_export"),
    "row checks": ("etl.load", "check_rows"),
    "read and row checks in one pass": ("etl.load", "read_checked"),
    "upsert": ("etl.load", "upsert_file"),
    "session numbers": ("etl.load", "derive_session_numbers"),
    "marts": ("etl.load", "build_marts"),
    "copy previous snapshot": ("etl.warehouse", "start_building"),
    "publish (fsync, rename, prune)": ("etl.warehouse", "publish"),
}


def profile(rows: int) -> dict[str, float]:
    import importlib

    from etl.load import ingest
    from etl.settings import Settings

    spent: dict[str, float] = defaultdict(float)
    originals = []
    wrapped = set()
    for stage, (module_name, attr) in STAGES.items():
        module = importlib.import_module(module_name)
        original = getattr(module, attr, None)
        if original is None:  # a stage this version of the load does not have (see --base in the README)
            continue
        originals.append((module, attr, original))
        wrapped.add(stage)

        def timed(*args, _original=original, _stage=stage, **kwargs):
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_stage] += time.perf_counter() - started

        setattr(module, attr, timed)
    work = Path(tempfile.mkdtemp(prefix="derma-bench-stages-"))
    try:
        started = time.perf_counter()
        ingest([export_csv(rows)], Settings(data_dir=work / "data", secret_key="bench-key"))
        total = time.perf_counter() - started
    finally:
        for module, attr, original in originals:
            setattr(module, attr, original)
        shutil.rmtree(work, ignore_errors=True)
    out = {stage: round(spent[stage], 2) for stage in STAGES if stage in wrapped}
    out["other (checkpoint, lineage, bookkeeping)"] = round(total - sum(spent.values()), 2)
    out["total"] = round(total, 2)
    return out


def _slopes(results: dict[str, dict[str, float]]) -> dict[str, float]:
    sizes = sorted(int(r) for r in results)
    small, large = str(sizes[0]), str(sizes[-1])
    span = math.log10(sizes[-1] / sizes[0])
    if span <= 0:
        return {}
    return {
        stage: round(
            math.log10(max(results[large][stage], 1e-3) / max(results[small][stage], 1e-3)) / span, 2
        )
        for stage in results[small]
        if stage in results[large]
    }


_CHILD = "import runpy, sys; sys.argv = [sys.argv[1], '--child', sys.argv[2]]; runpy.run_path(sys.argv[0], run_name='__main__')"


def _profile_in(tree: Path, rows: int) -> dict[str, float]:
    """One size profiled in a fresh process whose ``etl`` (and ``bench.common``) come from ``tree``."""
    done = subprocess.run(
        # -c, not the script's path: its folder on sys.path would shadow packages (bench/queries.py)
        [sys.executable, "-c", _CHILD, str(Path(__file__).resolve()), str(rows)],
        env={**os.environ, "PYTHONPATH": str(tree)},
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--base", help="also profile this git commit's load, interleaved, in the same run")
    parser.add_argument("--out", default="ingest_stages", help="name of the results file in bench/results")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(profile(args.child)))
        return
    if not args.base:
        results = {}
        for rows in args.rows:
            results[str(rows)] = profile(rows)
            print(rows, results[str(rows)], flush=True)
        print("log-log slope per stage:", _slopes(results))
        save(args.out, {"results": results, "loglog_slope": _slopes(results)})
        return
    base = Path(tempfile.mkdtemp(prefix="derma-stages-base-"))
    try:
        archive = subprocess.run(["git", "archive", args.base], cwd=ROOT, check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        trees = {"base": base, "this": ROOT}
        results: dict[str, dict[str, dict[str, float]]] = {side: {} for side in trees}
        for i, rows in enumerate(args.rows):
            for side in list(trees) if i % 2 == 0 else list(reversed(trees)):
                results[side][str(rows)] = _profile_in(trees[side], rows)
                print(side, rows, results[side][str(rows)], flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    save(
        args.out,
        {"base": args.base, "results": results, "loglog_slope": {s: _slopes(r) for s, r in results.items()}},
    )


if __name__ == "__main__":
    main()
