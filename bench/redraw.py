"""What a note costs: redrawing the control charts after a process change, against a full model refresh.

``python -m bench.redraw --runs 3`` loads the committed sample (4 clinics, about 2,200 sessions) into a
temporary warehouse, then alternates, ``--runs`` times: a full refresh of the network's models
(``refresh_models(force=True)``: the baseline) and, after recording a process change, the redraw of
the control charts only (``redraw_charts``). Both run in this process on the same warehouse; medians
and their ratio go to ``bench/results/redraw.json``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import save
from derma.annotations import redraw_charts
from derma.refresh import refresh_models
from etl.load import ingest
from etl.settings import Settings
from etl.userdata import add_note

SAMPLE = Path(__file__).parents[1] / "sample_data" / "sample"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="derma-bench-redraw-") as folder:
        settings = Settings(
            data_dir=Path(folder) / "data",
            secret_key="bench-key",
            memory_limit="1GB",
            threads=2,
            audit_file=Path(folder) / "audit.jsonl",
        )
        ingest([SAMPLE], settings)
        refresh_models(settings)
        full, redraw = [], []
        for run in range(args.runs):
            started = time.perf_counter()
            refresh_models(settings, force=True)
            full.append(time.perf_counter() - started)
            add_note(
                settings,
                day=f"2026-0{4 + run}-01",
                text=f"bench change {run}",
                process_change=True,
                clinic_id="ETB-01",
            )
            started = time.perf_counter()
            assert redraw_charts(settings) is not None
            redraw.append(time.perf_counter() - started)
    result = {
        "sessions": "committed sample",
        "runs": args.runs,
        "full_refresh_s": [round(x, 2) for x in full],
        "redraw_s": [round(x, 2) for x in redraw],
        "median_full_refresh_s": round(statistics.median(full), 2),
        "median_redraw_s": round(statistics.median(redraw), 2),
        "ratio_redraw_to_full": round(statistics.median(redraw) / statistics.median(full), 3),
    }
    save("redraw", result)
    print(result)


if __name__ == "__main__":
    main()
