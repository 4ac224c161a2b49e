"""The Streamlit app in AppTest on real warehouses: every page renders, every filter changes what is shown."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.app_pages._common import EMPTY, NO_MODELS, NOT_ENOUGH
from etl.load import ingest
from etl.settings import Settings
from etl.warehouse import connect_current
from queries import run_query
from tests.helpers import TODAY, row, write_csv

APP = Path(__file__).parents[2] / "dashboard" / "streamlit_app.py"
PAGES = ("overview", "courses", "safety", "clinicians", "models", "quality", "sql")
# filter widget key -> a value from the sample, and the named-query parameter it becomes
FILTERS = {
    "filters_clinic": ("ETB-01", {"clinic_id": "ETB-01"}),
    "filters_clinician": ("HAM-03-S4", {"clinician_id": "HAM-03-S4"}),
    "filters_crystal": ("diamond_tip", {"crystal_type": "diamond_tip"}),
    "filters_area": ("neck", {"treatment_area": "neck"}),
    "filters_indication": ("acne_scars", {"indication": "acne_scars"}),
    "filters_skin_type": (5, {"fitzpatrick": 5}),
}


def open_page(page: str, query_params: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update(query_params or {})
    if page != "overview":
        at.switch_page(f"app_pages/{page}.py")
    return at.run()


def shown(at: AppTest) -> list:
    """Everything a reader sees: metric values, figures, tables and texts."""
    parts: list = [m.value for m in at.metric]
    parts += [chart.proto.spec for chart in at.get("plotly_chart")]
    parts += [frame.value.to_csv() for frame in at.dataframe]
    parts += [e.value for e in (*at.caption, *at.markdown, *at.info, *at.warning, *at.subheader)]
    return parts


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def latest_sessions(settings: Settings, **params) -> str:
    _, con = connect_current(settings.data_dir)
    try:
        frame = run_query(con, "kpis_by_month", params)
    finally:
        con.close()
    return f"{int(frame.sort_values('month')['sessions'].iloc[-1]):,}"


@pytest.fixture
def sample_app(sample_warehouse, monkeypatch) -> Settings:
    monkeypatch.setenv("DERMA_DATA_DIR", str(sample_warehouse.data_dir))
    return sample_warehouse


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_the_sample_warehouse(sample_app, page):
    at = open_page(page)
    assert_clean(at)
    assert at.title[0].value and not any(EMPTY in i.value for i in at.info)
    if page not in ("models", "sql", "quality"):
        assert at.get("plotly_chart"), f"{page} draws no chart"


@pytest.mark.parametrize("page", PAGES)
def test_every_page_explains_an_empty_warehouse(tmp_path, monkeypatch, page):
    monkeypatch.setenv("DERMA_DATA_DIR", str(tmp_path / "no-data-yet"))
    at = open_page(page)
    assert_clean(at)
    assert any("derma ingest" in i.value for i in at.info)
    assert not at.get("plotly_chart") and not at.selectbox


@pytest.mark.parametrize("key", sorted(FILTERS))
def test_each_filter_changes_the_overview_kpis_to_the_named_querys_values(sample_app, key):
    value, params = FILTERS[key]
    at = open_page("overview")
    before = metric(at, "Sessions")
    assert before == latest_sessions(sample_app)
    at.selectbox(key=key).set_value(value).run()
    assert_clean(at)
    assert metric(at, "Sessions") == latest_sessions(sample_app, **params) != before


def test_the_month_range_moves_the_kpi_month(sample_app):
    at = open_page("overview")
    at.select_slider(key="filters_months").set_value(("2026-02", "2026-06")).run()
    assert_clean(at)
    assert at.subheader[0].value == "June 2026"
    assert metric(at, "Sessions") == latest_sessions(sample_app, date_from="2026-02-01", date_to="2026-06-30")


@pytest.mark.parametrize("page", [p for p in PAGES if p != "overview"])
def test_the_clinic_filter_changes_every_other_page(sample_app, page):
    at = open_page(page)
    before = shown(at)
    at.selectbox(key="filters_clinic").set_value("MUC-02").run()
    assert_clean(at)
    assert shown(at) != before


def test_filters_in_the_url_are_applied_and_reset_returns_to_defaults(sample_app):
    at = open_page("overview", {"filters_clinic": "HAM-03", "filters_indication": "wrinkles"})
    assert at.selectbox(key="filters_clinic").value == "HAM-03"
    assert metric(at, "Sessions") == latest_sessions(sample_app, clinic_id="HAM-03", indication="wrinkles")
    at.button(key="filters_reset").click().run()
    assert (
        at.selectbox(key="filters_clinic").value is None
        and at.selectbox(key="filters_indication").value is None
    )
    assert metric(at, "Sessions") == latest_sessions(sample_app)


def test_clinician_choices_follow_the_clinic(sample_app):
    at = open_page("overview")
    at.selectbox(key="filters_clinic").set_value("ETB-01").run()
    options = at.selectbox(key="filters_clinician").options
    assert options[0] == "All clinicians" and all(o.startswith("ETB-01-") for o in options[1:])


def test_a_thin_selection_says_not_enough_data_instead_of_a_line(sample_app):
    at = open_page("overview", {"filters_clinician": "KOE-04-R6"})
    assert_clean(at)
    assert (
        metric(at, "% satisfied") == "Not enough data" and metric(at, "Side-effect rate") == "Not enough data"
    )
    assert any(NOT_ENOUGH in i.value for i in at.info)


def test_the_sql_page_refuses_a_hostile_statement_cleanly(sample_app):
    at = open_page("sql")
    at.text_area(key="sql_text").set_value("select * from read_csv('/etc/passwd')")
    at.button(key="sql_run").click().run()
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith("refused")
    assert "root:" not in " ".join(str(p) for p in shown(at))


def test_the_sql_page_runs_free_sql_and_a_named_query_with_a_parameter(sample_app):
    at = open_page("sql")
    at.selectbox(key="sql_query").set_value("unit_outcomes").run()
    at.text_input(key="sql_param_unit_outcomes_clinic_id").set_value("HAM-03").run()
    assert_clean(at)
    named, _free = at.tabs
    frame = named.dataframe[0].value
    assert frame["clinic_id"].tolist() == ["HAM-03"] and int(frame["sessions"].iat[0]) > 0
    at.button(key="sql_run").click().run()
    assert_clean(at)
    assert set(at.tabs[1].dataframe[0].value["clinic_id"]) == {"ETB-01", "HAM-03", "KOE-04", "MUC-02"}


@pytest.fixture(scope="module")
def unfitted_warehouse(tmp_path_factory) -> Settings:
    """A small warehouse loaded without fitting any model."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("unfitted") / "data", secret_key="unfitted-key")
    rows = [
        row(session_id=f"S{i}", patient_id=f"PN{10000000 + i % 7}", session_date=f"2026-10-{1 + i % 28:02d}")
        for i in range(40)
    ]
    ingest(
        [write_csv(tmp_path_factory.mktemp("exports") / "ETB-01_2026-10.csv", rows)], settings, today=TODAY
    )
    return settings


@pytest.mark.parametrize("page", ["overview", "courses", "safety", "clinicians", "models"])
def test_missing_model_results_are_explained(unfitted_warehouse, monkeypatch, page):
    monkeypatch.setenv("DERMA_DATA_DIR", str(unfitted_warehouse.data_dir))
    at = open_page(page)
    assert_clean(at)
    assert any(NO_MODELS in i.value for i in at.info)


def test_a_new_snapshot_is_picked_up_without_a_restart_and_stale_models_are_flagged(
    sample_warehouse, tmp_path, monkeypatch
):
    data_dir = tmp_path / "data"
    shutil.copytree(sample_warehouse.data_dir, data_dir, symlinks=True)
    monkeypatch.setenv("DERMA_DATA_DIR", str(data_dir))
    at = open_page("models")
    assert not any("stale" in w.value for w in at.warning)
    before = open_page("overview")
    sessions = metric(before, "Sessions")
    extra = [
        row(
            clinic_id="MUC-02",
            clinician_id="MUC-02-N8",
            session_id=f"NEW{i}",
            patient_id=f"PN2000000{i}",
            session_date="2026-10-15",
        )
        for i in range(5)
    ]
    ingest(
        [write_csv(tmp_path / "exports" / "MUC-02_late.csv", extra)],
        Settings(data_dir=data_dir, secret_key=sample_warehouse.secret_key),
        today=TODAY,
    )
    before.run()
    assert int(metric(before, "Sessions").replace(",", "")) == int(sessions.replace(",", "")) + 5
    at.run()
    assert any("stale" in w.value for w in at.warning)


def test_the_funnels_say_what_they_compare_and_what_their_limits_assume(sample_app):
    at = open_page("clinicians")
    assert_clean(at)
    captions = [c.value for c in at.caption]
    assert any(
        c.startswith("It compares each clinician against colleagues in the same clinic") for c in captions
    )
    assert any(c.startswith("It compares each clinic against the network's average") for c in captions)
    assert any("crystal type, device, clinic (fixed effects)" in c for c in captions)
    assert any(
        c.startswith("Clinic funnel: only 4 clinics: too few to estimate over-dispersion") for c in captions
    )
