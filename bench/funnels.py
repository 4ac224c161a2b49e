"""The funnels stage of a model refresh: two case-mix fits (clinic fixed effects, crystal, device) against one.

    python -m bench.funnels --sizes 100000 1000000 --runs 3

Since issue 13 the clinician funnel has its own case-mix fit with a fixed effect per clinic, and both
fits include crystal type and device: more covariate patterns and two fits instead of one. The
baseline, timed in the same run on the same sessions (interleaved, medians of --runs), is what the
stage did before: one case-mix fit of the patient terms only, shared by the clinician and clinic
funnels. Inputs are the bench warehouse's sessions (see bench/models.py).
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.common import save


def time_funnels(sessions, runs: int) -> dict:
    from analysis.case_mix import fit_case_mix
    from analysis.funnel import funnel
    from derma.fitting import _funnels
    from etl.access import NETWORK

    patient_terms = sessions.drop(columns=["crystal_type", "device_model"])

    def baseline():
        expected = fit_case_mix(patient_terms)
        for unit in ("clinician_id", "clinic_id"):
            funnel(patient_terms, expected, unit=unit)

    def current():
        _funnels(sessions, NETWORK)

    seconds = {"baseline": [], "current": []}
    for _ in range(runs):
        for label, call in (("baseline", baseline), ("current", current)):
            start = time.perf_counter()
            call()
            seconds[label].append(time.perf_counter() - start)
    medians = {label: statistics.median(values) for label, values in seconds.items()}
    return {
        "n_sessions": len(sessions),
        "runs": seconds,
        "baseline_s": medians["baseline"],
        "current_s": medians["current"],
        "ratio": medians["current"] / medians["baseline"],
    }


def main() -> None:
    from bench.models import load_sessions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = {}
    for size in args.sizes:
        sessions, _ = load_sessions(size)
        results[str(size)] = time_funnels(sessions, args.runs)
        out = results[str(size)]
        print(f"{out['n_sessions']:>10,} sessions: baseline {out['baseline_s']:.2f} s, "
              f"current {out['current_s']:.2f} s, ratio {out['ratio']:.2f}")  # fmt: skip
    save("funnels", {"command": "python -m bench.funnels " + " ".join(_argv(args)), "results": results})


def _argv(args) -> list[str]:
    return ["--sizes", *map(str, args.sizes), "--runs", str(args.runs)]


if __name__ == "__main__":
    main()
