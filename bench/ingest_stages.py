"""Where a load's time goes, stage by stage, at several sizes (in-process, one run per size).

    python -m bench.ingest_stages --rows 100000 1000000 10000000

Wraps the stages of ``etl.load.ingest`` with timers (reading, row checks, pseudonyms, upsert,
session numbers, marts, copy of the previous snapshot, checkpoint and publish) and loads each cached
bench CSV into a fresh data dir. The growth of each stage from the smallest to the largest size
(a log-log slope: 1 = linear) shows which stage grows faster than the data.
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.common import export_csv, save

STAGES = {
    "read": ("etl.load", "read_export"),
    "row checks": ("etl.load", "check_rows"),
    "pseudonyms": ("etl.load", "_pseudonymise"),
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
    for stage, (module_name, attr) in STAGES.items():
        module = importlib.import_module(module_name)
        original = getattr(module, attr)
        originals.append((module, attr, original))

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
    out = {stage: round(spent[stage], 2) for stage in STAGES}
    out["other (checkpoint, lineage, bookkeeping)"] = round(total - sum(spent.values()), 2)
    out["total"] = round(total, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    args = parser.parse_args()
    results = {}
    for rows in args.rows:
        results[str(rows)] = profile(rows)
        print(rows, results[str(rows)], flush=True)
    small, large = str(min(args.rows)), str(max(args.rows))
    span = math.log10(max(args.rows) / min(args.rows))
    slopes = (
        {
            stage: round(
                math.log10(max(results[large][stage], 1e-3) / max(results[small][stage], 1e-3)) / span, 2
            )
            for stage in results[small]
        }
        if span > 0
        else {}
    )
    print("log-log slope per stage:", slopes)
    save("ingest_stages", {"results": results, "loglog_slope": slopes})


if __name__ == "__main__":
    main()
