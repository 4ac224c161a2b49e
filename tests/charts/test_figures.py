"""Chart builders and filter helpers without Streamlit: named-query frames in, figures out, Okabe–Ito colours only."""

from __future__ import annotations

import datetime as dt
import json
import re

import plotly.graph_objects as go
import pytest

from charts import figures, model_figures, style
from charts import tiles as kpis
from dashboard import filters
from etl.warehouse import connect_current
from queries import run_query

PALETTE = {c.lower() for c in style.SERIES}


@pytest.fixture(scope="module")
def frames(sample_warehouse):
    _, con = connect_current(sample_warehouse.data_dir)
    try:
        read = {
            name: run_query(con, name, params)
            for name, params in {
                "kpis_by_month": {},
                "satisfaction_by_session_number": {},
                "side_effect_types_by_skin_type": {},
                "course_curves": {"indication": "all"},
                "course_dropout": {},
                "model_curves": {},
                "model_effects": {},
                "settings_explorer": {"fitzpatrick": 2, "indication": "wrinkles", "treatment_area": "face"},
                "funnel_units": {"unit_type": "clinician"},
                "funnel_limits": {"unit_type": "clinician"},
                "spc_points": {"chart": "side_effects_p_prime"},
                "load_batches": {},
                "quarantine_summary": {},
            }.items()
        }
    finally:
        con.close()
    return read


def every_figure(f) -> dict[str, go.Figure]:
    return {
        "volume": figures.monthly_volume(f["kpis_by_month"]),
        "rates": figures.monthly_rates(f["kpis_by_month"]),
        "by_session": figures.rate_points(
            f["satisfaction_by_session_number"],
            "session_number",
            "pct_satisfied",
            "satisfied",
            "answered",
            x_title="session",
            y_title="% satisfied",
        ),
        "types": figures.side_effect_types(f["side_effect_types_by_skin_type"]),
        "km": figures.km_curve(f["course_curves"], "3 sessions"),
        "dropout": figures.dropout_by_session(f["course_dropout"]),
        "curves": model_figures.model_curves(f["model_curves"], {"side_effect_risk_by_vacuum": "vacuum"}),
        "tradeoff": model_figures.tradeoff(f["settings_explorer"], vacuum_range=(20, 50)),
        "forest": model_figures.forest(f["model_effects"]),
        "funnel": model_figures.funnel(f["funnel_units"], f["funnel_limits"], highlight="ETB-01-K3"),
        "spc": model_figures.spc(f["spc_points"], percent=True),
        "files": figures.file_outcomes(f["load_batches"]),
        "reasons": figures.quarantine_reasons(f["quarantine_summary"]),
    }


def test_every_builder_draws_a_figure_with_palette_colours_only(frames):
    for name, fig in every_figure(frames).items():
        assert isinstance(fig, go.Figure) and fig.data, name
        drawn = fig.to_plotly_json()
        drawn["layout"].pop("template", None)  # the theme's defaults; every trace sets its own colour
        colours = {c.lower() for c in re.findall(r"#[0-9A-Fa-f]{6}", json.dumps(drawn, default=str))}
        assert colours <= PALETTE, f"{name} uses {colours - PALETTE}"
        assert fig.layout.paper_bgcolor == "rgba(0,0,0,0)", f"{name} must stay readable on a dark theme"


def test_the_tradeoff_draws_one_line_per_passes_value_over_the_chosen_vacuum(frames):
    fig = model_figures.tradeoff(frames["settings_explorer"], vacuum_range=(20, 50))
    assert [t.name for t in fig.data] == ["1 pass", *(f"{p} passes" for p in range(2, 7))]
    assert all(len(t.x) == 7 for t in fig.data)  # 20, 25, ..., 50 kPa


def test_rates_need_thirty_in_the_denominator():
    import pandas as pd

    assert not style.enough(pd.DataFrame({"answered": [10, 19]}), "answered")
    assert style.enough(pd.DataFrame({"answered": [10, 20]}), "answered")
    assert not style.enough(pd.DataFrame(), "answered")


def test_kpi_tiles_say_not_enough_data_for_small_months(frames):
    month, tiles = kpis.latest_tiles(frames["kpis_by_month"].assign(answered=12, outcome_known=3))
    by_label = {t.label: t for t in tiles}
    assert month == pd_month(2026, 10)
    assert (
        by_label["% satisfied"].value == "Not enough data"
        and "answered surveys" in by_label["% satisfied"].note
    )
    assert by_label["Sessions"].value == f"{int(frames['kpis_by_month']['sessions'].iloc[-1]):,}"


def pd_month(year: int, month: int):
    import pandas as pd

    return pd.Timestamp(year=year, month=month, day=1)


def test_the_month_range_becomes_first_and_last_day_and_the_full_range_no_filter():
    labels = ["2026-01", "2026-02", "2026-03"]
    assert filters.month_range(labels, ("2026-01", "2026-03")) == (None, None)
    assert filters.month_range(labels, ("2026-02", "2026-02")) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    built = filters.build({"months": ("2026-01", "2026-02"), "clinic_id": "ETB-01", "fitzpatrick": 5}, labels)
    assert built.params()["date_to"] == dt.date(2026, 2, 28) and built.fitzpatrick == 5
    assert "skin type V" in built.describe() and "ETB-01" in built.describe()


def test_the_funnel_draws_the_chance_alone_limits_only_when_it_allows_for_over_dispersion(sample_warehouse):
    _, con = connect_current(sample_warehouse.data_dir)
    try:
        summaries = run_query(con, "funnel_summaries", {}).set_index("unit_type")
        for kind in ("clinician", "clinic"):
            units = run_query(con, "funnel_units", {"unit_type": kind})
            limits = run_query(con, "funnel_limits", {"unit_type": kind})
            names = {trace.name for trace in model_figures.funnel(units, limits).data}
            widened = summaries.loc[kind, "adjustment"] == "additive"
            assert ("99.8% limits, chance alone" in names) is widened
            assert ("99.8% limits, allowing for over-dispersion" in names) is widened
    finally:
        con.close()
    assert set(summaries["adjustment"]) == {"additive", "none"}  # the sample shows both cases
