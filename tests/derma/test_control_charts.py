"""Control charts end to end: the JSON contract, rebase and target hooks, and refreshing an older snapshot."""

from __future__ import annotations

import re

import duckdb

from analysis.spc import INVESTIGATE, Target
from derma.fitting import _control_charts
from derma.model_report import model_report
from derma.refresh import load_inputs, refresh_models
from etl.access import NETWORK
from etl.load import ingest
from etl.schema_upgrade import declared_columns
from etl.warehouse import connect_current
from queries import run_query
from tests.helpers import TODAY, derma, row, write_csv

RULE_NAMES = {"astronomical", "trend", "two_of_three", "shift"}


def test_models_json_gives_each_chart_its_alert_and_monthly_points(sample_warehouse):
    env = {"DERMA_SECRET_KEY": sample_warehouse.secret_key}
    out = derma(
        "models", "--format", "json", data_dir=sample_warehouse.data_dir, env=env, check_exit=0
    ).json()
    charts = out["control_charts"]
    assert {(c["unit"], c["chart"]) for c in charts} >= {
        ("network", "side_effects_p_prime"),
        ("network", "satisfaction_xmr"),
    }
    for chart in charts:
        assert set(chart) == {"unit", "chart", "measure", "status", "verdict", "alert", "points"}
        assert isinstance(chart["alert"], bool) and chart["alert"] == (INVESTIGATE in chart["verdict"])
        assert ("Alert: since" in chart["verdict"]) == chart["alert"]
        assert chart["points"], chart["unit"]
        for point in chart["points"]:
            assert set(point) == {"month", "value", "centre", "lower", "upper", "special_cause", "rules"}
            assert re.fullmatch(r"\d{4}-\d{2}", point["month"])
            assert isinstance(point["special_cause"], bool) and set(point["rules"]) <= RULE_NAMES
            assert point["special_cause"] == bool(point["rules"])
        months = [p["month"] for p in chart["points"]]
        assert months == sorted(months)


def test_rebase_months_and_targets_reach_the_charts_of_their_unit_only(sample_warehouse):
    _, con = connect_current(sample_warehouse.data_dir)
    try:
        sessions = load_inputs(con, NETWORK)
        series = run_query(con, "monthly_series", {"scope": NETWORK})
    finally:
        con.close()
    tables = _control_charts(
        series,
        sessions,
        NETWORK,
        rebase={"ETB-01": ["2026-06"]},
        targets={("ETB-01", "satisfaction_xmr"): Target(3.5, "increase")},
    )
    points, verdicts = tables["spc_points"], tables["spc_verdicts"].set_index(["unit", "chart"])
    etb = points[(points["unit"] == "ETB-01") & (points["chart"] == "satisfaction_xmr")]
    assert etb.loc[etb["month"] >= "2026-06-01", "segment"].eq(1).all()
    assert etb.loc[etb["month"] < "2026-06-01", "segment"].eq(0).all()
    assert points.loc[points["unit"] != "ETB-01", "segment"].eq(0).all()
    assert etb["alert_sessions"].notna().any(), "the alert's months line up with the chart's"
    mine = verdicts.loc[("ETB-01", "satisfaction_xmr")]
    assert mine["target"] == 3.5 and mine["segment_start"].strftime("%Y-%m") == "2026-06"
    assert mine["status"] == "not_enough_data" and mine["alert_status"] == "not_enough_data"
    assert "since June 2026" in mine["verdict"]
    other = verdicts.loc[("HAM-03", "satisfaction_xmr")]
    assert other["assurance"] is None
    assert other["segment_start"] == points.loc[points["unit"] == "HAM-03", "month"].min()


def test_a_refresh_brings_a_snapshot_of_an_older_version_up_to_date(tmp_path, settings):
    write_csv(tmp_path / "a.csv", [row(session_id=f"S{i}", patient_id=f"PN{i // 4}") for i in range(40)])
    ingest([tmp_path / "a.csv"], settings, today=TODAY)
    snapshot, con = connect_current(settings.data_dir)
    con.close()
    old = duckdb.connect(str(snapshot.path))  # what an older version wrote: no alert columns yet
    for column in ("alert", "cusum", "rules", "point_type", "segment"):
        old.execute(f"alter table spc_points drop column {column}")
    for column in ("alert", "variation", "assurance", "alert_reading"):
        old.execute(f"alter table spc_verdicts drop column {column}")
    old.close()
    assert refresh_models(settings, force=True) is not None
    _, con = connect_current(settings.data_dir)
    try:
        for table in ("spc_points", "spc_verdicts"):
            present = [r[0] for r in con.execute(f"describe {table}").fetchall()]
            assert [c for c, _ in declared_columns()[table] if c not in present] == []
    finally:
        con.close()
    report = model_report(settings)
    assert all(isinstance(c["alert"], bool) for c in report["control_charts"])


def test_the_upgrade_adds_only_what_is_missing_and_keeps_rows(tmp_path):
    from etl.schema_upgrade import add_missing_columns

    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    con.execute("create table spc_verdicts (run_id varchar, unit varchar, verdict varchar, legacy varchar)")
    con.execute("insert into spc_verdicts values ('r1', 'network', 'old words', 'kept')")
    added = add_missing_columns(con)
    assert "spc_verdicts.alert" in added and not any(a.startswith("sessions.") for a in added)
    assert con.execute("select verdict, legacy, alert from spc_verdicts").fetchall() == [
        ("old words", "kept", None)
    ]
    assert add_missing_columns(con) == []
    con.close()
