"""Reports: the monthly report of a clinic or the network, built on demand and offered for download."""

import streamlit as st

from dashboard import auditing, data
from dashboard.app_pages import _common as ui
from etl.access import AccessDenied

MIME = {
    "html": "text/html",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

src, f = ui.context("can_download")
who = ui.user()
st.title("Monthly reports")
st.caption(
    "The same files `derma report` writes: HTML (works offline, interactive charts), an A4 PDF and a "
    "spreadsheet with one sheet per table. A clinic's report names no other clinic."
)
months = data.months(src)
if not months:
    st.info(ui.NOT_ENOUGH, icon=":material/info:")
    st.stop()
clinics = sorted(data.clinicians(src)["clinic_id"].unique())
left, middle, right = st.columns(3)
with left:
    month = st.selectbox("Month", list(reversed(months)), key="reports_month")
with middle:
    clinic = st.selectbox(
        "Report for",
        [None, *clinics] if who.all_clinics else clinics,
        key="reports_clinic",
        format_func=lambda c: "The network" if c is None else c,
    )
with right:
    formats = st.multiselect("Formats", list(MIME), default=list(MIME), key="reports_formats")
min_cell = st.number_input(
    "Suppress counts below (0 = off)", min_value=0, max_value=100, value=0, step=1, key="reports_min_cell"
)
st.caption(
    "Suppression hides every count below the threshold as “<N”, and a second cell with it wherever "
    "a total would give the hidden one back."
)

if st.button("Build report", key="reports_build", icon=":material/description:", disabled=not formats):
    st.session_state["reports_request"] = (month, clinic, tuple(formats), int(min_cell) or None)

request = st.session_state.get("reports_request")
if request:
    try:
        with st.spinner("Building the report …"):
            files = data.report_files(who, src, *request)
    except AccessDenied:
        st.error(f"You may not build the report of {request[1] or 'the network'}.", icon=":material/block:")
        st.stop()
    st.success(
        f"Report for {request[1] or 'the network'}, {request[0]}: {len(files)} file(s).",
        icon=":material/check:",
    )
    for name, payload in files:
        st.download_button(
            f"Download {name}",
            auditing.download(
                who, name, {"month": request[0], "clinic": request[1]}, None, lambda p=payload: p
            ),
            file_name=name,
            mime=MIME[name.rsplit(".", 1)[1]],
            key=f"reports_download_{name.rsplit('.', 1)[1]}",
            on_click="ignore",
        )
