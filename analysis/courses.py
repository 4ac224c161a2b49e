"""Treatment courses: who completes, who drops out, and how many sessions it takes to be satisfied."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis.rates import small_sample, small_sample_notes, wilson_interval
from analysis.results import Curve, CurvePoint

#: Sessions in a full course, by indication: the ``planned_sessions()`` macro of ``etl/schema.sql``
#: (the clinical reference quotes 5–8 weekly sessions for photoageing, 6–10 for scars and stretch marks).
PLANNED_SESSIONS = {
    "wrinkles": 6,
    "hyperpigmentation": 6,
    "texture": 6,
    "acne_scars": 8,
    "surgical_scars": 8,
    "stretch_marks": 8,
}
#: A course that has not reached its planned length is "ongoing" until this many days pass without a session.
DROPOUT_GAP_DAYS = 42
SATISFIED = 4  # ratings 4 and 5 count as satisfied
MAX_SESSION = 12

DEFAULT_PLANNED = 6
#: A course: one patient's sessions for one indication on one area (the ``patient_courses`` mart's key).
COURSE_KEYS = ("clinic_id", "patient_key", "indication", "treatment_area")

COURSE_COLUMNS = [
    "course_id",
    "clinic_id",
    "patient_key",
    "indication",
    "treatment_area",
    "planned_sessions",
    "sessions_done",
    "first_session",
    "last_session",
    "first_date",
    "last_date",
    "status",
    "first_satisfied_session",
    "last_rating",
    "last_rating_session",
]
CURVE_COLUMNS = ["session", "at_risk", "satisfied", "censored", "cum_satisfied", "ci_low", "ci_high"]
DROPOUT_COLUMNS = [
    "session_number",
    "reached",
    "dropped_after",
    "completed_at",
    "ongoing_at",
    "at_risk",
    "dropout_rate",
    "ci_low",
    "ci_high",
    "small_sample",
]
END_COLUMNS = [
    "indication",
    "planned_sessions",
    "courses_completed",
    "answered",
    "satisfied",
    "share_satisfied",
    "ci_low",
    "ci_high",
    "small_sample",
]


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


def _course_keys(sessions: pd.DataFrame) -> list[str]:
    return [k for k in COURSE_KEYS if k in sessions]


def assign_courses(sessions: pd.DataFrame) -> pd.Series:
    """A course id for each session: one patient, one indication, one treatment area (in one clinic).

    Returns a string Series aligned to ``sessions.index``.

    Notes
    -----
    The same key as the ``patient_courses`` mart (``clinic_id, patient_key, indication,
    treatment_area``); ``clinic_id`` and ``treatment_area`` are used when present. Assumes one course
    per key: a patient who starts a second course for the same indication and area later is merged
    into the first (as in the mart).
    """
    if sessions is None or sessions.empty:
        return pd.Series(dtype="string", index=None if sessions is None else sessions.index)
    parts = [sessions[k].astype("string").fillna("") for k in _course_keys(sessions)]
    course = parts[0]
    for part in parts[1:]:
        course = course + "|" + part
    return course.astype("string")


def _cutoffs(sessions: pd.DataFrame, as_of) -> pd.Series:
    """The data's last date for each session's course: ``as_of``, else its clinic's latest session."""
    if as_of is not None:
        return pd.Series(pd.Timestamp(as_of), index=sessions.index)
    dates = pd.to_datetime(sessions["session_date"])
    if "clinic_id" in sessions:
        return dates.groupby(sessions["clinic_id"]).transform("max")
    return pd.Series(dates.max(), index=sessions.index)


def summarise_courses(sessions: pd.DataFrame, as_of=None) -> pd.DataFrame:
    """One row per course: its length, dates, status and satisfaction milestones.

    Parameters
    ----------
    sessions : DataFrame
        Rows of the ``sessions`` table (``patient_key, indication, session_date, session_number,
        satisfaction``; ``clinic_id`` and ``treatment_area`` when present).
    as_of : date-like, optional
        The data's last date; default each clinic's latest ``session_date`` (as the mart does), or the
        latest overall when there is no ``clinic_id``.

    Returns
    -------
    DataFrame
        Columns of :data:`COURSE_COLUMNS`. ``sessions_done`` counts the course's sessions;
        ``first_session`` / ``last_session`` are its lowest / highest ``session_number``. ``status``
        is ``"completed"`` (at least the planned number of sessions), ``"dropped_out"`` (fewer, and
        the last session more than 42 days before the data's last date) or ``"ongoing"`` (fewer, but
        seen within 42 days).

    Notes
    -----
    The course key, the planned lengths (:data:`PLANNED_SESSIONS`; 6 for an indication not listed)
    and the status rule are those of ``queries/marts/patient_courses.sql``, so the dashboard's course
    table and these analyses agree. ``first_satisfied_session`` is the ``session_number`` of the first
    session answered 4 or 5; ``last_rating`` is the last answered rating (by session order).
    """
    if sessions is None or sessions.empty:
        return pd.DataFrame(columns=COURSE_COLUMNS)
    frame = pd.DataFrame(
        {
            "course_id": assign_courses(sessions),
            "clinic_id": sessions["clinic_id"].astype(str) if "clinic_id" in sessions else "",
            "patient_key": sessions["patient_key"].astype(str),
            "indication": sessions["indication"].astype(str),
            "treatment_area": sessions["treatment_area"].astype(str) if "treatment_area" in sessions else "",
            "session_date": pd.to_datetime(sessions["session_date"]),
            "session_number": pd.to_numeric(sessions["session_number"]).astype(float),
            "satisfaction": pd.to_numeric(sessions["satisfaction"]).astype("Float64").astype(float)
            if "satisfaction" in sessions
            else np.nan,
            "cutoff": _cutoffs(sessions, as_of),
        }
    ).sort_values(["course_id", "session_date", "session_number"], kind="stable")
    grouped = frame.groupby("course_id", sort=True)
    courses = grouped.agg(
        clinic_id=("clinic_id", "first"),
        patient_key=("patient_key", "first"),
        indication=("indication", "first"),
        treatment_area=("treatment_area", "first"),
        sessions_done=("session_number", "size"),
        first_session=("session_number", "min"),
        last_session=("session_number", "max"),
        first_date=("session_date", "min"),
        last_date=("session_date", "max"),
        cutoff=("cutoff", "max"),
    )
    satisfied = frame.loc[frame["satisfaction"] >= SATISFIED]
    courses["first_satisfied_session"] = satisfied.groupby("course_id")["session_number"].min()
    answered = frame.loc[frame["satisfaction"].notna()]
    last_answer = answered.groupby("course_id").tail(1).set_index("course_id")
    courses["last_rating"] = last_answer["satisfaction"]
    courses["last_rating_session"] = last_answer["session_number"]
    courses["planned_sessions"] = (
        courses["indication"].map(PLANNED_SESSIONS).fillna(DEFAULT_PLANNED).astype(int)
    )
    quiet = (courses["cutoff"] - courses["last_date"]).dt.days > DROPOUT_GAP_DAYS
    courses["status"] = np.select(
        [courses["sessions_done"] >= courses["planned_sessions"], quiet],
        ["completed", "dropped_out"],
        default="ongoing",
    )
    return courses.reset_index()[COURSE_COLUMNS]


# ---------------------------------------------------------------------------------------------- time to satisfied


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
    the risk set at its first session (delayed entry). A session without a survey answer counts as
    "not yet known satisfied": the first *answered* 4–5 is the event, so missing surveys push the
    event later and the curve is conservative. Censoring is assumed non-informative — patients who
    stop because they are unhappy break this, and the curve is then optimistic.

    Kaplan–Meier :math:`\\hat S(k) = \\prod_{j \\le k}(1 - d_j/n_j)`, :math:`F = 1 - S`; Greenwood
    :math:`V(k) = \\sum_{j \\le k} d_j / (n_j(n_j - d_j))`; log-log band
    :math:`\\hat S^{\\exp(\\pm z\\sqrt{V}/\\log\\hat S)}` (Kalbfleisch & Prentice 2002; the default of
    lifelines). Median: the first k with :math:`F(k) \\ge 0.5`; its interval by inverting the band
    (Brookmeyer & Crowley 1982): from the first k where the upper band reaches 0.5 to the first k
    where the lower band does. Courses are treated as independent (a patient with two courses counts
    twice); nothing is adjusted for indication or case mix (filter first to compare groups).
    """
    courses = summarise_courses(sessions)
    if courses.empty:
        empty = pd.DataFrame(columns=CURVE_COLUMNS)
        return TimeToSatisfied(
            empty, 0, 0, None, None, None, "no courses", "not_enough_data", ("no courses",)
        )
    event = courses["first_satisfied_session"].notna().to_numpy()
    time = np.where(event, courses["first_satisfied_session"], courses["last_session"]).astype(float)
    entry = courses["first_session"].to_numpy(dtype=float)
    full = _kaplan_meier(entry, time, event, max_session, level)
    median = _first_reaching(full, "cum_satisfied")
    low = _first_reaching(full, "ci_high")
    high = _first_reaching(full, "ci_low")
    notes = []
    if len(courses) < 30:
        notes.append(small_sample(len(courses), unit="courses"))
    if not event.any():
        notes.append("no course has a 4–5 rating yet")
    table = full.loc[full["session"] <= max_session].reset_index(drop=True)
    return TimeToSatisfied(
        table=table[CURVE_COLUMNS],
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


def dropout_by_session(
    sessions: pd.DataFrame, as_of=None, by: str | None = None, level: float = 0.95
) -> pd.DataFrame:
    """Per session number: courses reaching it and courses dropping out right after it.

    Parameters
    ----------
    sessions : DataFrame
        Rows of the ``sessions`` table.
    as_of : date-like, optional
        The data's last date (default: each clinic's latest ``session_date``).
    by : str, optional
        A course-level column of :func:`summarise_courses` to split by (e.g. ``"indication"``).
    level : float
        Confidence level of the Wilson interval.

    Returns
    -------
    DataFrame
        Columns ``[by], session_number, reached, dropped_after, completed_at, ongoing_at, at_risk,
        dropout_rate, ci_low, ci_high, small_sample``. ``reached``: courses seen at that session
        number (first ≤ k ≤ last). ``dropped_after``: dropped-out courses whose last session is k.
        ``completed_at`` / ``ongoing_at``: courses that completed, or are still going, with last
        session k. ``at_risk = reached - ongoing_at``; ``dropout_rate = dropped_after / at_risk``.

    Notes
    -----
    Estimand: the conditional probability that a course stops for good after session k, given it
    reached session k and its fate after k is known (a discrete-time hazard). Courses still going
    are left out at their last session (censored), not counted as staying. "Dropped out" means fewer
    sessions than planned (:data:`PLANNED_SESSIONS`) and none in the 42 days before the data's last
    date (the mart's rule); a patient who pauses longer and comes back is first counted as dropped
    out and later as continuing. Positions are ``session_number`` values, so a course first seen at
    session 3 is counted from session 3.
    Wilson intervals treat courses as independent.
    """
    columns = ([by] if by else []) + DROPOUT_COLUMNS
    courses = summarise_courses(sessions, as_of)
    if courses.empty:
        return pd.DataFrame(columns=columns)
    groups = courses.groupby(by, sort=True) if by else [(None, courses)]
    parts = []
    for key, group in groups:
        last = group["last_session"].to_numpy()
        first = group["first_session"].to_numpy()
        status = group["status"].to_numpy()
        grid = np.arange(1, int(np.nanmax(last)) + 1)
        part = pd.DataFrame(
            {
                "session_number": grid,
                "reached": [int(np.sum((first <= k) & (last >= k))) for k in grid],
                "dropped_after": [int(np.sum((last == k) & (status == "dropped_out"))) for k in grid],
                "completed_at": [int(np.sum((last == k) & (status == "completed"))) for k in grid],
                "ongoing_at": [int(np.sum((last == k) & (status == "ongoing"))) for k in grid],
            }
        )
        if by:
            part.insert(0, by, key[0] if isinstance(key, tuple) else key)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out["at_risk"] = out["reached"] - out["ongoing_at"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["dropout_rate"] = np.where(out["at_risk"] > 0, out["dropped_after"] / out["at_risk"], np.nan)
    out["ci_low"], out["ci_high"] = wilson_interval(out["dropped_after"], out["at_risk"], level)
    out["small_sample"] = small_sample_notes(out["at_risk"], out["dropped_after"], unit="courses at risk")
    return out[columns]


# ---------------------------------------------------------------------------------------------- end of course


def satisfaction_at_course_end(sessions: pd.DataFrame, as_of=None, level: float = 0.95) -> pd.DataFrame:
    """Share of completed courses whose last answered rating is 4 or 5, by indication.

    Parameters
    ----------
    sessions : DataFrame
        Rows of the ``sessions`` table.
    as_of : date-like, optional
        The data's last date (default: each clinic's latest ``session_date``).
    level : float
        Confidence level of the Wilson interval.

    Returns
    -------
    DataFrame
        Columns ``indication, planned_sessions, courses_completed, answered`` (completed courses with
        at least one answered rating), ``satisfied`` (last answered rating 4–5), ``share_satisfied``
        (satisfied / answered), ``ci_low, ci_high, small_sample``. One row per indication with at
        least one completed course.

    Notes
    -----
    Estimand: among courses that reached their planned length, the probability that the patient's
    last answered rating is 4–5. Completed courses without any answer are counted in
    ``courses_completed`` but not in the share (assumed missing at random — if unhappy patients skip
    the survey, the share is optimistic). The last answer may come before the final session when the
    final survey is missing. Dropped-out courses are excluded, so this describes those who finish,
    not everyone who starts.
    """
    courses = summarise_courses(sessions, as_of)
    done = courses.loc[courses["status"] == "completed"]
    if done.empty:
        return pd.DataFrame(columns=END_COLUMNS)
    grouped = done.groupby("indication", sort=True)
    out = pd.DataFrame(
        {
            "planned_sessions": grouped["planned_sessions"].first().astype(int),
            "courses_completed": grouped.size(),
            "answered": grouped["last_rating"].count(),
            "satisfied": grouped["last_rating"].apply(lambda r: int((r >= SATISFIED).sum())),
        }
    ).reset_index()
    out["share_satisfied"] = out["satisfied"] / out["answered"].where(out["answered"] > 0)
    out["ci_low"], out["ci_high"] = wilson_interval(out["satisfied"], out["answered"], level)
    out["small_sample"] = small_sample_notes(out["answered"], unit="answered courses")
    return out[END_COLUMNS]
