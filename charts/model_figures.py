"""Figures of the model results: curves, the settings trade-off, effects, the funnel (control charts: spc_figure)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from charts.spc_figure import spc  # noqa: F401  (the control chart lives in its own module)
from charts.style import (
    BLUE,
    GREY,
    ORANGE,
    PERCENT,
    SERIES,
    add_traces,
    band,
    style,
)


def model_curves(frame: pd.DataFrame, curves: dict[str, str], colour: str = ORANGE) -> go.Figure:
    """Predicted probability curves with 95% bands, one panel per curve (``curves``: name -> panel title)."""
    names = [c for c in curves if c in set(frame["curve"])]
    fig = make_subplots(
        rows=1, cols=max(1, len(names)), subplot_titles=[curves[c] for c in names], horizontal_spacing=0.07
    )
    for i, name in enumerate(names, start=1):
        part = frame[frame["curve"] == name].sort_values("x")
        add_traces(fig, band(part["x"], part["ci_low"], part["ci_high"], colour, name), 1, i)
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
    return style(fig, 320, legend=False)


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
    return style(fig, 460)


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
    return style(fig, 60 + 24 * len(data), legend=False)


def funnel(units: pd.DataFrame, limits: pd.DataFrame, highlight: str | None = None) -> go.Figure:
    """Observed/expected side effects against expected count, with 95% and 99.8% limits; units unranked.

    When the limits in force allow for over-dispersion, the 99.8% limits for chance alone are drawn too
    (thin and dotted), so a reader sees how much the allowance widened the funnel.
    """
    fig = go.Figure()
    plain = limits.get("plain_upper_998")  # absent or empty in results fitted before it was stored
    widened = plain is not None and plain.notna().all() and not np.allclose(plain, limits["upper_998"])
    if widened:
        name = "99.8% limits, chance alone"
        for i, side in enumerate(("lower", "upper")):
            fig.add_trace(
                go.Scatter(
                    x=limits["expected"],
                    y=limits[f"plain_{side}_998"],
                    mode="lines",
                    name=name,
                    line={"color": GREY, "dash": "dot", "width": 1},
                    legendgroup=name,
                    showlegend=i == 0,
                    hoverinfo="skip",
                )
            )
    for level, dash in (("95", "dash"), ("998", "solid")):
        name = "95% limits" if level == "95" else "99.8% limits"
        if widened:
            name += ", allowing for over-dispersion"
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
    return style(fig, 420)
