"""The warehouse refresh fits in the engine: the same tables as the path holding every session in memory,
and ``derma models --lake`` prints the report ``derma models`` prints, on either engine."""

from __future__ import annotations

import json

import pytest

from derma.fitting import fit_everything
from derma.model_report import model_report
from derma.refresh import fit_on_snapshot, load_inputs
from etl.access import NETWORK
from etl.warehouse import connect_current
from queries import run_query
from tests.helpers import derma
from tests.lake.compare import assert_close, assert_frames_close

#: Columns that say when or how long, not what was fitted.
RUN_COLUMNS = {"seconds", "fitted_at", "run_id", "data_batch_id"}


@pytest.fixture(scope="module")
def both_paths(sample_warehouse):
    snapshot, con = connect_current(sample_warehouse.data_dir)
    try:
        sessions = load_inputs(con, NETWORK)
        series = run_query(con, "monthly_series", {"scope": NETWORK})
    finally:
        con.close()
    in_memory = fit_everything(sessions, NETWORK, series)
    in_engine, n_sessions = fit_on_snapshot(snapshot.path, NETWORK, series, "1GB")
    return in_memory, in_engine, n_sessions, len(sessions)


def test_the_refresh_in_the_engine_publishes_every_table_the_in_memory_path_computes(both_paths):
    in_memory, in_engine, n_sessions, total = both_paths
    assert n_sessions == total
    assert sorted(in_engine) == sorted(in_memory)
    for name, frame in in_memory.items():
        assert_frames_close(in_engine[name], frame, name)


def test_funnels_and_alerts_read_the_same_case_mix_on_the_engine_path(both_paths):
    in_memory, in_engine, _, _ = both_paths
    assert len(in_engine["spc_verdicts"]) > 0 and len(in_engine["funnel_units"]) > 0
    assert (
        in_engine["spc_points"]["alert_expected"].notna().sum()
        == in_memory["spc_points"]["alert_expected"].notna().sum()
        > 0
    )


def comparable(report: dict) -> dict:
    report = {k: v for k, v in report.items() if k not in ("snapshot", "engine")}
    report["run"] = {k: v for k, v in report["run"].items() if k not in RUN_COLUMNS}
    return report


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_derma_models_on_a_lake_prints_the_report_derma_models_prints(
    sample_warehouse, lake_copy, engine, request
):
    if engine == "spark":
        request.getfixturevalue("spark")
    run = derma("models", "--lake", str(lake_copy()), "--engine", engine, "--format", "json", check_exit=0)
    printed = json.loads(run.stdout)
    assert printed["engine"] == engine
    assert_close(
        comparable(printed),
        comparable(json.loads(json.dumps(model_report(sample_warehouse), default=str))),
        "report",
    )


def test_derma_models_on_a_lake_needs_its_monthly_outcomes_and_knows_its_clinics(sample_lake, tmp_path):
    run = derma("models", "--lake", str(sample_lake), "--clinic", "NOPE-99", "--format", "json")
    assert run.returncode == 1 and "NOPE-99" in run.stderr and "Traceback" not in run.stderr
    run = derma("models", "--engine", "spark", "--format", "json")
    assert run.returncode == 2 and "--lake" in run.stderr
