"""Notes & targets: record what changed and when (process changes rebase the control charts), and set targets."""

import datetime as dt

import streamlit as st

from charts.labels import labelled
from dashboard import data, userdata
from dashboard.app_pages import _common as ui
from etl.access import AccessDenied
from etl.userdata import MEASURE_WORDS, UserDataError, may_change

src, f = ui.context()
user = ui.user()
st.title("Notes & targets")
st.caption(
    "Notes appear on every trend and control chart of their clinic (a network note on every chart) and in the "
    "monthly report. A **process change** restarts the control-chart limits from its month, so the chart judges "
    "the new process on its own. Targets are drawn on the charts with whether the process will meet them."
)
clinics = sorted(data.clinicians(src)["clinic_id"].unique())
scopes = ([None] if may_change(user, None) else []) + [c for c in clinics if may_change(user, c)]


def _scope_words(value):
    return "Whole network" if value is None else value


if scopes:
    left, right = st.columns(2)
    with left:
        st.markdown("**Add a note**")
        scope = st.selectbox(
            "For", scopes, format_func=_scope_words, key="notes_scope"
        )  # outside: staff follow it
    staff = data.clinicians(src)
    people = sorted(staff[staff["clinic_id"] == scope]["clinician_id"]) if scope else []
    with left, st.form("notes_add_form", clear_on_submit=True):
        day = st.date_input("Date", value=dt.date.today(), key="notes_day")
        clinician = st.selectbox("Clinician (optional)", [None, *people], key="notes_clinician")
        text = st.text_input("What happened", key="notes_text", placeholder="New hand piece from March")
        change = st.checkbox(
            "This is a process change (restart the control limits)", key="notes_process_change"
        )
        if st.form_submit_button("Save note", icon=":material/add:"):
            try:
                with st.spinner("Saving and redrawing the control charts ..."):
                    note = userdata.add_note(user, day, text, change, scope, clinician if scope else None)
                st.success(f"Saved note {note.id}.", icon=":material/check:")
            except (UserDataError, AccessDenied) as exc:
                st.error(str(exc), icon=":material/error:")
    with right, st.form("targets_set_form"):
        st.markdown("**Set a target**")
        measure = st.selectbox(
            "Measure", list(MEASURE_WORDS), format_func=MEASURE_WORDS.get, key="targets_measure"
        )
        where = st.selectbox("For", scopes, format_func=_scope_words, key="targets_scope")
        value = st.number_input("Target (%)", 0.0, 100.0, 90.0, step=0.5, key="targets_value")
        if st.form_submit_button("Save target", icon=":material/flag:"):
            try:
                with st.spinner("Saving and redrawing the control charts ..."):
                    target = userdata.set_target(user, measure, f"{value}%", where)
                st.success(f"Saved target {target.id}.", icon=":material/check:")
            except (UserDataError, AccessDenied) as exc:
                st.error(str(exc), icon=":material/error:")
else:
    st.info("Your role may read notes and targets but not change them.", icon=":material/lock:")

notes, targets = userdata.notes_frame(user), userdata.targets_frame(user)
st.subheader("Notes")
st.dataframe(labelled(notes), hide_index=True, key="notes_table")
st.subheader("Targets")
st.dataframe(
    labelled(targets.assign(value=targets["value"].map("{:.1%}".format))),
    hide_index=True,
    key="targets_table",
)
mine = userdata.visible(user)
removable = [(n.id, "note", n.text) for n in mine.notes if may_change(user, n.clinic_id)] + [
    (t.id, "target", MEASURE_WORDS[t.measure]) for t in mine.targets if may_change(user, t.clinic_id)
]
if removable:
    chosen = st.selectbox(
        "Remove",
        [None, *removable],
        format_func=lambda x: "—" if x is None else f"{x[1]} {x[0]}: {x[2]}",
        key="notes_remove_choice",
    )
    if st.button("Remove", key="notes_remove", disabled=chosen is None, icon=":material/delete:"):
        userdata.remove(user, chosen[0], chosen[1])
        st.rerun()
