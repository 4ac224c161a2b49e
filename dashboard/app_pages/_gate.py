"""Sign-in and access for the router: who the user is, which pages they may open, what the audit log hears.

Three ways to know the user (``dashboard/signin.py: sign_in_mode``): Streamlit's OIDC sign-in when an
``[auth]`` section is in the secrets; a header set by a trusted reverse proxy when
``DERMA_IDENTITY_HEADER`` names it; otherwise a single local admin, with a banner saying so.
"""

from __future__ import annotations

import logging

import streamlit as st

from dashboard import auditing, data, signin
from dashboard.filters import Filters
from etl.access import NOT_SIGNED_IN, AccessError, Principal
from etl.audit import AuditError

LOG = logging.getLogger("derma.access")
ASK = (
    "You are signed in as **{who}**, but this dashboard has not been opened to you yet. Please ask your "
    "administrator to add you to the roles file with your role and clinics."
)
NO_IDENTITY = (
    "No signed-in identity reached this dashboard, so it has not been opened to you yet. Sign in "
    "through your organisation's address for it, or ask your administrator (the sign-in proxy may "
    "not be passing your identity on)."
)
LOCAL = (
    "**No sign-in is configured**: this dashboard treats everyone who can open its address as an "
    "administrator. That is right for a laptop (`derma demo`); for a clinic network set up sign-in (README, "
    "*Security*)."
)
ROLE_WORDS = {"admin": "administrator", "analyst": "analyst", "manager": "clinic manager", "viewer": "viewer"}


def _stop(message: str, icon: str = ":material/lock:") -> None:
    st.title("Derma outcomes")
    st.info(message, icon=icon)
    if signin.sign_in_mode() == "oidc" and st.user.is_logged_in:
        st.button("Sign out", key="gate_sign_out", on_click=st.logout)
    st.stop()


def user() -> Principal:
    """The signed-in user allowed in, or the page stops with the right screen (sign in, ask, broken config)."""
    try:
        who = data.principal()
    except AccessError as exc:
        LOG.error("access configuration: %s", exc)
        _stop(
            "Access to this dashboard is not configured correctly, so nobody can be let in. Please tell your "
            "administrator (the server log says what is wrong)."
        )
    if who is None:
        st.title("Derma outcomes")
        st.write("Outcomes analytics for your clinic's microdermabrasion sessions. Please sign in.")
        provider = signin.sign_in_provider()
        st.button(
            "Sign in",
            key="gate_sign_in",
            type="primary",
            icon=":material/login:",
            on_click=st.login,
            args=(provider,) if provider else (),
        )
        st.stop()
    if not who.known:
        _audit(who, "denied", "dashboard", outcome="refused")
        _stop(ASK.format(who=who.identity) if who.identity != NOT_SIGNED_IN else NO_IDENTITY)
    return who


def badge(who: Principal) -> None:
    """Who is signed in, in the sidebar, and the banner when nobody has to sign in."""
    if signin.sign_in_mode() == "local":
        st.warning(LOCAL, icon=":material/no_encryption:")
    with st.sidebar:
        scope = "all clinics" if who.clinics is None else ", ".join(who.clinics)
        st.caption(f"Signed in as **{who.identity}** · {ROLE_WORDS.get(who.role, who.role)} · {scope}")
        if signin.sign_in_mode() == "oidc":
            st.button("Sign out", key="gate_sign_out", on_click=st.logout)


def allowed(pages: list[tuple[st.Page, str | None]], who: Principal) -> list[st.Page]:
    """The pages ``who`` may open (a page not listed cannot be reached by its address either)."""
    return [page for page, needs in pages if needs is None or getattr(who, needs)]


def view(who: Principal, page: st.Page, f: Filters) -> None:
    """One audit record per page view (a rerun with the same page and filters is the same view)."""
    chosen = {k: v for k, v in f.params().items() if v is not None}
    _audit(who, "view", page.url_path or "overview", chosen)


def _audit(who: Principal, action: str, what: str, params: dict | None = None, outcome: str = "ok") -> None:
    try:
        auditing.log_once(who, "view", action, what, params, outcome=outcome)
    except AuditError as exc:
        LOG.error("audit log: %s", exc)
        _stop(
            "The audit log cannot be written, so health data is not shown. Please tell your administrator.",
            icon=":material/error:",
        )
