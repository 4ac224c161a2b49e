"""How close a load can come to DuckDB's bare CSV load: the per-row work alone, step by step.

    python -m bench.ingest_floor --rows 1000000 --runs 3

Four programs read the same export into a fresh DuckDB file, each in a fresh child process, their
order rotated from run to run so each ratio is taken under the same machine load:

- ``bare``: ``create table as select * from read_csv(...)`` (the baseline of ``bench.ingest``);
- ``pseudonymised``: the same, every column read as text and the patient number replaced by the
  product's HMAC-SHA256 pseudonym (``etl.pseudonym.pseudonym_sql``) as it is read: the least a load
  that keeps raw patient numbers out of every table can do;
- ``checked``: the product's own read-and-check pass (``etl.fastpath.read_checked``: pseudonyms, the
  hostile-input rules, every value typed, repeated keys) and the good rows stored, typed, in the
  file: every per-row rule of a load, with no marts, no quarantine table, no lineage;
- ``derma``: ``derma ingest --skip-models`` (all of the above, plus the marts, quarantine, lineage,
  session numbers and the published snapshot).

``checked ÷ bare`` is the floor of ``derma ingest ÷ bare`` while every per-row rule is kept;
``derma − checked`` is what the marts and the bookkeeping cost on top of it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench.common import PYTHON, export_csv, save, summarise, timed
from bench.ingest import BARE

KEY = "bench-key"
STEPS = ("bare", "pseudonymised", "checked", "derma")


def _pseudonymised(csv: Path, out: Path) -> None:
    import duckdb

    from etl.pseudonym import hmac_params, pseudonym_sql

    con = duckdb.connect(str(out))
    con.execute(
        "create table t as select * replace ("
        + pseudonym_sql("clinic_id", "patient_id")
        + " as patient_id) from read_csv($path, all_varchar = true)",
        {"path": str(csv), **hmac_params(KEY.encode())},
    )
    con.close()


def _checked(csv: Path, out: Path) -> None:
    from etl.fastpath import read_checked
    from etl.upsert import GOOD_ROWS
    from etl.warehouse import connect_memory

    con = connect_memory({"memory_limit": "2GB", "temp_directory": str(out.parent / "spill")})
    read_checked(con, csv, KEY.encode(), dt.date.today())
    con.execute("attach $p as wh", {"p": str(out)})
    con.execute("create table wh.sessions as select * exclude (_row) from (" + GOOD_ROWS + ")")
    con.execute("checkpoint wh")
    con.close()


def _child(step: str, csv: Path, out: Path) -> None:
    {"pseudonymised": _pseudonymised, "checked": _checked}[step](csv, out)


def command(step: str, csv: Path, target: Path) -> list[str]:
    if step == "bare":
        return [PYTHON, "-c", BARE, str(csv), str(target / "w.duckdb")]
    if step == "derma":
        return [PYTHON, "-m", "derma.cli", "ingest", str(csv), "--skip-models", "--data-dir", str(target)]
    return [PYTHON, "-m", "bench.ingest_floor", "--child", step, str(csv), str(target / "w.duckdb")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--name", help="results file name (default: ingest_floor_ROWS)")
    parser.add_argument("--child", nargs=3, metavar=("STEP", "CSV", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    csv = export_csv(args.rows)
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="derma-bench-floor-"))
    runs = []
    try:
        for i in range(args.runs):
            for step in STEPS[i % len(STEPS) :] + STEPS[: i % len(STEPS)]:
                target = work / f"{step}-{i}"
                target.mkdir()
                runs.append(timed(step, command(step, csv, target), {"DERMA_SECRET_KEY": KEY}))
                shutil.rmtree(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stats = summarise(runs)
    bare = stats["bare"]["median_s"]
    result = {
        "command": "python -m bench.ingest_floor " + " ".join(sys.argv[1:]),
        "rows": args.rows,
        "stats": stats,
        "ratios_vs_bare": {step: round(stats[step]["median_s"] / bare, 2) for step in STEPS},
        "load_average_before_after": [round(x, 2) for x in (*load_before, *os.getloadavg())],
        "marts_and_bookkeeping_s": round(stats["derma"]["median_s"] - stats["checked"]["median_s"], 2),
    }
    path = save(args.name or f"ingest_floor_{args.rows}", result)
    print(
        " ".join(
            f"{step}={stats[step]['median_s']:.2f}s ({result['ratios_vs_bare'][step]}x)" for step in STEPS
        ),
        f"-> {path}",
    )


if __name__ == "__main__":
    main()
