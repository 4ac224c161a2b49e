"""Ingest benchmark: `derma ingest --skip-models` against DuckDB's bare CSV load of the same file.

    python -m bench.ingest --rows 1000000 --runs 3 --pandas

After each first load the same data dir takes the same file again (unchanged re-ingest), then a 1%
correction file (1% of the sessions, spread over every clinic, with their satisfaction changed), then a
clinic's own correction file of the same size (1% of the network's sessions, all from one clinic).

Runs are A/B interleaved in one process, each side a fresh subprocess, so the ratio is measured under
the same machine load; peak RSS is the child's own (wait4).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from bench.common import PYTHON, correction_csv, data_rows, export_csv, save, summarise, timed

BARE = (
    "import duckdb, sys; con = duckdb.connect(sys.argv[2]); "
    'con.execute("create table t as select * from read_csv(?)", [sys.argv[1]]); con.close()'
)
PANDAS = (
    "import duckdb, pandas as pd, sys; df = pd.read_csv(sys.argv[1], dtype=str); "
    "con = duckdb.connect(sys.argv[2]); con.register('df', df); con.execute('create table t as select * from df'); "
    "con.close()"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pandas", action="store_true", help="also time the pandas read_csv + load route")
    parser.add_argument(
        "--name",
        help="results file name (default: ingest_ROWS), so a new run does not replace a recorded one",
    )
    args = parser.parse_args()
    csv = export_csv(args.rows)
    fix = correction_csv(args.rows)
    fix_one = correction_csv(args.rows, one_clinic=True)
    runs = []
    work = Path(tempfile.mkdtemp(prefix="derma-bench-"))
    env = {"DERMA_SECRET_KEY": "bench-key"}
    try:
        for i in range(args.runs):
            order = ["bare", "derma"] if i % 2 == 0 else ["derma", "bare"]
            for side in order:
                target = work / f"{side}-{i}"
                if side == "bare":
                    target.mkdir()
                    runs.append(
                        timed(
                            "duckdb_bare_read_csv", [PYTHON, "-c", BARE, str(csv), str(target / "w.duckdb")]
                        )
                    )
                else:
                    runs.append(
                        timed(
                            "derma_ingest",
                            [
                                PYTHON,
                                "-m",
                                "derma.cli",
                                "ingest",
                                str(csv),
                                "--skip-models",
                                "--data-dir",
                                str(target),
                            ],
                            env,
                        )
                    )
                    runs.append(
                        timed(
                            "derma_reingest_unchanged",
                            [
                                PYTHON,
                                "-m",
                                "derma.cli",
                                "ingest",
                                str(csv),
                                "--skip-models",
                                "--data-dir",
                                str(target),
                            ],
                            env,
                        )
                    )
                    runs.append(
                        timed(
                            "derma_ingest_correction_1pct",
                            [
                                PYTHON,
                                "-m",
                                "derma.cli",
                                "ingest",
                                str(fix),
                                "--skip-models",
                                "--data-dir",
                                str(target),
                            ],
                            env,
                        )
                    )
                    runs.append(
                        timed(
                            "derma_ingest_correction_1pct_one_clinic",
                            [
                                PYTHON,
                                "-m",
                                "derma.cli",
                                "ingest",
                                str(fix_one),
                                "--skip-models",
                                "--data-dir",
                                str(target),
                            ],
                            env,
                        )
                    )
                    shutil.rmtree(target)
                if args.pandas and side == "bare":
                    target = work / f"pandas-{i}"
                    target.mkdir()
                    runs.append(
                        timed(
                            "pandas_read_csv_to_duckdb",
                            [PYTHON, "-c", PANDAS, str(csv), str(target / "w.duckdb")],
                        )
                    )
                shutil.rmtree(work / f"bare-{i}", ignore_errors=True)
                shutil.rmtree(work / f"pandas-{i}", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stats = summarise(runs)
    base = stats["duckdb_bare_read_csv"]["median_s"]
    ours = stats["derma_ingest"]["median_s"]
    result = {
        "rows": args.rows,
        "file_mb": round(csv.stat().st_size / 1e6, 1),
        "stats": stats,
        "ratio_ingest_vs_bare": round(ours / base, 2),
        "ratio_reingest_vs_first": round(stats["derma_reingest_unchanged"]["median_s"] / ours, 2),
        "ratio_correction_vs_first": round(stats["derma_ingest_correction_1pct"]["median_s"] / ours, 2),
        "ratio_correction_one_clinic_vs_first": round(
            stats["derma_ingest_correction_1pct_one_clinic"]["median_s"] / ours, 2
        ),
        "correction_rows": data_rows(fix),
        "correction_one_clinic_rows": data_rows(fix_one),
        "ingest_rows_per_s": round(args.rows / ours),
    }
    path = save(args.name or f"ingest_{args.rows}", result)
    print(
        f"rows={args.rows} bare={base:.2f}s derma={ours:.2f}s ratio={result['ratio_ingest_vs_bare']} "
        f"reingest/first={result['ratio_reingest_vs_first']} "
        f"correction/first={result['ratio_correction_vs_first']} "
        f"one-clinic correction/first={result['ratio_correction_one_clinic_vs_first']} rows/s={result['ingest_rows_per_s']} "
        f"peak_rss_mb={stats['derma_ingest']['peak_rss_mb']:.0f} -> {path}"
    )


if __name__ == "__main__":
    main()
