"""Model refresh timings at 100k and 1M sessions, and the aggregated-pattern fit against a row-level fit.

    python -m bench.models --sizes 100000 1000000
    python -m bench.models --full-refresh 1000000 10000000 --runs 3

The second form times what an operator runs after a load, `derma models --refresh` on the bench
warehouse, end to end in a fresh subprocess (load inputs, every fit, publish the results), with the
child's peak RSS, against reading the model inputs alone (the baseline of the same run).

Inputs are the bench warehouse's sessions (1M ingested for real; 100k is a random 10% of its
patients). Each stage of a refresh is timed once per size (medians of --runs when > 1); the
side-effect model is then refitted row by row with statsmodels' GLM and cluster-robust SEs to
measure the speed-up of fitting on covariate patterns and the largest difference in estimates.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from bench.common import save
from bench.warehouse import warehouse


def load_sessions(rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bench sessions (a random share of whole patients below 1M) and the network's monthly series."""
    import duckdb

    from derma.refresh import INPUT_COLUMNS
    from etl.access import NETWORK
    from etl.warehouse import current_snapshot
    from queries import run_query

    data_dir = warehouse(1_000_000)
    con = duckdb.connect(str(current_snapshot(data_dir).path), read_only=True)
    frame = con.execute(f"select {', '.join(INPUT_COLUMNS)} from sessions").df()
    series = run_query(con, "monthly_series", {"scope": NETWORK})
    con.close()
    if rows < len(frame):
        keys = frame["patient_key"].drop_duplicates().sample(frac=rows / len(frame), random_state=1)
        frame = frame[frame["patient_key"].isin(set(keys))].reset_index(drop=True)
    return frame, series


def time_stages(sessions: pd.DataFrame, series: pd.DataFrame) -> dict[str, float]:
    from analysis.curves import fit_outcome_models, model_curves
    from analysis.proportional_odds import check_proportional_odds
    from derma import fitting
    from etl.access import NETWORK

    out = {}
    start = time.perf_counter()
    fits = fit_outcome_models(sessions)
    out["both_models"] = time.perf_counter() - start
    seen = sessions[["fitzpatrick", "indication", "treatment_area"]].drop_duplicates()
    diamond = bool((sessions["crystal_type"] == "diamond_tip").any())

    def courses():
        from analysis.courses import summarise_courses

        by_indication = {i: summarise_courses(g) for i, g in sessions.groupby("indication")}
        return fitting._courses(summarise_courses(sessions), by_indication)

    for label, call in (
        ("curves", lambda: model_curves(fits)),
        (
            "proportional_odds_check",
            lambda: check_proportional_odds(
                fitting.patient_sample(sessions, fitting.PO_CHECK_MAX_SESSIONS)[0]
            ),
        ),
        ("settings_explorer", lambda: fitting._explorer(fits, seen, diamond)),
        ("funnels", lambda: fitting._funnels(sessions, NETWORK)),
        ("control_charts", lambda: fitting._control_charts(series, sessions, NETWORK)),
        ("courses", courses),
    ):
        start = time.perf_counter()
        call()
        out[label] = time.perf_counter() - start
    out["full_refresh_without_publish"] = sum(out.values())
    return out, fits


def aggregated_vs_row_level(sessions: pd.DataFrame, fits) -> dict:
    import statsmodels.api as sm

    from analysis.design import code_covariates, collapse, design_env, design_rows, spline_knots
    from analysis.side_effects import fit_logit

    fit = fits.side_effect_fit
    known = sessions.loc[sessions["any_side_effect"].notna().to_numpy()].reset_index(drop=True)
    frame, _ = code_covariates(known)
    y = known["any_side_effect"].to_numpy()[frame.index.to_numpy()].astype(int)
    clusters = known["patient_key"].to_numpy()[frame.index.to_numpy()]
    start = time.perf_counter()
    rows = collapse(frame, list(frame.columns), pd.Series(y), pd.Series(clusters))
    aggregated = fit_logit(fit.rhs, rows, design_env(spline_knots(frame["session_number"])), fit.reference)
    t_aggregated = time.perf_counter() - start
    start = time.perf_counter()
    x = design_rows(aggregated.design_info, frame)
    groups = pd.factorize(clusters)[0]
    row_level = sm.GLM(y, x, family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": groups}
    )
    t_rows = time.perf_counter() - start
    k = len(aggregated.names)
    bse = np.sqrt(np.diag(aggregated.cov))[:k]
    return {
        "n_sessions": len(y),
        "n_patterns": len(rows.patterns),
        "aggregated_s": t_aggregated,
        "row_level_s": t_rows,
        "speedup": t_rows / t_aggregated,
        "max_abs_diff_estimate": float(np.max(np.abs(aggregated.params[:k] - row_level.params))),
        "max_rel_diff_se": float(np.max(np.abs(bse / row_level.bse - 1))),
    }


INPUTS = (
    "import sys; from derma.refresh import load_inputs; from etl.warehouse import connect_current; "
    "from pathlib import Path; snap, con = connect_current(Path(sys.argv[1])); "
    "print(len(load_inputs(con, 'network')))"
)


def full_refresh(sizes: list[int], runs: int) -> dict:
    """`derma models --refresh` end to end per size, A/B interleaved with reading the inputs alone."""
    import os
    import sys

    from bench.common import summarise, timed

    out = {}
    env = {
        "DERMA_SECRET_KEY": "bench-key",
        **(
            {"DERMA_MEMORY_LIMIT": os.environ["DERMA_MEMORY_LIMIT"]}
            if "DERMA_MEMORY_LIMIT" in os.environ
            else {}
        ),
    }
    for size in sizes:
        data_dir = str(warehouse(size))
        measured = []
        for i in range(runs):
            order = ("inputs", "refresh") if i % 2 == 0 else ("refresh", "inputs")
            for side in order:
                if side == "inputs":
                    measured.append(timed("read_model_inputs", [sys.executable, "-c", INPUTS, data_dir], env))
                else:
                    measured.append(
                        timed(
                            "derma_models_refresh",
                            [
                                sys.executable,
                                "-m",
                                "derma.cli",
                                "models",
                                "--refresh",
                                "--data-dir",
                                data_dir,
                            ],
                            env,
                        )
                    )
        stats = summarise(measured)
        out[str(size)] = {
            "stats": stats,
            "ratio_refresh_vs_inputs": round(
                stats["derma_models_refresh"]["median_s"] / stats["read_model_inputs"]["median_s"], 1
            ),
        }
        print(size, out[str(size)], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--full-refresh",
        type=int,
        nargs="+",
        default=None,
        metavar="SIZE",
        help="time `derma models --refresh` end to end on warehouses of these sizes instead",
    )
    args = parser.parse_args()
    if args.full_refresh:
        name = "models_full_refresh_" + "_".join(str(s) for s in args.full_refresh)
        save(name, {"runs": args.runs, "results": full_refresh(args.full_refresh, args.runs)})
        return
    results = {}
    for size in args.sizes:
        sessions, series = load_sessions(size)
        runs = []
        for _ in range(args.runs):
            stages, fits = time_stages(sessions, series)
            runs.append(stages)
        stages = {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}
        comparison = aggregated_vs_row_level(sessions, fits)
        results[str(size)] = {"sessions": len(sessions), "stages_s": stages, "side_effects_fit": comparison}
        print(size, stages, {k: round(v, 6) if isinstance(v, float) else v for k, v in comparison.items()})
    save("models", {"runs": args.runs, "results": results})


if __name__ == "__main__":
    main()
