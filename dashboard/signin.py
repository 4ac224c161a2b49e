"""Who is at the keyboard: Streamlit's OIDC sign-in, a trusted proxy header, or the local admin."""

from __future__ import annotations

import streamlit as st

from etl.settings import Settings


def sign_in_mode() -> str:
    """``oidc`` when Streamlit's ``[auth]`` secrets are configured, ``header`` when a trusted proxy header is,
    else ``local`` (a single local admin, for ``derma demo`` and a laptop)."""
    try:
        if "auth" in st.secrets:
            return "oidc"
    except Exception:  # noqa: BLE001 - no secrets file at all means no [auth]
        pass
    return "header" if Settings.from_env().identity_header else "local"


def sign_in_provider(auth=None) -> str | None:
    """The OIDC provider ``st.login`` should use: None for a single ``[auth]`` provider, else the first
    named one (``[auth.microsoft]`` -> ``"microsoft"``). ``auth`` defaults to the ``[auth]`` secrets."""
    auth = st.secrets.get("auth", {}) if auth is None else auth
    if "client_id" in auth:
        return None
    named = [name for name, value in auth.items() if hasattr(value, "keys")]
    return named[0] if named else None


def identity() -> str | None:
    """The identity the sign-in mode vouches for (None while an OIDC user has not signed in)."""
    mode = sign_in_mode()
    if mode == "oidc":
        return str(st.user.get("email") or "") if st.user.is_logged_in else None
    header = Settings.from_env().identity_header or ""
    return str(st.context.headers.get(header) or "")
