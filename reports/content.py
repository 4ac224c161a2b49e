"""What a monthly report says: the named queries for one month and scope, as tables, figures and sentences.

Every number comes from a named query (``queries/analyses``) through ``run_query``; figures come from
``charts.figures`` and the KPI tiles from ``charts.tiles``. A clinic's report reads only that clinic's
rows, shows other clinics only as anonymous funnel points, and never reads patient keys.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from charts import tiles as kpis
from etl.access import NETWORK
from queries import run_query
from reports.suppression import Rate, Table, suppress

SETTINGS = ("vacuum_kpa", "passes", "particle_flow")
PROFILE = {"fitzpatrick": 3, "indication": "wrinkles", "treatment_area": "face"}
PROFILE_TEXT = "skin type III, wrinkles, face, corundum crystals"
KPI_COUNTS = ("sessions", "patients", "answered", "satisfied", "outcome_known", "side_effect_sessions")
KPI_RATES = (
    Rate(
        "response_rate",
        "answered",
        "sessions",
        ("response_rate_low", "response_rate_high", "response_rate_delta_prev", "response_rate_delta_year"),
    ),
    Rate(
        "pct_satisfied",
        "satisfied",
        "answered",
        (
            "pct_satisfied_low",
            "pct_satisfied_high",
            "pct_satisfied_worst",  # both bounds give the satisfied count back from the sessions
            "pct_satisfied_best",
            "pct_satisfied_delta_prev",
            "pct_satisfied_delta_year",
        ),
    ),
    Rate(
        "side_effect_rate",
        "side_effect_sessions",
        "outcome_known",
        (
            "side_effect_rate_low",
            "side_effect_rate_high",
            "side_effect_rate_delta_prev",
            "side_effect_rate_delta_year",
        ),
    ),
)
ANOTHER_CLINIC = "another clinic"


@dataclass(frozen=True)
class Figure:
    title: str
    figure: go.Figure
    caption: str


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str
    paragraphs: tuple[str, ...] = ()
    figures: tuple[Figure, ...] = ()
    tables: tuple[Table, ...] = ()
    tiles: tuple[kpis.Tile, ...] = ()


@dataclass(frozen=True)
class Content:
    scope: str
    month: str
    title: str
    empty: bool
    sections: tuple[Section, ...]
    stamp: tuple[tuple[str, str], ...]
    min_cell: int | None


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """First and last day of a ``YYYY-MM`` month; ValueError (one line) for anything else."""
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month or ""):
        raise ValueError(f"bad month {month!r}: expected YYYY-MM, e.g. 2026-10")
    year, number = int(month[:4]), int(month[5:])
    return dt.date(year, number, 1), dt.date(year, number, calendar.monthrange(year, number)[1])


def shift(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def pct(value) -> str:
    return "–" if value is None or pd.isna(value) else f"{100 * float(value):.1f}%"


def table_of(key, title, frame, formats, **rules) -> Table:
    columns = [c for c in formats if c in frame]
    return Table(key, title, frame[columns].reset_index(drop=True), {c: formats[c] for c in columns}, **rules)


class Reader:
    """Runs named queries for one scope and month; ``clinic_id`` is None for the network."""

    def __init__(self, con, month: str, clinic_id: str | None, min_cell: int | None) -> None:
        self.con, self.month, self.clinic_id, self.min_cell = con, month, clinic_id, min_cell
        self.first, self.last = month_bounds(month)
        self.scope = clinic_id or NETWORK

    def q(self, name: str, **params) -> pd.DataFrame:
        return run_query(self.con, name, params)

    def hide(self, table: Table) -> Table:
        return suppress(table, self.min_cell)
