"""Plotly chart builders: a tidy frame from a named query in, a ``go.Figure`` out (the app and the report share them).

Colours are Okabe–Ito (safe for the common colour-vision deficiencies) on transparent backgrounds with
grey grid lines, so a figure reads in Streamlit's light and dark themes and on paper. Intervals are
bands for curves and error bars for Wilson rates; limits are grey; a special cause is an orange diamond.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from charts.labels import ROMAN
from charts.tiles import MIN_N

BLUE, ORANGE, GREEN, PURPLE, SKY, VERMILLION, YELLOW, GREY = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#999999",
)
SERIES = (BLUE, ORANGE, GREEN, PURPLE, SKY, VERMILLION, YELLOW, GREY)
GRID = "rgba(128,128,128,0.25)"
PERCENT = ".0%"


def enough(frame: pd.DataFrame, column: str, minimum: int = MIN_N) -> bool:
    """Whether ``frame`` holds at least ``minimum`` of ``column`` (sessions, answered surveys ...) in total."""
    return not frame.empty and column in frame and float(frame[column].fillna(0).sum()) >= minimum


def _rgba(colour: str, alpha: float) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _style(fig: go.Figure, height: int = 340, legend: bool = True) -> go.Figure:
    top = 40 if legend or fig.layout.annotations else 16  # room for a legend or panel titles only
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": top, "b": 10},
        showlegend=legend,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        hovermode="closest",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    )
    fig.update_xaxes(gridcolor=GRID, zeroline=False, automargin=True)
    fig.update_yaxes(gridcolor=GRID, zeroline=False, automargin=True)
    return fig


def _band(x, low, high, colour: str, name: str, shape: str = "linear") -> list[go.Scatter]:
    """A shaded interval as two traces (lower, then upper filled to it)."""
    common = {
        "x": list(x),
        "mode": "lines",
        "line": {"width": 0, "shape": shape},
        "hoverinfo": "skip",
        "showlegend": False,
        "legendgroup": name,
    }
    return [
        go.Scatter(y=list(low), **common),
        go.Scatter(
            y=list(high), fill="tonexty", fillcolor=_rgba(colour, 0.22), name=f"{name} 95% band", **common
        ),
    ]


def _add(fig: go.Figure, traces, row: int | None = None, col: int | None = None) -> None:
    for trace in traces if isinstance(traces, list) else [traces]:
        fig.add_trace(trace, row=row, col=col)


def _errors(frame: pd.DataFrame, rate: str, low: str, high: str) -> dict:
    return {
        "type": "data",
        "symmetric": False,
        "array": (frame[high] - frame[rate]).clip(lower=0).tolist(),
        "arrayminus": (frame[rate] - frame[low]).clip(lower=0).tolist(),
        "thickness": 1.5,
        "width": 4,
    }


def _with_n(labels, counts) -> list[str]:
    return [f"{a}<br>n={int(n):,}" for a, n in zip(labels, counts, strict=True)]


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
    return _style(fig, 300)


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
        _add(fig, _band(kpis["month"], kpis[f"{rate}_low"], kpis[f"{rate}_high"], colour, name), 1, col)
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
    return _style(fig, 320, legend=False)


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
    ticks = _with_n(frame[x].astype(str).str.replace("_", " "), frame[denominator])
    small = frame[denominator].fillna(0) < MIN_N
    fig = go.Figure(
        go.Scatter(
            x=ticks,
            y=frame[rate],
            mode="markers",
            marker={"size": 10, "color": colour, "symbol": ["circle-open" if s else "circle" for s in small]},
            error_y=_errors(frame, rate, f"{rate}_low", f"{rate}_high"),
            name=y_title,
            customdata=frame[[numerator, denominator]].fillna(0).astype(int).to_numpy(),
            hovertemplate="%{y:.1%} (%{customdata[0]} of %{customdata[1]})<extra></extra>",
        )
    )
    fig.update_yaxes(title_text=y_title, tickformat=PERCENT, rangemode="tozero")
    fig.update_xaxes(title_text=x_title, type="category")
    return _style(fig, 320, legend=False)


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
                error_y=_errors(part, "rate", "rate_low", "rate_high"),
                customdata=part[["events", "outcome_known"]].astype(int).to_numpy(),
                name=kind,
                hovertemplate="skin type %{x}: %{y:.1%} (%{customdata[0]} of %{customdata[1]})<extra></extra>",
            ),
            row=i // cols + 1,
            col=i % cols + 1,
        )
    fig.update_yaxes(tickformat=".1%", rangemode="tozero")
    fig.update_xaxes(type="category")
    return _style(fig, 230 * rows + 40, legend=False)


# --- Courses ---------------------------------------------------------------------------------------------


def km_curve(curves: pd.DataFrame, median_text: str | None = None) -> go.Figure:
    """Share of courses satisfied by session number (Kaplan–Meier), with its 95% band and the median."""
    fig = go.Figure()
    _add(fig, _band(curves["session"], curves["ci_low"], curves["ci_high"], GREEN, "Satisfied", shape="hv"))
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
    return _style(fig, 330, legend=False)


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
                error_y=_errors(part, "dropout_rate", "ci_low", "ci_high"),
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
    return _style(fig, 250 * rows + 40, legend=False)


# --- Settings and models ---------------------------------------------------------------------------------


def model_curves(frame: pd.DataFrame, curves: dict[str, str], colour: str = ORANGE) -> go.Figure:
    """Predicted probability curves with 95% bands, one panel per curve (``curves``: name -> panel title)."""
    names = [c for c in curves if c in set(frame["curve"])]
    fig = make_subplots(
        rows=1, cols=max(1, len(names)), subplot_titles=[curves[c] for c in names], horizontal_spacing=0.07
    )
    for i, name in enumerate(names, start=1):
        part = frame[frame["curve"] == name].sort_values("x")
        _add(fig, _band(part["x"], part["ci_low"], part["ci_high"], colour, name), 1, i)
        fig.add_trace(
            go.Scatter(
                x=part["x"],
                y=part["estimate"],
                mode="lines",
                line={"color": colour, "width": 2},
                name=name,
                customdata=part[["n"]].to_numpy(),
                hovertemplate="%{x}: %{y:.1%} (%{customdata[0]} sessions nearby)<extra></extra>",
            ),
            row=1,
            col=i,
        )
        fig.update_xaxes(title_text=str(part["x_name"].iat[0]).replace("_", " "), row=1, col=i)
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return _style(fig, 320, legend=False)


def tradeoff(
    frame: pd.DataFrame, crystal: str | None = None, vacuum_range: tuple[float, float] | None = None
) -> go.Figure:
    """Predicted satisfaction against side-effect risk: one line per number of passes, running over vacuum."""
    data = frame[frame["crystal_type"] == crystal] if crystal else frame
    data = data.drop_duplicates(["vacuum_kpa", "passes"]).sort_values(["passes", "vacuum_kpa"])
    if vacuum_range:
        data = data[data["vacuum_kpa"].between(*vacuum_range)]
    fig = go.Figure()
    for i, (passes, part) in enumerate(data.groupby("passes", sort=True)):
        ends = ["" for _ in range(len(part))]
        if ends:
            ends[0], ends[-1] = f"{part['vacuum_kpa'].iat[0]:g} kPa", f"{part['vacuum_kpa'].iat[-1]:g} kPa"
        fig.add_trace(
            go.Scatter(
                x=part["p_side_effect"],
                y=part["p_satisfied"],
                mode="lines+markers+text",
                text=ends,
                textposition="top center",
                textfont={"size": 10},
                name=f"{passes} pass{'es' if passes > 1 else ''}",
                line={"color": SERIES[i % len(SERIES)], "width": 2},
                marker={"size": 6},
                customdata=part[
                    [
                        "vacuum_kpa",
                        "p_satisfied_low",
                        "p_satisfied_high",
                        "p_side_effect_low",
                        "p_side_effect_high",
                    ]
                ].to_numpy(),
                hovertemplate=(
                    f"{passes} passes, %{{customdata[0]:g}} kPa<br>satisfied %{{y:.0%}} "
                    "(95% CI %{customdata[1]:.0%}–%{customdata[2]:.0%})<br>side effect %{x:.1%} "
                    "(95% CI %{customdata[3]:.1%}–%{customdata[4]:.1%})<extra></extra>"
                ),
            )
        )
    fig.add_annotation(
        text="better ↖ (more satisfied, fewer side effects)",
        xref="paper",
        yref="paper",
        x=0.01,
        y=0.99,
        showarrow=False,
        xanchor="left",
        font={"size": 11},
    )
    fig.update_xaxes(title_text="predicted side-effect risk per session", tickformat=".1%")
    fig.update_yaxes(title_text="predicted chance of a 4–5 rating", tickformat=PERCENT)
    return _style(fig, 460)


def forest(effects: pd.DataFrame) -> go.Figure:
    """Adjusted odds ratios with 95% intervals on a log axis; 1 = no difference."""
    data = effects.iloc[::-1]
    fig = go.Figure(
        go.Scatter(
            x=data["estimate"],
            y=data["label"],
            mode="markers",
            marker={"color": BLUE, "size": 8},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (data["ci_high"] - data["estimate"]).tolist(),
                "arrayminus": (data["estimate"] - data["ci_low"]).tolist(),
                "thickness": 1.5,
                "width": 3,
            },
            customdata=data[["ci_low", "ci_high", "p_value", "unit"]].to_numpy(),
            hovertemplate="OR %{x:.2f} (95% CI %{customdata[0]:.2f}–%{customdata[1]:.2f}), p = %{customdata[2]:.3g}, "
            "%{customdata[3]}<extra></extra>",
        )
    )
    fig.add_vline(x=1, line={"color": GREY, "dash": "dash", "width": 1})
    ticks = [
        t
        for t in (0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50)
        if data["ci_low"].min() / 2 <= t <= data["ci_high"].max() * 2
    ]
    fig.update_xaxes(
        type="log",
        title_text="adjusted odds ratio (log scale)",
        tickvals=ticks,
        ticktext=[f"{t:g}" for t in ticks],
    )
    return _style(fig, 60 + 24 * len(data), legend=False)


# --- Comparing units fairly ------------------------------------------------------------------------------


def funnel(units: pd.DataFrame, limits: pd.DataFrame, highlight: str | None = None) -> go.Figure:
    """Observed/expected side effects against expected count, with 95% and 99.8% limits; units unranked."""
    fig = go.Figure()
    for level, dash in (("95", "dash"), ("998", "solid")):
        name = "95% limits" if level == "95" else "99.8% limits"
        for i, side in enumerate(("lower", "upper")):
            fig.add_trace(
                go.Scatter(
                    x=limits["expected"],
                    y=limits[f"{side}_{level}"],
                    mode="lines",
                    name=name,
                    line={"color": GREY, "dash": dash, "width": 1.5},
                    legendgroup=name,
                    showlegend=i == 0,
                    hoverinfo="skip",
                )
            )
    fig.add_hline(y=1, line={"color": GREY, "width": 1, "dash": "dot"})
    outside = units["flag"].isin(["above", "below"])
    fig.add_trace(
        go.Scatter(
            x=units["expected"],
            y=units["oe_ratio"],
            mode="markers+text",
            name=units["unit_type"].iat[0] + "s",
            text=[u if (o or u == highlight) else "" for u, o in zip(units["unit"], outside, strict=True)],
            textposition="top center",
            marker={
                "size": [14 if u == highlight else 9 for u in units["unit"]],
                "color": BLUE,
                "symbol": ["diamond" if o else "circle" for o in outside],
                "line": {"width": [3 if u == highlight else 0 for u in units["unit"]], "color": ORANGE},
            },
            customdata=units[
                ["unit", "n_sessions", "observed", "expected", "oe_low", "oe_high", "reading"]
            ].to_numpy(),
            hovertemplate="%{customdata[0]}: %{customdata[2]:.0f} observed vs %{customdata[3]:.1f} expected in "
            "%{customdata[1]} sessions<br>O/E %{y:.2f} (95% CI %{customdata[4]:.2f}–%{customdata[5]:.2f})"
            "<br>%{customdata[6]}<extra></extra>",
        )
    )
    fig.update_xaxes(
        title_text="expected sessions with a side effect (from each unit's case mix)", rangemode="tozero"
    )
    # Show the units and the limits around them: the funnel is widest left of the smallest unit.
    near = limits[limits["expected"] >= units["expected"].min()] if not units.empty else limits
    top = max(2.0, float(units["oe_ratio"].max()), float(near["upper_998"].max())) * 1.1
    fig.update_yaxes(title_text="observed ÷ expected", range=[0, min(top, 6.0)])
    return _style(fig, 420)


def spc(points: pd.DataFrame, percent: bool) -> go.Figure:
    """One control chart per unit: monthly value, centre line, 3-sigma limits, 2-sigma lines, special causes."""
    units = list(dict.fromkeys(points["unit"]))
    limited = set(points.loc[points["centre"].notna(), "unit"])
    fig = make_subplots(rows=len(units), cols=1, vertical_spacing=0.3 / len(units), shared_xaxes=True)
    fmt = ".1%" if percent else ".2f"
    for row, unit in enumerate(units, start=1):
        part = points[points["unit"] == unit].sort_values("month")
        fig.add_annotation(
            text=f"<b>{unit}</b>" + ("" if unit in limited else " (too few months for limits)"),
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
        for column, dash, name in (
            ("upper", "dash", "control limits"),
            ("lower", "dash", "control limits"),
            ("centre", "solid", "centre line"),
            ("upper_2s", "dot", "2-sigma lines"),
            ("lower_2s", "dot", "2-sigma lines"),
        ):
            fig.add_trace(
                go.Scatter(
                    x=part["month"],
                    y=part[column],
                    mode="lines",
                    name=name,
                    legendgroup=name,
                    showlegend=row == 1 and column in ("upper", "centre", "upper_2s"),
                    line={"color": GREY, "dash": dash, "width": 1.2 if dash != "dot" else 0.8},
                    hoverinfo="skip",
                ),
                row=row,
                col=1,
            )
        special = part["special_cause"].fillna(False).astype(bool)
        fig.add_trace(
            go.Scatter(
                x=part["month"],
                y=part["value"],
                mode="lines+markers",
                name="month",
                showlegend=row == 1,
                legendgroup="month",
                line={"color": BLUE, "width": 2},
                marker={"size": 6},
                hovertemplate=f"%{{x|%b %Y}}: %{{y:{fmt}}}<extra></extra>",
            ),
            row=row,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=part.loc[special, "month"],
                y=part.loc[special, "value"],
                mode="markers",
                name="special cause",
                legendgroup="special",
                showlegend=row == 1,
                marker={
                    "symbol": "diamond",
                    "size": 13,
                    "color": ORANGE,
                    "line": {"width": 1, "color": VERMILLION},
                },
                hovertemplate=f"%{{x|%b %Y}}: %{{y:{fmt}}} — special cause<extra></extra>",
            ),
            row=row,
            col=1,
        )
    fig.update_yaxes(tickformat=".0%" if percent else ".1f", rangemode="tozero" if percent else "normal")
    fig.update_xaxes(tickformat="%b %y")
    return _style(fig, 90 + 190 * len(units))


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
    return _style(fig, 90 + 20 * len(data))


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
    return _style(fig, 80 + 26 * len(totals), legend=False)
