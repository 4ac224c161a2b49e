"""Courses: Kaplan–Meier sessions-to-satisfied by hand and against statsmodels, dropout, end-of-course satisfaction."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from statsmodels.duration.survfunc import SurvfuncRight

from analysis.courses import (
    COURSE_COLUMNS,
    DROPOUT_COLUMNS,
    END_COLUMNS,
    PLANNED_SESSIONS,
    assign_courses,
    dropout_by_session,
    satisfaction_at_course_end,
    summarise_courses,
)
from analysis.rates import wilson_interval
from analysis.results import Curve
from analysis.time_to_satisfied import CURVE_COLUMNS, sessions_to_satisfied

SCHEMA = Path(__file__).resolve().parents[2] / "etl" / "schema.sql"
Z = 1.959963984540054


def course(patient, indication, ratings, start="2026-01-05", step=7, first=1):
    day = pd.Timestamp(start)
    return [
        {
            "patient_key": patient,
            "indication": indication,
            "session_date": day + pd.Timedelta(days=step * i),
            "session_number": first + i,
            "satisfaction": rating,
        }
        for i, rating in enumerate(ratings)
    ]


def frame(*courses) -> pd.DataFrame:
    rows = [row for c in courses for row in c]
    out = pd.DataFrame(rows)
    out["satisfaction"] = out["satisfaction"].astype("Int64")
    return out


def five_courses() -> pd.DataFrame:
    """The hand example: two events, three censored courses (a drop-out, a full course, an ongoing one)."""
    return frame(
        course("a", "wrinkles", [3, 4, None, 5, 5, 5]),  # satisfied at 2, completed
        course("b", "wrinkles", [2, None, 3]),  # never satisfied, stopped after 3 in January: dropped out
        course("c", "wrinkles", [None, None, 4, 4, 4, 4]),  # unanswered surveys: first known satisfied at 3
        course("d", "acne_scars", [3] * 8),  # never satisfied, completed: censored at 8
        course("e", "acne_scars", [None, 2], start="2026-05-20"),  # seen last week: ongoing, censored at 2
    )


def simulate_courses(seed: int, n: int = 300, p_sat: float = 0.3, p_stop: float = 0.08, answer: float = 0.8):
    """Six-session courses; each session satisfies with p_sat (for good); surveys answered with p=answer."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        satisfied = False
        for k in range(1, 7):
            satisfied = satisfied or rng.random() < p_sat
            rating = (5 if satisfied else 2) if rng.random() < answer else None
            rows += course(f"p{c}", "wrinkles", [rating], start=f"2025-01-{1 + k:02d}", first=k)
            if rng.random() < p_stop:
                break
    return frame(rows)


# --------------------------------------------------------------------------------------------- courses


def test_courses_get_a_status_from_planned_length_and_the_42_day_rule():
    courses = summarise_courses(five_courses()).set_index("patient_key")
    assert list(summarise_courses(five_courses()).columns) == COURSE_COLUMNS
    assert courses["status"].to_dict() == {
        "a": "completed",
        "b": "dropped_out",
        "c": "completed",
        "d": "completed",
        "e": "ongoing",
    }
    assert courses.loc["c", "first_satisfied_session"] == 3
    assert courses.loc["b", ["last_rating", "last_rating_session"]].tolist() == [3, 3]
    # The boundary: 42 days without a session is still ongoing, 43 is dropped out.
    short = frame(course("x", "wrinkles", [3, 3], start="2026-01-01"))
    last = pd.Timestamp("2026-01-08")
    assert summarise_courses(short, as_of=last + pd.Timedelta(days=42))["status"].item() == "ongoing"
    assert summarise_courses(short, as_of=last + pd.Timedelta(days=43))["status"].item() == "dropped_out"


def test_a_course_is_one_patient_indication_and_area_as_in_the_mart():
    sessions = frame(
        course("a", "wrinkles", [3, 4, 4]),
        course("a", "stretch_marks", [3], start="2026-01-06"),
        course("b", "wrinkles", [3]),
    )
    sessions["treatment_area"] = ["face", "face", "neck", "body", "face"]
    sessions["clinic_id"] = "C1"
    ids = assign_courses(sessions)
    assert ids.nunique() == 4
    assert ids.iloc[0] == ids.iloc[1] != ids.iloc[2]
    courses = summarise_courses(sessions).set_index("course_id")
    assert courses.loc[ids.iloc[0], "sessions_done"] == 2 and courses.loc[ids.iloc[2], "sessions_done"] == 1


def test_each_clinic_is_judged_against_its_own_last_date():
    # Clinic C2 last sent data in February: its course is still ongoing there, not dropped out.
    early = frame(course("a", "wrinkles", [3, 3], start="2026-02-01")).assign(clinic_id="C2")
    late = frame(course("b", "wrinkles", [3], start="2026-06-01")).assign(clinic_id="C1")
    courses = summarise_courses(pd.concat([early, late], ignore_index=True)).set_index("patient_key")
    assert courses.loc["a", "status"] == "ongoing"
    assert summarise_courses(early, as_of="2026-06-01")["status"].item() == "dropped_out"


# --------------------------------------------------------------------------------------------- Kaplan–Meier


def test_sessions_to_satisfied_matches_a_hand_computed_kaplan_meier():
    result = sessions_to_satisfied(five_courses())
    table = result.table
    assert list(table.columns)[: len(CURVE_COLUMNS)] == CURVE_COLUMNS
    assert table["session"].tolist() == list(range(1, 13))
    assert table["at_risk"].tolist() == [5, 5, 3, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    assert table["satisfied"].tolist()[:3] == [0, 1, 1]
    assert table["censored"].tolist()[:8] == [0, 1, 1, 0, 0, 0, 0, 1]
    # S(2) = 1 - 1/5 = 0.8; S(3) = 0.8 (1 - 1/3) = 8/15. F = 1 - S.
    assert table["cum_satisfied"].iloc[0] == 0
    assert table["cum_satisfied"].iloc[1] == pytest.approx(0.2)
    assert table["cum_satisfied"].iloc[2] == pytest.approx(7 / 15)
    assert table["cum_satisfied"].iloc[7] == pytest.approx(7 / 15)
    assert table["cum_satisfied"].iloc[8:].isna().all()
    # Greenwood V(3) = 1/(5·4) + 1/(3·2); log-log band S^exp(±z sqrt(V)/|log S|).
    s, v = 8 / 15, 1 / 20 + 1 / 6
    spread = Z * math.sqrt(v) / abs(math.log(s))
    assert table["ci_low"].iloc[2] == pytest.approx(1 - s ** math.exp(-spread))
    assert table["ci_high"].iloc[2] == pytest.approx(1 - s ** math.exp(spread))
    # Never reaches 50%: the median is not reached, its lower bound is (upper band ≥ 0.5 at session 2).
    assert result.median is None and result.median_low == 2 and result.median_high is None
    assert result.median_text == "not reached: 47% satisfied by session 8"
    assert result.n_courses == 5 and result.n_satisfied == 2
    assert result.notes[0].startswith("small sample: only 5 courses")


def test_a_missing_survey_is_not_yet_satisfied():
    result = sessions_to_satisfied(frame(course("a", "wrinkles", [None, 5, 5, 5, 5, 5])))
    assert result.table["satisfied"].tolist()[:2] == [0, 1]


def test_kaplan_meier_matches_statsmodels_with_delayed_entry():
    sessions = pd.concat(
        [simulate_courses(3, n=80), frame(course("late", "wrinkles", [2, 2, 5], first=3))], ignore_index=True
    )
    result = sessions_to_satisfied(sessions)
    courses = summarise_courses(sessions)
    event = courses["first_satisfied_session"].notna().to_numpy()
    time = np.where(event, courses["first_satisfied_session"], courses["last_session"])
    # statsmodels counts a subject at risk for times > entry; ours enter at their first session.
    reference = SurvfuncRight(time, event.astype(float), entry=courses["first_session"].to_numpy() - 1)
    table = result.table.set_index("session")
    for t, s, se in zip(reference.surv_times, reference.surv_prob, reference.surv_prob_se, strict=True):
        assert table.loc[int(t), "cum_satisfied"] == pytest.approx(1 - s)
        # Greenwood: se(S) = S sqrt(V); our band uses V, so rebuild it from the reference SE.
        v = (se / s) ** 2
        spread = Z * math.sqrt(v) / abs(math.log(s))
        assert table.loc[int(t), "ci_high"] == pytest.approx(1 - s ** math.exp(spread))
    assert result.median == reference.quantile(0.5)
    assert (result.median_low, result.median_high) == tuple(reference.quantile_ci(0.5, method="cloglog"))
    assert (
        result.median_text
        == f"{result.median:.0f} sessions (95% CI {result.median_low:.0f} to {result.median_high:.0f})"
    )
    assert isinstance(result.to_curve(), Curve) and len(result.to_curve().points) == 6


def test_the_true_curve_lies_in_the_band():
    # Each session satisfies with p = 0.3, so P(satisfied by session k) = 1 - 0.7^k before survey gaps;
    # with every survey answered the KM estimates exactly that.
    result = sessions_to_satisfied(simulate_courses(11, n=400, answer=1.0))
    for k in (1, 3, 5):
        row = result.table.iloc[k - 1]
        assert row["ci_low"] < 1 - 0.7**k < row["ci_high"]


def test_no_courses_gives_an_empty_curve_and_a_message():
    result = sessions_to_satisfied(five_courses().iloc[:0])
    assert result.status == "not_enough_data" and result.table.empty and result.median_text == "no courses"
    never = sessions_to_satisfied(frame(course("a", "wrinkles", [1, 2, 3])))
    assert never.median is None and "no course has a 4–5 rating yet" in never.notes


# --------------------------------------------------------------------------------------------- dropout


def test_dropout_by_session_counts_reached_dropped_and_censored_courses():
    out = dropout_by_session(five_courses())
    assert list(out.columns) == DROPOUT_COLUMNS
    row = out.set_index("session_number")
    assert row["reached"].tolist() == [5, 5, 4, 3, 3, 3, 1, 1]
    assert row.loc[2, ["ongoing_at", "at_risk", "dropped_after"]].tolist() == [1, 4, 0]
    assert row.loc[3, ["dropped_after", "at_risk"]].tolist() == [1, 4]
    assert row.loc[3, "dropout_rate"] == pytest.approx(0.25)
    low, high = wilson_interval(1, 4)
    assert row.loc[3, "ci_low"] == pytest.approx(low) and row.loc[3, "ci_high"] == pytest.approx(high)
    assert row.loc[6, "completed_at"] == 2 and row.loc[8, "completed_at"] == 1
    by = dropout_by_session(five_courses(), by="indication")
    assert list(by.columns) == ["indication", *DROPOUT_COLUMNS]
    wrinkles = by[by["indication"] == "wrinkles"].set_index("session_number")
    assert wrinkles.loc[3, ["dropped_after", "at_risk"]].tolist() == [1, 3]
    assert dropout_by_session(five_courses().iloc[:0]).empty


# --------------------------------------------------------------------------------------------- end of course


def test_satisfaction_at_course_end_uses_the_last_answer_of_completed_courses():
    sessions = pd.concat(
        [
            five_courses(),
            frame(course("f", "wrinkles", [4, 4, 4, 4, 2, None])),  # last answer 2 (session 5)
            frame(course("g", "wrinkles", [None] * 6)),  # completed, never answered
        ],
        ignore_index=True,
    )
    out = satisfaction_at_course_end(sessions)
    assert list(out.columns) == END_COLUMNS
    row = out.set_index("indication")
    assert row.loc[
        "wrinkles", ["planned_sessions", "courses_completed", "answered", "satisfied"]
    ].tolist() == [
        6,
        4,
        3,
        2,
    ]
    assert row.loc["wrinkles", "share_satisfied"] == pytest.approx(2 / 3)
    assert row.loc["acne_scars", ["courses_completed", "answered", "satisfied"]].tolist() == [1, 1, 0]
    low, high = wilson_interval(2, 3)
    assert row.loc["wrinkles", "ci_low"] == pytest.approx(low) and row.loc[
        "wrinkles", "ci_high"
    ] == pytest.approx(high)
    assert (
        row.loc["acne_scars", "small_sample"]
        == "small sample: only 1 answered course, so the interval is wide"
    )
    assert satisfaction_at_course_end(five_courses().iloc[:0]).empty
    assert satisfaction_at_course_end(frame(course("x", "wrinkles", [5]))).empty  # nothing completed


def test_courses_read_the_warehouse_types():
    con = duckdb.connect()
    con.execute(SCHEMA.read_text())
    con.execute(
        """insert into sessions (clinic_id, session_id, patient_key, clinician_id, session_date, crystal_type,
               vacuum_kpa, passes, treatment_area, indication, fitzpatrick, session_number, reported_session_number,
               satisfaction, batch_id, source_file, source_row)
           select 'C1', 's' || i, 'pk' || (i // 6), 'K1', date '2026-01-05' + cast(7 * (i % 6) as integer), 'corundum', 30, 2,
                  'face', 'wrinkles', 2, cast(1 + i % 6 as integer), cast(1 + i % 6 as integer),
                  case when i % 6 = 5 and i // 6 = 0 then null when i % 6 >= 2 then 4 else 3 end, 'b', 'f', i
           from range(0, 18) t(i)"""
    )
    sessions = con.execute("select * from sessions").df()
    result = sessions_to_satisfied(sessions)
    assert result.median == 3 and result.n_courses == 3
    end = satisfaction_at_course_end(sessions)
    assert end["courses_completed"].item() == 3 and end["satisfied"].item() == 3


def test_planned_lengths_agree_with_the_warehouse_macro():
    con = duckdb.connect()
    con.execute(SCHEMA.read_text())
    for indication, planned in PLANNED_SESSIONS.items():
        assert con.execute("select planned_sessions($i)", {"i": indication}).fetchone()[0] == planned


def test_courses_that_may_have_begun_before_the_data_are_left_out_or_enter_late():
    """Left truncation: a derived number at the window's start is not a course's true place."""
    early = frame(course("early", "wrinkles", [3, 3, 4, 5], start="2026-01-05")).assign(
        reported_session_number=pd.NA
    )
    told = frame(course("told", "wrinkles", [3, 4, 4], start="2026-01-12", first=4))
    told = told.assign(reported_session_number=told["session_number"])
    later = frame(course("later", "wrinkles", [2, 2, 3, 4], start="2026-04-06")).assign(
        reported_session_number=pd.NA
    )
    sessions = pd.concat([early, told, later], ignore_index=True)
    result = sessions_to_satisfied(sessions)
    assert result.n_courses == 2  # "early" is left out, "told" and "later" stay
    assert any("may have begun before the data did" in n for n in result.notes)
    at_risk = result.table.set_index("session")["at_risk"]
    assert at_risk[1] == 1 and at_risk[4] == 2  # "told" enters the risk set at its reported session 4


def test_stopping_unhappy_is_an_outcome_beside_being_satisfied():
    stopped = course("stopped", "wrinkles", [2, 2], start="2026-01-05")  # ends early, never satisfied
    happy = course("happy", "wrinkles", [3, 3, 5, 5, 5, 5], start="2026-01-05")
    going = course("going", "wrinkles", [3, 3, 3], start="2026-08-31")  # still being treated
    result = sessions_to_satisfied(frame(stopped, happy, going))
    table = result.table.set_index("session")
    # The simple curve censors the stopped course; the competing one counts it as ended unsatisfied.
    assert table.loc[2, "stopped"] == 1 and table.loc[2, "cif_stopped"] == pytest.approx(1 / 3)
    # At session 3 the simple curve says 1 in 2 are satisfied (the stopped course no longer counts);
    # counting it as ended unsatisfied, 1 in 3 are.
    assert table.loc[3, "cum_satisfied"] == pytest.approx(0.5)
    assert table.loc[3, "cif_satisfied"] == pytest.approx(1 / 3)
