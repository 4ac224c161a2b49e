"""The covariate patterns a fit's Newton steps read keep their counts narrow."""

from __future__ import annotations

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
