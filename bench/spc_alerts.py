"""How often the control-chart alert fires on a stable clinic network, and how fast it catches a real change.

    python -m bench.spc_alerts --networks 100 --workers 2

Each network is the sample generator's (``sample_data``): 10 clinics, 36 months, about 100 sessions
a clinic a month, with its realistic case mix and patients who come back (a patient's sessions
share a random intercept). Side effects are drawn again from the generator's own model; in the
*shift* networks the odds of a side effect are tripled in 5 of the 10 clinics (chosen at random)
from month 19 on. Each network then goes through the product's ``derma.fitting._control_charts``
(case-mix fits, charts, alerts) once, on all 36 months; the alert of month t only uses months up to
t (the CUSUM runs forward, the level comes from months 1–12), but the case-mix model and each
limit are fitted on all 36 months (a manager at month t would have had them fitted on months up to
t). The old verdict (``bench/legacy_spc.py``, the code before issue 13) and the new charts'
special-cause colouring of the latest month are recomputed at every month t on months up to t.

Evaluated months: 13–36 (after the first year's baseline). Reported:

- the share of chart-months whose latest month alerts (new alert), says "investigate" (old
  verdict) or is coloured special cause (new chart), on the stable networks, by chart and level,
  with a 95% interval from the spread between networks (networks are independent, months of one
  chart are not);
- for the 5 tripled clinics of each shift network: the share whose side-effect alert fired within
  6 months of the change, and the median delay in months (1 = in the first month of the change).
"""

from __future__ import annotations

import argparse
import math
import time
from multiprocessing import Pool

import numpy as np
import pandas as pd

from bench.common import save

CLINICS = 10
PATIENTS = 6000  # about 100 sessions a clinic a month over 36 months
MONTHS = 36
FIRST_EVALUATED = 13
CHANGE_MONTH = 19
ODDS_MULTIPLIER = 3.0
SHIFTED = 5
WITHIN = 6


def network(seed: int, shift: bool) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The sessions (in the refresh's input shape) and the monthly series of one simulated network."""
    from sample_data.generator import simulate_network
    from sample_data.planted import PLANTED, compute_linear_predictor, compute_side_effect_terms

    sim = simulate_network(clinics=CLINICS, patients=PATIENTS, months=MONTHS, seed=seed, end_month="2026-12")
    rows = sim.sessions
    rng = np.random.default_rng(seed + 1_000_003)
    cols = {name: rows[name].to_numpy() for name in rows.columns}
    model = PLANTED.side_effects
    eta = (
        compute_linear_predictor(model, compute_side_effect_terms(cols))
        + model.patient_sd * sim.truth["u_side_effects"].to_numpy()
    )
    clinics = sorted(rows["clinic_id"].unique())
    shifted = sorted(rng.choice(clinics, SHIFTED, replace=False).tolist()) if shift else []
    month_index = (rows["session_date"].dt.year - 2024) * 12 + rows["session_date"].dt.month
    changed = rows["clinic_id"].isin(shifted).to_numpy() & (month_index >= CHANGE_MONTH).to_numpy()
    eta = eta + np.log(ODDS_MULTIPLIER) * changed
    event = rng.random(len(eta)) < 1 / (1 + np.exp(-eta))
    sessions = pd.DataFrame(
        {
            "clinic_id": rows["clinic_id"],
            "patient_key": "P" + sim.truth["patient"].astype(str),  # an index, never the raw number
            "clinician_id": rows["clinician_id"],
            "session_date": rows["session_date"],
            "crystal_type": rows["crystal_type"],
            "vacuum_kpa": rows["vacuum_kpa"],
            "passes": rows["passes"],
            "treatment_area": rows["treatment_area"],
            "indication": rows["indication"],
            "fitzpatrick": rows["fitzpatrick"],
            "particle_flow": rows["particle_flow"],
            "session_number": rows["session_number"],
            "pre_care_followed": rows["pre_care_followed"],
            "satisfaction": rows["satisfaction"].astype("Int32"),
            "follow_up_done": rows["follow_up_done"],
            "any_side_effect": pd.array(np.where(rows["follow_up_done"], event, None), dtype="boolean"),
        }
    )
    return sessions, monthly_series(sessions), shifted


def monthly_series(sessions: pd.DataFrame) -> pd.DataFrame:
    """The ``monthly_series`` query's frame, computed in pandas (same definitions: known outcomes, answered)."""
    frame = sessions.assign(
        month=sessions["session_date"].dt.to_period("M").dt.to_timestamp(),
        known=sessions["any_side_effect"].notna(),
        event=sessions["any_side_effect"].fillna(False).astype(bool),
        answered=sessions["satisfaction"].notna(),
        rating=sessions["satisfaction"].astype("Float64").fillna(0).astype(float),
    )
    parts = []
    for unit, part in [("network", frame), *frame.groupby("clinic_id")]:
        grouped = part.groupby("month")
        out = pd.DataFrame(
            {
                "events": grouped["event"].sum(),
                "n": grouped["known"].sum(),
                "rating_sum": grouped["rating"].sum(),
                "answered": grouped["answered"].sum(),
            }
        ).reset_index()
        out["rating"] = out["rating_sum"] / out["answered"].where(out["answered"] > 0)
        parts.append(out.assign(unit=unit)[["unit", "month", "events", "n", "rating", "answered"]])
    return pd.concat(parts, ignore_index=True)


def evaluate(seed: int, shift: bool, check: bool = False, arl: float | None = None) -> pd.DataFrame:
    """One row per unit, chart and evaluated month: new alert, old verdict, new special-cause colouring.

    Both charts fix their limits on the first 12 months, so from month 13 on the limits of the
    months up to t are those of the full chart: the verdict of month t is the rules run on the
    first t months against them (``check`` recomputes every month from scratch and compares).
    """
    from derma.fitting import _control_charts
    from etl.access import NETWORK

    sessions, series, shifted = network(seed, shift)
    points = _control_charts(series, sessions, NETWORK, arl=arl)["spc_points"]
    first_month = series["month"].min()
    rows = []
    for (unit, chart), part in points.groupby(["unit", "chart"], sort=False):
        part = part.sort_values("month").reset_index(drop=True)
        data = series[series["unit"] == unit].sort_values("month").reset_index(drop=True)
        old, new = _latest_month_flags(data, part, chart)
        base = data.iloc[:12]
        base_rate = float(base["events"].sum() / base["n"].sum())
        if check:
            assert (old, new) == _recomputed_flags(data, chart), f"prefix shortcut differs for {unit} {chart}"
        for t in range(FIRST_EVALUATED - 1, len(part)):
            month = part["month"].iat[t]
            rows.append(
                {
                    "seed": seed,
                    "unit": unit,
                    "level": "network" if unit == NETWORK else "clinic",
                    "chart": chart,
                    "month": (month.year - first_month.year) * 12 + month.month - first_month.month + 1,
                    "shifted": unit in shifted,
                    "base_rate": base_rate,
                    "sessions_per_month": float(data["n"].mean()),
                    "alert": bool(part["alert"].iat[t]),
                    "old_verdict": old[t - FIRST_EVALUATED + 1],
                    "special_cause": new[t - FIRST_EVALUATED + 1],
                }
            )
    return pd.DataFrame(rows)


def _latest_month_flags(data: pd.DataFrame, points: pd.DataFrame, chart: str) -> tuple[list, list]:
    """From month 13 on: whether the old verdict said investigate and whether the new chart's latest point is special."""
    from analysis.spc import CHART_DIRECTIONS
    from analysis.xmr import classify
    from bench import legacy_spc
    from bench.legacy_special_causes import special_cause_rules

    if chart == "side_effects_p_prime":
        legacy = legacy_spc.laney_p_chart(data[["month", "events", "n"]]).points
        plotted = points["z"].to_numpy()
    else:
        legacy = legacy_spc.xmr_chart(data[["month", "rating"]].rename(columns={"rating": "value"})).points
        plotted = points["value"].to_numpy()
    value = points["value"].to_numpy()
    with np.errstate(invalid="ignore"):
        outside = (value > points["upper"]) | (value < points["lower"])
        limits = pd.DataFrame(
            {
                "segment": points["segment"],
                "upper": points["upper"],
                "side": np.sign(plotted).astype(int)
                if chart == "side_effects_p_prime"
                else np.nan_to_num(np.sign(value - points["centre"])).astype(int),
                "outside": outside,
                "close": ~outside & ((value > points["upper_2s"]) | (value < points["lower_2s"])),
            }
        )
    old, new = [], []
    for t in range(FIRST_EVALUATED - 1, len(points)):
        rules = special_cause_rules(
            *(legacy[c].iloc[: t + 1] for c in ("value", "centre", "lower", "upper")),
            legacy["lower_2s"].iloc[: t + 1],
            legacy["upper_2s"].iloc[: t + 1],
        )
        old.append(bool(rules["special_cause"].iat[-1]))
        latest = classify(plotted[: t + 1], limits.iloc[: t + 1], CHART_DIRECTIONS[chart])
        new.append(bool(latest["special_cause"].iat[-1]))
    return old, new


def _recomputed_flags(data: pd.DataFrame, chart: str) -> tuple[list, list]:
    from analysis.spc import CHART_DIRECTIONS, laney_p_chart, xmr_chart
    from bench import legacy_spc

    old, new = [], []
    for t in range(FIRST_EVALUATED - 1, len(data)):
        upto = data.iloc[: t + 1]
        if chart == "side_effects_p_prime":
            frame = upto[["month", "events", "n"]]
            verdict = legacy_spc.laney_p_chart(frame).verdict
            result = laney_p_chart(frame, direction=CHART_DIRECTIONS[chart])
        else:
            frame = upto[["month", "rating"]].rename(columns={"rating": "value"})
            verdict = legacy_spc.xmr_chart(frame).verdict
            result = xmr_chart(frame, direction=CHART_DIRECTIONS[chart])
        old.append(legacy_spc.INVESTIGATE in verdict)
        new.append(bool(result.points["special_cause"].iat[-1]))
    return old, new


def _evaluate(args):
    seed, shift, first, arl = args
    return evaluate(seed, shift, check=first, arl=arl)


def rates(frame: pd.DataFrame) -> dict:
    """Share of chart-months flagged by each signal, with a 95% interval from the spread between networks."""
    out = {}
    for signal in ("alert", "old_verdict", "special_cause"):
        per_network = frame.groupby("seed")[signal].mean()
        mean = float(frame[signal].mean())
        se = (
            float(per_network.std(ddof=1) / math.sqrt(len(per_network)))
            if len(per_network) > 1
            else float("nan")
        )
        out[signal] = {
            "rate": round(mean, 5),
            "ci_low": round(max(0.0, mean - 1.96 * se), 5),
            "ci_high": round(mean + 1.96 * se, 5),
            "flagged": int(frame[signal].sum()),
        }
    out["chart_months"] = len(frame)
    return out


def _delays(charts: pd.DataFrame, signal: str) -> np.ndarray:
    delays = []
    for _key, part in charts.groupby(["seed", "unit"]):
        after = part[(part["month"] >= CHANGE_MONTH) & part[signal]]
        delays.append(int(after["month"].min()) - CHANGE_MONTH + 1 if len(after) else math.inf)
    return np.array(delays, dtype=float)


def _caught(delays: np.ndarray) -> dict:
    caught = delays <= WITHIN
    share = float(caught.mean()) if len(delays) else float("nan")
    se = math.sqrt(share * (1 - share) / len(delays)) if len(delays) else float("nan")
    return {
        "charts": len(delays),
        f"caught_within_{WITHIN}_months": round(share, 4),
        "ci_low": round(max(0.0, share - 1.96 * se), 4),
        "ci_high": round(min(1.0, share + 1.96 * se), 4),
        "median_delay_months": float(np.median(delays)) if len(delays) else None,
        "delay_quartiles": [float(np.quantile(delays, q)) for q in (0.25, 0.75)] if len(delays) else None,
        "never_within_18_months": int(np.isinf(delays).sum()),
    }


#: Side effects a clinic's first 12 months had a month (rate x sessions): with one or two a month a
#: tripling stays hard to tell from chance for months, whatever the alert.
EVENT_BANDS = (
    (0.0, 2.0, "under 2 a month"),
    (2.0, 4.0, "2 to 4 a month"),
    (4.0, math.inf, "4 or more a month"),
)


def detection(frame: pd.DataFrame) -> dict:
    """Per tripled clinic's side-effect chart: the first month from the change on that flags, for each signal."""
    out = {}
    charts = frame[(frame["chart"] == "side_effects_p_prime") & frame["shifted"]]
    for signal in ("alert", "old_verdict"):
        out[signal] = _caught(_delays(charts, signal))
        events = charts["base_rate"] * charts["sessions_per_month"]
        out[signal]["by_side_effects_a_month"] = {
            label: _caught(_delays(charts[events.between(low, high, inclusive="left")], signal))
            for low, high, label in EVENT_BANDS
        }
    before = charts[(charts["month"] < CHANGE_MONTH)]
    out["before_the_change"] = {s: round(float(before[s].mean()), 5) for s in ("alert", "old_verdict")}
    return out


def breakdown(frame: pd.DataFrame) -> dict:
    out = {"all": rates(frame)}
    for (chart, level), part in frame.groupby(["chart", "level"]):
        out[f"{chart}/{level}"] = rates(part)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=100, help="simulated networks per scenario")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--arl", type=float, default=None, help="in-control run length to try (default: the product's)"
    )
    parser.add_argument("--out", default="spc_alerts", help="results file name in bench/results/")
    args = parser.parse_args()
    from analysis.cusum import IN_CONTROL_ARL, ODDS_RATIO

    started = time.perf_counter()
    seeds = range(args.seed, args.seed + args.networks)
    with Pool(args.workers) as pool:
        # The first network of each scenario also checks the month-by-month shortcut against recomputing.
        stable = pd.concat(
            pool.map(_evaluate, [(s, False, s == args.seed, args.arl) for s in seeds]), ignore_index=True
        )
        shifted = pd.concat(
            pool.map(_evaluate, [(s, True, s == args.seed, args.arl) for s in seeds]), ignore_index=True
        )
    # The other clinics' side-effect charts after the change: the shared case-mix fit now holds tripled months.
    unshifted = shifted[
        ~shifted["shifted"] & (shifted["level"] == "clinic") & (shifted["chart"] == "side_effects_p_prime")
    ]
    payload = {
        "command": "python -m bench.spc_alerts "
        + f"--networks {args.networks} --workers {args.workers} --seed {args.seed}"
        + (f" --arl {args.arl:g} --out {args.out}" if args.arl else ""),
        "design": {
            "clinics": CLINICS,
            "months": MONTHS,
            "patients": PATIENTS,
            "sessions_per_clinic_month": round(len(network(args.seed, False)[0]) / CLINICS / MONTHS, 1),
            "evaluated_months": [FIRST_EVALUATED, MONTHS],
            "change": f"odds of a side effect x{ODDS_MULTIPLIER:g} in {SHIFTED} of {CLINICS} clinics from month {CHANGE_MONTH}",
            "alert": {"odds_ratio": ODDS_RATIO, "in_control_arl_months": args.arl or IN_CONTROL_ARL},
        },
        "stable": breakdown(stable),
        "shift": {
            "detection": detection(shifted),
            "unshifted_clinics_side_effects_after_the_change": rates(
                unshifted[unshifted["month"] >= CHANGE_MONTH]
            ),
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    path = save(args.out, payload)
    print(f"wrote {path}")
    for key, value in payload["stable"].items():
        print(
            f"stable {key:40s} "
            + "  ".join(f"{s} {v['rate']:.4f}" for s, v in value.items() if isinstance(v, dict))
        )
    for key, value in payload["shift"]["detection"].items():
        print(f"shift {key}: {value}")


if __name__ == "__main__":
    main()
