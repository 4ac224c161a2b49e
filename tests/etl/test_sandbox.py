"""The analyst sandbox: what runs, what is refused, and that the warehouse never changes."""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from etl import sandbox
from etl.sandbox import SandboxError, SandboxResult, run_sandboxed
from etl.warehouse import WarehouseError, connect, connect_memory

# Patient ids and notes that must never appear in an error message.
PATIENT_IDS = [f"PT-{i:04d}" for i in range(7)]


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A published snapshot with sessions (500 rows), clinics, devices and a view.

    Shared by the module: every test that could change it asserts it did not, so sharing only
    makes the check stricter (a change would also fail every later test).
    """
    path = tmp_path_factory.mktemp("warehouse") / "snapshots" / "20250101T000000Z.duckdb"
    path.parent.mkdir()
    con = connect(path, read_only=False)
    con.execute(
        """
        create table sessions as
        select i as session_id,
               'PT-' || lpad((i % 7)::varchar, 4, '0') as patient_id,
               ['ETB-01', 'ETB-02'][1 + i % 2] as clinic_id,
               date '2024-01-01' + (i % 300)::int as session_date,
               (20 + i % 40)::double as vacuum_kpa,
               i % 3 = 0 as side_effect
        from range(500) t(i)
        """
    )
    con.execute("create table clinics (clinic_id varchar, region varchar)")
    con.execute("insert into clinics values ('ETB-01', 'East'), ('ETB-02', 'West')")
    # A column literally named like a statement keyword: analysts must still be able to select it.
    con.execute("create table devices as select 'D1' as device_id, 35.0 as vacuum, 2 as load")
    con.execute(
        "create view recent_sessions as select * from sessions where session_date >= date '2024-06-01'"
    )
    con.execute("checkpoint")
    con.close()
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder a hostile statement would like to write to or read from."""
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


def fingerprint(path: Path) -> dict:
    """Bytes, mtime, sibling files, tables and row counts of a snapshot."""
    stat = path.stat()
    con = connect(path, read_only=True)
    try:
        tables = con.execute("select table_name from duckdb_tables() order by 1").fetchall()
        counts = {name: con.execute(f'select count(*) from "{name}"').fetchone()[0] for (name,) in tables}
    finally:
        con.close()
    return {
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "mtime_ns": stat.st_mtime_ns,
        "size": stat.st_size,
        "siblings": sorted(p.name for p in path.parent.iterdir()),
        "counts": counts,
    }


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

# {out} is a folder outside the warehouse; {snapshot} is the snapshot file itself.
HOSTILE = {
    # file and network reads
    "read_csv_etc_passwd": "select * from read_csv('/etc/passwd')",
    "read_csv_upper_case": "SELECT * FROM READ_CSV('/etc/passwd')",
    "read_csv_quoted_name": "select * from \"read_csv\"('/etc/passwd')",
    "read_csv_auto": "select * from read_csv_auto('/etc/passwd', sep = ':')",
    "read_text": "select content from read_text('/etc/hostname')",
    "read_blob": "select content from read_blob('/etc/hostname')",
    "read_parquet": "select * from read_parquet('{out}/x.parquet')",
    "read_json": "select * from read_json('{out}/x.json')",
    "glob": "select * from glob('*')",
    "sniff_csv": "select * from sniff_csv('/etc/passwd')",
    "read_duckdb_file": "select * from read_duckdb('{snapshot}')",
    "quoted_path_as_table": "select * from '/etc/passwd'",
    "csv_name_as_table": "select * from 'x.csv'",
    "url_as_table": "select * from 'https://example.com/x.parquet'",
    # writes to files and other databases
    "copy_to_file": "copy sessions to '{out}/leak.csv'",
    "copy_hidden_in_cte": "with x as (copy sessions to '{out}/leak.csv') select * from x",
    "export_database": "export database '{out}/dump'",
    "import_database": "import database '{out}/dump'",
    "attach": "attach '{out}/other.duckdb' as other",
    "attach_snapshot_read_write": "attach '{snapshot}' as rw",
    "detach": "detach warehouse",
    "use": "use memory",
    # extensions
    "install_httpfs": "install httpfs",
    "load_httpfs": "load httpfs",
    "duckdb_extensions": "select * from duckdb_extensions()",
    # settings
    "set_external_access": "set enable_external_access = true",
    "set_memory_limit": "set memory_limit = '64GB'",
    "reset_memory_limit": "reset memory_limit",
    "pragma": "pragma enable_profiling",
    "set_variable": "set variable x = 1",
    "enable_logging_function": "select * from enable_logging()",
    # DDL and DML
    "create_table": "create table copy_of_sessions as select * from sessions",
    "create_temp_table": "create temp table t as select 1",
    "create_view": "create view v as select 1",
    "create_macro": "create macro m() as 1",
    "drop_table": "drop table sessions",
    "insert": "insert into clinics values ('ETB-03', 'North')",
    "update": "update sessions set vacuum_kpa = 0",
    "delete": "delete from sessions",
    "merge": "merge into clinics using (select 'ETB-01' as clinic_id) s using (clinic_id) when matched then delete",
    "truncate": "truncate sessions",
    "alter": "alter table sessions add column note varchar",
    "delete_hidden_in_cte": "with gone as (delete from sessions returning *) select count(*) from gone",
    "insert_hidden_in_cte": "with x as (insert into clinics values ('X', 'Y') returning *) select * from x",
    "update_hidden_in_cte": "with x as (update sessions set vacuum_kpa = 0 returning *) select 1",
    "nextval": "select nextval('seq')",
    # other statement types
    "two_statements": "select 1; drop table sessions",
    "call": "call pragma_version()",
    "checkpoint": "checkpoint",
    "checkpoint_function": "select * from checkpoint()",
    "vacuum": "vacuum",
    "begin": "begin transaction",
    "prepare": "prepare q as select 1",
    "execute": "execute q",
    "explain_analyze": "explain analyze select count(*) from sessions",
    "sql_in_a_string": "select * from query('select 1')",
    "query_table": "select * from query_table('sessions')",
    "serialized_sql": "select * from json_execute_serialized_sql(json_serialize_sql('select 1'))",
    # the app's own Python objects
    "python_replacement_scan": "select * from secret_df",
    # host paths and environment
    "getenv_home": "select getenv('HOME')",
    "current_setting_path": "select current_setting('secret_directory')",
    "duckdb_settings": "select * from duckdb_settings()",
    "pg_settings": "select * from pg_settings",
    "show_setting": "show secret_directory",
    "duckdb_databases_function": "select path from duckdb_databases()",
    "duckdb_databases_view": "select * from system.main.duckdb_databases",
    "pragma_database_list": "select * from pragma_database_list",
    # comment tricks
    "block_comment_before_drop": "/* select */ drop table sessions",
    "line_comment_before_drop": "-- select\ndrop table sessions",
    "comment_then_second_statement": "select 1 /* ; */; drop table sessions",
    "second_statement_after_line_comment": "select 1; -- harmless\ndrop table sessions",
}


@pytest.mark.parametrize("sql", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_statements_are_refused_and_change_nothing(snapshot, outside, sql):
    secret_df = pd.DataFrame({"secret": ["do-not-leak"]})  # noqa: F841 - a replacement scan would read it
    sql = sql.replace("{out}", str(outside)).replace("{snapshot}", str(snapshot))
    before = fingerprint(snapshot)
    with pytest.raises(SandboxError) as refused:
        run_sandboxed(sql, snapshot, timeout_s=5)
    message = str(refused.value)
    assert message and "\n" not in message and "Traceback" not in message
    assert "do-not-leak" not in message
    assert fingerprint(snapshot) == before
    assert list(outside.iterdir()) == []


def test_the_hostile_corpus_is_large_enough():
    assert len(HOSTILE) >= 30


def test_a_dataframe_in_the_callers_frame_is_not_reachable(snapshot):
    secret_df = pd.DataFrame({"ssn": ["123-45-6789"]})
    # DuckDB's replacement scan looks in the frame that calls execute(), so both the control and the
    # sandbox connection run their statement here, next to the DataFrame.
    plain = connect_memory()
    try:
        assert plain.execute("select ssn from secret_df").fetchall() == [("123-45-6789",)]
    finally:
        plain.close()
    locked = sandbox._open(snapshot, "256MB", 5.0)
    try:
        with pytest.raises(duckdb.CatalogException):
            locked.execute("select ssn from secret_df")
    finally:
        locked.close()
    with pytest.raises(SandboxError, match="secret_df"):
        run_sandboxed("select ssn from secret_df", snapshot)
    assert secret_df.shape == (1, 1)


def test_a_comment_hiding_a_second_statement_is_only_a_comment(snapshot):
    result = run_sandboxed("select count(*) as n from sessions -- ; drop table sessions", snapshot)
    assert result.frame["n"][0] == 500
    assert fingerprint(snapshot)["counts"]["sessions"] == 500


def test_the_parser_layer_alone_refuses_a_write_hidden_in_a_cte():
    # DuckDB 2.0 calls this statement a SELECT; its serialized tree shows the DELETE node.
    con = connect_memory()
    try:
        statement = "with gone as (delete from sessions returning *) select count(*) from gone"
        assert con.extract_statements(statement)[0].type == duckdb.StatementType.SELECT
        tree = sandbox._serialize(con, statement)
    finally:
        con.close()
    with pytest.raises(SandboxError, match="DELETE"):
        sandbox._check_tree(tree, set())


def test_the_token_layer_alone_refuses_write_keywords_but_not_quoted_names():
    with pytest.raises(SandboxError, match="DELETE"):
        sandbox._check_tokens("with gone as (delete from sessions returning *) select 1")
    with pytest.raises(SandboxError, match="must start with SELECT"):
        sandbox._check_tokens("/* select */ drop table sessions")
    sandbox._check_tokens('select "delete", "update" from t -- insert\n')


def test_the_engine_layer_alone_blocks_files_settings_writes_and_python_objects(snapshot, outside):
    secret_df = pd.DataFrame({"secret": [1]})  # noqa: F841 - a replacement scan would read it
    con = sandbox._open(snapshot, "256MB", 5.0)
    try:
        blocked = {
            "select * from read_csv('/etc/passwd')": duckdb.PermissionException,
            f"copy sessions to '{outside}/leak.csv'": duckdb.Error,
            f"attach '{outside}/other.duckdb' as other": duckdb.PermissionException,
            "set enable_external_access = true": duckdb.InvalidInputException,
            "reset memory_limit": duckdb.InvalidInputException,
            "pragma memory_limit = '64GB'": duckdb.InvalidInputException,
            "load httpfs": duckdb.PermissionException,
            "drop table sessions": duckdb.Error,
            "insert into clinics values ('X', 'Y')": duckdb.Error,
            "select * from secret_df": duckdb.CatalogException,
        }
        for statement, error in blocked.items():
            with pytest.raises(error):
                con.execute(statement)
        settings = dict(
            con.execute(
                "select name, value from duckdb_settings() where name in ('enable_external_access', "
                "'lock_configuration', 'python_enable_replacements', 'autoinstall_known_extensions', "
                "'autoload_known_extensions', 'temp_directory')"
            ).fetchall()
        )
    finally:
        con.close()
    assert settings == {
        "enable_external_access": "false",
        "lock_configuration": "true",
        "python_enable_replacements": "false",
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
        "temp_directory": "",
    }
    assert list(outside.iterdir()) == []


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
