"""The alerts in force for a month: control-chart alerts, clinics whose data stopped arriving, jumps in quarantined rows.

Each alert names its clinic (``network`` for the network's own chart, ``unknown`` for files without a
valid clinic), so delivery can send it only to the people who may see that clinic.

* ``control_chart``: the risk-adjusted CUSUM of a unit's chart is on in that month (the network's
  latest model run, which charts the network and every clinic).
* ``data_stopped``: a clinic with sessions in at least one of the :data:`RECENT_MONTHS` months
  before has none in the month (a clinic silent for longer is not alerted again every month).
* ``quarantine_jump``: the month's files quarantined a share of the clinic's rows that doubled and
  is beyond chance against the clinic's previous six months (``analysis.quarantine_jump``).
"""

from __future__ import annotations

import pandas as pd

from analysis.quarantine_jump import BASELINE_MONTHS, quarantine_jump
from etl.access import NETWORK
from etl.settings import Settings
from etl.warehouse import connect_current
from queries import run_query
from reports.content import month_bounds, shift

RECENT_MONTHS = 3
KINDS = ("control_chart", "data_stopped", "quarantine_jump")


def alerts_for(settings: Settings, month: str) -> dict:
    """``{"month", "alerts": [{"clinic_id", "kind", "measure", "message"}], "notes": [...]}`` for ``month``."""
    first, _last = month_bounds(month)
    _snapshot, con = connect_current(settings.data_dir)
    try:
        notes: list[str] = []
        found = _chart_alerts(con, first, notes)
        found += _stopped(run_query(con, "survey_response", {}), first)
        found += _quarantine(run_query(con, "quarantine_by_clinic_month", {}), first)
    finally:
        con.close()
    found.sort(key=lambda a: (a["clinic_id"], a["kind"], a["measure"]))
    return {"month": month, "alerts": found, "notes": notes}


def latest_data_month(settings: Settings) -> str | None:
    """The month (``YYYY-MM``) of the newest session in the warehouse, or None when it is empty."""
    _snapshot, con = connect_current(settings.data_dir)
    try:
        last = run_query(con, "data_freshness", {})["last_session_date"].max()
    finally:
        con.close()
    return None if pd.isna(last) else pd.Timestamp(last).strftime("%Y-%m")


def _chart_alerts(con, first, notes: list[str]) -> list[dict]:
    points = run_query(con, "spc_points", {"scope": NETWORK})
    if points.empty:
        notes.append("no model results yet: control-chart alerts were not checked (run 'derma models')")
        return []
    if not bool(points["is_fresh"].iat[0]):
        notes.append(
            "the control charts were fitted before the latest load: run 'derma models' to update them"
        )
    mine = points[
        (pd.to_datetime(points["month"]).dt.date == first) & points["alert"].fillna(False).astype(bool)
    ]
    if points[pd.to_datetime(points["month"]).dt.date == first].empty:
        notes.append(f"the control charts have no point for {first:%Y-%m}")
    return [
        {
            "clinic_id": str(row.unit),
            "kind": "control_chart",
            "measure": str(row.measure),
            "message": (
                f"{row.unit}: {row.measure} — the risk-adjusted alert is on for {first:%B %Y}: after allowing "
                "for the patients treated, the outcome has run above this unit's usual level for longer than "
                "chance explains. Investigate what changed."
            ),
        }
        for row in mine.itertuples(index=False)
    ]


def _stopped(activity: pd.DataFrame, first) -> list[dict]:
    if activity.empty:
        return []
    activity = activity.assign(month=pd.to_datetime(activity["month"]).dt.date)
    start = shift(first, -RECENT_MONTHS)
    found = []
    for clinic, part in activity[activity["sessions"] > 0].groupby("clinic_id"):
        recent = part[(part["month"] >= start) & (part["month"] < first)]
        if recent.empty or (part["month"] == first).any():
            continue
        last = part[part["month"] < first]["month"].max()
        found.append(
            {
                "clinic_id": str(clinic),
                "kind": "data_stopped",
                "measure": "sessions",
                "message": (
                    f"{clinic}: no sessions for {first:%B %Y} (the latest are from {last:%B %Y}); the clinic's "
                    "exports may have stopped arriving."
                ),
            }
        )
    return found


def _quarantine(counts: pd.DataFrame, first) -> list[dict]:
    if counts.empty:
        return []
    counts = counts.assign(month=pd.to_datetime(counts["month"]).dt.date)
    start = shift(first, -BASELINE_MONTHS)
    found = []
    for clinic, part in counts.groupby("clinic_id"):
        now = part[part["month"] == first]
        base = part[(part["month"] >= start) & (part["month"] < first)]
        if now.empty:
            continue
        test = quarantine_jump(
            int(now["rows"].sum()),
            int(now["quarantined"].sum()),
            int(base["rows"].sum()),
            int(base["quarantined"].sum()),
        )
        if test.jump:
            found.append(
                {
                    "clinic_id": str(clinic),
                    "kind": "quarantine_jump",
                    "measure": "quarantined rows",
                    "message": (
                        f"{clinic}: {test.quarantined} of {test.rows} rows ({test.share:.1%}) from {first:%B %Y}'s "
                        f"files were quarantined, against {test.base_share:.1%} in the {BASELINE_MONTHS} months "
                        f"before (p = {test.p_value:.1g}); see 'derma quarantine' for the rows and rules."
                    ),
                }
            )
    return found


def alert_text(report: dict) -> str:
    """The alerts as lines for a terminal or a mail."""
    lines = [f"Alerts for {report['month']}: {len(report['alerts'])}"]
    lines += [f"- [{a['kind']}] {a['message']}" for a in report["alerts"]]
    lines += [f"note: {n}" for n in report.get("notes", [])]
    return "\n".join(lines)
