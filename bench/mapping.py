"""What reading through a mapping costs: the same sessions loaded as Acme's CSVs with their mapping vs in the format.

    python -m bench.mapping --rows 100000 --runs 3

One clinic's sessions are written twice: as the export format (``write_exports``) and as Acme
Aesthetics exports (``write_vendor_exports``: other headers, day-first dates, inHg with a decimal comma,
text ratings, comma-separated reactions, a name and a notes column). Each run loads one side's folder
into a fresh data dir with ``derma ingest --skip-models`` in a fresh subprocess, the sides interleaved
(A B, B A, ...) so they share the machine's load. The ratio is the mapped side's median over the
format side's: the price of the mapping's projection (value tables, date parsing, list rewriting) on
top of the same checks and merge.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import PYTHON, save
from sample_data.generator import generate_sessions
from sample_data.vendors import write_vendor_exports
from sample_data.writer import write_exports


def _exports(rows: int, folder: Path) -> tuple[Path, Path, Path]:
    """The format's CSVs, Acme's CSVs and Acme's mapping for about ``rows`` sessions of one clinic."""
    months = 12
    frame = generate_sessions(
        clinics=1, patients=max(rows // 6, 50), months=months, seed=5, end_month="2026-10"
    )
    write_exports(frame, folder / "format", fmt="csv", messy_rate=0.0, seed=5)
    vendor = write_vendor_exports(frame, folder / "acme", messy_rate=0.0, seed=5)
    shutil.move(vendor.mappings[0], folder / "acme.toml")  # outside the folder that is loaded
    return folder / "format", folder / "acme", folder / "acme.toml"


def _load(exports: Path, mapping: Path | None) -> tuple[float, dict]:
    work = Path(tempfile.mkdtemp(prefix="derma-bench-mapping-"))
    env = {**os.environ, "DERMA_DATA_DIR": str(work / "data"), "DERMA_SECRET_KEY": "bench-key"}
    command = [PYTHON, "-m", "derma.cli", "ingest", str(exports), "--skip-models", "--format", "json"]
    if mapping is not None:
        command += ["--mapping", str(mapping)]
    started = time.monotonic()
    try:
        run = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
        return time.monotonic() - started, json.loads(run.stdout)["totals"]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="derma-bench-mapping-data-"))
    try:
        plain, acme, mapping = _exports(args.rows, folder)
        times: dict[str, list[float]] = {"format": [], "mapped": []}
        totals = {}
        for run in range(args.runs):
            order = [("format", plain, None), ("mapped", acme, mapping)]
            for side, exports, given in order if run % 2 == 0 else order[::-1]:
                seconds, totals[side] = _load(exports, given)
                times[side].append(seconds)
        assert totals["format"] == totals["mapped"], totals  # the same sessions stored either way
        medians = {side: statistics.median(values) for side, values in times.items()}
        payload = {
            "command": f"python -m bench.mapping --rows {args.rows} --runs {args.runs}",
            "rows": totals["format"]["rows"],
            "files": len(list(plain.glob("*.csv"))),
            "seconds": times,
            "median_seconds": medians,
            "ratio_mapped_over_format": round(medians["mapped"] / medians["format"], 3),
        }
        path = save(f"mapping_{args.rows}", payload)
        print(
            f"{payload['rows']:,} rows in {payload['files']} files: format {medians['format']:.2f} s, "
            f"through Acme's mapping {medians['mapped']:.2f} s, ratio {payload['ratio_mapped_over_format']} "
            f"({path})"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
