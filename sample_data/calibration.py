"""Calibration: the marginal rates a generated network achieves, next to the clinical-reference targets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from etl.contract import INDICATIONS, SIDE_EFFECTS
from sample_data.generator import Simulation

GOOD_OUTCOME = ("wrinkles", "hyperpigmentation", "texture")
SCARS = ("acne_scars", "surgical_scars", "stretch_marks")


@dataclass(frozen=True)
class Target:
    """A calibration band from ``clinical-reference.md`` (or a design choice where it gives none)."""

    name: str
    low: float
    high: float
    source: str


TARGETS = (
    Target("any_side_effect", 0.02, 0.06, "sum of the per-type bands: 'a few %' per session"),
    Target("prolonged_erythema", 0.01, 0.05, "clinical reference, assumption"),
    Target("petechiae", 0.005, 0.02, "clinical reference, assumption"),
    Target("abrasion", 0.001, 0.005, "clinical reference, assumption"),
    Target("hyperpigmentation_i_iii", 0.0005, 0.002, "clinical reference, assumption"),
    Target("hyperpigmentation_ratio_iv_vi", 3.0, 5.0, "clinical reference, assumption"),
    Target("infection", 0.0, 0.0002, "clinical reference, assumption"),
    Target("stopped_early", 0.10, 0.15, "Coimbra 17/20; Rathi 56/80"),
    Target("satisfied_after_course_good", 0.75, 0.85, "Lloyd; Coimbra (photoageing, acne)"),
    Target("satisfied_after_course_scars", 0.30, 0.50, "Anupama; Rathi; Abdel-Latif; Mohamed Ali"),
    Target("no_survey_answer", 0.25, 0.35, "brief: survey non-response 25-35 %"),
    Target("no_follow_up", 0.06, 0.10, "brief: about 8 %"),
    Target("pre_care_followed", 0.80, 0.90, "brief: about 85 %"),
    Target("soothing_mask", 0.55, 0.65, "brief: about 60 %"),
    Target("sessions_per_patient", 5.0, 7.0, "brief: about 6 per patient"),
)


def measure_calibration(sim: Simulation) -> dict[str, float]:
    """Measure the marginal rates of a generated network.

    Parameters
    ----------
    sim : Simulation
        From :func:`sample_data.generator.simulate_network`.

    Returns
    -------
    dict of str to float
        Per-session rates over sessions with follow-up (side effects), per-course rates over
        courses whose plan fits the window (early stops, satisfaction after a completed course,
        using the true rating whether or not the survey was answered), and setting summaries.
    """
    df = sim.sessions
    known = df["follow_up_done"].to_numpy()
    effects = df.loc[known, "side_effects"]
    dark = df.loc[known, "fitzpatrick"].to_numpy() >= 4
    rates: dict[str, float] = {"any_side_effect": float((effects != "").mean())}
    for name in SIDE_EFFECTS:
        rates[name] = float(effects.str.contains(name, regex=False).mean())
    hyper = effects.str.contains("hyperpigmentation", regex=False).to_numpy()
    rates["hyperpigmentation_i_iii"] = float(hyper[~dark].mean())
    rates["hyperpigmentation_iv_vi"] = float(hyper[dark].mean())
    rates["hyperpigmentation_ratio_iv_vi"] = rates["hyperpigmentation_iv_vi"] / max(
        rates["hyperpigmentation_i_iii"], 1e-12
    )
    rates["two_types_share_of_events"] = float(effects[effects != ""].str.contains(";").mean())

    courses = sim.courses[sim.courses["plan_fits_window"]]
    rates["stopped_early"] = float(courses["stopped_early"].mean())
    rates["sessions_per_patient"] = float(len(df) / max((sim.courses["delivered"] > 0).sum(), 1))
    rates |= _satisfaction_after_course(sim)
    rates["no_survey_answer"] = float(df["satisfaction"].isna().mean())
    rates["no_survey_answer_with_follow_up"] = float(df.loc[known, "satisfaction"].isna().mean())
    rates["no_follow_up"] = float((~known).mean())
    for name in ("pre_care_followed", "soothing_mask", "anaesthesia"):
        rates[name] = float(df[name].mean())
    vacuum, fitz = df["vacuum_kpa"], df["fitzpatrick"]
    rates["vacuum_mean_i_iii"] = float(vacuum[fitz <= 3].mean())
    rates["vacuum_mean_iv_vi"] = float(vacuum[fitz >= 4].mean())
    scar = df["indication"].isin(SCARS)
    rates["vacuum_mean_scars"] = float(vacuum[scar].mean())
    rates["vacuum_mean_other"] = float(vacuum[~scar].mean())
    diamond = df["crystal_type"] == "diamond_tip"
    rates["vacuum_p05_crystal"], rates["vacuum_p95_crystal"] = (
        float(x) for x in vacuum[~diamond].quantile([0.05, 0.95])
    )
    rates["vacuum_min_diamond"] = float(vacuum[diamond].min()) if diamond.any() else float("nan")
    rates["share_over_89"] = float(
        ((sim.window_end.astype("datetime64[Y]").astype(int) + 1970 - df["birth_year"]) > 89).mean()
    )
    return rates


def _satisfaction_after_course(sim: Simulation) -> dict[str, float]:
    # The last session of each course delivered in full, with the true rating (answered or not).
    courses = sim.courses
    complete = (courses["delivered"] == courses["planned"]).to_numpy()
    patient = sim.truth["patient"].to_numpy()
    is_last = sim.sessions["session_number"].to_numpy() == courses["planned"].to_numpy()[patient]
    rows = is_last & complete[patient]
    indication = sim.sessions.loc[rows, "indication"]
    satisfied = pd.Series(sim.truth.loc[rows, "rating"].to_numpy() >= 4, index=indication.index)
    out = {
        "satisfied_after_course_good": float(satisfied[indication.isin(GOOD_OUTCOME)].mean()),
        "satisfied_after_course_scars": float(satisfied[indication.isin(SCARS)].mean()),
    }
    for name in INDICATIONS:
        out[f"satisfied_after_course[{name}]"] = float(satisfied[indication == name].mean())
    return out


def check_calibration(rates: dict[str, float]) -> list[str]:
    """Return one message per target whose measured rate falls outside its band (empty = calibrated)."""
    return [
        f"{t.name} = {rates[t.name]:.4g} outside [{t.low:g}, {t.high:g}]"
        for t in TARGETS
        if not t.low <= rates[t.name] <= t.high or np.isnan(rates[t.name])
    ]
