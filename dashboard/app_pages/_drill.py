"""Drill-down: from a clicked point (a month, a clinic or clinician, a settings level) to the courses and sessions behind it.

A chart drawn with :func:`selectable` reruns the page when a point is clicked (Streamlit's
``on_select``); the ``from_*`` functions turn the click into a :class:`Pick` (the filters of the named
queries ``drill_courses`` and ``drill_sessions``) and :func:`panel` shows the rows in a fragment, so
choosing a course or downloading reruns only the panel. The rows come through ``data.read``: a user
limited to some clinics reads the scoped warehouse, whatever point was clicked. Every drill-down and
download is written to the audit log; the tables show pseudonymised patient keys only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from charts.labels import labelled
from dashboard import auditing, data
from dashboard.filters import Filters
from etl.access import NETWORK, Principal
from etl.escaping import csv_text

SHOWN = 2000
CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}
HINT = "Click a point to see the courses and sessions behind it."


@dataclass(frozen=True)
class Pick:
    """What was clicked, in words, and the named queries' parameters that select its rows."""

    what: str
    params: dict = field(default_factory=dict)

    def key(self) -> tuple:
        return tuple(sorted((k, str(v)) for k, v in self.params.items()))


def selectable(title: str, caption: str, fig: go.Figure, key: str) -> list[dict]:
    """Draw ``fig`` so that clicking a point selects it; the selected points (empty when none)."""
    st.markdown(f"**{title}**")
    event = st.plotly_chart(fig, key=key, config=CONFIG, on_select="rerun", selection_mode="points")
    st.caption(f"{caption} {HINT}")
    try:
        return list(event.selection.points)
    except AttributeError:
        return []


def _month(value) -> tuple[dt.date, dt.date] | None:
    try:
        first = pd.Timestamp(value).to_period("M")
    except (TypeError, ValueError):
        return None
    return first.start_time.date(), first.end_time.date()


def _in_month(base: dict, value, what: str) -> Pick | None:
    bounds = _month(value)
    if bounds is None:
        return None
    return Pick(f"{what}, {bounds[0]:%B %Y}", {**base, "date_from": bounds[0], "date_to": bounds[1]})


def from_month(points: list[dict], f: Filters) -> Pick | None:
    """A month of a trend: the sidebar's filters for that month."""
    if not points:
        return None
    params = {k: v for k, v in f.params().items() if v is not None and k not in ("date_from", "date_to")}
    return _in_month(params, points[0].get("x"), "Sessions of the month")


def from_spc(points: list[dict], fig: go.Figure, units: list[str]) -> Pick | None:
    """A month of a unit's control chart (the network or a clinic; one subplot per unit)."""
    if not points:
        return None
    point = points[0]
    trace = fig.data[int(point.get("curve_number", 0))]
    axis = getattr(trace, "yaxis", None) or "y"
    row = int(axis[1:] or 1)
    unit = units[row - 1] if 0 < row <= len(units) else units[0]
    base = {} if unit == NETWORK else {"clinic_id": unit}
    return _in_month(base, point.get("x"), f"{unit}")


def from_funnel(points: list[dict], unit_type: str, clinic_of: dict[str, str]) -> Pick | None:
    """A clinician or clinic of a funnel: all of its sessions (the funnel covers every month)."""
    if not points or not point_unit(points[0]):
        return None
    unit = point_unit(points[0])
    if unit_type == "clinic":
        return Pick(f"Clinic {unit}, all months", {"clinic_id": unit})
    return Pick(f"Clinician {unit}, all months", {"clinician_id": unit, "clinic_id": clinic_of.get(unit)})


def point_unit(point: dict) -> str | None:
    custom = point.get("customdata")
    return str(custom[0]) if isinstance(custom, list | tuple) and custom else None


def from_band(points: list[dict], setting: str, f: Filters, levels: list[str]) -> Pick | None:
    """A level of a setting (a vacuum band, a number of passes, ...): the sidebar's filters at that level.

    The axis shows a level with its n and spaces for underscores; ``levels`` are the query's own values.
    """
    if not points:
        return None
    shown = str(points[0].get("x", "")).split("<br>")[0].strip()
    level = next((v for v in levels if str(v).replace("_", " ") == shown), None)
    if level is None:
        return None
    params = {k: v for k, v in f.params().items() if v is not None}
    return Pick(f"Sessions at {level}", {**params, "setting": setting, "level": level})


def read(user: Principal, src: data.Source, pick: Pick) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The courses and sessions of ``pick`` that ``src`` may see; audited (never cached: always current)."""
    courses = data.read(src, "drill_courses", pick.params)
    sessions = data.read(src, "drill_sessions", pick.params)
    auditing.log_once(
        user, "drill", "query", "drill_sessions", {**pick.params, "what": pick.what}, len(sessions)
    )
    return courses, sessions


@st.fragment
def panel(user: Principal, src: data.Source, pick: Pick | None, key: str) -> None:
    """The rows behind ``pick``: its courses (choose one to see only its sessions) and sessions, with a CSV."""
    if pick is None:
        return
    courses, sessions = read(user, src, pick)
    st.markdown(f"**Behind this point — {pick.what}:** {len(courses)} course(s), {len(sessions)} session(s).")
    if sessions.empty:
        st.info("No sessions you may see lie behind this point.", icon=":material/info:")
        return
    chosen = st.dataframe(
        labelled(courses),
        hide_index=True,
        key=f"{key}_courses",
        on_select="rerun",
        selection_mode="single-row",
    )
    rows = list(getattr(getattr(chosen, "selection", None), "rows", []) or [])
    shown = sessions
    if rows:
        course = courses.iloc[rows[0]]
        shown = sessions[
            (sessions["patient_key"] == course["patient_key"])
            & (sessions["clinic_id"] == course["clinic_id"])
            & (sessions["indication"] == course["indication"])
            & (sessions["treatment_area"] == course["treatment_area"])
        ]
        st.caption(f"Sessions of the chosen course ({len(shown)}); clear the choice to see all.")
    st.dataframe(labelled(shown.head(SHOWN)), hide_index=True, key=f"{key}_sessions")
    if len(shown) > SHOWN:
        st.caption(f"The first {SHOWN} of {len(shown)} sessions are shown; the download holds them all.")
    if user.can_download:
        st.download_button(
            "Download these sessions (CSV)",
            auditing.download(
                user,
                f"drill_sessions.csv ({pick.what})",
                dict(pick.params),
                len(shown),
                lambda: csv_text(shown),
            ),
            file_name="derma-drill-down.csv",
            mime="text/csv",
            key=f"{key}_download",
            icon=":material/download:",
        )
