"""The synthetic session generator: a whole clinic network's sessions, as clean contract rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from etl.contract import OPTIONAL, REQUIRED, SIDE_EFFECTS
from sample_data.courses import build_window, draw_patients, expand_sessions, segment_cumsum_before
from sample_data.network import build_network
from sample_data.outcomes import (
    draw_dropout,
    draw_follow_up,
    draw_satisfaction,
    draw_side_effect_types,
    draw_side_effects,
)
from sample_data.treatment import choose_settings

COLUMNS = (*REQUIRED, *OPTIONAL)
#: Session-id shape per clinic (cycled): prefix and zero-padded width of the clinic's running number.
SESSION_ID_SHAPES = (("S", 7), ("7", 6), ("V", 6), (None, 6))


@dataclass(frozen=True)
class Simulation:
    """A generated network: the public rows plus the hidden truth behind them (for calibration and tests)."""

    sessions: pd.DataFrame  # contract columns only
    truth: pd.DataFrame  # aligned with ``sessions``: true rating, side effect, patient index and intercepts
    courses: pd.DataFrame  # one row per patient: plan, delivered sessions, early stop, truncation
    window_start: np.datetime64
    window_end: np.datetime64  # exclusive


def generate_sessions(
    clinics: int = 4, patients: int = 600, months: int = 12, seed: int = 7, end_month: str = "2026-10"
) -> pd.DataFrame:
    """Generate clean, canonical session rows for a synthetic clinic network.

    Parameters
    ----------
    clinics : int
        Number of clinics (``ETB-01``, ``MUC-02``, …; the second is diamond-tip only).
    patients : int
        Patients in the whole network; each has one course of 4–10 planned sessions, so the
        result has about six times as many rows.
    months : int
        Length of the export window in calendar months.
    seed : int
        Seed of ``numpy.random.default_rng``; the same arguments give the same frame.
    end_month : str
        Last month of the window (``YYYY-MM``), inclusive.

    Returns
    -------
    pandas.DataFrame
        One row per session with exactly the contract's columns, sorted by clinic, date and
        session id. ``satisfaction`` is nullable ``Int64`` (NA = no survey answer),
        ``side_effects`` a ``;``-joined string (``""`` = none, or unknown when
        ``follow_up_done`` is false), ``particle_flow`` NaN for diamond tip.

    Notes
    -----
    The planted effects are in :data:`sample_data.planted.PLANTED` and ``sample_data/README.md``.
    """
    return simulate_network(clinics, patients, months, seed, end_month).sessions


def simulate_network(
    clinics: int = 4, patients: int = 600, months: int = 12, seed: int = 7, end_month: str = "2026-10"
) -> Simulation:
    """Generate a network like :func:`generate_sessions` and keep the hidden truth as well.

    Parameters
    ----------
    clinics, patients, months, seed, end_month
        As for :func:`generate_sessions`.

    Returns
    -------
    Simulation
        The public sessions, the per-session truth and the per-course summary.
    """
    rng = np.random.default_rng(seed)
    net = build_network(clinics)
    window = build_window(end_month, months)
    pat = draw_patients(rng, net, patients, window)
    ses = expand_sessions(rng, pat)
    p = ses["patient"]
    cols = choose_settings(rng, net, pat, ses)
    cols["session_number"] = ses["session_number"]
    cols["clinician_id"] = net.clinician_ids[cols.pop("clinician")]
    cols["side_effect"] = draw_side_effects(rng, cols, pat["u_side_effects"][p])
    first, second = draw_side_effect_types(rng, cols, cols["side_effect"])
    rating = draw_satisfaction(rng, cols, pat["u_satisfaction"][p])
    clinic = pat["clinic"][p]
    follow_up, answered = draw_follow_up(
        rng, pat["age"][p], net.response_offset[clinic], ses["session_number"]
    )
    last = ses["session_number"] == pat["planned"][p]
    stop = draw_dropout(rng, cols["side_effect"], rating) & ~last
    dropped_out = segment_cumsum_before(stop.astype(np.int64), pat["planned"]) > 0
    keep = ~dropped_out & (ses["day"] < window.days)

    # Keep what happened inside the window, in clinic / date / patient order, before building the frame.
    order = np.flatnonzero(keep)
    order = order[np.lexsort((pat["patient_number"][p[order]], ses["day"][order], clinic[order]))]
    q = p[order]
    start_year = (window.start + pat["start_day"]).astype("datetime64[Y]").astype(int) + 1970
    satisfaction = pd.arrays.IntegerArray(rating[order].astype(np.int64), mask=~answered[order])
    frame = pd.DataFrame(
        {
            "clinic_id": net.clinic_ids[clinic[order]],
            "session_id": format_session_ids(clinic[order], net.clinic_ids),
            "patient_id": np.strings.add("PN", pat["patient_number"].astype(str))[q],
            "session_date": (window.start + ses["day"][order]).astype("datetime64[ns]"),
            **{name: cols[name][order] for name in COLUMNS if name in cols},
            "birth_year": (start_year - np.floor(pat["age"]).astype(int))[q],
            "satisfaction": satisfaction,
            "side_effects": join_side_effects(first[order], second[order], follow_up[order]),
            "follow_up_done": follow_up[order],
        }
    )[list(COLUMNS)]
    truth = pd.DataFrame(
        {
            "rating": rating[order],
            "side_effect": cols["side_effect"][order],
            "patient": q,
            "u_side_effects": pat["u_side_effects"][q],  # standard normal; times the model's patient SD
            "u_satisfaction": pat["u_satisfaction"][q],
        }
    )
    courses = summarise_courses(pat, ses, keep, stop, window.days, net.clinic_ids)
    return Simulation(frame, truth, courses, window.start, window.end)


def join_side_effects(first: np.ndarray, second: np.ndarray, follow_up: np.ndarray) -> np.ndarray:
    """Return ``;``-joined side-effect codes per session; ``""`` for none or for no follow-up."""
    names = np.asarray(("", *SIDE_EFFECTS), dtype=object)
    text = names[first + 1]
    two = second >= 0
    text[two] = text[two] + ";" + names[second[two] + 1]
    text[~follow_up] = ""
    return text


def format_session_ids(clinic: np.ndarray, clinic_ids: np.ndarray) -> np.ndarray:
    """Number each clinic's sessions in row order, in that clinic's own session-id shape."""
    out = np.empty(len(clinic), dtype=object)
    for index, code in enumerate(clinic_ids):
        rows = np.flatnonzero(clinic == index)
        prefix, width = SESSION_ID_SHAPES[index % len(SESSION_ID_SHAPES)]
        numbers = np.strings.zfill(np.arange(1, len(rows) + 1).astype(str), width)
        out[rows] = np.strings.add(f"{code}-" if prefix is None else prefix, numbers)
    return out


def summarise_courses(
    pat: dict[str, np.ndarray],
    ses: dict[str, np.ndarray],
    keep: np.ndarray,
    stop: np.ndarray,
    days: int,
    clinic_ids: np.ndarray,
) -> pd.DataFrame:
    """One row per patient: planned and delivered sessions, early stop, and whether the window cut it."""
    p = ses["patient"]
    n = len(pat["planned"])
    delivered = np.bincount(p[keep], minlength=n)
    stopped = np.bincount(p[stop & keep], minlength=n) > 0
    planned_last_day = np.zeros(n, dtype=np.int64)
    np.maximum.at(planned_last_day, p, ses["day"])
    return pd.DataFrame(
        {
            "clinic_id": clinic_ids[pat["clinic"]],
            "indication_index": pat["indication"],
            "planned": pat["planned"],
            "delivered": delivered,
            "stopped_early": stopped,
            "plan_fits_window": planned_last_day < days,
        }
    )
