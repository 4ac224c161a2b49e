"""``derma serve --lake``: the dashboard over a lake's marts and model results, per-clinic scope enforced below
the pages (AppTest as a manager and an analyst, and one pass in Chromium)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from derma.lake.report import lake_model_report
from derma.lake.serving import lake_data_dir
from etl import userdata
from etl.access import scoped_connection
from etl.settings import Settings
from etl.warehouse import SNAPSHOT_DIR, connect, current_snapshot
from queries import run_query
from tests.dashboard.browser import serve
from tests.dashboard.test_access_app import assert_clean, open_as, shown
from tests.dashboard.users import ANA, ANN, MINE, OTHERS, ROLES
from tests.helpers import derma

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


def test_a_lake_keeps_one_data_folder_with_its_notes_between_serves(lake_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    lake = lake_copy()
    first = lake_data_dir(lake)
    assert first.parent == tmp_path / "xdg" / "derma" / "lakes" and first.name.startswith("lake-")
    assert first.stat().st_mode & 0o777 == 0o700  # the audit log and the notes live here
    settings = Settings.from_env().with_data_dir(first)
    note = userdata.add_note(settings, day="2026-10-05", text="new vacuum pumps", clinic_id=MINE)
    view = current_snapshot(first).path

    again = lake_data_dir(lake)  # served again, the lake unchanged
    assert again == first and current_snapshot(again).path == view
    assert [n.id for n in userdata.read(settings).notes] == [note.id]

    lake_model_report(lake, "duckdb", scope=MINE)  # the lake changes: a model fit is stored in it
    changed = lake_data_dir(lake)
    assert changed == first and current_snapshot(changed).path != view
    assert [p.name for p in (changed / SNAPSHOT_DIR).iterdir()] == [current_snapshot(changed).path.name]
    assert [n.id for n in userdata.read(settings).notes] == [note.id]
    assert lake_data_dir(lake_copy("other")) != first  # another lake, another folder


def test_serve_lake_refuses_a_warehouse_folder_in_one_line(lake_copy, sample_warehouse):
    run = derma(
        "serve", "--lake", str(lake_copy()), "--data-dir", str(sample_warehouse.data_dir), check_exit=1
    )
    assert run.stdout == "" and run.stderr.strip().splitlines() == [
        f"derma: {sample_warehouse.data_dir} holds a warehouse: serve a lake from a folder of its own "
        "(leave out --data-dir to use the lake's default one)"
    ]
    assert current_snapshot(sample_warehouse.data_dir).path.parent.name == SNAPSHOT_DIR


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
