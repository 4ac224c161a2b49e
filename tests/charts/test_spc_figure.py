"""The control-chart figure: Making Data Count colours, icons, a target line, alerts and limits that step at a rebase."""

from __future__ import annotations

import pandas as pd

from analysis.spc import Target, laney_p_chart, xmr_chart
from charts.spc_figure import POINT_COLOURS, spc
from charts.style import BLUE, GREEN, ORANGE, VERMILLION


def months(count: int) -> pd.PeriodIndex:
    return pd.period_range("2025-01", periods=count, freq="M")


def traces(fig, name):
    return [t for t in fig.data if t.name == name]


def test_points_take_the_colour_of_their_type_and_alerts_are_marked():
    events = [8, 9] * 8 + [20, 21]
    chart = laney_p_chart(pd.DataFrame({"month": months(18), "events": events, "n": 200}))
    points = chart.points.assign(unit="ETB-01", chart="side_effects_p_prime", alert=[False] * 17 + [True])
    fig = spc(points, percent=True)
    concern = traces(fig, "special cause: concern")
    assert concern and concern[0].marker.color == ORANGE == POINT_COLOURS["special_cause_concern"]
    assert len(concern[0].x) == 2  # the two high months, worse on a chart where lower is better
    assert traces(fig, "common cause")[0].marker.color != BLUE
    alert = traces(fig, "alert")
    assert alert and alert[0].marker.color == VERMILLION and list(alert[0].x) == [points["month"].iat[-1]]
    icons = [a.text for a in fig.layout.annotations if "concern" in (a.text or "")]
    assert icons and "concern (higher)" in icons[0]


def test_higher_is_better_on_the_satisfaction_chart():
    values = [4.0, 4.2] * 8 + [4.9, 4.95]
    chart = xmr_chart(pd.DataFrame({"month": months(18), "value": values}), target=Target(3.5, "increase"))
    fig = spc(chart.points.assign(unit="network", chart="satisfaction_xmr", alert=False), percent=False)
    assert traces(fig, "special cause: improvement")[0].marker.color == BLUE
    target = traces(fig, "target")
    assert target and target[0].line.color == GREEN and set(target[0].y) == {3.5}
    text = " ".join(a.text for a in fig.layout.annotations)
    assert "improvement (higher)" in text and "will meet the target every month" in text


def test_limits_step_at_a_rebase_instead_of_sloping_across_it():
    values = [4.0, 4.2] * 6 + [3.0, 3.2] * 5
    chart = xmr_chart(pd.DataFrame({"month": months(22), "value": values}), rebase=["2026-01"])
    fig = spc(chart.points.assign(unit="network", chart="satisfaction_xmr", alert=False), percent=False)
    upper = traces(fig, "control limits")[0]
    gap = list(upper.x).index(None)
    assert gap == 12 and upper.connectgaps is False
    assert upper.y[gap - 1] != upper.y[gap + 1]  # each segment its own limit


def test_a_unit_without_limits_says_so():
    chart = xmr_chart(pd.DataFrame({"month": months(5), "value": [4.0, 4.1, 4.2, 4.0, 4.1]}))
    fig = spc(chart.points.assign(unit="KOE-04", chart="satisfaction_xmr", alert=False), percent=False)
    assert any("too few months for limits" in a.text for a in fig.layout.annotations)
