"""Models fitted in the engine from aggregates: equal to the fits in memory, to statsmodels, and across engines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import statsmodels.api as sm

from analysis.curves import fit_outcome_models
from analysis.design import code_covariates, design_rows
from analysis.side_effects import side_effect_model, side_effect_model_of
from derma.lake.engines import open_engine, scratch
from derma.lake.layout import Lake, LakeTable
from derma.lake.marts import register_inputs
from derma.lake.models import fit_outcome_models_on, model_rows
from derma.refresh import load_inputs
from etl.warehouse import connect_current
from tests.analysis.test_side_effects import simulate_sessions
from tests.lake.compare import assert_close

ENGINES = ["duckdb", "spark"]


def sessions_table(frame: pd.DataFrame, folder) -> LakeTable:
    """A frame of sessions as a one-file lake table both engines read."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "data_0.parquet"
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path)
    types = {"string": "VARCHAR", "double": "DOUBLE", "int64": "BIGINT", "bool": "BOOLEAN"}
    columns = tuple((f.name, types.get(str(f.type), "VARCHAR")) for f in table.schema)
    return LakeTable("sessions", folder, columns, (), (path,))


@pytest.fixture(scope="module")
def coarse_sessions():
    """Simulated sessions with repeating covariate patterns (as the collapsed-fit test in analysis uses)."""
    small = simulate_sessions(n_patients=1500, seed=7)
    small = small[small["any_side_effect"].notna()].reset_index(drop=True)
    small["vacuum_kpa"] = (small["vacuum_kpa"] / 10).round() * 10
    small["particle_flow"] = (small["particle_flow"] / 40).round() * 40
    small["treatment_area"], small["indication"] = "face", "wrinkles"
    small["pre_care_followed"] = small["pre_care_followed"].astype("boolean")
    return small


@pytest.mark.parametrize("engine_name", ENGINES)
def test_the_engine_fit_equals_the_fit_in_memory_and_statsmodels_row_by_row(
    coarse_sessions, engine_name, tmp_path, request
):
    if engine_name == "spark":
        request.getfixturevalue("spark")
    table = sessions_table(coarse_sessions, tmp_path / "sessions")
    engine = open_engine(engine_name)
    try:
        engine.register("sessions", table)
        with scratch(engine):
            rows, clinics, unknown, notes = model_rows(engine, "side_effects", "true")
            result, fit = side_effect_model_of(rows, clinics, unknown, notes)
    finally:
        engine.close()
    memory, memory_fit = side_effect_model(coarse_sessions)
    assert fit.names == memory_fit.names
    np.testing.assert_allclose(fit.params, memory_fit.params, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(fit.cov, memory_fit.cov, rtol=1e-6, atol=1e-12)
    assert_close(result.to_dict(), memory.to_dict(), "side_effects")
    # statsmodels on every session: the GLM's estimate and its (uncorrected) cluster covariance times G/(G-1)
    coded, _ = code_covariates(coarse_sessions)
    x = design_rows(fit.design_info, coded)
    groups = pd.factorize(coarse_sessions["patient_key"])[0]
    row_fit = sm.GLM(
        coarse_sessions["any_side_effect"].astype(float).to_numpy(), x, family=sm.families.Binomial()
    ).fit(tol=1e-12, cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False})
    g = len(np.unique(groups))
    np.testing.assert_allclose(fit.params, row_fit.params, rtol=0, atol=1e-7)
    np.testing.assert_allclose(fit.bse, np.sqrt(g / (g - 1)) * row_fit.bse, rtol=1e-7, atol=0)


@pytest.fixture(scope="module")
def memory_fits(sample_warehouse):
    _snapshot, con = connect_current(sample_warehouse.data_dir)
    try:
        sessions = load_inputs(con, "network")
    finally:
        con.close()
    return fit_outcome_models(sessions)


def fits_on(engine_name: str, lake) -> object:
    engine = open_engine(engine_name)
    try:
        register_inputs(engine, Lake.open(lake))
        return fit_outcome_models_on(engine, "network")
    finally:
        engine.close()


@pytest.mark.parametrize("engine_name", ENGINES)
def test_every_model_of_the_sample_lake_equals_todays_fit_in_memory(
    memory_fits, sample_lake, engine_name, request
):
    if engine_name == "spark":
        request.getfixturevalue("spark")
    fits = fits_on(engine_name, sample_lake)
    assert [r.name for r in fits.results] == [r.name for r in memory_fits.results]
    for mine, theirs in zip(fits.results, memory_fits.results, strict=True):
        assert mine.status == theirs.status and mine.warnings == theirs.warnings, mine.name
        assert_close(mine.to_dict(), theirs.to_dict(), mine.name)
    for name in ("side_effect_fit", "satisfaction_fit"):
        mine, theirs = getattr(fits, name), getattr(memory_fits, name)
        assert mine.names == theirs.names
        np.testing.assert_allclose(mine.params, theirs.params, rtol=1e-6, atol=1e-9, err_msg=name)
        np.testing.assert_allclose(mine.cov, theirs.cov, rtol=1e-6, atol=1e-12, err_msg=name)


def test_a_spline_starts_from_the_linear_fit_and_a_linear_term_from_the_spline():
    """``rcs(x, knots)[0]`` is ``x``: the warm start carries the slope across, the nonlinear columns from 0."""
    from analysis.sufficient import _start

    spline = "rcs(vacuum_10kpa, vacuum_knots)"
    linear_fit = {"Intercept": -2.0, "vacuum_10kpa": 0.3, "skin_type[T.III]": 0.1}
    names = ("Intercept", f"{spline}[0]", f"{spline}[1]", "skin_type[T.III]", "passes")
    start = _start(names, linear_fit, np.array([-1.0, 0.0, 0.0, 0.0, 0.5]))
    np.testing.assert_array_equal(start, [-2.0, 0.3, 0.0, 0.1, 0.5])

    spline_fit = {"Intercept": -2.1, f"{spline}[0]": 0.25, f"{spline}[1]": 0.04}
    start = _start(("Intercept", "vacuum_10kpa"), spline_fit, np.zeros(2))
    np.testing.assert_array_equal(start, [-2.1, 0.25])


def test_warm_starts_take_fewer_newton_steps_to_the_same_estimates(coarse_sessions, tmp_path, monkeypatch):
    """The spline check from the linear fit's slope: fewer engine aggregations than from names alone."""
    import analysis.sufficient as sufficient
    from derma.lake.sums import EngineFitRows

    steps = []
    original = EngineFitRows.logit_sums
    monkeypatch.setattr(EngineFitRows, "logit_sums", lambda self, *a: steps.append(1) or original(self, *a))
    table = sessions_table(coarse_sessions, tmp_path / "sessions")

    def fit():
        steps.clear()
        engine = open_engine("duckdb")
        try:
            engine.register("sessions", table)
            with scratch(engine):
                _, fitted = side_effect_model_of(*model_rows(engine, "side_effects", "true"))
        finally:
            engine.close()
        assert "Wald" in fitted.decisions["vacuum_kpa"]  # the spline in vacuum was fitted
        return len(steps), fitted

    warm, warm_fit = fit()

    def names_only(names, start, default):  # the start before: only coefficients of the same name
        return np.array([start.get(n, d) for n, d in zip(names, default, strict=True)], dtype=float)

    monkeypatch.setattr(sufficient, "_start", names_only)
    cold, cold_fit = fit()
    assert warm < cold, (warm, cold)
    np.testing.assert_allclose(warm_fit.params, cold_fit.params, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(warm_fit.cov, cold_fit.cov, rtol=1e-6, atol=1e-12)
