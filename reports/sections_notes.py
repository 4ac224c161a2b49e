"""The report's notes and targets: the section listing them, and their marks on the trend and control charts."""

from __future__ import annotations

import pandas as pd

from charts.annotate import add_notes, add_target, target_verdicts
from etl.userdata import UserData
from reports.content import Reader, Section, table_of
from reports.suppression import Table

#: The trend figure's column of each measure (``charts.figures.monthly_rates``).
RATE_COLUMNS = {"pct_satisfied": 1, "side_effect_rate": 2}


def scope_notes(userdata: UserData | None, r: Reader) -> list[dict]:
    """The notes of this report's scope up to its month, as plain records."""
    if userdata is None:
        return []
    notes = userdata.notes_for(r.scope)
    return [
        {
            "day": n.day,
            "text": n.text,
            "process_change": n.process_change,
            "scope": n.scope,
            "clinic_id": n.clinic_id,
        }
        for n in notes
        if n.day <= r.last
    ]


def scope_targets(userdata: UserData | None, r: Reader) -> list[dict]:
    """The targets that apply to this report's unit (a clinic's own, else the network's)."""
    if userdata is None:
        return []
    found = (userdata.target(r.scope, m) for m in ("side_effect_rate", "pct_satisfied", "response_rate"))
    return [t.as_dict() for t in found if t is not None]


def verdicts(r: Reader, userdata: UserData | None) -> pd.DataFrame:
    targets = scope_targets(userdata, r)
    if not targets:
        return pd.DataFrame()
    kpis = r.q("kpis_by_month", date_to=r.last, clinic_id=r.clinic_id)
    kpis = kpis.assign(month=pd.to_datetime(kpis["month"]))
    return target_verdicts(kpis, targets, userdata.rebase_months(r.scope))


def notes_section(r: Reader, userdata: UserData | None) -> Section:
    """What was recorded on this scope's timeline, and whether each target will be met."""
    notes = scope_notes(userdata, r)
    paragraphs = [
        f"{pd.Timestamp(n['day']):%d %B %Y} · {n['scope']}"
        + (" · process change (control limits restart this month)" if n["process_change"] else "")
        + f": {n['text']}"
        for n in notes
    ] or ["No notes or process changes have been recorded for this scope."]
    tables: tuple[Table, ...] = ()
    verdict = verdicts(r, userdata)
    if not verdict.empty:
        paragraphs.append(
            "Each target is read as Making Data Count reads it: against the limits of a p′ chart of the "
            "measure's monthly counts since the last process change — beyond the limits on the good side it is "
            "met every month, on the bad side missed every month, between them hit and miss."
        )
        frame = verdict.assign(value=verdict["value"], assurance=verdict["words"])[
            ["label", "value", "direction", "lower", "upper", "assurance"]
        ]
        tables = (
            table_of(
                "Targets",
                "Targets and whether the process will meet them",
                frame,
                {
                    "label": "text",
                    "value": "pct",
                    "direction": "text",
                    "lower": "pct",
                    "upper": "pct",
                    "assurance": "text",
                },
            ),
        )
    return Section("notes", "Notes, process changes and targets", tuple(paragraphs), (), tables)


def mark_figures(sections: tuple[Section, ...], r: Reader, userdata: UserData | None) -> None:
    """Draw the scope's notes on its trend and control charts, and its targets on the trend (in place)."""
    notes = scope_notes(userdata, r)
    verdict = verdicts(r, userdata)
    for section in sections:
        for figure in section.figures:
            months = [
                pd.Timestamp(x)
                for trace in figure.figure.data
                for x in (() if trace.x is None else trace.x)
                if x is not None and not isinstance(x, str)
            ]
            if not months:
                continue
            first, last = min(months), max(months)
            shown = [n for n in notes if first <= pd.Timestamp(n["day"]) <= last + pd.offsets.MonthEnd(0)]
            if section.anchor == "control":
                add_notes(figure.figure, shown)
            elif section.anchor == "trends" and figure.title.startswith("Satisfaction"):
                for col in (1, 2):
                    add_notes(figure.figure, shown, row=1, col=col)
                for row in verdict.itertuples():
                    if row.measure in RATE_COLUMNS:
                        add_target(figure.figure, row.value, row.words, row=1, col=RATE_COLUMNS[row.measure])
