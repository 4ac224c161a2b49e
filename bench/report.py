"""Monthly report timing on the 1M-session bench warehouse: the network report, then every clinic's.

Run: ``.venv/bin/python -m bench.report``; results go to ``bench/results/report.json``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.common import machine, save
from bench.warehouse import warehouse
from dashboard.report import FORMATS, all_clinics, build_reports
from etl.settings import Settings
from etl.warehouse import connect_current
from queries import run_query

ROWS = 1_000_000
TARGET_S = 30.0


def _settings(data_dir: Path) -> Settings:
    settings = Settings(data_dir=data_dir, secret_key="bench-key")
    _, con = connect_current(data_dir)
    try:
        fitted = con.execute("select count(*) from model_runs").fetchone()[0]
        month = pd.Timestamp(run_query(con, "kpis_by_month")["month"].max()).strftime("%Y-%m")
    finally:
        con.close()
    if not fitted:
        from dashboard.modelling import refresh_models

        refresh_models(settings)
    return settings, month


def main() -> dict:
    settings, month = _settings(warehouse(ROWS))
    clinics = all_clinics(settings)
    results: dict = {"sessions": ROWS, "month": month, "clinics": len(clinics), "formats": list(FORMATS)}
    with tempfile.TemporaryDirectory(prefix="derma-bench-report-") as folder:
        out = Path(folder)
        start = time.perf_counter()
        build_reports(settings, month, [None], out / "network")
        results["network_s"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        build_reports(settings, month, [None], out / "network-html-xlsx", ("html", "xlsx"))
        results["network_html_xlsx_s"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        written = build_reports(settings, month, [None, *clinics], out / "all")
        results["network_and_all_clinics_s"] = round(time.perf_counter() - start, 2)
        results["files"] = len(written)
        results["bytes"] = {p.suffix[1:]: p.stat().st_size for p in written if "network" in p.name}
    results["target_network_s"] = TARGET_S
    results["network_within_target"] = results["network_s"] <= TARGET_S
    payload = {"machine": machine(), "results": results}
    path = save("report", payload)
    print(f"network report ({', '.join(FORMATS)}): {results['network_s']} s (target <= {TARGET_S} s); "
          f"html+xlsx only: {results['network_html_xlsx_s']} s; network + {len(clinics)} clinics: "
          f"{results['network_and_all_clinics_s']} s -> {path}")
    return payload


if __name__ == "__main__":
    main()
