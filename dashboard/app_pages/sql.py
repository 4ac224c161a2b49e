"""SQL: the analysts' named queries with one widget per parameter, and free SQL through the sandbox."""

import streamlit as st

from dashboard import auditing, data
from dashboard.app_pages import _common as ui
from etl.access import AccessDenied
from etl.audit import redact_sql
from etl.escaping import csv_text
from etl.sandbox import SandboxError
from queries import QueryError, get_query, list_queries


def widget(param, key: str):
    """One input for a query parameter, typed from the query's ``Params:`` header."""
    label = f"{param.name}{'' if param.optional else ' *'}"
    if param.choices or param.type == "boolean":
        options = list(param.choices) if param.choices else [True, False]
        options = [None, *options] if param.optional else options
        return st.selectbox(label, options, key=key, format_func=lambda v: "(any)" if v is None else str(v))
    if param.type == "date":
        return st.date_input(label, value=None, key=key)
    if param.type in ("integer", "number"):
        step = 1 if param.type == "integer" else None
        return st.number_input(label, value=None, step=step, key=key, placeholder="(any)")
    return st.text_input(label, key=key, placeholder="(any)") or None


src, f = ui.context("can_named_queries")
who = ui.user()
st.title("SQL")
named, free = st.tabs(["Named queries", "Free SQL"])

with named:
    queries = {q.name: q for q in list_queries()}
    name = st.selectbox("Query", list(queries), key="sql_query")
    query = get_query(name)
    st.caption(f"{query.purpose}  \n{query.grain}")
    use_filters = st.toggle("Empty parameters take the sidebar's filters", value=True, key="sql_use_filters")
    sidebar = f.params() if use_filters else {}
    columns = st.columns(3)
    values = {}
    for i, param in enumerate(query.params):
        with columns[i % 3]:
            values[param.name] = widget(param, f"sql_param_{name}_{param.name}")
            if values[param.name] is None and sidebar.get(param.name) is not None:
                values[param.name] = sidebar[param.name]
                st.caption(f"from the sidebar: {sidebar[param.name]}")
    try:
        result = data.named_query(who, src, name, tuple((k, v) for k, v in values.items() if v is not None))
    except QueryError as exc:
        st.info(str(exc), icon=":material/edit_note:")
    else:
        st.dataframe(result, hide_index=True, key="sql_named_result", column_config=ui.headers(result))
        csv = auditing.download(who, f"{name}.csv", values, len(result), lambda: csv_text(result))
        st.download_button(
            "Download CSV", csv, f"{name}.csv", "text/csv", key="sql_download_named", on_click="ignore"
        )
    st.caption("* marks a required parameter; a value typed here wins over the sidebar.")

with free:
    if not who.can_free_sql:
        st.info(
            "Free SQL is open to analysts and administrators, who see every clinic; the named queries cover "
            "your clinics.",
            icon=":material/lock:",
        )
        st.stop()
    st.caption(
        "One read-only SELECT on the snapshot in use. No files, network, extensions or settings are "
        "reachable; at most 10,000 rows and 10 seconds."
    )
    sql = st.text_area(
        "SQL statement",
        "select clinic_id, count(*) as sessions from sessions group by all order by 1",
        key="sql_text",
        height=140,
    )
    if st.button("Run", key="sql_run", type="primary", icon=":material/play_arrow:"):
        try:
            outcome = data.sandboxed(who, src, sql)
        except (SandboxError, AccessDenied) as exc:
            st.error(str(exc), icon=":material/block:")
        else:
            st.dataframe(
                outcome.frame, hide_index=True, key="sql_free_result", column_config=ui.headers(outcome.frame)
            )
            note = " (cut to the first rows)" if outcome.truncated else ""
            st.caption(f"{len(outcome.frame):,} row(s){note} in {outcome.elapsed_s * 1000:.0f} ms.")
            csv = auditing.download(
                who,
                "query.csv",
                {"sql": redact_sql(sql)},
                len(outcome.frame),
                lambda: csv_text(outcome.frame),
            )
            st.download_button(
                "Download CSV", csv, "query.csv", "text/csv", key="sql_download_free", on_click="ignore"
            )
