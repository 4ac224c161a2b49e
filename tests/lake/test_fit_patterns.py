"""The covariate patterns a fit's Newton steps read: narrow counts, and a fit that stops through their sums' rounding."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.design import CLINIC
from derma.lake.engines import DuckDBEngine
from derma.lake.fitting import EngineRows

CODED = f"""
    select (range % 7) * 0.5 as vacuum_10kpa, cast(1 + range % 3 as double) as passes,
        cast(range % 4 as double) as flow_10pct, cast(1 + range % 5 as double) as session_number,
        case when range % 2 = 0 then 'A' else 'B' end as {CLINIC},
        case when range % 3 = 0 then 'corundum' else 'diamond' end as crystal_type,
        {{y}} as y, range % 400 as patient
    from range(5000)"""


@pytest.mark.parametrize(
    ("kind", "y", "counts"),
    [
        ("logit", "cast(range % 4 = 0 as integer)", ["n", "events"]),
        ("ordinal", "cast(1 + range % 5 as integer)", ["n", "c0", "c1", "c2", "c3", "c4"]),
    ],
)
def test_a_fits_pattern_counts_are_four_byte_integers_not_hugeint_sums(kind, y, counts):
    """DuckDB's sum of integers is a 16-byte HUGEINT; every step carries the counts, so they are cast."""
    engine = DuckDBEngine(memory_limit="256MB")
    try:
        engine.materialise("coded", CODED.format(y=y))
        rows = EngineRows(engine, "coded", kind, (CLINIC, "crystal_type")).collapsed()
        types = dict(
            engine.con.execute(
                "select column_name, data_type from information_schema.columns where table_name = ?",
                [rows.patterns],
            ).fetchall()
        )
        assert {c: types[c] for c in counts} == dict.fromkeys(counts, "INTEGER")
        assert rows.n == 5000
        sums = engine.frame(f"select {', '.join(f'sum({c}) as {c}' for c in counts)} from {rows.patterns}")
        assert int(sums.iloc[0][counts[1:]].sum()) == (1250 if kind == "logit" else 5000)
    finally:
        engine.close()


class NoisySums:
    """The rows of a fit whose log-likelihood comes back perturbed in its last digits, alternately up and
    down, as a parallel engine's sum in a different order does (traced at 1M: ±1.2e-10 on |ℓ| ≈ 10^6)."""

    def __init__(self, rows, relative: float):
        self._rows, self._relative, self.calls = rows, relative, 0

    def __getattr__(self, name):
        return getattr(self._rows, name)

    def ordinal_sums(self, info, env, params):
        loglike, grad, hess = self._rows.ordinal_sums(info, env, params)
        self.calls += 1
        return loglike * (1 + self._relative * (-1) ** self.calls), grad, hess


def test_the_ordinal_fit_converges_through_a_sums_rounding_noise():
    """With the log-likelihood perturbed by ±1e-15 of its size (ten times the relative noise traced at
    1M; about 8e-12 here, above the old fixed 1e-12) the fit stops where it would without noise, at the
    same estimate and with the same number of sums. The old rule takes 11 sums against 9."""
    from analysis.design import design_env
    from analysis.sufficient import fit_cumulative_sums

    engine = DuckDBEngine(memory_limit="256MB")
    try:
        # a rating that rises with the vacuum, with scatter: not at its optimum from the start
        rating = "cast(least(5, 1 + (range % 7) // 2 + (range * 7919) % 3) as integer)"
        engine.materialise("coded", CODED.format(y=rating))

        def rows():  # each fit from the same cold start (rows remember a fit to start the next from)
            return (
                EngineRows(engine, "coded", "ordinal", (CLINIC, "crystal_type"), starts={})
                .categorised({CLINIC: ["A", "B"], "crystal_type": ["corundum", "diamond"]})
                .collapsed()
            )

        rhs = f"vacuum_10kpa + session_number + {CLINIC} + crystal_type"
        fits = {}
        for relative in (0.0, 1e-15):  # 1e-15 · 8,000 ≈ 8e-12: ten times the old absolute tolerance
            noisy = NoisySums(rows(), relative)
            fits[relative] = (
                fit_cumulative_sums(rhs, noisy, design_env(()), {}, cov_type="model"),
                noisy.calls,
            )
        (quiet, quiet_calls), (noisy_fit, noisy_calls) = fits[0.0], fits[1e-15]
        assert abs(quiet.loglike) > 1000
        assert noisy_calls == quiet_calls
        np.testing.assert_allclose(noisy_fit.params, quiet.params, rtol=0, atol=1e-8)
    finally:
        engine.close()
