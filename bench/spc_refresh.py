"""What the alerts add to a model refresh: the control-chart stage with and without them, same data, same run.

    python -m bench.spc_refresh --sizes 100000 1000000 --runs 3
    python -m bench.spc_refresh --sizes 10000000 --runs 1 --out spc_refresh_10000000

Data: the bench's own shape (``bench/common.py``: 12 clinics, 12 months, the sample generator), at
each size, in the refresh's input columns. Baseline: both charts of every unit (the network and each
clinic) without alerts, which is what the stage did before issue 13. Measured: the stage as a refresh
now runs it (``derma.fitting._control_charts``: both case-mix fits, charts, simulated limits and
CUSUMs). A/B interleaved in one process, medians of ``--runs``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from bench.common import save
from bench.spc_alerts import monthly_series


def sessions_of(rows: int, seed: int = 11) -> pd.DataFrame:
    """``rows`` generated sessions (12 clinics, 12 months) with the columns a refresh reads."""
    from sample_data.generator import generate_sessions

    frame = generate_sessions(clinics=12, patients=max(50, int(rows / 5.7) + 1), months=12, seed=seed)
    frame = frame.iloc[:rows]
    return pd.DataFrame(
        {
            "clinic_id": frame["clinic_id"],
            "patient_key": pd.factorize(frame["patient_id"])[0].astype(str),  # never the raw number
            "clinician_id": frame["clinician_id"],
            "session_date": frame["session_date"],
            "treatment_area": frame["treatment_area"],
            "indication": frame["indication"],
            "fitzpatrick": frame["fitzpatrick"],
            "session_number": frame["session_number"],
            "pre_care_followed": frame["pre_care_followed"],
            "satisfaction": frame["satisfaction"].astype("Int32"),
            "any_side_effect": pd.array(
                np.where(frame["follow_up_done"], frame["side_effects"] != "", None), dtype="boolean"
            ),
        }
    ).reset_index(drop=True)


def charts_only(series: pd.DataFrame) -> None:
    from analysis.spc import CHART_DIRECTIONS, laney_p_chart, xmr_chart

    series = series.assign(month=pd.to_datetime(series["month"]))
    for _unit, data in series.groupby("unit", sort=False):
        laney_p_chart(
            data[data["n"] > 0][["month", "events", "n"]], direction=CHART_DIRECTIONS["side_effects_p_prime"]
        )
        values = data[data["answered"] > 0][["month", "rating"]].rename(columns={"rating": "value"})
        xmr_chart(values, direction=CHART_DIRECTIONS["satisfaction_xmr"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default="spc_refresh", help="results file name in bench/results/")
    args = parser.parse_args()
    from derma.fitting import _control_charts
    from etl.access import NETWORK

    results = {}
    for size in args.sizes:
        sessions = sessions_of(size)
        series = monthly_series(sessions)
        timings = {"charts_only": [], "charts_and_alerts": []}
        for i in range(args.runs):
            for side in (
                ("charts_only", "charts_and_alerts") if i % 2 == 0 else ("charts_and_alerts", "charts_only")
            ):
                started = time.perf_counter()
                charts_only(series) if side == "charts_only" else _control_charts(series, sessions, NETWORK)
                timings[side].append(time.perf_counter() - started)
        median = {k: round(statistics.median(v), 2) for k, v in timings.items()}
        results[str(size)] = {
            "sessions": len(sessions),
            "units": int(series["unit"].nunique()),
            "seconds": {k: [round(x, 2) for x in v] for k, v in timings.items()},
            "median_s": median,
            "ratio_with_alerts": round(median["charts_and_alerts"] / median["charts_only"], 1),
        }
        print(size, results[str(size)], flush=True)
    command = f"python -m bench.spc_refresh --sizes {' '.join(map(str, args.sizes))} --runs {args.runs}"
    if args.out != "spc_refresh":
        command += f" --out {args.out}"
    save(args.out, {"command": command, "runs": args.runs, "results": results})


if __name__ == "__main__":
    main()
