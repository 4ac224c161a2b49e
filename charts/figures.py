"""Plotly chart builders of outcomes and data quality: a tidy frame from a named query in, a ``go.Figure`` out.

The app and the report share them; the look is ``charts.style``, the model figures ``charts.model_figures``.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from charts.labels import ROMAN
from charts.style import (
    BLUE,
    GREEN,
    GREY,
    ORANGE,
    PERCENT,
    PURPLE,
    SKY,
    VERMILLION,
    add_traces,
    band,
    error_bars,
    style,
    with_n,
)
from charts.tiles import MIN_N

# --- Overview --------------------------------------------------------------------------------------------


def monthly_volume(kpis: pd.DataFrame) -> go.Figure:
    """Sessions (bars) and distinct patients (line) per month."""
    fig = go.Figure(
        [
            go.Bar(x=kpis["month"], y=kpis["sessions"], name="Sessions", marker_color=SKY),
            go.Scatter(
                x=kpis["month"],
                y=kpis["patients"],
                name="Patients",
                mode="lines+markers",
                line={"color": BLUE, "width": 2},
            ),
        ]
    )
    fig.update_yaxes(title_text="per month", rangemode="tozero")
    fig.update_xaxes(tickformat="%b %y")
    return style(fig, 300)


def monthly_rates(kpis: pd.DataFrame) -> go.Figure:
    """% satisfied and side-effect rate per month, each with its Wilson 95% band; small months hollow."""
    fig = make_subplots(
        rows=1, cols=2, horizontal_spacing=0.08, subplot_titles=("% satisfied", "Side-effect rate")
    )
    specs = (
        ("pct_satisfied", "satisfied", "answered", GREEN),
        ("side_effect_rate", "side_effect_sessions", "outcome_known", ORANGE),
    )
    for col, (rate, num, den, colour) in enumerate(specs, start=1):
        name = "% satisfied" if col == 1 else "Side-effect rate"
        add_traces(fig, band(kpis["month"], kpis[f"{rate}_low"], kpis[f"{rate}_high"], colour, name), 1, col)
        small = kpis[den].fillna(0) < MIN_N
        fig.add_trace(
            go.Scatter(
                x=kpis["month"],
                y=kpis[rate],
                mode="lines+markers",
                name=name,
                line={"color": colour, "width": 2},
                marker={"size": 7, "symbol": ["circle-open" if s else "circle" for s in small]},
                customdata=kpis[[num, den]].fillna(0).astype(int).to_numpy(),
                hovertemplate="%{x|%b %Y}: %{y:.1%} (%{customdata[0]} of %{customdata[1]})<extra></extra>",
            ),
            1,
            col,
        )
    fig.update_yaxes(tickformat=PERCENT, rangemode="tozero")
    fig.update_xaxes(tickformat="%b %y")
    return style(fig, 320, legend=False)


# --- Rates with Wilson intervals -------------------------------------------------------------------------


def rate_points(
    frame: pd.DataFrame,
    x: str,
    rate: str,
    numerator: str,
    denominator: str,
    *,
    x_title: str,
    y_title: str,
    colour: str = BLUE,
) -> go.Figure:
    """A rate per category with its Wilson 95% interval as error bars; n under each category, small n hollow."""
    ticks = with_n(frame[x].astype(str).str.replace("_", " "), frame[denominator])
    small = frame[denominator].fillna(0) < MIN_N
    fig = go.Figure(
        go.Scatter(
            x=ticks,
            y=frame[rate],
            mode="markers",
            marker={"size": 10, "color": colour, "symbol": ["circle-open" if s else "circle" for s in small]},
            error_y=error_bars(frame, rate, f"{rate}_low", f"{rate}_high"),
            name=y_title,
            customdata=frame[[numerator, denominator]].fillna(0).astype(int).to_numpy(),
            hovertemplate="%{y:.1%} (%{customdata[0]} of %{customdata[1]})<extra></extra>",
        )
    )
    fig.update_yaxes(title_text=y_title, tickformat=PERCENT, rangemode="tozero")
    fig.update_xaxes(title_text=x_title, type="category")
    return style(fig, 320, legend=False)


def side_effect_types(frame: pd.DataFrame) -> go.Figure:
    """Rate of each side-effect type by skin type, one small panel per type, Wilson 95% error bars."""
    kinds = sorted(frame["side_effect"].unique())
    cols = 4
    rows = max(1, math.ceil(len(kinds) / cols))
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[k.replace("_", " ") for k in kinds],
        vertical_spacing=0.2,
        horizontal_spacing=0.06,
    )
    for i, kind in enumerate(kinds):
        part = frame[frame["side_effect"] == kind].sort_values("fitzpatrick")
        fig.add_trace(
            go.Scatter(
                x=[ROMAN.get(int(v), v) for v in part["fitzpatrick"]],
                y=part["rate"],
                mode="markers",
                marker={"size": 7, "color": VERMILLION},
                error_y=error_bars(part, "rate", "rate_low", "rate_high"),
                customdata=part[["events", "outcome_known"]].astype(int).to_numpy(),
                name=kind,
                hovertemplate="skin type %{x}: %{y:.1%} (%{customdata[0]} of %{customdata[1]})<extra></extra>",
            ),
            row=i // cols + 1,
            col=i % cols + 1,
        )
    fig.update_yaxes(tickformat=".1%", rangemode="tozero")
    fig.update_xaxes(type="category")
    return style(fig, 230 * rows + 40, legend=False)


# --- Courses ---------------------------------------------------------------------------------------------


def km_curve(curves: pd.DataFrame, median_text: str | None = None) -> go.Figure:
    """Share of courses satisfied by session number (Kaplan–Meier), with its 95% band and the median."""
    fig = go.Figure()
    add_traces(
        fig, band(curves["session"], curves["ci_low"], curves["ci_high"], GREEN, "Satisfied", shape="hv")
    )
    fig.add_trace(
        go.Scatter(
            x=curves["session"],
            y=curves["cum_satisfied"],
            mode="lines+markers",
            line={"shape": "hv", "color": GREEN},
            name="Share satisfied",
            customdata=curves[["at_risk", "satisfied"]].to_numpy(),
            hovertemplate="by session %{x}: %{y:.0%} satisfied (%{customdata[0]} courses still waiting, "
            "%{customdata[1]} satisfied here)<extra></extra>",
        )
    )
    fig.add_hline(y=0.5, line={"color": GREY, "dash": "dot", "width": 1})
    if median_text:
        fig.add_annotation(
            text=f"Median: {median_text}",
            xref="paper",
            yref="paper",
            x=0.99,
            y=0.05,
            showarrow=False,
            xanchor="right",
        )
    fig.update_yaxes(title_text="courses satisfied so far", tickformat=PERCENT, range=[0, 1])
    fig.update_xaxes(title_text="session number", dtick=1)
    return style(fig, 330, legend=False)


def course_outcomes(curves: pd.DataFrame) -> go.Figure:
    """Courses satisfied and courses ended unsatisfied by session (cumulative incidence), beside the simple curve."""
    fig = go.Figure()
    for column, colour, name in (
        ("satisfied", GREEN, "Satisfied"),
        ("stopped", VERMILLION, "Ended, not satisfied"),
    ):
        if f"cif_{column}" not in curves or curves[f"cif_{column}"].isna().all():
            continue
        add_traces(
            fig,
            band(
                curves["session"],
                curves[f"cif_{column}_low"],
                curves[f"cif_{column}_high"],
                colour,
                name,
                "hv",
            ),
        )
        fig.add_trace(
            go.Scatter(
                x=curves["session"],
                y=curves[f"cif_{column}"],
                mode="lines+markers",
                line={"shape": "hv", "color": colour},
                name=name,
                hovertemplate=f"by session %{{x}}: %{{y:.0%}} {name.lower()}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=curves["session"],
            y=curves["cum_satisfied"],
            mode="lines",
            line={"shape": "hv", "color": GREY, "dash": "dash"},
            name="Satisfied, if nobody who stopped counted",
            hovertemplate="simple curve, by session %{x}: %{y:.0%}<extra></extra>",
        )
    )
    fig.update_yaxes(title_text="share of courses", tickformat=PERCENT, range=[0, 1])
    fig.update_xaxes(title_text="session number", dtick=1)
    return style(fig, 330)


def dropout_by_session(frame: pd.DataFrame) -> go.Figure:
    """Share of courses stopping after each session, one panel per indication, Wilson 95% error bars."""
    kinds = sorted(frame["indication"].unique())
    cols = min(3, len(kinds))
    rows = max(1, math.ceil(len(kinds) / cols))
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[k.replace("_", " ") for k in kinds],
        vertical_spacing=0.16,
        horizontal_spacing=0.06,
        shared_yaxes=True,
    )
    for i, kind in enumerate(kinds):
        part = frame[frame["indication"] == kind]
        fig.add_trace(
            go.Scatter(
                x=part["session_number"],
                y=part["dropout_rate"],
                mode="markers",
                marker={"color": PURPLE, "size": 7},
                error_y=error_bars(part, "dropout_rate", "ci_low", "ci_high"),
                name=kind,
                customdata=part[["dropped_after", "at_risk"]].fillna(0).astype(int).to_numpy(),
                hovertemplate="after session %{x}: %{y:.0%} stopped (%{customdata[0]} of %{customdata[1]})"
                "<extra></extra>",
            ),
            row=i // cols + 1,
            col=i % cols + 1,
        )
    fig.update_yaxes(tickformat=PERCENT, rangemode="tozero")
    fig.update_xaxes(dtick=1)
    return style(fig, 250 * rows + 40, legend=False)


# --- Settings and models ---------------------------------------------------------------------------------


# --- Comparing units fairly ------------------------------------------------------------------------------


# --- Data quality ----------------------------------------------------------------------------------------

OUTCOMES = (("inserted", GREEN), ("updated", BLUE), ("unchanged", GREY), ("quarantined", ORANGE))


def file_outcomes(files: pd.DataFrame) -> go.Figure:
    """Rows of each loaded file by what happened to them (inserted, updated, unchanged, quarantined)."""
    data = files.iloc[::-1]
    fig = go.Figure(
        [
            go.Bar(
                y=data["file"],
                x=data[name],
                name=name,
                orientation="h",
                marker_color=colour,
                hovertemplate="%{y}: %{x:,} " + name + "<extra></extra>",
            )
            for name, colour in OUTCOMES
        ]
    )
    fig.update_layout(barmode="stack", legend_traceorder="normal")
    fig.update_xaxes(title_text="rows")
    return style(fig, 90 + 20 * len(data))


def quarantine_reasons(summary: pd.DataFrame) -> go.Figure:
    """Quarantined rows per reason, summed over files."""
    totals = summary.groupby("reason", as_index=False)[["rows_quarantined", "rule_breaks"]].sum()
    totals = totals.sort_values("rows_quarantined")
    fig = go.Figure(
        go.Bar(
            y=totals["reason"],
            x=totals["rows_quarantined"],
            orientation="h",
            marker_color=ORANGE,
            customdata=totals[["rule_breaks"]].to_numpy(),
            hovertemplate="%{y}: %{x} rows (%{customdata[0]} broken rules)<extra></extra>",
        )
    )
    fig.update_xaxes(title_text="rows quarantined")
    return style(fig, 80 + 26 * len(totals), legend=False)
