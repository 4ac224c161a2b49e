"""Patient-clustered intervals of rates: coverage where sessions cluster, and the SQL macros agree."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
from scipy import stats
from scipy.special import expit

from analysis.clustered_rates import clustered_rate, design_effect, t975
from analysis.rates import wilson_interval
from etl.load import _ensure_schema


def clinician_years(seed: int, replicates: int, patients: int = 40, sd: float = 1.0, mu: float = 1.0):
    """Replicates of one clinician's year: ``patients`` patients with 3–9 rated sessions each.

    A patient's chance of rating a session 4–5 is ``expit(mu + u)``, ``u ~ N(0, sd)``; the truth is
    the expected share of satisfied sessions, ``E[expit(mu + u)]`` (session counts do not depend on u).
    """
    rng = np.random.default_rng(seed)
    nodes, weights = np.polynomial.hermite_e.hermegauss(60)
    truth = float(expit(mu + sd * nodes) @ (weights / weights.sum()))
    for _ in range(replicates):
        n = rng.integers(3, 10, patients)
        y = rng.binomial(n, expit(mu + rng.normal(0, sd, patients)))
        yield truth, y, n


def test_clustered_intervals_cover_at_clinician_year_grain_where_plain_wilson_does_not():
    plain, clustered = [], []
    for truth, y, n in clinician_years(seed=2026, replicates=1000):
        low, high = wilson_interval(int(y.sum()), int(n.sum()))
        plain.append(low < truth < high)
        c = clustered_rate(y, n)
        clustered.append(c.ci_low < truth < c.ci_high)
    assert np.mean(plain) < 0.88, "plain Wilson should under-cover on clustered sessions"
    assert np.mean(clustered) >= 0.93, np.mean(clustered)


def test_one_session_per_patient_is_nearly_plain_wilson():
    rng = np.random.default_rng(5)
    y = rng.binomial(1, 0.3, 400)
    c = clustered_rate(y, np.ones_like(y))
    low, high = wilson_interval(int(y.sum()), len(y))
    assert c.design_effect == pytest.approx(400 / 399, rel=0.02)
    assert c.ci_low == pytest.approx(low, rel=0.01) and c.ci_high == pytest.approx(high, rel=0.01)


def test_a_rate_of_zero_uses_the_most_conservative_design_effect():
    c = clustered_rate([0, 0, 0], [4, 5, 6])
    assert c.design_effect == pytest.approx(5.0) and c.effective_n == pytest.approx(3.0)
    assert c.ci_low == pytest.approx(0.0, abs=1e-12) and 0 < c.ci_high < 1


@pytest.mark.parametrize("df", [2, 3, 5, 10, 30, 99])
def test_the_t_quantile_series_is_within_a_percent_of_the_exact_one(df):
    assert t975(df) == pytest.approx(stats.t.ppf(0.975, df), rel=0.008)


def test_the_warehouse_macros_compute_the_same_interval_as_python():
    con = duckdb.connect()
    con.execute("attach ':memory:' as wh")
    _ensure_schema(con)
    con.execute("use wh")
    rng = np.random.default_rng(11)
    for patients in (1, 2, 7, 40, 150):
        n = rng.integers(1, 9, patients)
        y = rng.binomial(n, 0.35)
        c = clustered_rate(y, n)
        args = [
            float(y.sum()),
            float(n.sum()),
            float((y * y).sum()),
            float((y * n).sum()),
            float((n * n).sum()),
            patients,
        ]
        low, high, deff, t = con.execute(
            "select cluster_wilson_low(?, ?, ?, ?, ?, ?), cluster_wilson_high(?, ?, ?, ?, ?, ?), "
            "design_effect(?, ?, ?, ?, ?, ?), t975(?)",
            [*args, *args, *args, patients - 1],
        ).fetchone()
        assert deff == pytest.approx(design_effect(*args), rel=1e-9)
        if patients > 1:
            assert t == pytest.approx(t975(patients - 1), rel=1e-9)
            assert (low, high) == (pytest.approx(c.ci_low, abs=1e-9), pytest.approx(c.ci_high, abs=1e-9))
        else:
            assert (low, high) == (0.0, 1.0)  # one patient: nothing to estimate the spread from
