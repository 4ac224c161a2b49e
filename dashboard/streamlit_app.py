"""The dashboard's entry point: page config, sign-in, the shared filters in the sidebar (kept in the URL), navigation."""

from __future__ import annotations

import streamlit as st

from dashboard import data, filters
from dashboard.app_pages import _gate as gate
from dashboard.filters import ACTIVE, KEYS, Filters

st.set_page_config(page_title="Derma outcomes", page_icon=":material/spa:", layout="wide")

# Each page with the permission it needs (None: every signed-in user with a role).
PAGES = [
    (st.Page("app_pages/overview.py", title="Overview", icon=":material/dashboard:", default=True), None),
    (st.Page("app_pages/courses.py", title="Courses", icon=":material/timeline:", url_path="courses"), None),
    (
        st.Page("app_pages/safety.py", title="Settings & safety", icon=":material/tune:", url_path="safety"),
        None,
    ),
    (
        st.Page(
            "app_pages/clinicians.py",
            title="Clinicians & clinics",
            icon=":material/groups:",
            url_path="clinicians",
        ),
        None,
    ),
    (st.Page("app_pages/models.py", title="Models", icon=":material/functions:", url_path="models"), None),
    (
        st.Page(
            "app_pages/quality.py", title="Data quality", icon=":material/fact_check:", url_path="quality"
        ),
        None,
    ),
    (
        st.Page(
            "app_pages/notes.py", title="Notes & targets", icon=":material/sticky_note_2:", url_path="notes"
        ),
        None,
    ),
    (
        st.Page("app_pages/sql.py", title="SQL", icon=":material/database:", url_path="sql"),
        "can_named_queries",
    ),
    (
        st.Page("app_pages/reports.py", title="Reports", icon=":material/description:", url_path="reports"),
        "can_download",
    ),
    (
        st.Page("app_pages/upload.py", title="Upload", icon=":material/upload_file:", url_path="upload"),
        "can_upload",
    ),
]


def _reset(defaults: dict[str, object]) -> None:
    for key, value in defaults.items():
        st.session_state[key] = value


def _choice(name: str, label: str, options: list, everything: str | None = None) -> object:
    def shown(value: object) -> str:
        return everything if value is None and everything else filters.label(name, value)

    return st.selectbox(label, [None, *options], format_func=shown, key=KEYS[name], bind="query-params")


def sidebar(src: data.Source) -> Filters:
    """Draw the shared filters and return the selection (every widget is bound to a URL query parameter)."""
    labels = data.months(src)
    people = data.clinicians(src)
    values: dict[str, object] = {}
    with st.sidebar:
        st.subheader("Filters")
        if len(labels) > 1:
            values["months"] = st.select_slider(
                "Months", labels, value=(labels[0], labels[-1]), key=KEYS["months"], bind="query-params"
            )
        values["clinic_id"] = _choice(
            "clinic_id",
            "Clinic",
            sorted(people["clinic_id"].unique()),
            None if src.clinics is None else "All your clinics",
        )
        staff = people[people["clinic_id"] == values["clinic_id"]] if values["clinic_id"] else people
        values["clinician_id"] = _choice("clinician_id", "Clinician", sorted(staff["clinician_id"].unique()))
        for name, label in (
            ("crystal_type", "Crystal type"),
            ("treatment_area", "Treatment area"),
            ("indication", "Indication"),
            ("fitzpatrick", "Skin type (Fitzpatrick)"),
        ):
            values[name] = _choice(name, label, list(filters.CHOICES[name]))
        st.button(
            "Reset filters",
            key="filters_reset",
            icon=":material/restart_alt:",
            on_click=_reset,
            args=(filters.defaults(labels),),
        )
        st.caption("The filters are kept in the page address: copy it to share this view.")
    return filters.build(values, labels)


user = gate.user()
gate.badge(user)
current = data.snapshot()
st.session_state[ACTIVE] = sidebar(data.source(user, current)) if current is not None else Filters()
page = st.navigation(gate.allowed(PAGES, user))
gate.view(user, page, st.session_state[ACTIVE])
page.run()
