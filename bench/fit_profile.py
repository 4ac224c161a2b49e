"""Where the engine's outcome-model fits spend their time, statement by statement.

    python -m bench.fit_profile --rows 10000000 --scope network
    python -m bench.fit_profile --rows 10000000 --trees DIR_A DIR_B --name fit_profile_ab

Runs :func:`derma.lake.models.fit_outcome_models_on` on a DuckDB over the bench warehouse's snapshot
(1 GB for DuckDB, as the refresh gives it) in a child process, with every statement the engine runs
timed and filed under the part of the fit it belongs to (a Newton step's per-cell sums and its numeric
products, the proportional-odds steps' staged probabilities, summing rows to patterns, the sandwich).
The child also reports its wall and CPU time, peak RSS and the gigabytes it wrote (getrusage output
blocks: the spill is most of it). With ``--trees``, each tree (``git archive`` of a commit) is run in
turn with ``PYTHONPATH`` set to it, so the sides come from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from bench.common import save
from bench.warehouse import warehouse

CHILD = r"""
import collections, json, resource, sys, time
from derma.lake.engines import DuckDBEngine
from derma.lake.models import fit_outcome_models_on
from etl.warehouse import current_snapshot

PARTS = (
    ("sandwich: ordinal bounds", lambda s: " as up, " in s),
    ("step: per-cell sums", lambda s: "group by cell" in s and "sum(w_" in s),
    ("step: numeric products", lambda s: "sum(w_a * n" in s),
    ("step: staged ordinal probabilities", lambda s: " as f1" in s and "1 / (1 + exp(" in s and "group by" not in s),
    ("sandwich: per patient x cell scores", lambda s: "group by patient, cell" in s),
    ("sandwich: cell pairs", lambda s: "a.patient = b.patient" in s),
    ("sandwich: other", lambda s: "_scores_" in s),
    ("rows to patterns", lambda s: "join _cells_" in s or "select distinct" in s and "row_number()" in s),
)
spent, count = collections.defaultdict(float), collections.Counter()

def part(sql):
    s = " ".join(sql.split())
    return next((name for name, test in PARTS if test(s)), "other (guards, summaries, counts)")

for method in ("frame", "materialise"):
    original = getattr(DuckDBEngine, method)
    def timed(self, *args, _original=original, _method=method, **kwargs):
        sql = args[-1] if _method == "materialise" else args[0]
        start = time.perf_counter()
        try:
            return _original(self, *args, **kwargs)
        finally:
            name = part(sql)
            spent[name] += time.perf_counter() - start
            count[name] += 1
    setattr(DuckDBEngine, method, timed)

start = time.perf_counter()
engine = DuckDBEngine.over_snapshot(current_snapshot(sys.argv[1]).path, memory_limit="1GB")
try:
    fit_outcome_models_on(engine, sys.argv[2])
finally:
    engine.close()
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({
    "seconds": round(time.perf_counter() - start, 1),
    "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
    "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    "written_gb": round(usage.ru_oublock * 512 / 1e9, 2),
    "parts": {k: {"seconds": round(spent[k], 1), "statements": count[k]} for k in sorted(spent, key=spent.get, reverse=True)},
}))
"""


def profile(data_dir: Path, scope: str, tree: str | None) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    if tree:
        env["PYTHONPATH"] = tree
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(data_dir), scope],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"the profile of {tree or 'this tree'} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--scope", default="network")
    parser.add_argument(
        "--trees", nargs="*", default=[None], help="source trees to run in turn (default: this one)"
    )
    parser.add_argument("--name", help="results file name (default: fit_profile_ROWS)")
    args = parser.parse_args()
    data_dir = warehouse(args.rows)
    out = {"command": "python -m bench.fit_profile " + " ".join(sys.argv[1:]), "rows": args.rows, "runs": []}
    for tree in args.trees:
        result = profile(data_dir, args.scope, tree)
        out["runs"].append({"tree": tree or "this tree", **result})
        print(f"{tree or 'this tree'}: {result['seconds']} s, {result['written_gb']} GB written")
        for name, part in result["parts"].items():
            print(f"  {name:38s} {part['seconds']:8.1f} s {part['statements']:5d}")
    path = save(args.name or f"fit_profile_{args.rows}", out)
    print(f"-> {path}")


if __name__ == "__main__":
    main()
