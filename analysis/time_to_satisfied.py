"""Sessions until satisfied: Kaplan-Meier share of courses first rated 4-5 by each session, with its median."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis.competing import CIF_COLUMNS, SATISFIED, STOPPED, cumulative_incidence
from analysis.courses import DROPOUT_GAP_DAYS, MAX_SESSION, summarise_courses
from analysis.rates import small_sample
from analysis.results import Curve, CurvePoint

CURVE_COLUMNS = ["session", "at_risk", "satisfied", "censored", "cum_satisfied", "ci_low", "ci_high"]
#: The competing-outcomes columns added beside the Kaplan–Meier ones (see ``analysis.competing``).
COMPETING_COLUMNS = [c for c in CIF_COLUMNS if c.startswith("cif_")] + ["stopped"]


@dataclass(frozen=True, eq=False)
class TimeToSatisfied:
    """Kaplan–Meier curve of the probability of having been satisfied by session k, with the median.

    ``table`` has the columns of :data:`CURVE_COLUMNS`, one row per session k = 1..``max_session``.
    ``median`` is ``None`` when the curve never reaches 50 %; ``median_low`` / ``median_high`` are
    ``None`` when that end of the interval is not reached. ``median_text`` says it in words.
    """

    table: pd.DataFrame
    n_courses: int
    n_satisfied: int
    median: float | None
    median_low: float | None
    median_high: float | None
    median_text: str
    status: str = "ok"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_curve(self) -> Curve:
        """The curve as a :class:`analysis.results.Curve` (x = session, y = cumulative probability)."""
        points = tuple(
            CurvePoint(
                float(r.session), float(r.cum_satisfied), float(r.ci_low), float(r.ci_high), int(r.at_risk)
            )
            for r in self.table.itertuples()
            if not np.isnan(r.cum_satisfied)
        )
        return Curve(
            name="sessions_to_satisfied",
            x="session",
            y="probability satisfied (rating 4–5) by this session",
            points=points,
            note=self.median_text,
        )


# ---------------------------------------------------------------------------------------------- courses


def _kaplan_meier(entry: np.ndarray, time: np.ndarray, event: np.ndarray, horizon: int, level: float):
    """Discrete-time KM of 'not yet satisfied' on sessions 1..horizon, with delayed entry."""
    z = stats.norm.ppf(0.5 + level / 2)
    last = int(time.max()) if len(time) else 0
    grid = np.arange(1, max(horizon, last) + 1)
    at_risk = np.array([np.sum((entry <= k) & (time >= k)) for k in grid])
    events = np.array([np.sum((time == k) & event) for k in grid])
    censored = np.array([np.sum((time == k) & ~event) for k in grid])
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(at_risk > 0, events / at_risk, 0.0)
        surv = np.cumprod(1 - hazard)
        terms = np.where((at_risk > 0) & (at_risk > events), events / (at_risk * (at_risk - events)), 0.0)
        greenwood = np.cumsum(terms)
        # log-log interval (Kalbfleisch & Prentice): S ** exp(±z sqrt(V) / log S)
        log_s = np.log(surv)
        spread = z * np.sqrt(greenwood) / np.abs(log_s)
        s_low = surv ** np.exp(spread)
        s_high = surv ** np.exp(-spread)
    untouched = surv == 1.0
    s_low = np.where(untouched, 1.0, s_low)
    s_high = np.where(untouched, 1.0, s_high)
    gone = surv <= 0.0
    s_low = np.where(gone, np.nan, s_low)
    s_high = np.where(gone, np.nan, s_high)
    beyond = grid > last
    table = pd.DataFrame(
        {
            "session": grid,
            "at_risk": at_risk,
            "satisfied": events,
            "censored": censored,
            "cum_satisfied": np.where(beyond, np.nan, 1 - surv),
            "ci_low": np.where(beyond, np.nan, 1 - s_high),
            "ci_high": np.where(beyond, np.nan, 1 - s_low),
        }
    )
    return table


def _first_reaching(table: pd.DataFrame, column: str) -> float | None:
    hits = table.loc[table[column] >= 0.5, "session"]
    return float(hits.iloc[0]) if not hits.empty else None


def _median_text(median, low, high, table: pd.DataFrame, horizon: int) -> str:
    if median is None:
        shown = table.loc[table["session"] <= horizon].dropna(subset=["cum_satisfied"])
        if shown.empty:
            return "not reached"
        last = shown.iloc[-1]
        return f"not reached: {last['cum_satisfied'] * 100:.0f}% satisfied by session {int(last['session'])}"
    low_text = f"{low:.0f}" if low is not None else "not estimable"
    high_text = f"{high:.0f}" if high is not None else "not reached"
    return f"{median:.0f} sessions (95% CI {low_text} to {high_text})"


def sessions_to_satisfied(
    sessions: pd.DataFrame, max_session: int = MAX_SESSION, level: float = 0.95
) -> TimeToSatisfied:
    """How many sessions until a patient first rates the result 4 or 5: Kaplan–Meier curve and median.

    Parameters
    ----------
    sessions : DataFrame
        Rows of the ``sessions`` table (``patient_key, indication, session_date, session_number,
        satisfaction``).
    max_session : int
        Sessions shown in the table (1..12 by default).
    level : float
        Confidence level of the pointwise band and the median's interval.

    Returns
    -------
    TimeToSatisfied
        ``table`` columns: ``session`` (k), ``at_risk`` (courses seen at session k and not yet
        satisfied), ``satisfied`` (first satisfied at k), ``censored`` (course's last session is k,
        never satisfied), ``cum_satisfied`` (KM probability of having been satisfied by session k),
        ``ci_low``, ``ci_high``.

    Notes
    -----
    Estimand: :math:`F(k) = P(T \\le k)`, T = the session number of the first rating of 4–5 in a
    course (see :func:`assign_courses`). Courses that stop (drop out, or are still going) before a
    4–5 rating are right-censored at their last session; a course first seen after session 1 enters
    the risk set at its first session (delayed entry, left truncation). A course whose numbers were
    derived (the export gave none) and whose first stored session falls in the first 42 days of its
    clinic's data may have begun before the data did: its true session numbers are unknown, so it is
    left out (and counted in ``notes``). A session without a survey answer counts as "not yet known
    satisfied": the first *answered* 4–5 is the event, so missing surveys push the event later and
    the curve is conservative. Censoring is assumed non-informative — patients who stop because they
    are unhappy break this, and the simple curve is then optimistic; the ``cif_*`` columns (cumulative
    incidence of being satisfied and of the course ending without a 4–5 rating, dropped out or
    completed, :func:`analysis.competing.cumulative_incidence`) treat stopping as an outcome instead.

    Kaplan–Meier :math:`\\hat S(k) = \\prod_{j \\le k}(1 - d_j/n_j)`, :math:`F = 1 - S`; Greenwood
    :math:`V(k) = \\sum_{j \\le k} d_j / (n_j(n_j - d_j))`; log-log band
    :math:`\\hat S^{\\exp(\\pm z\\sqrt{V}/\\log\\hat S)}` (Kalbfleisch & Prentice 2002; the default of
    lifelines). Median: the first k with :math:`F(k) \\ge 0.5`; its interval by inverting the band
    (Brookmeyer & Crowley 1982): from the first k where the upper band reaches 0.5 to the first k
    where the lower band does. Courses are treated as independent (a patient with two courses counts
    twice); nothing is adjusted for indication or case mix (filter first to compare groups).
    """
    return satisfied_curve(summarise_courses(sessions), max_session, level)


def satisfied_curve(
    courses: pd.DataFrame, max_session: int = MAX_SESSION, level: float = 0.95
) -> TimeToSatisfied:
    """:func:`sessions_to_satisfied` from courses already summarised (``analysis.courses.summarise_courses``).

    Needs the columns ``first_date, window_start, numbers_reported, first_session, last_session,
    first_satisfied_session, status``: an engine can summarise the courses where the sessions are.
    """
    if courses.empty:
        empty = pd.DataFrame(columns=CURVE_COLUMNS)
        return TimeToSatisfied(
            empty, 0, 0, None, None, None, "no courses", "not_enough_data", ("no courses",)
        )
    notes = []
    early = (courses["first_date"] - courses["window_start"]).dt.days <= DROPOUT_GAP_DAYS
    unsure = early & ~courses["numbers_reported"].astype(bool)
    if unsure.any():
        notes.append(
            f"{int(unsure.sum())} course(s) first seen in the first {DROPOUT_GAP_DAYS} days of their clinic's data, "
            "without session numbers in the export, may have begun before the data did: left out"
        )
        courses = courses.loc[~unsure].reset_index(drop=True)
    event = courses["first_satisfied_session"].notna().to_numpy()
    time = np.where(event, courses["first_satisfied_session"], courses["last_session"]).astype(float)
    entry = courses["first_session"].to_numpy(dtype=float)
    full = _kaplan_meier(entry, time, event, max_session, level)
    ended = courses["status"].isin(["dropped_out", "completed"]).to_numpy()
    cause = np.where(event, SATISFIED, np.where(ended, STOPPED, 0))
    competing = cumulative_incidence(entry, time, cause, max_session, level)
    full = full.merge(competing[["session", *COMPETING_COLUMNS]], on="session", how="left")
    median = _first_reaching(full, "cum_satisfied")
    low = _first_reaching(full, "ci_high")
    high = _first_reaching(full, "ci_low")
    if len(courses) < 30:
        notes.append(small_sample(len(courses), unit="courses"))
    if not event.any():
        notes.append("no course has a 4–5 rating yet")
    table = full.loc[full["session"] <= max_session].reset_index(drop=True)
    return TimeToSatisfied(
        table=table[CURVE_COLUMNS + COMPETING_COLUMNS],
        n_courses=len(courses),
        n_satisfied=int(event.sum()),
        median=median,
        median_low=low,
        median_high=high,
        median_text=_median_text(median, low, high, full, max_session),
        status="ok",
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------------------- dropout
