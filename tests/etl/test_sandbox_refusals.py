"""The analyst sandbox refuses what could read files, settings or the host, or write: each layer on its own too."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from etl import sandbox_rules, sandbox_worker
from etl.sandbox import SandboxError, run_sandboxed
from etl.warehouse import connect_memory
from tests.etl.sandbox_support import fingerprint

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
    locked = sandbox_worker.open_engine(snapshot, "256MB", 5.0)
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
        tree = sandbox_rules.serialize(con, statement)
    finally:
        con.close()
    with pytest.raises(SandboxError, match="DELETE"):
        sandbox_rules.check_tree(tree, set())


def test_the_token_layer_alone_refuses_write_keywords_but_not_quoted_names():
    with pytest.raises(SandboxError, match="DELETE"):
        sandbox_rules.check_tokens("with gone as (delete from sessions returning *) select 1")
    with pytest.raises(SandboxError, match="must start with SELECT"):
        sandbox_rules.check_tokens("/* select */ drop table sessions")
    sandbox_rules.check_tokens('select "delete", "update" from t -- insert\n')


def test_the_engine_layer_alone_blocks_files_settings_writes_and_python_objects(snapshot, outside):
    secret_df = pd.DataFrame({"secret": [1]})  # noqa: F841 - a replacement scan would read it
    con = sandbox_worker.open_engine(snapshot, "256MB", 5.0)
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
