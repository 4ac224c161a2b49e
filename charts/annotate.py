"""Notes and targets on a figure: a dated line per note, a target line with its assurance verdict.

Pure like the other builders: a figure and plain records in, the same figure with shapes out. A note is
``{"day", "text", "process_change"}``; a target ``{"measure", "value", "direction"}``. The verdict a
target line carries is Making Data Count's assurance reading of a Laney p′ chart of the measure's
monthly counts (:func:`target_verdicts`): the target beyond the limits on the good side passes every
month, beyond them on the bad side fails every month, between them is hit and miss.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from analysis.spc import Target, laney_p_chart
from analysis.special_causes import assurance_icon
from charts.labels import ASSURANCE_WORDS
from charts.style import GREEN, PURPLE

#: The monthly counts behind each measure a target can be set for (numerator, denominator).
MEASURE_COUNTS = {
    "side_effect_rate": ("side_effect_sessions", "outcome_known"),
    "pct_satisfied": ("satisfied", "answered"),
    "response_rate": ("answered", "sessions"),
}
MEASURE_WORDS = {
    "side_effect_rate": "side-effect rate",
    "pct_satisfied": "% satisfied",
    "response_rate": "survey response",
}
SHORT = 40


def short(text: str) -> str:
    return text if len(text) <= SHORT else text[: SHORT - 1] + "…"


def add_notes(
    fig: go.Figure, notes: Iterable[Mapping], row: int | None = None, col: int | None = None
) -> go.Figure:
    """A dotted vertical line and a short label at each note's date (process changes solid, labelled so)."""
    where = {} if row is None else {"row": row, "col": col or 1}
    for note in notes:
        day = pd.Timestamp(note["day"])
        change = bool(note.get("process_change"))
        fig.add_shape(
            type="line",
            x0=day,
            x1=day,
            y0=0,
            y1=1,
            yref="y domain",
            line={"color": PURPLE, "width": 1.5 if change else 1, "dash": "solid" if change else "dot"},
            **where,
        )
        label = ("Process change: " if change else "Note: ") + short(str(note["text"]))
        fig.add_annotation(
            x=day,
            y=1.0,
            yref="y domain",
            text=label,
            hovertext=f"{day:%d %b %Y}: {note['text']}",
            showarrow=False,
            xanchor="left",
            yanchor="top",
            textangle=0,
            font={"size": 10, "color": PURPLE},
            bgcolor="rgba(255,255,255,0.7)",
            **where,
        )
    return fig


def add_target(
    fig: go.Figure,
    value: float,
    words: str,
    row: int | None = None,
    col: int | None = None,
    percent: bool = True,
) -> go.Figure:
    """A dash-dot horizontal line at the target with its verdict in words."""
    where = {} if row is None else {"row": row, "col": col or 1}
    fig.add_shape(
        type="line",
        x0=0,
        x1=1,
        xref="x domain",
        y0=value,
        y1=value,
        line={"color": GREEN, "dash": "dashdot", "width": 1.5},
        **where,
    )
    fig.add_annotation(
        x=1.0,
        xref="x domain",
        y=value,
        text=f"target {value:.1%}" + (f" — {words}" if words else "") if percent else f"target {value:.2f}",
        showarrow=False,
        xanchor="right",
        yanchor="bottom",
        font={"size": 10, "color": GREEN},
        **where,
    )
    return fig


def target_verdicts(kpis: pd.DataFrame, targets: Iterable[Mapping], rebase: Sequence = ()) -> pd.DataFrame:
    """Each target's assurance against a Laney p′ chart of its measure's monthly counts (latest segment).

    Columns: measure, label, value, direction, assurance (``consistent_pass``, ``consistent_fail``,
    ``inconsistent`` or None when the chart has no limits yet), words, lower, upper, months.
    """
    rows = []
    for target in targets:
        measure = target["measure"]
        num, den = MEASURE_COUNTS[measure]
        frame = kpis[kpis[den].fillna(0) > 0].rename(columns={num: "events", den: "n"})[
            ["month", "events", "n"]
        ]
        value, direction = float(target["value"]), str(target["direction"])
        assurance, lower, upper = None, None, None
        if len(frame) >= 2:
            months = [m for m in rebase if pd.Timestamp(m) <= frame["month"].max()]
            chart = laney_p_chart(frame, direction=direction, rebase=months, target=Target(value, direction))
            last = chart.points.iloc[-1]
            if pd.notna(last["upper"]):
                lower, upper = float(last["lower"]), float(last["upper"])
                assurance = assurance_icon(value, lower, upper, direction)
        rows.append(
            {
                "measure": measure,
                "label": MEASURE_WORDS[measure],
                "value": value,
                "direction": direction,
                "assurance": assurance,
                "words": ASSURANCE_WORDS.get(
                    assurance, "too few months since the start or the last process change for a verdict"
                ),
                "lower": lower,
                "upper": upper,
                "months": len(frame),
            }
        )
    return pd.DataFrame(
        rows,
        columns=["measure", "label", "value", "direction", "assurance", "words", "lower", "upper", "months"],
    )


def spc_with_notes(points: pd.DataFrame, percent: bool, notes_by_unit: Mapping[str, list]) -> go.Figure:
    """The control chart of each unit (``charts.spc_figure.spc``) with that unit's notes on its own row."""
    from charts.spc_figure import spc

    fig = spc(points, percent)
    for row, unit in enumerate(dict.fromkeys(points["unit"]), start=1):
        add_notes(fig, notes_by_unit.get(unit, []), row=row, col=1)
    return fig


def rates_with_notes(kpis: pd.DataFrame, notes: list, verdicts: pd.DataFrame) -> go.Figure:
    """The monthly rates (``charts.figures.monthly_rates``) with notes and the targets' lines and verdicts."""
    from charts.figures import monthly_rates

    fig = monthly_rates(kpis)
    for col in (1, 2):
        add_notes(fig, notes, row=1, col=col)
    columns = {"pct_satisfied": 1, "side_effect_rate": 2}
    for row in verdicts.itertuples() if not verdicts.empty else ():
        if row.measure in columns:
            add_target(fig, row.value, row.words, row=1, col=columns[row.measure])
    return fig
