"""The look every chart shares: Okabe–Ito colours, transparent backgrounds, bands, error bars.

Colours are safe for the common colour-vision deficiencies and read in Streamlit's light and dark themes
and on paper. Intervals are bands for curves and error bars for rates; limits are grey.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

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


def rgba(colour: str, alpha: float) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def style(fig: go.Figure, height: int = 340, legend: bool = True) -> go.Figure:
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


def band(x, low, high, colour: str, name: str, shape: str = "linear") -> list[go.Scatter]:
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
            y=list(high), fill="tonexty", fillcolor=rgba(colour, 0.22), name=f"{name} 95% band", **common
        ),
    ]


def add_traces(fig: go.Figure, traces, row: int | None = None, col: int | None = None) -> None:
    for trace in traces if isinstance(traces, list) else [traces]:
        fig.add_trace(trace, row=row, col=col)


def error_bars(frame: pd.DataFrame, rate: str, low: str, high: str) -> dict:
    return {
        "type": "data",
        "symmetric": False,
        "array": (frame[high] - frame[rate]).clip(lower=0).tolist(),
        "arrayminus": (frame[rate] - frame[low]).clip(lower=0).tolist(),
        "thickness": 1.5,
        "width": 4,
    }


def with_n(labels, counts) -> list[str]:
    return [f"{a}<br>n={int(n):,}" for a, n in zip(labels, counts, strict=True)]
