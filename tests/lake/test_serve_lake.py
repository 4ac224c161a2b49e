"""``derma serve --lake``: the dashboard over a lake's marts and model results, per-clinic scope enforced below
the pages (AppTest as a manager and an analyst, and one pass in Chromium)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from derma.lake.report import lake_model_report
from derma.lake.serving import lake_data_dir
from etl.access import scoped_connection
from etl.warehouse import connect, current_snapshot
from queries import run_query
from tests.dashboard.browser import serve
from tests.dashboard.test_access_app import assert_clean, open_as, shown
from tests.dashboard.users import ANA, ANN, MINE, OTHERS, ROLES

HEADER = "X-Forwarded-Email"


@pytest.fixture(scope="module")
def fitted_lake(sample_lake, tmp_path_factory) -> Path:
    """A copy of the sample lake with the network's and ETB-01's models fitted on it (stored in the lake)."""
    lake = tmp_path_factory.mktemp("served") / "lake"
    shutil.copytree(sample_lake, lake)
    lake_model_report(lake, "duckdb")
    lake_model_report(lake, "duckdb", scope=MINE)
    return lake


@pytest.fixture(scope="module")
def lake_dir(fitted_lake, tmp_path_factory) -> Path:
    return lake_data_dir(fitted_lake, tmp_path_factory.mktemp("lake-data"))


@pytest.fixture
def signed_in(lake_dir, tmp_path, monkeypatch):
    roles = tmp_path / "roles.toml"
    roles.write_text(ROLES)
    monkeypatch.setenv("DERMA_DATA_DIR", str(lake_dir))
    monkeypatch.setenv("DERMA_ROLES_FILE", str(roles))
    monkeypatch.setenv("DERMA_AUDIT_FILE", str(tmp_path / "audit.jsonl"))
    return tmp_path


def test_the_lake_view_database_holds_views_only_and_the_model_results_of_the_lake(lake_dir, fitted_lake):
    snapshot = current_snapshot(lake_dir)
    con = connect(snapshot.path)
    try:
        kinds = dict(con.execute("select table_name, table_type from information_schema.tables").fetchall())
        assert kinds["sessions"] == "VIEW" and kinds["monthly_outcomes"] == "VIEW"
        assert kinds["model_summaries"] == "VIEW"
        assert set(run_query(con, "model_summaries", {"scope": MINE})["model"]) >= {"side_effects"}
        assert con.execute("select count(distinct clinic_id) from sessions").fetchone()[0] == 1 + len(OTHERS)
    finally:
        con.close()
    assert snapshot.path.stat().st_size < 2_000_000  # no data copied: the Parquet stays in the lake


def test_the_scoped_lake_connection_shows_one_clinic_and_reads_no_other_file(lake_dir):
    con = scoped_connection(current_snapshot(lake_dir).path, [MINE])
    try:
        assert con.execute("select distinct clinic_id from sessions").fetchall() == [(MINE,)]
        assert set(run_query(con, "kpis_by_month", {})["sessions"]) and not set(
            run_query(con, "kpis_by_month", {"clinic_id": OTHERS[0]})["sessions"]
        )
        with pytest.raises(Exception, match="disabled by configuration"):
            con.execute("select * from read_csv('/etc/passwd')").fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("page", ["overview", "clinicians", "models", "quality"])
def test_a_manager_sees_only_her_clinic_on_the_lake(signed_in, page):
    at = open_as(ANA, page)
    assert_clean(at)
    text = shown(at)
    assert MINE in text
    assert not [other for other in OTHERS if other in text], f"{page} shows another clinic"
    assert at.selectbox(key="filters_clinic").options == ["All your clinics", MINE]


def test_an_analyst_sees_every_clinic_of_the_lake_and_queries_it_in_the_sandbox(signed_in):
    at = open_as(ANN, "sql")
    assert_clean(at)
    assert at.selectbox(key="filters_clinic").options == ["All clinics", MINE, *OTHERS]
    at.text_area(key="sql_text").set_value("select count(distinct clinic_id) as n from sessions").run()
    at.button(key="sql_run").click().run()
    assert at.tabs[1].dataframe[0].value["n"].tolist() == [1 + len(OTHERS)]


def test_derma_serve_lake_in_chromium_as_a_manager_and_an_analyst(fitted_lake, browser, tmp_path):
    from tests.dashboard.test_browser_access import others_in, visit

    roles = tmp_path / "roles.toml"
    roles.write_text(ROLES)
    env = {
        "DERMA_IDENTITY_HEADER": HEADER,
        "DERMA_ROLES_FILE": str(roles),
        "DERMA_AUDIT_FILE": str(tmp_path / "audit.jsonl"),
    }
    log = tmp_path / "streamlit.log"
    with serve(tmp_path / "unused", log, env=env, args=("--lake", str(fitted_lake))) as url:
        pages = {}
        for email in (ANA, ANN):
            context = browser.new_context(
                viewport={"width": 1400, "height": 900}, extra_http_headers={HEADER: email}
            )
            pages[email] = context.new_page()
        try:
            mine = visit(pages[ANA], url)
            assert MINE in mine and not others_in(mine)
            assert MINE in visit(pages[ANA], f"{url}/models")
            every = visit(pages[ANN], f"{url}/clinicians")
            assert all(c in every for c in OTHERS)
        finally:
            for page in pages.values():
                page.context.close()
    assert "Traceback" not in log.read_text(), log.read_text()[-2000:]
