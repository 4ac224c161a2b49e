"""The alert that asks a manager to investigate: a calibrated risk-adjusted CUSUM per chart, in plain words."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.case_mix import fit_case_mix
from analysis.chart_reading import (
    BASELINE_POINTS,
    INVESTIGATE,
    MIN_POINTS,
    SpcResult,
    as_months,
    segment_starts,
)
from analysis.cusum import (
    IN_CONTROL_ARL,
    ODDS_RATIO,
    PRIOR_SD,
    SEED,
    month_penalty,
    offset_to_baseline,
    run_cusum,
    shift_risks,
    simulate_limit,
)

MONTH_COLUMNS = [
    "month",
    "segment",
    "sessions",
    "observed",
    "expected",
    "score",
    "cusum",
    "cusum_limit",
    "alert",
]
SIDE_EFFECTS = ("sessions with a side effect", "side effects")
NOT_SATISFIED = ("answers of 1–3 (not satisfied)", "dissatisfied patients")


@dataclass(frozen=True, eq=False)
class Alert:
    """A risk-adjusted CUSUM over months and whether its latest month alarms.

    ``months`` has one row per month with sessions: ``observed`` events, ``expected`` events at the
    segment's own baseline level for the sessions' case mix, the month's ``score``, the ``cusum`` at
    the month's end, the segment's limit and whether it alarmed. ``alert`` is the latest month's
    alarm; ``since`` the month the run that ended in the latest alarm began (the month after the
    CUSUM was last at zero); ``status`` is ``"ok"``, ``"not_enough_data"`` or ``"no_case_mix"``.
    """

    what: str
    months: pd.DataFrame
    status: str
    alert: bool
    reading: str
    odds_ratio: float = ODDS_RATIO
    arl: float = IN_CONTROL_ARL
    limit: float = float("nan")
    since: pd.Timestamp | None = None
    last_alarm: pd.Timestamp | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def risk_adjusted_alert(
    sessions: pd.DataFrame,
    what: tuple[str, str] = SIDE_EFFECTS,
    rebase: Iterable = (),
    baseline_points: int = BASELINE_POINTS,
    min_points: int = MIN_POINTS,
    odds_ratio: float = ODDS_RATIO,
    arl: float = IN_CONTROL_ARL,
    seed: int = SEED,
) -> Alert:
    """Monthly risk-adjusted CUSUM of observed against expected events, with a simulated limit.

    Parameters
    ----------
    sessions : DataFrame
        One row per session: ``month`` (any date in it), ``outcome`` (bool; NA = unknown, left out)
        and ``expected`` (the case-mix risk of the outcome; NA left out), as
        :func:`side_effect_inputs` and :func:`dissatisfaction_inputs` build it; their
        ``attrs["case_mix"]`` says when the case-mix model could not be fitted.
    what : (str, str)
        The events counted and the words for what rose, e.g. ``("sessions with a side effect",
        "side effects")``.
    rebase : iterable of months
        Process changes: the CUSUM restarts at 0, and the level and limit are learnt again.
    baseline_points : int
        Months at the start of each segment whose events set the segment's level (default 12).
    min_points : int
        Fewer months in a segment and it cannot alarm (default 8).
    odds_ratio, arl, seed
        The odds ratio the scores are tuned to, the in-control average run length in months the
        limit is simulated for, and the simulation's seed.

    Returns
    -------
    Alert

    Notes
    -----
    What the alert means: the odds of the event, given each session's case mix, have been higher
    than in the segment's first months for long enough that a stable process would produce such a
    run about once in ``arl`` months (30 years by default) per chart. Steiner, Cook, Farewell &
    Treasure (2000, Biostatistics 1:441): session :math:`i` scores :math:`y_i \\log R_A -
    \\log(1 - p_i + R_A p_i)`, the log-likelihood ratio of odds multiplied by :math:`R_A = 2`
    against the expected risk :math:`p_i`; the month's scores are summed and
    :math:`S_t = \\max(0, S_{t-1} + W_t)` alarms at :math:`S_t \\ge h` and then restarts at 0.
    :math:`p_i` is the case-mix model's risk shifted on the log-odds scale so that the segment's
    first ``baseline_points`` months have as many expected events as observed (a N(0, 1) prior
    keeps the shift finite without events): the alert compares a clinic with its own usual level,
    not with other clinics (that is the funnel plot's job). :math:`h` is set by simulating the
    chart's own months (case mix and volume) in control, for an average run length of ``arl``
    months, averaging over the error of the learnt level. Assumed: sessions independent given their
    risks; patients whose outcomes hang together make real false alarms more frequent than the
    nominal 0.28% of months. Measured (``python -m bench.spc_alerts``, simulated 10-clinic networks
    with returning patients): 0.26% of side-effect and 0.65% of satisfaction chart-months alert on a
    stable process; a sustained tripling of the odds per patient at about 100 sessions and 2–4 side
    effects a month is caught within 6 months in 96% of clinics (median 2 months), with fewer than
    2 side effects a month in 44% (median 7.5 months).
    """
    n = len(sessions)
    # Plain arrays, not a frame per step: the network's alert reads every session of the network.
    month = as_months(sessions["month"]).to_numpy() if n else np.array([], dtype="datetime64[ns]")
    outcome = pd.array(sessions["outcome"] if n else [], dtype="boolean")
    expected = (
        pd.to_numeric(sessions["expected"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if n
        else np.array([], dtype=float)
    )
    case_mix = sessions.attrs.get("case_mix", {})
    if case_mix.get("status") == "not_enough_data":
        n, events = case_mix.get("n_sessions", 0), case_mix.get("n_events", 0)
        reason = (
            "no sessions with a known outcome and a complete case mix"
            if not n
            else f"no {what[0]} at all"
            if not events
            else f"all {n} sessions counted"
        )
        return _unavailable(
            what, "no_case_mix", f"no alert possible: the case-mix model cannot be fitted ({reason})"
        )
    keep = ~np.isnat(month) & ~np.asarray(outcome.isna()) & ~np.isnan(expected)
    if not keep.any():
        return _unavailable(
            what, "not_enough_data", f"no alert possible: no {what[0].split(' (')[0]} with a known outcome"
        )
    y = outcome.to_numpy(dtype=bool, na_value=False)
    if not keep.all():  # usually every session counts: no copies then
        y, month, expected = y[keep], month[keep], expected[keep]
    which, month_list = pd.factorize(month, sort=True)  # a hash of a few dozen months, not a sort
    del month, outcome, keep
    segment_of = np.cumsum(segment_starts(pd.Series(month_list), rebase))
    frames, notes = [], []
    for segment in np.unique(segment_of):
        own = np.flatnonzero(segment_of == segment)  # the segment's months, in order
        whole = len(own) == len(month_list)  # one segment (no process change): no copy of the arrays
        rows = slice(None) if whole else (which >= own[0]) & (which <= own[-1])
        frames.append(
            _segment(
                month_list[own],
                which if whole else which[rows] - own[0],
                y[rows],
                expected[rows],
                int(segment),
                baseline_points,
                min_points,
                odds_ratio,
                arl,
                seed,
                notes,
            )
        )
    months = pd.concat(frames, ignore_index=True)[MONTH_COLUMNS]
    return _reading(months, what, odds_ratio, arl, min_points, baseline_points, notes)


def _segment(
    order, which, y, expected, segment, baseline_points, min_points, odds_ratio, arl, seed, notes
) -> pd.DataFrame:
    """One segment's months: ``order`` its months in order, ``which`` each session's month among them."""
    baseline = which < baseline_points
    delta = offset_to_baseline(expected[baseline], y[baseline])
    risks = shift_risks(expected, delta)
    sessions = np.bincount(which, minlength=len(order))
    months = pd.DataFrame(
        {
            "month": order,
            "segment": segment,
            "sessions": sessions,
            "observed": np.bincount(which, weights=y.astype(float), minlength=len(order)),
            "expected": np.bincount(which, weights=risks, minlength=len(order)),
        }
    )
    # Each month's risks in the sessions' order (a stable sort by month).
    month_risks = np.split(risks[np.argsort(which, kind="stable")], np.cumsum(sessions)[:-1])
    penalties = np.array([month_penalty(r, odds_ratio) for r in month_risks])
    months["score"] = months["observed"] * np.log(odds_ratio) - penalties
    if len(order) < min_points:
        months[["cusum", "cusum_limit"]] = np.nan
        months["alert"] = False
        return months
    # How well the baseline pins the level down: the simulated limit allows for that error.
    base = risks[baseline]
    level_se = 1 / np.sqrt((base * (1 - base)).sum() + 1 / PRIOR_SD**2)
    limit = simulate_limit(month_risks, odds_ratio, arl, seed=seed, level_se=level_se)
    value, alarm, _start = run_cusum(months["score"], limit.h)
    months["cusum"], months["cusum_limit"], months["alert"] = value, limit.h, alarm
    if np.isinf(limit.simulated_arl):
        notes.append(
            "so many sessions a month that a stable month almost never scores above zero: "
            "any month well above the expected count alarms"
        )
    return months


def _unavailable(what, status: str, reading: str, months: pd.DataFrame | None = None, notes=()) -> Alert:
    empty = pd.DataFrame(
        {c: pd.Series(dtype="datetime64[ns]" if c == "month" else float) for c in MONTH_COLUMNS}
    )
    return Alert(what[0], empty if months is None else months, status, False, reading, notes=tuple(notes))


def _reading(months: pd.DataFrame, what, odds_ratio, arl, min_points, baseline_points, notes) -> Alert:
    last = months.iloc[-1]
    segment = months[months["segment"] == last["segment"]]
    start = segment["month"].iloc[0]
    if len(segment) < min_points:
        since = f" since {start:%B %Y}" if int(last["segment"]) > 0 else ""
        reading = (
            f"no alert possible yet: {len(segment)} month{'s' if len(segment) != 1 else ''} of data{since}, "
            f"at least {min_points} needed to learn the usual level"
        )
        return _unavailable(what, "not_enough_data", reading, months, notes)
    alarms = segment.index[segment["alert"]]
    last_alarm = months.loc[alarms[-1], "month"] if len(alarms) else None
    since = None
    if bool(last["alert"]):
        # The run that alarmed began after the CUSUM was last at zero (or at the last alarm).
        before = segment.loc[: segment.index[-1] - 1]
        rested = before.index[(before["cusum"] <= 0) | before["alert"]]
        first = rested[-1] + 1 if len(rested) else segment.index[0]
        run = months.loc[first:]
        since = run["month"].iloc[0]
        reading = (
            f"alert: since {since:%B %Y}, {run['observed'].sum():.0f} {what[0]} against "
            f"{run['expected'].sum():.1f} expected for the patients treated at this unit's usual level — {INVESTIGATE}"
        )
    else:
        first = min(baseline_points, len(segment))
        level = f"this unit's usual level (its first {first} months from {start:%B %Y})"
        reading = f"no alert: {what[1]} in line with {level}, allowing for the patients treated"
        if last_alarm is not None:
            reading += f" (last alert {last_alarm:%B %Y})"
    return Alert(
        what=what[0],
        months=months,
        status="ok",
        alert=bool(last["alert"]),
        reading=reading,
        odds_ratio=odds_ratio,
        arl=arl,
        limit=float(last["cusum_limit"]),
        since=since,
        last_alarm=last_alarm,
        notes=tuple(dict.fromkeys(notes)),
    )


def verdict(chart: SpcResult, alert: Alert) -> str:
    """The chart's reading of the latest month, then the alert: what a manager reads first."""
    return f"{chart.reading}. {alert.reading[:1].upper()}{alert.reading[1:]}."


# ---------------------------------------------------------------------------------------------- inputs


def side_effect_inputs(sessions: pd.DataFrame) -> pd.DataFrame:
    """Month, outcome (any side effect) and case-mix expected risk of every session, for the alert."""
    expected = fit_case_mix(sessions)
    return _inputs(sessions, sessions["any_side_effect"], expected)


def dissatisfaction_inputs(sessions: pd.DataFrame) -> pd.DataFrame:
    """Month, outcome (rating 1–3 among answered surveys) and its case-mix expected risk, for the alert.

    The expected risk is the case-mix model (:func:`analysis.case_mix.fit_case_mix`) fitted to
    "not satisfied" instead of a side effect: the same patient and treatment factors, no clinician.
    """
    rating = pd.to_numeric(sessions["satisfaction"], errors="coerce").astype("Float64")
    outcome = (rating <= 3).astype("boolean")
    expected = fit_case_mix(sessions.assign(not_satisfied=outcome), outcome="not_satisfied")
    return _inputs(sessions, outcome, expected)


def _inputs(sessions: pd.DataFrame, outcome: pd.Series, expected: pd.Series) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "month": sessions["session_date"],
            "outcome": outcome.astype("boolean"),
            "expected": expected.astype(float),
        },
        index=sessions.index,
        copy=False,  # the month is the sessions' own column, not a copy per chart
    )
    frame.attrs["case_mix"] = dict(expected.attrs)
    return frame
