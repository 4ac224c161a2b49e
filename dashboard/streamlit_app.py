"""The dashboard's entry point: page config, the shared filters in the sidebar (kept in the URL), navigation."""

from __future__ import annotations

import streamlit as st

from dashboard import data, filters
from dashboard.filters import ACTIVE, KEYS, Filters

st.set_page_config(page_title="Derma outcomes", page_icon=":material/spa:", layout="wide")

PAGES = [
    st.Page("app_pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("app_pages/courses.py", title="Courses", icon=":material/timeline:", url_path="courses"),
    st.Page("app_pages/safety.py", title="Settings & safety", icon=":material/tune:", url_path="safety"),
    st.Page("app_pages/clinicians.py", title="Clinicians & clinics", icon=":material/groups:", url_path="clinicians"),
    st.Page("app_pages/models.py", title="Models", icon=":material/functions:", url_path="models"),
    st.Page("app_pages/quality.py", title="Data quality", icon=":material/fact_check:", url_path="quality"),
    st.Page("app_pages/sql.py", title="SQL", icon=":material/database:", url_path="sql"),
    st.Page("app_pages/reports.py", title="Reports", icon=":material/description:", url_path="reports"),
]


def _reset(defaults: dict[str, object]) -> None:
    for key, value in defaults.items():
        st.session_state[key] = value


def _choice(name: str, label: str, options: list) -> object:
    return st.selectbox(label, [None, *options], format_func=lambda v: filters.label(name, v), key=KEYS[name],
                        bind="query-params")


def sidebar(snapshot_path: str) -> Filters:
    """Draw the shared filters and return the selection (every widget is bound to a URL query parameter)."""
    labels = data.months(snapshot_path)
    people = data.clinicians(snapshot_path)
    values: dict[str, object] = {}
    with st.sidebar:
        st.subheader("Filters")
        if len(labels) > 1:
            values["months"] = st.select_slider("Months", labels, value=(labels[0], labels[-1]), key=KEYS["months"],
                                                bind="query-params")
        values["clinic_id"] = _choice("clinic_id", "Clinic", sorted(people["clinic_id"].unique()))
        staff = people[people["clinic_id"] == values["clinic_id"]] if values["clinic_id"] else people
        values["clinician_id"] = _choice("clinician_id", "Clinician", sorted(staff["clinician_id"].unique()))
        for name, label in (("crystal_type", "Crystal type"), ("treatment_area", "Treatment area"),
                            ("indication", "Indication"), ("fitzpatrick", "Skin type (Fitzpatrick)")):
            values[name] = _choice(name, label, list(filters.CHOICES[name]))
        st.button("Reset filters", key="filters_reset", icon=":material/restart_alt:", on_click=_reset,
                  args=(filters.defaults(labels),))
        st.caption("The filters are kept in the page address: copy it to share this view.")
    return filters.build(values, labels)


current = data.snapshot()
st.session_state[ACTIVE] = sidebar(str(current.path)) if current is not None else Filters()
st.navigation(PAGES).run()
