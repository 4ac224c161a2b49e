"""The app's audit trail: page views, queries, downloads and refusals written to the audit log.

When the log cannot be written the caller refuses the action (``etl.audit.AuditError``).
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from etl import audit
from etl.access import (
    Principal,
)
from etl.settings import Settings

LOGGED = "audit_last_logged"  # session-state key: what this session last wrote to the audit log, per kind


def log(
    user: Principal,
    action: str,
    what: str,
    params: dict | None = None,
    rows: int | None = None,
    outcome: str = "ok",
) -> None:
    """One audit record for ``user``; raises ``etl.audit.AuditError`` (the caller refuses) when it cannot be written."""
    audit.append(
        Settings.from_env().audit_path,
        who=user.identity,
        role=user.role,
        via="dashboard",
        action=action,
        what=what,
        params=params,
        rows=rows,
        outcome=outcome,
    )


def log_once(
    user: Principal,
    kind: str,
    action: str,
    what: str,
    params: dict | None = None,
    rows: int | None = None,
    outcome: str = "ok",
) -> None:
    """Log unless this session's last record of ``kind`` was the same (a rerun is not a new view or query)."""
    key = (user.identity, action, what, repr(sorted((params or {}).items())), rows)
    logged = st.session_state.setdefault(LOGGED, {})
    if logged.get(kind) != key:
        log(user, action, what, params, rows, outcome)
        logged[kind] = key


def download(user: Principal, what: str, params: dict, rows: int | None, payload: Callable[[], str | bytes]):
    """A download button's data: built and logged only when the user clicks (Streamlit calls it then)."""
    user.require(user.can_download, f"download {what}")

    def deliver() -> str | bytes:
        log(user, "download", what, params, rows)
        return payload()

    return deliver
