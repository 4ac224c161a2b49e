"""The control charts and verdict as they were before issue 13 (unchanged copy), kept to measure the new alert against.

Laney p′ for rates, XmR for means, frozen baselines, special-cause rules, verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from bench.legacy_special_causes import RULE_COLUMNS, special_cause_rules

#: Fewer months than this and no limits are drawn (a moving range needs some history to mean anything).
MIN_POINTS = 8
BASELINE_POINTS = 12
D2 = 1.128  # E[moving range of two] / sigma for normal data
XMR_LIMIT = 2.66  # 3 / d2, the usual rounding (NHS "Making data count", NHSRplotthedots)

BASE_COLUMNS = [
    "month",
    "value",
    "centre",
    "lower",
    "upper",
    "lower_2s",
    "upper_2s",
    "in_baseline",
    "moving_range",
]
LANEY_COLUMNS = ["month", "events", "n", "value", "z", *BASE_COLUMNS[2:], *RULE_COLUMNS]
XMR_COLUMNS = [*BASE_COLUMNS, *RULE_COLUMNS]

NO_CHANGE = "within the usual range; no sign of a real change"
INVESTIGATE = "a real change is likely, investigate"


@dataclass(frozen=True, eq=False)
class SpcResult:
    """A control chart: per-month points with limits and rule flags, and a verdict on the latest month.

    ``chart`` is ``"p_prime"`` (Laney) or ``"xmr"``. ``centre`` and the limits come from the first
    ``baseline_points`` months and are applied unchanged to later months. ``sigma`` is the
    Laney between-month inflation ``sigma_z`` for a p′ chart and ``MR-bar / 1.128`` for an XmR chart.
    ``status`` is ``"ok"`` or ``"not_enough_data"`` (no limits drawn; ``verdict`` says why).
    """

    chart: str
    measure: str
    points: pd.DataFrame
    centre: float = float("nan")
    sigma: float = float("nan")
    mr_bar: float = float("nan")
    baseline_points: int = 0
    n_points: int = 0
    status: str = "ok"
    verdict: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        points = self.points.copy()
        if "month" in points:
            points["month"] = points["month"].dt.strftime("%Y-%m")
        return {
            "chart": self.chart,
            "measure": self.measure,
            "centre": self.centre,
            "sigma": self.sigma,
            "mr_bar": self.mr_bar,
            "baseline_points": self.baseline_points,
            "n_points": self.n_points,
            "status": self.status,
            "verdict": self.verdict,
            "notes": list(self.notes),
            "points": points.to_dict(orient="records"),
        }


# ---------------------------------------------------------------------------------------------- rules


def _as_months(months: pd.Series) -> pd.Series:
    if isinstance(months.dtype, pd.PeriodDtype):
        stamps = months.dt.to_timestamp()
    else:
        stamps = pd.to_datetime(months.map(lambda v: v.to_timestamp() if isinstance(v, pd.Period) else v))
    return stamps.dt.to_period("M").dt.to_timestamp()


def _gap_note(months: pd.Series) -> list[str]:
    if len(months) < 2:
        return []
    periods = months.dt.to_period("M")
    span = (periods.iloc[-1] - periods.iloc[0]).n + 1
    missing = span - len(months)
    return [f"{missing} month(s) without data are left out of the chart"] if missing > 0 else []


def _baseline(n_points: int, baseline_points: int, min_points: int) -> tuple[int, list[str]]:
    if baseline_points < min_points:
        raise ValueError(f"baseline_points must be at least min_points ({min_points}); got {baseline_points}")
    k = min(baseline_points, n_points)
    notes = []
    if min_points <= n_points < baseline_points:
        notes.append(
            f"limits are provisional: based on all {n_points} months so far ({baseline_points} wanted for a baseline)"
        )
    elif n_points > baseline_points:
        notes.append(f"limits fixed on the first {k} months and applied to the {n_points - k} after them")
    return k, notes


def _format(value: float, percent: bool, value_format: str) -> str:
    return f"{value * 100:.1f}%" if percent else format(value, value_format)


def _head(last: pd.Series, measure: str, percent: bool, value_format: str) -> str:
    when = last["month"].strftime("%B %Y")
    shown = _format(last["value"], percent, value_format)
    return f"{when}: {shown} {measure}" if percent else f"{when}: {measure} {shown}"


def _verdict(points: pd.DataFrame, measure: str, percent: bool, value_format: str, higher: str | None) -> str:
    last = points.iloc[-1]
    head = _head(last, measure, percent, value_format)
    if last["rule_beyond_limits"]:
        where = "above the upper" if last["value"] > last["upper"] else "below the lower"
        return f"{head} — {where} control limit: {INVESTIGATE}{_direction(last, higher)}"
    direction = "above" if last["value"] > last["centre"] else "below"
    if last["rule_run"]:
        return f"{head} — part of a run of months {direction} the centre line: {INVESTIGATE}{_direction(last, higher)}"
    if last["rule_trend"]:
        rising = "rising" if len(points) > 1 and last["value"] > points.iloc[-2]["value"] else "falling"
        return f"{head} — part of a steady {rising} trend: {INVESTIGATE}{_direction(last, higher)}"
    if last["rule_two_of_three"]:
        return (
            f"{head} — two of the last three months close to the {'upper' if direction == 'above' else 'lower'} "
            f"limit: {INVESTIGATE}{_direction(last, higher)}"
        )
    return f"{head} — {NO_CHANGE}"


def _direction(last: pd.Series, higher: str | None) -> str:
    if higher not in ("better", "worse"):
        return ""
    up = last["value"] > last["centre"]
    good = up if higher == "better" else not up
    return " (a change for the better)" if good else " (a change for the worse)"


def _too_few(
    chart: str, measure: str, points: pd.DataFrame, columns: list[str], min_points: int, notes, fmt
) -> SpcResult:
    n = len(points)
    for column in ("centre", "lower", "upper", "lower_2s", "upper_2s", "moving_range"):
        points[column] = np.nan
    points["in_baseline"] = False
    for column in RULE_COLUMNS:
        points[column] = False
    if n == 0:
        verdict = "no months to chart"
    else:
        verdict = (
            f"{_head(points.iloc[-1], measure, *fmt)} — not enough months for control limits "
            f"({n} month{'s' if n != 1 else ''}; at least {min_points} needed)"
        )
    return SpcResult(
        chart=chart,
        measure=measure,
        points=points.reindex(columns=columns),
        n_points=n,
        status="not_enough_data",
        verdict=verdict,
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------------------- charts


def laney_p_chart(
    frame: pd.DataFrame,
    measure: str = "side-effect rate",
    baseline_points: int = BASELINE_POINTS,
    min_points: int = MIN_POINTS,
    higher: str | None = "worse",
) -> SpcResult:
    """Laney p′ chart of a monthly proportion (events / n).

    Parameters
    ----------
    frame : DataFrame
        Columns ``month`` (date, timestamp, ``YYYY-MM`` text or Period), ``events`` and ``n``; one row
        per month (rows of the same month are summed). Months with ``n == 0`` are left out.
    measure : str
        What the proportion is, for the verdict ("side-effect rate").
    baseline_points : int
        Months that fix the centre line and limits (default 12); later months are judged against them.
    min_points : int
        Fewer months than this and no limits are drawn (default 8).
    higher : {"worse", "better", None}
        Whether a rise is bad news, for the wording of the verdict.

    Returns
    -------
    SpcResult
        ``points`` columns: ``month, events, n, value`` (the proportion), ``z``, ``centre, lower,
        upper, lower_2s, upper_2s, in_baseline, moving_range`` (of z), then the rule flags of
        :func:`special_cause_rules`.

    Notes
    -----
    Estimand: the monthly probability of an event, and whether it has changed. Laney (2002, "Improved
    control charts for attributes", Quality Engineering 14:531): with :math:`\\bar p = \\sum x / \\sum n`
    over the baseline, :math:`\\sigma_{p_i} = \\sqrt{\\bar p(1-\\bar p)/n_i}`,
    :math:`z_i = (p_i - \\bar p)/\\sigma_{p_i}`, :math:`\\sigma_z = \\overline{MR}(z)/1.128` over the
    baseline, limits :math:`\\bar p \\pm 3\\sigma_{p_i}\\sigma_z` (2-sigma lines with 2), clipped to
    [0, 1]. :math:`\\sigma_z` absorbs month-to-month variation beyond the binomial (case mix, patients
    with several sessions); with :math:`\\sigma_z = 1` this is the ordinary p chart. Months are
    assumed consecutive; months with no sessions are skipped (said in ``notes``).
    """
    columns = LANEY_COLUMNS
    notes: list[str] = []
    fmt = (True, ".1f")
    if frame is None or frame.empty:
        return _too_few("p_prime", measure, pd.DataFrame(columns=columns), columns, min_points, notes, fmt)
    data = pd.DataFrame(
        {
            "month": _as_months(frame["month"]),
            "events": pd.to_numeric(frame["events"]).astype(float),
            "n": pd.to_numeric(frame["n"]).astype(float),
        }
    )
    data = data.dropna().groupby("month", as_index=False, sort=True)[["events", "n"]].sum()
    empty_months = data["n"] <= 0
    if empty_months.any():
        notes.append(f"{int(empty_months.sum())} month(s) with no sessions are left out")
        data = data.loc[~empty_months].reset_index(drop=True)
    notes += _gap_note(data["month"])
    data["value"] = data["events"] / data["n"]
    data["z"] = np.nan
    if len(data) < min_points:
        return _too_few("p_prime", measure, data, columns, min_points, notes, fmt)
    k, baseline_notes = _baseline(len(data), baseline_points, min_points)
    notes += baseline_notes
    base = data.iloc[:k]
    p_bar = base["events"].sum() / base["n"].sum()
    if p_bar <= 0 or p_bar >= 1:
        result = _too_few("p_prime", measure, data, columns, min_points, notes, fmt)
        what = "no events" if p_bar <= 0 else "only events"
        head = _head(data.iloc[-1], measure, *fmt)
        return _replace_verdict(
            result, f"{head} — {what} in the baseline months: control limits cannot be computed"
        )
    sigma_p = np.sqrt(p_bar * (1 - p_bar) / data["n"])
    data["z"] = (data["value"] - p_bar) / sigma_p
    mr = data["z"].diff().abs()
    mr_bar = float(mr.iloc[1:k].mean())
    sigma_z = mr_bar / D2
    data["moving_range"] = mr
    data["centre"] = p_bar
    data["upper"] = np.clip(p_bar + 3 * sigma_p * sigma_z, 0, 1)
    data["lower"] = np.clip(p_bar - 3 * sigma_p * sigma_z, 0, 1)
    data["upper_2s"] = np.clip(p_bar + 2 * sigma_p * sigma_z, 0, 1)
    data["lower_2s"] = np.clip(p_bar - 2 * sigma_p * sigma_z, 0, 1)
    data["in_baseline"] = np.arange(len(data)) < k
    return _finish("p_prime", measure, data, columns, p_bar, sigma_z, mr_bar, k, notes, *fmt, higher)


def xmr_chart(
    frame: pd.DataFrame,
    measure: str = "mean satisfaction",
    baseline_points: int = BASELINE_POINTS,
    min_points: int = MIN_POINTS,
    percent: bool = False,
    value_format: str = ".2f",
    higher: str | None = "better",
) -> SpcResult:
    """XmR (individuals and moving range) chart of one value per month.

    Parameters
    ----------
    frame : DataFrame
        Columns ``month`` and ``value`` (e.g. mean satisfaction, or the share satisfied as 0–1);
        one row per month. Missing values are left out.
    measure : str
        What the value is, for the verdict.
    baseline_points, min_points : int
        As in :func:`laney_p_chart`.
    percent : bool
        Show the value as a percentage (for shares); otherwise with ``value_format``.
    value_format : str
        Format spec for the value in the verdict (default ``".2f"``).
    higher : {"better", "worse", None}
        Whether a rise is good news, for the wording of the verdict.

    Returns
    -------
    SpcResult
        ``points`` columns: ``month, value, centre, lower, upper, lower_2s, upper_2s, in_baseline,
        moving_range`` and the rule flags of :func:`special_cause_rules`.

    Notes
    -----
    Estimand: the process level of a monthly value and whether it has changed. Centre
    :math:`\\bar x` and :math:`\\overline{MR} = \\operatorname{mean}|x_i - x_{i-1}|` over the baseline;
    limits :math:`\\bar x \\pm 2.66\\,\\overline{MR}` (2.66 = 3/1.128), 2-sigma lines
    :math:`\\bar x \\pm \\tfrac23 2.66\\,\\overline{MR}` (Wheeler; NHS "Making data count";
    NHSRplotthedots). Assumes consecutive months of roughly equal weight: a month with few answers
    moves as much as a busy one, so show the monthly n alongside.

    Raises
    ------
    ValueError
        When a month appears more than once (one value per month is the caller's job).
    """
    columns = XMR_COLUMNS
    notes: list[str] = []
    fmt = (percent, value_format)
    if frame is None or frame.empty:
        return _too_few("xmr", measure, pd.DataFrame(columns=columns), columns, min_points, notes, fmt)
    data = pd.DataFrame(
        {"month": _as_months(frame["month"]), "value": pd.to_numeric(frame["value"]).astype("Float64")}
    )
    repeated = data["month"][data["month"].duplicated()]
    if not repeated.empty:
        raise ValueError(
            f"xmr_chart needs one value per month; {repeated.iloc[0]:%Y-%m} appears more than once"
        )
    missing = data["value"].isna()
    if missing.any():
        notes.append(f"{int(missing.sum())} month(s) without a value are left out")
    data = data.loc[~missing].sort_values("month").reset_index(drop=True)
    data["value"] = data["value"].astype(float)
    notes += _gap_note(data["month"])
    if len(data) < min_points:
        return _too_few("xmr", measure, data, columns, min_points, notes, fmt)
    k, baseline_notes = _baseline(len(data), baseline_points, min_points)
    notes += baseline_notes
    centre = float(data["value"].iloc[:k].mean())
    mr = data["value"].diff().abs()
    mr_bar = float(mr.iloc[1:k].mean())
    data["moving_range"] = mr
    data["centre"] = centre
    data["upper"] = centre + XMR_LIMIT * mr_bar
    data["lower"] = centre - XMR_LIMIT * mr_bar
    data["upper_2s"] = centre + 2 / 3 * XMR_LIMIT * mr_bar
    data["lower_2s"] = centre - 2 / 3 * XMR_LIMIT * mr_bar
    data["in_baseline"] = np.arange(len(data)) < k
    return _finish("xmr", measure, data, columns, centre, mr_bar / D2, mr_bar, k, notes, *fmt, higher)


def _finish(chart, measure, data, columns, centre, sigma, mr_bar, k, notes, percent, value_format, higher):
    rules = special_cause_rules(
        data["value"], data["centre"], data["lower"], data["upper"], data["lower_2s"], data["upper_2s"]
    )
    for column in RULE_COLUMNS:
        data[column] = rules[column].to_numpy()
    return SpcResult(
        chart=chart,
        measure=measure,
        points=data[columns].reset_index(drop=True),
        centre=float(centre),
        sigma=float(sigma),
        mr_bar=float(mr_bar),
        baseline_points=k,
        n_points=len(data),
        status="ok",
        verdict=_verdict(data, measure, percent, value_format, higher),
        notes=tuple(notes),
    )


def _replace_verdict(result: SpcResult, verdict: str) -> SpcResult:
    return replace(result, verdict=verdict)
