"""The notes and targets for the signed-in user: read what they may see, record what they may change.

Permissions are decided in ``etl.userdata`` (below every page): a manager changes only her own clinics',
analysts and administrators any; every change is audited there. A process change or a target redraws
the control charts it affects (``derma.annotations``), which publishes a new snapshot: every cached
read is keyed by snapshot, so the pages show the redrawn charts on their next run.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from dashboard import data
from etl import userdata
from etl.access import Principal


def visible(user: Principal) -> userdata.UserData:
    """The notes and targets ``user`` may read (their clinics' and the network's)."""
    return userdata.read(data.settings()).visible_to(user)


def notes_frame(user: Principal) -> pd.DataFrame:
    rows = [n.as_dict() for n in visible(user).notes]
    columns = ["id", "day", "scope", "process_change", "text", "author", "recorded_at"]
    return pd.DataFrame(rows, columns=[*columns, "clinic_id", "clinician_id"])[columns]


def targets_frame(user: Principal) -> pd.DataFrame:
    rows = [t.as_dict() for t in visible(user).targets]
    columns = ["id", "scope", "measure", "value", "direction", "author", "recorded_at"]
    return pd.DataFrame(rows, columns=[*columns, "clinic_id"])[columns]


def chart_notes(user: Principal, unit: str, clinician_id: str | None = None) -> list[dict]:
    """The notes drawn on ``unit``'s charts (and one clinician's), as plain records for ``charts.annotate``."""
    return [n.as_dict() for n in visible(user).notes_on(unit, clinician_id)]


def add_note(
    user: Principal,
    day: dt.date,
    text: str,
    process_change: bool,
    clinic_id: str | None,
    clinician_id: str | None,
) -> userdata.Note:
    note = userdata.add_note(
        data.settings(),
        day=day,
        text=text,
        process_change=process_change,
        clinic_id=clinic_id,
        clinician_id=clinician_id,
        who=user,
        via="dashboard",
    )
    if process_change:
        redraw()
    return note


def set_target(user: Principal, measure: str, value: str, clinic_id: str | None) -> userdata.Target:
    target = userdata.set_target(
        data.settings(), measure=measure, value=value, clinic_id=clinic_id, who=user, via="dashboard"
    )
    redraw()
    return target


def remove(user: Principal, item_id: str, kind: str) -> None:
    userdata.remove(data.settings(), item_id, kind, who=user, via="dashboard")
    redraw()


def redraw() -> list[str]:
    """Redraw the control charts the change put out of date (nothing when no snapshot or model results exist)."""
    from derma.annotations import redraw_all

    if data.snapshot() is None:
        return []
    return redraw_all(data.settings())
