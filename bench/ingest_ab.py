"""A/B of `derma ingest --skip-models`: the working tree against an earlier commit, on the same file.

    python -m bench.ingest_ab --base 8d10dd4 --rows 100000 --runs 5

The base commit is exported with `git archive` into a temporary folder; each run loads the same CSV
into a fresh data dir with one tree's code (PYTHONPATH), the two sides interleaved (A B, B A, ...)
so they share the machine's load. The ratio is this tree's median over the base's. It is how a
change to the per-row checks is costed (issue 14 added several); it says nothing about absolute speed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import PYTHON, export_csv, save

ROOT = Path(__file__).parents[1]


def _export_tree(ref: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _load(tree: Path, csv: Path) -> float:
    work = Path(tempfile.mkdtemp(prefix="derma-ab-"))
    env = {**os.environ, "DERMA_DATA_DIR": str(work / "data"), "DERMA_SECRET_KEY": "bench-key"}
    env["PYTHONPATH"] = str(tree)
    started = time.monotonic()
    try:
        subprocess.run(
            [PYTHON, "-m", "derma.cli", "ingest", str(csv), "--skip-models", "--format", "json"],
            cwd=tree,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.monotonic() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git commit or branch to compare against")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--name",
        help="results file name (default: ingest_ab_ROWS), so a new run does not replace a recorded one",
    )
    args = parser.parse_args()
    csv = export_csv(args.rows)
    base = Path(tempfile.mkdtemp(prefix="derma-ab-base-"))
    try:
        trees = {"base": _export_tree(args.base, base), "this": ROOT}
        times: dict[str, list[float]] = {side: [] for side in trees}
        for i in range(args.runs):
            for side in list(trees) if i % 2 == 0 else list(reversed(trees)):
                times[side].append(_load(trees[side], csv))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    medians = {side: statistics.median(v) for side, v in times.items()}
    result = {
        "base": args.base,
        "rows": args.rows,
        "runs_s": {side: [round(t, 2) for t in v] for side, v in times.items()},
        "median_s": {side: round(m, 2) for side, m in medians.items()},
        "ratio_this_vs_base": round(medians["this"] / medians["base"], 3),
    }
    path = save(args.name or f"ingest_ab_{args.rows}", result)
    print(
        f"rows={args.rows} base={medians['base']:.2f}s this={medians['this']:.2f}s "
        f"ratio={result['ratio_this_vs_base']} -> {path}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
