"""Dashboard speed on the 1M-session warehouse: every page's data calls, and filter change to settled page.

    python -m bench.dashboard --repeat 20 --changes 12

1. Server side: each page's calls into ``dashboard/data.py``, run through the cached functions'
   uncached bodies (``__wrapped__``), so every repeat does the real DuckDB work the first visitor of a
   view waits for; unfiltered (network) and with one clinic selected. p50/p95 of the page total and of
   the slowest single call. Target: p95 <= 150 ms.
2. In the browser: ``derma serve`` on the same warehouse and headless Debian Chromium; the time from
   picking a new sidebar value to a settled page (script run over, nothing stale, every chart drawn),
   each change a value not seen before in the session (cold cache). Target: p95 <= 1.5 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

from bench.common import CACHE, save
from bench.warehouse import warehouse

SIZE = 1_000_000
TARGET_DATA_MS = 150
TARGET_SETTLE_S = 1.5


def ready_warehouse() -> Path:
    """The 1M warehouse with fitted models (rebuilt if it predates the model tables)."""
    from dashboard.modelling import refresh_models
    from etl.settings import Settings
    from etl.warehouse import current_snapshot

    target = CACHE / f"wh_{SIZE}"
    snapshot = current_snapshot(target)
    if snapshot is not None:
        con = duckdb.connect(str(snapshot.path), read_only=True)
        has_models = con.execute("select count(*) from information_schema.tables "
                                 "where table_name = 'model_runs'").fetchall()[0][0]
        con.close()
        if not has_models:
            shutil.rmtree(target)
    data_dir = warehouse(SIZE)
    refresh_models(Settings(data_dir=data_dir, secret_key="bench-key"))  # no-op when fresh results exist
    return data_dir


def page_calls(snapshot: str, clinic: str | None) -> dict[str, list[tuple[str, object]]]:
    """Each page's data calls as the page makes them (keep in step with dashboard/app_pages/)."""
    from dashboard import data
    from dashboard.filters import Filters

    f = Filters(clinic_id=clinic)
    scope = data.model_scope.__wrapped__(snapshot, clinic)

    def call(name: str, *args):
        return name, lambda: getattr(data, name).__wrapped__(snapshot, *args)

    return {
        "router (filter choices)": [call("months"), call("clinicians")],
        "overview": [call("kpis", f), call("spc_verdicts", clinic or data.NETWORK)],
        "courses": [call("satisfaction_by_session", f), call("model_scope", clinic), call("model_summaries", scope),
                    call("course_curves", scope, "all"), call("course_summaries", scope),
                    call("course_dropout", scope, None), call("course_completion", f)],
        "safety": [call("setting_rates", f, "vacuum_band"), call("side_effect_types", f), call("model_scope", clinic),
                   call("model_summaries", scope), call("model_curves", scope),
                   call("explorer", scope, 2, "wrinkles", "face", None)],
        "clinicians": [call("model_summaries", data.NETWORK), call("funnel", "clinician", clinic),
                       call("funnel", "clinic", None), call("funnel_summaries"),
                       call("spc_points", clinic, "side_effects_p_prime"),
                       call("spc_points", clinic, "satisfaction_xmr")],
        "models": [call("model_scope", clinic), call("model_summaries", scope), call("model_effects", scope),
                   call("model_po_check", scope)],
        "quality": [call("freshness", clinic), call("load_batches"), call("quarantine_summary", clinic),
                    call("quarantine_records", clinic)],
        "sql": [call("named_query", "clinic_outcomes", (("clinic_id", clinic),) if clinic else ())],
    }


def percentiles(values: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(values), 1), "p95": round(float(np.percentile(values, 95)), 1)}


def bench_data_calls(data_dir: Path, repeat: int) -> list[dict]:
    from etl.warehouse import current_snapshot

    snapshot = str(current_snapshot(data_dir).path)
    con = duckdb.connect(snapshot, read_only=True)
    clinic = con.execute("select min(clinic_id) from sessions").fetchall()[0][0]
    con.close()
    rows = []
    for scope, chosen in (("network", None), ("one clinic", clinic)):
        for page, calls in page_calls(snapshot, chosen).items():
            for _, run in calls:
                run()  # warm-up: the connection and DuckDB's own caches, as on a running server
            totals, slowest = [], {}
            for _ in range(repeat):
                total = 0.0
                for name, run in calls:
                    started = time.perf_counter()
                    run()
                    ms = (time.perf_counter() - started) * 1000
                    total += ms
                    slowest.setdefault(name, []).append(ms)
                totals.append(total)
            worst = max(slowest, key=lambda n: np.percentile(slowest[n], 95))
            rows.append({"page": page, "scope": scope, "calls": len(calls), "total_ms": percentiles(totals),
                         "slowest_call": worst, "slowest_call_ms": percentiles(slowest[worst])})
    return rows


def bench_filter_changes(data_dir: Path, changes: int) -> list[dict]:
    from playwright.sync_api import sync_playwright

    from etl.warehouse import current_snapshot
    from tests.dashboard.browser import choose, expect_rerun, launch, serve, settle

    con = duckdb.connect(str(current_snapshot(data_dir).path), read_only=True)
    clinics = [r[0] for r in con.execute("select distinct clinic_id from sessions order by 1").fetchall()]
    con.close()
    results = []
    log = Path(tempfile.mkdtemp(prefix="derma-bench-")) / "serve.log"
    with serve(data_dir, log) as url, sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        for path, label in (("", "overview"), ("safety", "settings & safety")):
            page.goto(f"{url}/{path}")
            settle(page, timeout_ms=120_000)
            times = []
            for i in range(changes):
                # each change a value not seen before: every clinic once, then skin types
                option = clinics[i] if i < len(clinics) else None
                expect_rerun(page)
                started = time.perf_counter()
                if option:
                    choose(page, "Clinic", option)
                else:
                    choose(page, "Skin type (Fitzpatrick)", f"Type {['I', 'II', 'III', 'IV', 'V', 'VI'][i % 6]}")
                settle(page, timeout_ms=60_000)
                times.append(time.perf_counter() - started)
            results.append({"page": label, "changes": changes, "settle_s": {
                k: round(v / 1000, 3) for k, v in percentiles([t * 1000 for t in times]).items()},
                "runs_s": [round(t, 3) for t in times]})
        browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="repeats of each page's data calls (>= 15)")
    parser.add_argument("--changes", type=int, default=12, help="filter changes per page in Chromium (>= 10)")
    parser.add_argument("--skip-browser", action="store_true")
    args = parser.parse_args()
    data_dir = ready_warehouse()
    calls = bench_data_calls(data_dir, max(15, args.repeat))
    print(f"\nData calls per page on {SIZE:,} sessions (ms, {max(15, args.repeat)} repeats, uncached):")
    print(f"{'page':26} {'scope':11} {'calls':>5} {'p50':>8} {'p95':>8}  slowest call (p95)")
    for r in calls:
        print(f"{r['page']:26} {r['scope']:11} {r['calls']:>5} {r['total_ms']['p50']:>8} {r['total_ms']['p95']:>8}"
              f"  {r['slowest_call']} ({r['slowest_call_ms']['p95']} ms)")
    worst = max(r["total_ms"]["p95"] for r in calls)
    print(f"worst page p95: {worst} ms (target {TARGET_DATA_MS} ms)")
    settles = [] if args.skip_browser else bench_filter_changes(data_dir, max(10, args.changes))
    for r in settles:
        print(f"filter change -> settled page, {r['page']}: p50 {r['settle_s']['p50']} s, "
              f"p95 {r['settle_s']['p95']} s over {r['changes']} changes (target {TARGET_SETTLE_S} s)")
    path = save("dashboard", {"sessions": SIZE, "repeat": max(15, args.repeat), "targets": {
        "data_calls_p95_ms": TARGET_DATA_MS, "filter_change_p95_s": TARGET_SETTLE_S},
        "data_calls": calls, "filter_changes": settles})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
