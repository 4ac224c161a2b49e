"""Treatment courses: who completes, who drops out, and how many sessions it takes to be satisfied."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.rates import small_sample_notes, wilson_interval

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
    "window_start",
    "numbers_reported",
]
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


def _window_starts(sessions: pd.DataFrame) -> pd.Series:
    """The first date of each session's clinic's data: courses seen soon after it may have begun before."""
    dates = pd.to_datetime(sessions["session_date"])
    if "clinic_id" in sessions:
        return dates.groupby(sessions["clinic_id"]).transform("min")
    return pd.Series(dates.min(), index=sessions.index)


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
    ``window_start`` is the first date of the clinic's data and ``numbers_reported`` whether the
    course's first session came with its number from the export (else it was derived in date order).
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
            "window_start": _window_starts(sessions),
            # A number the export gave is the session's true place in the course; a derived one counts
            # from the first session stored. Frames without the column are taken as given.
            "reported": sessions["reported_session_number"].notna().to_numpy()
            if "reported_session_number" in sessions
            else True,
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
        window_start=("window_start", "min"),
        numbers_reported=("reported", "first"),
    )
    satisfied = frame.loc[frame["satisfaction"] >= SATISFIED]
    courses["first_satisfied_session"] = satisfied.groupby("course_id")["session_number"].min()
    answered = frame.loc[frame["satisfaction"].notna()]
    last_answer = answered.groupby("course_id").tail(1).set_index("course_id")
    courses["last_rating"] = last_answer["satisfaction"]
    courses["last_rating_session"] = last_answer["session_number"]
    return with_status(courses).reset_index()[COURSE_COLUMNS]


def with_status(courses: pd.DataFrame) -> pd.DataFrame:
    """Courses (``indication, sessions_done, last_date, cutoff``) with ``planned_sessions`` and ``status``.

    The rule of ``queries/marts/patient_courses.sql``: completed at the planned length, dropped out
    when shorter and quiet for more than 42 days before the data's last date, else ongoing.
    """
    courses["planned_sessions"] = (
        courses["indication"].map(PLANNED_SESSIONS).fillna(DEFAULT_PLANNED).astype(int)
    )
    quiet = (courses["cutoff"] - courses["last_date"]).dt.days > DROPOUT_GAP_DAYS
    courses["status"] = np.select(
        [courses["sessions_done"] >= courses["planned_sessions"], quiet],
        ["completed", "dropped_out"],
        default="ongoing",
    )
    return courses


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
    return dropout_of_courses(summarise_courses(sessions, as_of), by, level)


def dropout_of_courses(courses: pd.DataFrame, by: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """:func:`dropout_by_session` from courses already summarised (``first_session, last_session, status``)."""
    columns = ([by] if by else []) + DROPOUT_COLUMNS
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
