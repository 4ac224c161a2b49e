"""Latency of every named analysis on warehouses of 100k, 1M and 10M sessions (p50/p95).

    python -m bench.queries --sizes 100000 1000000 10000000 --repeat 15

Each query runs unfiltered (the network view), filtered to one clinic, and for a manager of that
clinic (the scoped warehouse of ``etl.access``, no filter), each on one read-only connection as the
dashboard holds it, after one warm-up run.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from bench.common import save
from bench.warehouse import warehouse

REQUIRED = {
    "setting": "vacuum_band",
    "unit_type": "clinician",
    "fitzpatrick": 2,
    "indication": "wrinkles",
    "treatment_area": "face",
}
FIRST_SCREEN = {"kpis_by_month", "unit_outcomes", "data_freshness"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    import duckdb

    from etl.access import scoped_connection
    from etl.warehouse import current_snapshot
    from queries import list_queries, run_query

    results = {}
    for size in args.sizes:
        data_dir = warehouse(size)
        snapshot = current_snapshot(data_dir).path
        con = duckdb.connect(str(snapshot), read_only=True)
        sessions = con.execute("select count(*) from sessions").fetchall()[0][0]
        clinic = con.execute("select min(clinic_id) from sessions").fetchall()[0][0]
        opened = []
        for _ in range(5):  # what a manager's first read of a snapshot waits for, once (then cached)
            start = time.perf_counter()
            scoped = scoped_connection(snapshot, [clinic])
            opened.append((time.perf_counter() - start) * 1000)
            scoped.close()
        scoped = scoped_connection(snapshot, [clinic])
        print(f"{size:>9} open a manager's scoped warehouse: median {statistics.median(opened):.1f} ms")
        rows = []
        for query in list_queries():
            for scope, extra, target in (
                ("network", {}, con),
                ("one clinic", {"clinic_id": clinic}, con),
                ("manager", {}, scoped),
            ):
                if extra and "clinic_id" not in query.param_names:
                    continue
                values = {**{k: v for k, v in REQUIRED.items() if k in query.param_names}, **extra}
                run_query(target, query, values)
                times = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    run_query(target, query, values)
                    times.append((time.perf_counter() - start) * 1000)
                rows.append(
                    {
                        "query": query.name,
                        "scope": scope,
                        "p50_ms": round(statistics.median(times), 1),
                        "p95_ms": round(float(np.percentile(times, 95)), 1),
                        "first_screen": query.name in FIRST_SCREEN,
                    }
                )
                print(
                    f"{size:>9} {query.name:32} {scope:10} p50={rows[-1]['p50_ms']:7.1f} ms "
                    f"p95={rows[-1]['p95_ms']:7.1f} ms"
                )
        con.close()
        scoped.close()
        results[str(size)] = {
            "sessions": sessions,
            "queries": rows,
            "open_scoped_ms": {
                "median": round(statistics.median(opened), 1),
                "runs": [round(t, 1) for t in opened],
            },
        }
    save("queries", {"repeat": args.repeat, "results": results})


if __name__ == "__main__":
    main()
