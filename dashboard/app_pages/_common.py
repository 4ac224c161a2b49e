"""What every page shares: the snapshot and filters in force, the friendly empty states, a chart with its caption."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from charts import style
from charts.tiles import MIN_N
from dashboard import data
from dashboard.filters import ACTIVE, Filters
from etl.access import Principal

EMPTY = (
    "**No data has been loaded yet.** Load the clinics' exports with `derma ingest <folder-of-exports>` "
    "(or try `derma demo` for synthetic data), then reload this page."
)
NOT_ENOUGH = "Not enough data for this selection."
NO_MODELS = (
    "Models have not been fitted for this snapshot yet: an administrator runs `derma models` (the network) "
    "or `derma models --all-clinics` (each clinic's own fit as well)."
)
CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def context(needs: str | None = None) -> tuple[data.Source, Filters]:
    """What the signed-in user may read of the current snapshot, and the sidebar's filters.

    Stops the page with help when nothing is loaded, and with a refusal when the user lacks ``needs``
    (a permission of ``etl.access.Principal``), whatever address they opened.
    """
    who = user()
    if needs is not None and not getattr(who, needs):
        st.error(
            "This page is not available to your role. Please ask your administrator if you need it.",
            icon=":material/block:",
        )
        st.stop()
    snapshot = data.snapshot()
    if snapshot is None:
        st.info(EMPTY, icon=":material/inbox:")
        st.stop()
    return data.source(who, snapshot), st.session_state.get(ACTIVE, Filters())


def user() -> Principal:
    """The signed-in user (the router has already turned away anyone without a role)."""
    who = data.principal()
    if who is None or not who.known:
        st.stop()
    return who


def chart(
    title: str,
    caption: str,
    build: Callable[..., go.Figure],
    frame: pd.DataFrame,
    key: str,
    *,
    n: str | None = None,
    minimum: int = MIN_N,
    **options,
) -> None:
    """A titled figure with its one-sentence caption, or "not enough data" when ``frame[n]`` sums below ``minimum``."""
    st.markdown(f"**{title}**")
    if frame is None or frame.empty or (n is not None and not style.enough(frame, n, minimum)):
        st.info(NOT_ENOUGH, icon=":material/info:")
    else:
        st.plotly_chart(build(frame, **options), key=key, config=CONFIG)
    st.caption(caption)


def models_ready(summaries: pd.DataFrame, scope: str) -> bool:
    """Say whether model results exist and are fresh for ``scope``; False (after saying so) when missing."""
    if summaries.empty:
        st.info(
            f"**{scope}:** {NO_MODELS}" if scope != data.NETWORK else NO_MODELS,
            icon=":material/model_training:",
        )
        return False
    fitted = pd.Timestamp(summaries["fitted_at"].iat[0]).strftime("%d %b %Y %H:%M UTC")
    if not bool(summaries["is_fresh"].iat[0]):
        st.warning(
            f"These model results are stale: fitted {fitted} on an earlier load. Run `derma models` to "
            "refit them on the latest data.",
            icon=":material/history:",
        )
    else:
        st.caption(f"Model results for **{scope}**, fitted {fitted} on the latest load.")
    return True


def scope_note(scope: str, f: Filters) -> None:
    if f.clinic_id and scope != f.clinic_id:
        st.caption(
            f"{f.clinic_id} has no model fit of its own, so these are the network's results "
            f"(`derma models --clinic {f.clinic_id}` fits one)."
        )


def headers(frame: pd.DataFrame, config: dict | None = None) -> dict:
    """``column_config`` giving every column of ``frame`` a header in words (``charts.labels``), keeping ``config``."""
    from charts.labels import column_label

    out = dict(config or {})
    for column in frame.columns:
        given = out.get(column)
        if given is None:
            out[column] = st.column_config.Column(column_label(column))
        elif isinstance(given, dict) and not given.get("label"):
            out[column] = {**given, "label": column_label(column)}
    return out
