"""Data quality: the snapshot in use, load batches, rows per file by outcome, quarantine, freshness per clinic."""

import streamlit as st

from charts import figures
from dashboard import auditing, data
from dashboard.app_pages import _common as ui
from etl.audit import AuditError
from etl.escaping import csv_text

SHOWN_RECORDS = 1_000

src, f = ui.context()
who = ui.user()
st.title("Data quality")
current = data.snapshot()
st.markdown(f"**Snapshot in use:** `{current.snapshot_id if current else '–'}`")
st.caption(
    "Every load publishes a new snapshot; the dashboard switches to it on the next click, without a restart."
)

st.subheader("Freshness per clinic")
freshness = data.freshness(src, f.clinic_id)
st.dataframe(
    freshness,
    hide_index=True,
    key="quality_freshness",
    column_config=ui.headers(
        freshness,
        {
            "first_session_date": st.column_config.DateColumn(format="YYYY-MM-DD"),
            "last_session_date": st.column_config.DateColumn(format="YYYY-MM-DD"),
            "last_loaded_at": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        },
    ),
)
st.caption(
    "Last session and last load per clinic; *days behind network* counts days between the clinic's last "
    "session and the newest session anywhere."
)

batches = data.load_batches(src)
st.subheader("Loads")
ui.chart(
    "Rows per file by outcome",
    "Every data row of every file ends up inserted, updated (a correction), "
    "unchanged (already stored) or quarantined.",
    figures.file_outcomes,
    batches,
    "quality_files",
    n="rows",
    minimum=1,
)
with st.expander("Load batches and files (with sha256)"):
    st.dataframe(batches, hide_index=True, key="quality_batches", column_config=ui.headers(batches))

st.subheader("Quarantine")
summary = data.quarantine_summary(src, f.clinic_id)
if summary.empty:
    st.success("No rows were quarantined for this selection.", icon=":material/check:")
else:
    ui.chart(
        "Quarantined rows by reason",
        "How many rows were set aside for each reason, over all files.",
        figures.quarantine_reasons,
        summary,
        "quality_reasons",
    )
    st.dataframe(
        summary, hide_index=True, key="quality_quarantine_summary", column_config=ui.headers(summary)
    )
    records = data.quarantine_records(src, f.clinic_id)
    st.markdown(f"**Quarantined records** ({len(records):,}; patient numbers masked)")
    st.dataframe(
        records.head(SHOWN_RECORDS),
        hide_index=True,
        key="quality_quarantine_records",
        column_config=ui.headers(records),
    )
    if who.can_download:
        st.download_button(
            "Download quarantined records (CSV)",
            auditing.download(
                who,
                "quarantine.csv",
                {"clinic_id": f.clinic_id},
                len(records),
                lambda: csv_text(records),
            ),
            "quarantine.csv",
            "text/csv",
            key="quality_download_quarantine",
            on_click="ignore",
        )
st.caption("Only the clinic filter applies on this page: loads and quarantine are about files, not sessions.")

if who.can_audit:
    st.subheader("Audit log")
    since = st.date_input("Since", value=None, key="quality_audit_since")
    try:
        log = data.audit_records(who, since)
    except AuditError as exc:  # an edited or truncated log: say where, show nothing from it
        st.error(str(exc), icon=":material/gpp_bad:")
        st.stop()
    st.dataframe(
        log.head(SHOWN_RECORDS),
        hide_index=True,
        key="quality_audit",
        column_config=ui.headers(
            log,
            {
                "at": st.column_config.TextColumn("when (UTC)"),
                "rows": st.column_config.NumberColumn(format="%d"),
            },
        ),
    )
    st.caption(
        f"{len(log):,} record(s), newest first: every page view, query, download and report, by whom, with "
        "its parameters and row count (never patient keys or values). `derma audit` reads the same log."
    )
