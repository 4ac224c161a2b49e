"""The control chart as Making Data Count draws it: coloured special causes, icons, targets, alerts, rebases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.spc import CHART_DIRECTIONS
from analysis.special_causes import assurance_icon, variation_icon
from charts.labels import ASSURANCE_WORDS, POINT_WORDS, VARIATION_WORDS
from charts.style import BLUE, GREEN, GREY, ORANGE, PURPLE, VERMILLION, style

#: Making Data Count's colours in the Okabe–Ito palette: blue improvement, orange concern, grey common
#: cause, purple special cause without a direction.
POINT_COLOURS = {
    "common_cause": GREY,
    "special_cause_improvement": BLUE,
    "special_cause_concern": ORANGE,
    "special_cause_neutral": PURPLE,
}
ICON_COLOURS = {
    "common_cause": GREY,
    "improvement": BLUE,
    "concern": ORANGE,
    "neutral": PURPLE,
    "consistent_pass": BLUE,
    "consistent_fail": ORANGE,
    "inconsistent": GREY,
}


def _broken(part: pd.DataFrame, column: str) -> tuple[list, list]:
    """x and y of a limit line with a gap at each rebase, so limits step instead of sloping across it."""
    xs, ys = [], []
    for _, piece in part.groupby("segment", sort=True):
        xs += [*piece["month"], None]
        ys += [*piece[column], None]
    return xs, ys


def icons(part: pd.DataFrame, direction: str) -> tuple[str | None, str | None]:
    """The variation and assurance icons of one unit's chart, from its latest month."""
    limited = part[part["upper"].notna()]
    if limited.empty or part["upper"].isna().iat[-1]:
        return None, None
    last = part.iloc[-1]
    target = last.get("target")
    target = None if target is None or pd.isna(target) else float(target)
    return (
        variation_icon(last["point_type"], direction),
        assurance_icon(target, float(last["lower"]), float(last["upper"]), direction),
    )


def _icon_text(variation: str | None, assurance: str | None) -> str:
    parts = []
    if variation:
        kind = variation.rsplit("_", 1)[0] if variation != "common_cause" else variation
        colour = ICON_COLOURS[kind]
        parts.append(f"<span style='color:{colour}'>●</span> {VARIATION_WORDS[variation]}")
    if assurance:
        parts.append(f"<span style='color:{ICON_COLOURS[assurance]}'>◆</span> {ASSURANCE_WORDS[assurance]}")
    return " · ".join(parts)


def spc(points: pd.DataFrame, percent: bool, direction: str | None = None) -> go.Figure:
    """One control chart per unit: months coloured by point type, limits per segment, target, alerts, icons.

    ``direction`` ("increase", "decrease" or "neutral") says which way is better; by default it is
    the chart's own (fewer side effects, higher ratings).
    """
    units = list(dict.fromkeys(points["unit"]))
    if direction is None:
        direction = CHART_DIRECTIONS.get(str(points["chart"].iat[0]), "neutral") if len(points) else "neutral"
    fig = make_subplots(
        rows=max(1, len(units)), cols=1, vertical_spacing=0.3 / max(1, len(units)), shared_xaxes=True
    )
    fmt = ".1%" if percent else ".2f"
    shown: set[str] = set()

    def legend(name: str) -> bool:
        first = name not in shown
        shown.add(name)
        return first

    for row, unit in enumerate(units, start=1):
        part = points[points["unit"] == unit].sort_values("month").reset_index(drop=True)
        if "segment" not in part:
            part["segment"] = 0
        part["segment"] = part["segment"].fillna(0)
        limited = part["upper"].notna().any()
        variation, assurance = icons(part, direction)
        fig.add_annotation(
            text=f"<b>{unit}</b>" + ("" if limited else " (too few months for limits)"),
            xref="x domain",
            yref="y domain",
            x=0.0,
            y=1.0,
            xanchor="left",
            yanchor="bottom",
            showarrow=False,
            row=row,
            col=1,
        )
        if variation or assurance:
            fig.add_annotation(
                text=_icon_text(variation, assurance),
                xref="x domain",
                yref="y domain",
                x=1.0,
                y=1.0,
                xanchor="right",
                yanchor="bottom",
                showarrow=False,
                font={"size": 11},
                row=row,
                col=1,
            )
        for column, dash, name in (
            ("upper", "dash", "control limits"),
            ("lower", "dash", "control limits"),
            ("centre", "solid", "centre line"),
            ("upper_2s", "dot", "2-sigma lines"),
            ("lower_2s", "dot", "2-sigma lines"),
        ):
            xs, ys = _broken(part, column)
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    name=name,
                    legendgroup=name,
                    showlegend=legend(name),
                    connectgaps=False,
                    hoverinfo="skip",
                    line={"color": GREY, "dash": dash, "width": 1.2 if dash != "dot" else 0.8},
                ),
                row=row,
                col=1,
            )
        if "target" in part and part["target"].notna().any():
            fig.add_trace(
                go.Scatter(
                    x=part["month"],
                    y=part["target"],
                    mode="lines",
                    name="target",
                    legendgroup="target",
                    showlegend=legend("target"),
                    line={"color": GREEN, "dash": "dashdot", "width": 1.5},
                    hovertemplate=f"target %{{y:{fmt}}}<extra></extra>",
                ),
                row=row,
                col=1,
            )
        fig.add_trace(
            go.Scatter(
                x=part["month"],
                y=part["value"],
                mode="lines",
                line={"color": GREY, "width": 1.5},
                showlegend=False,
                hoverinfo="skip",
            ),
            row=row,
            col=1,
        )
        types = (
            part["point_type"].fillna("common_cause")
            if "point_type" in part
            else pd.Series("common_cause", index=part.index)
        )
        types = types.replace(
            {
                "special_cause_neutral_high": "special_cause_neutral",
                "special_cause_neutral_low": "special_cause_neutral",
            }
        )
        labels = (
            part["special_cause_type"].fillna("")
            if "special_cause_type" in part
            else pd.Series("", index=part.index)
        )
        for kind, colour in POINT_COLOURS.items():
            mask = (types == kind).to_numpy()
            if not mask.any():
                continue
            name = POINT_WORDS[kind]
            fig.add_trace(
                go.Scatter(
                    x=part.loc[mask, "month"],
                    y=part.loc[mask, "value"],
                    mode="markers",
                    name=name,
                    legendgroup=name,
                    showlegend=legend(name),
                    marker={"size": 8, "color": colour},
                    customdata=np.column_stack([labels[mask].replace("Common Cause", "").to_numpy()]),
                    hovertemplate=f"%{{x|%b %Y}}: %{{y:{fmt}}} — {name} %{{customdata[0]}}<extra></extra>",
                ),
                row=row,
                col=1,
            )
        if "alert" in part and part["alert"].fillna(False).astype(bool).any():
            alert = part["alert"].fillna(False).astype(bool).to_numpy()
            fig.add_trace(
                go.Scatter(
                    x=part.loc[alert, "month"],
                    y=part.loc[alert, "value"],
                    mode="markers",
                    name="alert",
                    legendgroup="alert",
                    showlegend=legend("alert"),
                    marker={
                        "symbol": "triangle-up-open",
                        "size": 16,
                        "color": VERMILLION,
                        "line": {"width": 2},
                    },
                    hovertemplate=f"%{{x|%b %Y}}: %{{y:{fmt}}} — alert: investigate<extra></extra>",
                ),
                row=row,
                col=1,
            )
    fig.update_yaxes(tickformat=".0%" if percent else ".1f", rangemode="tozero" if percent else "normal")
    fig.update_xaxes(tickformat="%b %y")
    return style(fig, 90 + 190 * max(1, len(units)))
