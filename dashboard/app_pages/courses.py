"""Courses: satisfaction by session number, sessions until satisfied, dropout, completion by indication."""

import streamlit as st

from charts import figures, style
from dashboard import data
from dashboard.app_pages import _common as ui

src, f = ui.context()
st.title("Courses")
st.caption(f"Showing {f.describe(src.everyone)}.")

by_session = data.satisfaction_by_session(src, f)
ui.chart(
    "Satisfaction by session number",
    "Share of answered surveys rated 4–5 at each session of a course, with 95% intervals; n = answered surveys "
    "(hollow points rest on fewer than 30).",
    figures.rate_points,
    by_session,
    "courses_by_session",
    n="answered",
    x="session_number",
    rate="pct_satisfied",
    numerator="satisfied",
    denominator="answered",
    x_title="session number",
    y_title="% satisfied",
    colour=style.GREEN,
)

scope = data.model_scope(src, f.clinic_id)
summaries = data.model_summaries(src, scope)
st.subheader("Sessions until satisfied and dropout")
if ui.models_ready(summaries, scope):
    ui.scope_note(scope, f)
    indication = f.indication or "all"
    curve = data.course_curves(src, scope, indication)
    medians = data.course_summaries(src, scope)
    median = medians.loc[medians["indication"] == indication, "median_text"]
    left, right = st.columns(2)
    with left:
        ui.chart(
            f"Sessions until satisfied ({indication.replace('_', ' ')})",
            "The line is the share of courses whose patient has rated a session 4–5 by each session number "
            "(Kaplan–Meier), with a 95% band. It counts a course that stopped as if it could still end happily: "
            "patients who stop unhappy make this simple curve optimistic (see the outcomes chart below).",
            figures.km_curve,
            curve,
            "courses_km",
            n="at_risk",
            minimum=1,
            median_text=median.iat[0] if len(median) else None,
        )
    ui.chart(
        f"How courses end ({indication.replace('_', ' ')})",
        "Green: the share of courses satisfied by each session; red: the share that ended without a 4–5 rating "
        "(stopped early, or completed unsatisfied), each with a 95% band, counting stopping as an outcome rather "
        "than as if the course could still succeed (cumulative incidence). The dashed line is the simple curve "
        "above for comparison; the gap is how optimistic it is.",
        figures.course_outcomes,
        curve,
        "courses_outcomes",
        n="at_risk",
        minimum=1,
    )
    with right:
        dropout = data.course_dropout(src, scope, f.indication)
        ui.chart(
            "Courses stopping after each session",
            "Share of courses that stopped after a session without completing, per indication, with 95% "
            "intervals; courses still running are not counted as stopped.",
            figures.dropout_by_session,
            dropout,
            "courses_dropout",
            n="at_risk",
        )
    st.caption(
        "These course results are model tables for the whole scope: the date, crystal, area and skin-type "
        "filters do not apply to them; the indication filter does."
    )

completion = data.course_completion(src, f)
ui.chart(
    "Course completion by indication",
    "Share of finished courses that stopped before the planned number of sessions, by indication, with 95% "
    "intervals; n = finished courses.",
    figures.rate_points,
    completion,
    "courses_completion",
    n="finished",
    x="indication",
    rate="dropout_rate",
    numerator="dropped_out",
    denominator="finished",
    x_title="indication",
    y_title="stopped early",
    colour=style.PURPLE,
)
