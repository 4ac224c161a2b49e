"""Parquet export and the second engine: `derma export` time, then analyst queries on DataFusion vs DuckDB.

    python -m bench.export --sizes 1000000 --repeat 3

Per size: `derma export` as a subprocess (one DuckDB thread: byte-identical files) and, for scale,
the library with all threads (rows equal, bytes not), each into a fresh folder, medians of
``--repeat`` with the child's peak RSS. Then every analyst query and named analysis of
``tests/etl/second_engine.py``: DataFusion over the Parquet against DuckDB over the warehouse (one
read-only connection, as the dashboard holds it), after one warm-up, with the results checked equal.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import CACHE, PYTHON, save, summarise, timed
from bench.warehouse import warehouse

PARALLEL = (
    "import os, sys; from etl.export import export_marts; "
    "export_marts(sys.argv[1], sys.argv[2], memory_limit='2GB', threads=os.cpu_count())"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = {}
    for size in args.sizes:
        data_dir = warehouse(size)
        out = CACHE / f"export_{size}"
        results[str(size)] = {
            "export": _time_export(data_dir, out, args.repeat),
            "queries": _time_queries(data_dir, out, args.repeat),
        }
    save("export", {"repeat": args.repeat, "results": results})


def _time_export(data_dir: Path, out: Path, repeat: int) -> dict:
    from etl.export import read_manifest
    from etl.warehouse import current_snapshot

    snapshot = current_snapshot(data_dir).path
    audit = Path(tempfile.mkdtemp(prefix="derma-bench-audit-")) / "audit.jsonl"
    cli = [PYTHON, "-m", "derma.cli", "export", "--out", str(out), "--data-dir", str(data_dir)]
    parallel = [PYTHON, "-c", PARALLEL, str(snapshot), str(out)]
    runs = []
    try:
        for _ in range(repeat):  # interleaved, so both see the same machine load; the 1-thread export stays
            for label, command in (
                ("export_marts (all threads)", parallel),
                ("derma export (1 thread)", cli),
            ):
                shutil.rmtree(out, ignore_errors=True)
                runs.append(timed(label, command, env={"DERMA_AUDIT_FILE": str(audit)}))
    finally:
        shutil.rmtree(audit.parent, ignore_errors=True)
    manifest = read_manifest(out)
    files = [f for t in manifest["tables"].values() for f in t["files"]]
    summary = summarise(runs)
    for label, figures in summary.items():
        print(
            f"{label:28} median {figures['median_s']:7.2f} s  runs {figures['runs_s']}  "
            f"peak {figures['peak_rss_mb']:.0f} MB"
        )
    rows = sum(t["rows"] for t in manifest["tables"].values())
    size_mb = sum(f["bytes"] for f in files) / 1e6
    print(f"{'':28} {len(manifest['tables'])} tables, {rows} rows, {len(files)} files, {size_mb:.1f} MB")
    return {
        "runs": summary,
        "tables": len(manifest["tables"]),
        "rows": rows,
        "files": len(files),
        "megabytes": round(size_mb, 1),
    }


def _time_queries(data_dir: Path, out: Path, repeat: int) -> list[dict]:
    from derma.lake.transpile import duckdb_macros, to_datafusion
    from etl.warehouse import connect, current_snapshot
    from queries import bind_params, get_query
    from tests.etl.second_engine import (
        ANALYST_QUERIES,
        NAMED_ANALYSES,
        assert_same_result,
        datafusion_context,
    )

    con = connect(current_snapshot(data_dir).path, read_only=True)
    ctx = datafusion_context(out)
    macros = duckdb_macros(con)
    cases = [(name, sql, {}) for name, sql in ANALYST_QUERIES.items()]
    seen = set()
    for name, values in NAMED_ANALYSES:
        if name in seen:  # one parameter set per analysis is enough for timing
            continue
        seen.add(name)
        query = get_query(name)
        cases.append((f"analyses/{name}", query.sql, bind_params(query, values)))
    rows = []
    try:
        for name, sql, params in cases:
            translated = to_datafusion(sql, macros, params)
            engines = {
                "duckdb_warehouse": lambda s=sql, p=params: con.sql(s, params=p).to_arrow_table(),
                "datafusion_parquet": lambda t=translated: ctx.sql(t).to_arrow_table(),
            }
            answers = {engine: run() for engine, run in engines.items()}  # warm-up, and the equality check
            assert_same_result(answers["datafusion_parquet"], answers["duckdb_warehouse"])
            timing = {}
            for engine, run in engines.items():
                times = []
                for _ in range(repeat):
                    start = time.perf_counter()
                    run()
                    times.append((time.perf_counter() - start) * 1000)
                timing[engine] = round(statistics.median(times), 1)
            rows.append(
                {
                    "query": name,
                    "rows": answers["duckdb_warehouse"].num_rows,
                    "identical": True,
                    **{f"{engine}_median_ms": ms for engine, ms in timing.items()},
                }
            )
            print(
                f"{name:52} duckdb {timing['duckdb_warehouse']:8.1f} ms   "
                f"datafusion {timing['datafusion_parquet']:8.1f} ms   identical"
            )
    finally:
        con.close()
    return rows


if __name__ == "__main__":
    main()
