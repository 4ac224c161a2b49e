"""Monthly report timing on the bench warehouses: the network report (medians of runs), then every clinic's.

    python -m bench.report --sizes 1000000 10000000 --runs 3 --all-clinics-size 1000000

Each run builds the network report in all three formats, interleaved with its baseline in the same
run: collecting the report's content alone (every named query and table, no rendering). Every
clinic's report plus the network's is built once at ``--all-clinics-size``. Results go to
``bench/results/report.json``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.common import machine, save
from bench.warehouse import warehouse
from etl.settings import Settings
from etl.warehouse import connect_current
from queries import run_query
from reports.build import FORMATS, all_clinics, build_reports
from reports.collect import collect

TARGET_S = 20.0


def _settings(data_dir: Path) -> tuple[Settings, str]:
    settings = Settings(data_dir=data_dir, secret_key="bench-key")
    _, con = connect_current(data_dir)
    try:
        fitted = con.execute("select count(*) from model_runs").fetchall()[0][0]
        month = pd.Timestamp(run_query(con, "kpis_by_month")["month"].max()).strftime("%Y-%m")
    finally:
        con.close()
    if not fitted:
        from derma.refresh import refresh_models

        refresh_models(settings)
    return settings, month


def _content_only(settings: Settings, month: str) -> float:
    snapshot, con = connect_current(settings.data_dir)
    try:
        start = time.perf_counter()
        collect(
            con,
            month,
            None,
            min_cell=None,
            snapshot_id=snapshot.snapshot_id,
            version="bench",
            generated_at="bench",
        )
        return time.perf_counter() - start
    finally:
        con.close()


def bench_size(size: int, runs: int, all_clinics_too: bool) -> dict:
    settings, month = _settings(warehouse(size))
    clinics = all_clinics(settings)
    out: dict = {"sessions": size, "month": month, "clinics": len(clinics), "formats": list(FORMATS)}
    network, content = [], []
    with tempfile.TemporaryDirectory(prefix="derma-bench-report-") as folder:
        for i in range(runs):
            for side in ("content", "report") if i % 2 == 0 else ("report", "content"):
                if side == "content":
                    content.append(_content_only(settings, month))
                else:
                    start = time.perf_counter()
                    written = build_reports(settings, month, [None], Path(folder) / f"network-{i}")
                    network.append(time.perf_counter() - start)
        out["network_s"] = round(statistics.median(network), 2)
        out["network_runs_s"] = [round(t, 2) for t in network]
        out["content_only_s"] = round(statistics.median(content), 2)
        out["ratio_report_vs_content"] = round(out["network_s"] / out["content_only_s"], 2)
        out["bytes"] = {p.suffix[1:]: p.stat().st_size for p in written}
        if all_clinics_too:
            start = time.perf_counter()
            written = build_reports(settings, month, [None, *clinics], Path(folder) / "all")
            out["network_and_all_clinics_s"] = round(time.perf_counter() - start, 2)
            out["files"] = len(written)
    out["target_network_s"] = TARGET_S
    out["network_within_target"] = out["network_s"] <= TARGET_S
    print(
        f"{size:,} sessions: network report ({', '.join(FORMATS)}) {out['network_s']} s (content alone "
        f"{out['content_only_s']} s, target <= {TARGET_S} s)"
        + (
            f"; network + {len(clinics)} clinics: {out['network_and_all_clinics_s']} s"
            if all_clinics_too
            else ""
        ),
        flush=True,
    )
    return out


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--all-clinics-size", type=int, default=1_000_000)
    args = parser.parse_args()
    results = {str(size): bench_size(size, args.runs, size == args.all_clinics_size) for size in args.sizes}
    payload = {"machine": machine(), "runs": args.runs, "results": results}
    path = save("report", payload)
    print(f"wrote {path}")
    return payload


if __name__ == "__main__":
    main()
