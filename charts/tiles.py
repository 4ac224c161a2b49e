"""KPI tiles: the latest month of ``kpis_by_month`` turned into values, deltas and plain-words notes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from analysis.spc import INVESTIGATE

#: Fewer answered surveys / known outcomes than this and a rate is not shown as a number.
MIN_N = 30
DENOMINATORS = {
    "sessions": "sessions",
    "answered": "answered surveys",
    "outcome_known": "sessions with a known outcome",
}


@dataclass(frozen=True)
class Tile:
    """One KPI tile: a formatted value, its change against the previous month and a year ago."""

    label: str
    value: str
    delta_prev: str | None
    delta_year: str | None
    note: str
    help: str


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _count_delta(value) -> str | None:
    return None if _missing(value) else f"{int(value):+,d}"


def _pp_delta(value) -> str | None:
    return None if _missing(value) else f"{100 * float(value):+.1f} pp"


def _pct(value) -> str:
    return "–" if _missing(value) else f"{100 * float(value):.1f}%"


def _rate_tile(
    label: str, row: pd.Series, column: str, numerator: str, denominator: str, what: str, help_text: str
) -> Tile:
    """``what`` reads after "k of n", e.g. "answered surveys rated 4–5"; its first words name the denominator.

    The interval is the query's patient-clustered 95% interval; a rate with a ``_worst``/``_best`` pair
    (% satisfied) also says how far the unanswered surveys could move it.
    """
    n = 0 if _missing(row[denominator]) else int(row[denominator])
    if n < MIN_N:
        return Tile(
            label,
            "Not enough data",
            None,
            None,
            f"only {n} {DENOMINATORS[denominator]} this month (at least {MIN_N} needed for a rate)",
            help_text,
        )
    low, high = row.get(f"{column}_low"), row.get(f"{column}_high")
    interval = "" if _missing(low) else f"95% CI {_pct(low)}–{_pct(high)} · "
    note = f"{interval}{int(row[numerator]):,} of {n:,} {what}"
    worst, best = row.get(f"{column}_worst"), row.get(f"{column}_best")
    if not _missing(worst) and not _missing(best):
        note += f" · unanswered all unhappy or all happy: {_pct(worst)}–{_pct(best)}"
    return Tile(
        label,
        _pct(row[column]),
        _pp_delta(row[f"{column}_delta_prev"]),
        _pp_delta(row[f"{column}_delta_year"]),
        note,
        help_text,
    )


def latest_tiles(kpis: pd.DataFrame) -> tuple[pd.Timestamp, list[Tile]]:
    """The latest month in ``kpis`` and its five tiles (sessions, patients, response, satisfied, side effects)."""
    row = kpis.sort_values("month").iloc[-1]
    month = pd.Timestamp(row["month"])
    tiles = [
        Tile(
            "Sessions",
            f"{int(row['sessions']):,}",
            _count_delta(row["sessions_delta_prev"]),
            _count_delta(row["sessions_delta_year"]),
            "treatment sessions logged",
            "Sessions in the month, all outcomes.",
        ),
        Tile(
            "Patients",
            f"{int(row['patients']):,}",
            _count_delta(row["patients_delta_prev"]),
            _count_delta(row["patients_delta_year"]),
            "distinct patients treated",
            "Distinct patients with at least one session in the month.",
        ),
        _rate_tile(
            "Survey response",
            row,
            "response_rate",
            "answered",
            "sessions",
            "sessions answered",
            "Share of sessions whose satisfaction survey was answered.",
        ),
        _rate_tile(
            "% satisfied",
            row,
            "pct_satisfied",
            "satisfied",
            "answered",
            "answered surveys rated 4–5",
            "Share of answered surveys rated 4 or 5; unanswered surveys are left out (the band says how far they "
            "could move it). Intervals count each patient once: repeated sessions of a patient are not independent.",
        ),
        _rate_tile(
            "Side-effect rate",
            row,
            "side_effect_rate",
            "side_effect_sessions",
            "outcome_known",
            "sessions with a known outcome had a side effect",
            "Share of sessions with any side effect; sessions without follow-up are left out.",
        ),
    ]
    return month, tiles


def month_before(month: pd.Timestamp, months: int) -> str:
    return (month - pd.DateOffset(months=months)).strftime("%b %Y")


def attention(verdict: str) -> bool:
    """Whether a control-chart verdict asks the manager to investigate (its alert fired in the latest month)."""
    return INVESTIGATE in (verdict or "")
