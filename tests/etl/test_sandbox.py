"""The analyst sandbox: what runs, what is refused, and that the warehouse never changes."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from etl.sandbox import SandboxError, SandboxResult, run_sandboxed
from etl.warehouse import WarehouseError, connect
from tests.etl.sandbox_support import PATIENT_IDS, fingerprint

# --- what runs ---------------------------------------------------------------------------------


def test_a_select_returns_rows_with_duckdb_types(snapshot):
    result = run_sandboxed(
        "select session_id, patient_id, session_date, vacuum_kpa, side_effect from sessions "
        "order by session_id limit 3",
        snapshot,
    )
    assert isinstance(result, SandboxResult)
    assert result.columns == ("session_id", "patient_id", "session_date", "vacuum_kpa", "side_effect")
    assert list(result.frame["session_id"]) == [0, 1, 2]
    dtypes = result.frame.dtypes
    assert pd.api.types.is_integer_dtype(dtypes["session_id"])
    assert pd.api.types.is_string_dtype(dtypes["patient_id"])
    assert pd.api.types.is_datetime64_any_dtype(dtypes["session_date"])
    assert pd.api.types.is_float_dtype(dtypes["vacuum_kpa"])
    assert pd.api.types.is_bool_dtype(dtypes["side_effect"])
    assert result.truncated is False
    assert result.row_limit == 10_000
    assert result.elapsed_s >= 0


def test_a_cte_joining_two_tables_runs(snapshot):
    sql = """
        with per_clinic as (
            select clinic_id, count(*) as n_sessions, avg(side_effect::int) as side_effect_rate
            from sessions group by clinic_id
        )
        select c.region, p.n_sessions, p.side_effect_rate
        from per_clinic p join clinics c using (clinic_id)
        order by c.region;
    """
    result = run_sandboxed(sql, snapshot)
    assert result.frame.to_dict("list")["region"] == ["East", "West"]
    assert result.frame["n_sessions"].sum() == 500


ALLOWED = {
    "from_first": ("from clinics select region order by region", 2),
    "values": ("values (1, 'a'), (2, 'b')", 2),
    "table": ("table clinics", 2),
    "describe": ("describe sessions", 6),
    "summarize": ("summarize clinics", 2),
    "show_tables": ("show tables", 4),
    "show_a_table": ("show sessions", 6),
    "union": ("select 1 as x union all select 2", 2),
    "bounded_recursive_cte": (
        "with recursive r(n) as (select 1 union all select n + 1 from r where n < 5) select * from r",
        5,
    ),
    "window_and_qualify": (
        "select * from sessions qualify row_number() over "
        "(partition by patient_id order by session_date) = 1",
        7,
    ),
    "view": ("select count(*) from recent_sessions", 1),
    "information_schema": (
        "select column_name from information_schema.columns where table_name = 'clinics'",
        2,
    ),
    "duckdb_tables_function": ("select table_name from duckdb_tables()", 3),
    "pivot_with_in_list": (
        "pivot sessions on clinic_id in ('ETB-01', 'ETB-02') using count(*) group by patient_id",
        7,
    ),
    "range": ("select * from range(3)", 3),
    "keyword_named_columns": ("select vacuum, load from devices", 1),
    "write_words_inside_a_string": ("select 'delete from sessions; drop table sessions' as note", 1),
    "line_comment_after_the_select": ("select 1 -- ; drop table sessions", 1),
    "block_comment_with_semicolon": ("/* ; drop table sessions; */ select 1", 1),
    "trailing_semicolons": ("select 1;", 1),
}


@pytest.mark.parametrize("sql, n_rows", ALLOWED.values(), ids=ALLOWED.keys())
def test_read_only_query_shapes_run(snapshot, sql, n_rows):
    before = fingerprint(snapshot)
    assert len(run_sandboxed(sql, snapshot).frame) == n_rows
    assert fingerprint(snapshot) == before


def test_the_row_cap_cuts_the_result_and_says_so(snapshot):
    result = run_sandboxed("select * from sessions order by session_id", snapshot, max_rows=10)
    assert result.truncated is True
    assert result.row_limit == 10
    assert list(result.frame["session_id"]) == list(range(10))


def test_a_result_of_exactly_the_row_cap_is_not_truncated(snapshot):
    result = run_sandboxed("select * from sessions", snapshot, max_rows=500)
    assert (len(result.frame), result.truncated) == (500, False)


def test_the_row_cap_holds_across_fetch_chunks(snapshot):
    result = run_sandboxed("select * from range(100000)", snapshot, max_rows=5000)
    assert (len(result.frame), result.truncated) == (5000, True)
    assert result.frame["range"].tolist() == list(range(5000))


def test_an_empty_result_keeps_its_columns(snapshot):
    result = run_sandboxed("select session_id, session_date from sessions where false", snapshot)
    assert result.columns == ("session_id", "session_date")
    assert len(result.frame) == 0
    assert result.truncated is False


def test_the_sandbox_runs_while_the_app_holds_its_own_connection(snapshot):
    # DuckDB refuses a second configuration for a file already open in the process; the sandbox
    # attaches the file to a private instance so the dashboard's cached connection is no obstacle.
    app = connect(snapshot, read_only=True)
    try:
        assert run_sandboxed("select count(*) as n from sessions", snapshot).frame["n"][0] == 500
        assert app.execute("select count(*) from clinics").fetchone()[0] == 2
    finally:
        app.close()


def test_concurrent_calls_from_threads_do_not_interfere(snapshot):
    def count(table: str) -> int:
        return int(run_sandboxed(f"select count(*) as n from {table}", snapshot).frame["n"][0])

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(count, ["sessions", "clinics"] * 4))
    assert results == [500, 2] * 4


# --- what is refused ---------------------------------------------------------------------------


# --- limits and failures -----------------------------------------------------------------------

RUNAWAY = {
    "count_over_a_huge_range": "select count(*) from range(1000000000000)",
    "huge_cross_join": "select sum(a.range * b.range) from range(1000000) a, range(1000000) b",
    # The engine's max_execution_time does not stop sleep_ms; only the interrupt timer does.
    "sleeping_function": "select sleep_ms(60000)",
}


@pytest.mark.parametrize("sql", RUNAWAY.values(), ids=RUNAWAY.keys())
def test_a_runaway_query_is_stopped_at_the_time_limit(snapshot, sql):
    started = time.monotonic()
    with pytest.raises(SandboxError, match="time limit of 1 s"):
        run_sandboxed(sql, snapshot, timeout_s=1.0)
    assert time.monotonic() - started < 1.0 + 2.0
    assert threading.active_count() < 20  # timer threads do not pile up


def test_a_query_past_the_memory_limit_fails_without_spilling(snapshot):
    before = fingerprint(snapshot)
    with pytest.raises(SandboxError, match="memory limit of 64MB"):
        run_sandboxed(
            "select length(string_agg(repeat('x', 1000), ',')) from range(10000000)",
            snapshot,
            memory_limit="64MB",
            timeout_s=5,
        )
    assert fingerprint(snapshot) == before


@pytest.mark.parametrize(
    "sql",
    [
        "select cast(patient_id as integer) from sessions",
        "select error(patient_id) from sessions",
        "select regexp_matches('x', patient_id || '(') from sessions",
        "select strptime(patient_id, '%Y-%m-%d') from sessions",
    ],
    ids=["failed_cast", "error_function", "bad_regex_from_a_column", "failed_date_parse"],
)
def test_errors_while_reading_rows_do_not_quote_warehouse_values(snapshot, sql):
    with pytest.raises(SandboxError) as failed:
        run_sandboxed(sql, snapshot)
    message = str(failed.value)
    assert "details withheld" in message and "\n" not in message
    assert not any(pid in message for pid in PATIENT_IDS)


@pytest.mark.parametrize(
    "sql, expected",
    [
        ("select * from no_such_table", "no_such_table"),
        ("select no_such_column from sessions", "no_such_column"),
        ("selec 1", "syntax error"),
        ("select 1 +", "syntax error"),
        ("", "empty"),
        ("-- only a comment", "no statement"),
        ("select $clinic_id", "without parameters"),
        ("pivot sessions on clinic_id using count(*)", "IN (...)"),
    ],
    ids=[
        "unknown_table",
        "unknown_column",
        "misspelt_keyword",
        "truncated_expression",
        "empty",
        "only_a_comment",
        "parameter",
        "pivot_without_in_list",
    ],
)
def test_mistakes_become_one_line_messages_naming_the_problem(snapshot, sql, expected):
    with pytest.raises(SandboxError) as failed:
        run_sandboxed(sql, snapshot)
    message = str(failed.value)
    assert expected in message
    assert "\n" not in message and "LINE 1" not in message and len(message) <= 300


def test_a_missing_snapshot_is_a_warehouse_error(tmp_path):
    missing = tmp_path / "snapshots" / "missing.duckdb"
    with pytest.raises(WarehouseError, match="cannot open the warehouse"):
        run_sandboxed("select 1", missing)
    assert not missing.exists()


@pytest.mark.parametrize(
    "kwargs",
    [{"max_rows": -1}, {"timeout_s": 0}, {"timeout_s": float("inf")}, {"memory_limit": "lots"}],
    ids=["negative_rows", "zero_timeout", "infinite_timeout", "unreadable_memory_limit"],
)
def test_limits_out_of_range_are_rejected(snapshot, kwargs):
    with pytest.raises(ValueError):
        run_sandboxed("select 1", snapshot, **kwargs)
