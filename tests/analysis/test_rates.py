"""Rates: Wilson and exact Poisson intervals against statsmodels, small-sample notes, rates by side-effect type."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.rates import confint_poisson

from analysis.rates import (
    RATE_COLUMNS,
    SIDE_EFFECT_TYPES,
    exact_poisson_interval,
    rates_by_type,
    small_sample,
    wilson_interval,
)

SCHEMA = Path(__file__).resolve().parents[2] / "etl" / "schema.sql"


@pytest.mark.parametrize("level", [0.90, 0.95, 0.99])
def test_wilson_interval_matches_statsmodels(level):
    events = np.array([0, 1, 3, 10, 29, 30, 7, 250])
    n = np.array([30, 30, 30, 30, 30, 30, 1000, 260])
    low, high = wilson_interval(events, n, level)
    ref_low, ref_high = proportion_confint(events, n, alpha=1 - level, method="wilson")
    np.testing.assert_allclose(low, ref_low, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(high, ref_high, rtol=1e-12, atol=1e-14)


def test_wilson_interval_keeps_the_shape_of_its_input_and_gives_nan_for_no_trials():
    low, high = wilson_interval(3, 20)
    assert isinstance(low, float) and 0 < low < 0.15 < high < 1
    events = pd.Series([1, 2, 0], index=["a", "b", "c"], dtype="Int64")
    n = pd.Series([5, pd.NA, 0], index=["a", "b", "c"], dtype="Int64")
    low, high = wilson_interval(events, n)
    assert list(low.index) == ["a", "b", "c"]
    assert low["a"] > 0 and np.isnan(low["b"]) and np.isnan(low["c"]) and np.isnan(high["c"])


def test_wilson_interval_is_exactly_zero_or_one_at_the_edges():
    low, high = wilson_interval(np.array([0, 5]), np.array([5, 5]))
    assert low[0] == 0.0 and high[1] == 1.0


def test_exact_poisson_interval_matches_statsmodels_and_the_garwood_formula():
    observed = np.array([0, 1, 2, 5, 17, 100])
    low, high = exact_poisson_interval(observed)
    ref_low, ref_high = confint_poisson(observed, 1, method="exact-c")
    np.testing.assert_allclose(low, ref_low, rtol=1e-10)
    np.testing.assert_allclose(high, ref_high, rtol=1e-10)
    # O = 0: lower 0, upper -ln(0.025) (the chi-square with 2 df is an exponential).
    assert low[0] == 0 and high[0] == pytest.approx(-math.log(0.025))


def test_exact_poisson_interval_for_an_oe_ratio_divides_by_expected():
    low, high = exact_poisson_interval(5, 0.95, expected=2.5)
    ref = confint_poisson(5, 2.5, method="exact-c")
    assert (low, high) == pytest.approx(ref)
    low, high = exact_poisson_interval([3], expected=[0.0])
    assert np.isnan(low[0]) and np.isnan(high[0])


def test_small_sample_says_why_in_plain_words():
    assert small_sample(0) == "no sessions"
    assert small_sample(12, 3) == "small sample: only 12 sessions, so the interval is wide"
    assert small_sample(1, unit="courses") == "small sample: only 1 course, so the interval is wide"
    assert small_sample(400, 2) == "few events (2): read the rate with care"
    assert small_sample(400, 2.5) == "few events (2.5): read the rate with care"
    assert small_sample(400, 20) == ""


def test_side_effect_types_follow_the_export_contract():
    from etl.contract import SIDE_EFFECTS

    assert tuple(SIDE_EFFECT_TYPES) == tuple(SIDE_EFFECTS)


def _sessions() -> pd.DataFrame:
    rows = [
        # fitzpatrick, any_side_effect, side_effects
        (2, False, []),
        (2, True, ["petechiae"]),
        (2, True, ["petechiae", "petechiae", "abrasion"]),  # a repeated code counts once
        (2, None, None),  # outcome unknown: not in the denominator
        (5, True, ["hyperpigmentation"]),
        (5, False, []),
        (5, None, None),
    ]
    frame = pd.DataFrame(rows, columns=["fitzpatrick", "any_side_effect", "side_effects"])
    frame["any_side_effect"] = frame["any_side_effect"].astype("boolean")
    return frame


def test_rates_by_type_counts_sessions_with_a_known_outcome():
    out = rates_by_type(_sessions())
    assert list(out.columns) == ["fitzpatrick", *RATE_COLUMNS]
    assert len(out) == 2 * (len(SIDE_EFFECT_TYPES) + 1)
    row = out.set_index(["fitzpatrick", "side_effect"])
    assert row.loc[(2, "petechiae"), ["events", "n"]].tolist() == [2, 3]
    assert row.loc[(2, "petechiae"), "rate"] == pytest.approx(2 / 3)
    assert row.loc[(2, "abrasion"), "events"] == 1
    assert row.loc[(2, "any"), "events"] == 2
    assert row.loc[(5, "hyperpigmentation"), ["events", "n"]].tolist() == [1, 2]
    assert row.loc[(5, "infection"), "events"] == 0
    low, high = wilson_interval(2, 3)
    assert row.loc[(2, "petechiae"), "ci_low"] == pytest.approx(low)
    assert row.loc[(2, "petechiae"), "ci_high"] == pytest.approx(high)
    assert row.loc[(5, "any"), "small_sample"].startswith("small sample: only 2 sessions")


def test_rates_by_type_overall_and_on_empty_input():
    out = rates_by_type(_sessions(), by=None)
    assert list(out.columns) == RATE_COLUMNS
    assert out.set_index("side_effect").loc["petechiae", ["events", "n"]].tolist() == [2, 5]
    empty = rates_by_type(_sessions().iloc[:0])
    assert empty.empty and list(empty.columns) == ["fitzpatrick", *RATE_COLUMNS]
    unknown_only = rates_by_type(_sessions().loc[lambda f: f["any_side_effect"].isna()])
    assert unknown_only.empty


def test_rates_by_type_reads_the_warehouse_list_column():
    con = duckdb.connect()
    con.execute(SCHEMA.read_text())
    con.execute(
        """insert into sessions (clinic_id, session_id, patient_key, clinician_id, session_date, crystal_type,
               vacuum_kpa, passes, treatment_area, indication, fitzpatrick, session_number, side_effects,
               any_side_effect, batch_id, source_file, source_row)
           select 'C1', 's' || i, 'pk' || i, 'K1', date '2026-01-01', 'corundum', 30, 2, 'face', 'wrinkles',
                  case when i % 2 = 0 then 2 else 4 end, 1,
                  case when i % 5 = 0 then null when i % 3 = 0 then ['petechiae'] else [] end,
                  case when i % 5 = 0 then null else i % 3 = 0 end, 'b', 'f', i
           from range(1, 31) t(i)"""
    )
    sessions = con.execute("select * from sessions").df()
    out = rates_by_type(sessions, by=None).set_index("side_effect")
    known = [i for i in range(1, 31) if i % 5]
    assert out.loc["petechiae", "n"] == len(known)
    assert out.loc["petechiae", "events"] == sum(1 for i in known if i % 3 == 0)
    assert out.loc["any", "events"] == out.loc["petechiae", "events"]


def test_wilson_interval_agrees_with_the_warehouse_macro():
    con = duckdb.connect()
    con.execute(SCHEMA.read_text())
    events, n = [0, 3, 17, 40], [12, 40, 300, 40]
    low, high = wilson_interval(np.array(events), np.array(n))
    for i, (x, m) in enumerate(zip(events, n, strict=True)):
        sql_low, sql_high = con.execute(
            "select wilson_low($x::double, $n::double), wilson_high($x::double, $n::double)", {"x": x, "n": m}
        ).fetchone()
        assert sql_low == pytest.approx(low[i], abs=1e-6) and sql_high == pytest.approx(high[i], abs=1e-6)
