"""Upload: clinic exports in through a mapping, the dry-run preview, then the batch committed (admins and analysts)."""

import streamlit as st

from dashboard import data, uploads
from dashboard.app_pages import _common as ui
from dashboard.app_pages import _upload as parts
from dashboard.filters import KEYS
from derma.uploads import UploadError
from etl.access import AccessDenied

who = ui.user()
if not who.can_upload:
    st.error(
        "This page is not available to your role. Please ask your administrator if you need it.",
        icon=":material/block:",
    )
    st.stop()
st.title("Upload exports")
st.caption(
    "Load the clinics' exports as their software writes them: pick how they are read, see what the load "
    f"would do, then load the batch. Files up to {uploads.MAX_EXPORT_MB} MB each; they are kept only while a "
    "step runs. Every upload and load is in the audit log."
)
round_ = st.session_state.setdefault("upload_round", 0)  # a new key clears the uploader after a load
files = st.file_uploader(
    "Export files", type=uploads.EXPORT_TYPES, accept_multiple_files=True, key=f"upload_files_{round_}",
    max_upload_size=uploads.MAX_EXPORT_MB,
)  # fmt: skip
choice = parts.mapping_choice(who, files)
inputs = (tuple((f.name, f.size, f.file_id) for f in files or []), repr(choice))


def _commit(chosen, uploaded) -> None:
    """Callback (runs before the sidebar is drawn): load, then widen the month filter to the new snapshot's months."""
    try:
        st.session_state["upload_done"] = uploads.commit(who, parts.as_uploads(uploaded), chosen)
    except (UploadError, AccessDenied) as exc:
        st.session_state["upload_failed"] = str(exc)
        return
    st.session_state.pop("upload_preview", None)
    st.session_state["upload_round"] = round_ + 1
    snapshot = data.snapshot()
    months = data.months(data.source(who, snapshot)) if snapshot is not None else []
    if months:  # the month filter spans the new snapshot's months; the other filters stay as chosen
        st.session_state[KEYS["months"]] = (months[0], months[-1])


if "upload_failed" in st.session_state:
    st.error(f"Nothing was loaded: {st.session_state.pop('upload_failed')}", icon=":material/error:")
if "upload_done" in st.session_state:
    done = st.session_state["upload_done"]
    st.success(f"Loaded. Published snapshot **{done['snapshot']}**.", icon=":material/task_alt:")
    parts.report(done, committed=True)
    st.page_link("app_pages/overview.py", label="Open the Overview", icon=":material/dashboard:")
    if st.button(
        "Refresh the model results now", key="upload_refresh_models", icon=":material/model_training:"
    ):
        with st.spinner("Fitting the models on the new snapshot ..."):
            try:
                uploads.refresh(who)
            except UploadError as exc:
                st.error(f"The models were not refreshed: {exc}", icon=":material/error:")
            else:
                st.success("The model results are up to date.", icon=":material/check_circle:")
if not files:
    st.info("Upload one or more export files to start.", icon=":material/upload_file:")
    st.stop()
if choice is None:
    st.stop()
if st.button("Preview the load", key="upload_preview_button", type="primary", icon=":material/preview:"):
    st.session_state.pop("upload_done", None)
    with st.spinner("Running the whole batch against the current data, without publishing ..."):
        try:
            st.session_state["upload_preview"] = (
                inputs,
                uploads.preview(who, parts.as_uploads(files), choice),
            )
        except UploadError as exc:
            st.error(f"The preview failed: {exc}", icon=":material/error:")
previewed = st.session_state.get("upload_preview")
if previewed and previewed[0] == inputs:
    st.subheader("Preview: what the load would do")
    parts.report(previewed[1], committed=False)
    st.button(
        "Load this batch", key="upload_commit", type="primary", icon=":material/publish:",
        on_click=_commit, args=(choice, files),
    )  # fmt: skip
    st.caption("The load runs the same batch again against the data current then, and publishes it whole.")
