"""Every SQL file: one statement, an honest header, and it runs on the sample warehouse."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from queries import QueryError, bind_params, get_query, list_queries, run_query
from queries.loader import LAYERS, used_params

ALL = [q for layer in LAYERS for q in list_queries(layer)]
ANALYSES = list_queries("analyses")
EXAMPLE_VALUES = {
    "setting": "vacuum_band",
    "unit_type": "clinician",
    "fitzpatrick": 2,
    "indication": "wrinkles",
    "treatment_area": "face",
}


@pytest.mark.parametrize("query", ALL, ids=[f"{q.layer}/{q.name}" for q in ALL])
def test_each_file_is_one_select_with_a_purpose_grain_and_params_header(query):
    statements = duckdb.extract_statements(query.sql)
    assert len(statements) == 1
    assert statements[0].type == duckdb.StatementType.SELECT
    header = [line for line in query.sql.splitlines()[:3] if line.startswith("--")]
    assert len(header) == 3 and query.purpose and query.grain
    assert header[2].startswith("-- Params:")
    assert query.sql.rstrip().splitlines()[-1].startswith(("select * from final", "order by")), (
        "end with the final CTE"
    )


@pytest.mark.parametrize("query", ALL, ids=[f"{q.layer}/{q.name}" for q in ALL])
def test_the_params_header_matches_the_statement(query):
    assert set(query.param_names) == used_params(query.sql)


@pytest.mark.parametrize("query", ALL, ids=[f"{q.layer}/{q.name}" for q in ALL])
def test_no_query_text_is_built_from_values(query):
    # Parameters are bound: a query file never contains Python formatting placeholders.
    assert not re.search(r"\{[a-z_]+\}|%\(|%s", query.sql)


@pytest.mark.parametrize("query", ANALYSES, ids=[q.name for q in ANALYSES])
def test_every_analysis_runs_on_the_sample_warehouse(sample_warehouse, query):
    con = duckdb.connect(str(sample_warehouse.data_dir / "warehouse.duckdb"), read_only=True)
    values = {p.name: EXAMPLE_VALUES[p.name] for p in query.params if not p.optional}
    frame = run_query(con, query, values)
    assert len(frame.columns) > 0
    if query.name not in ("load_batches", "quarantine_records", "quarantine_summary"):
        assert len(frame) > 0, "the sample should give every analysis something to show"


def test_an_analyst_can_run_a_query_file_with_prepare_and_execute(sample_warehouse):
    query = get_query("kpis_by_month")
    con = duckdb.connect(str(sample_warehouse.data_dir / "warehouse.duckdb"), read_only=True)
    body = "\n".join(line for line in query.sql.splitlines() if not line.startswith("--"))
    con.execute(f"prepare kpis as {body}")
    shell = con.execute(
        "execute kpis(date_from := null, date_to := null, clinic_id := 'ETB-01', "
        "clinician_id := null, crystal_type := null, treatment_area := null, indication := null, "
        "fitzpatrick := null)"
    ).df()
    product = run_query(con, query, {"clinic_id": "ETB-01"})
    assert shell.equals(product)


def test_a_second_process_reads_the_warehouse_while_it_is_being_loaded(sample_warehouse, tmp_path):
    import subprocess
    import sys

    script = (
        "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
        "print(con.execute('select count(*) from sessions').fetchall()[0][0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(sample_warehouse.data_dir / "warehouse.duckdb")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert int(out) > 1000


@pytest.mark.parametrize(
    ("name", "values", "message"),
    [
        ("no_such_query", {}, "unknown query 'no_such_query'"),
        ("kpis_by_month", {"colour": "red"}, "has no parameter 'colour'"),
        ("kpis_by_month", {"date_from": "last week"}, "'date_from' must be a date"),
        ("kpis_by_month", {"fitzpatrick": "IV"}, "'fitzpatrick' must be a integer"),
        ("side_effect_rate_by_setting", {}, "missing parameter 'setting'"),
        ("side_effect_rate_by_setting", {"setting": "colour"}, "must be one of"),
        ("../etc/passwd", {}, "unknown query"),
    ],
    ids=["unknown", "extra", "bad_date", "bad_integer", "missing", "not_a_choice", "path_traversal"],
)
def test_a_wrong_name_or_parameter_is_one_clear_line(name, values, message):
    with pytest.raises(QueryError, match=re.escape(message)) as info:
        bind_params(get_query(name), values)
    assert "\n" not in str(info.value)


def test_the_dictionary_describes_every_warehouse_column(sample_warehouse):
    text = (Path(__file__).parents[2] / "queries" / "DICTIONARY.md").read_text(encoding="utf-8")
    documented: dict[str, set[str]] = {}
    for section in text.split("\n## ")[1:]:
        name = section.splitlines()[0].strip()
        cols = {
            name
            for name, kind in re.findall(r"^\| ([a-z_0-9]+) \| ([^|]+) \|", section, re.M)
            if kind.strip() != "type"
        }  # the header row
        include = re.search(r"Includes: (\w+)", section)
        documented[name] = cols | (documented.get(include.group(1), set()) if include else set())
    con = duckdb.connect(str(sample_warehouse.data_dir / "warehouse.duckdb"), read_only=True)
    actual: dict[str, set[str]] = {}
    for table, column in con.execute(
        "select table_name, column_name from information_schema.columns"
    ).fetchall():
        actual.setdefault(table, set()).add(column)
    undocumented = {
        t: sorted(cols - documented.get(t, set()))
        for t, cols in actual.items()
        if cols - documented.get(t, set())
    }
    assert not undocumented
    stale = {
        t: sorted(cols - actual.get(t, set()))
        for t, cols in documented.items()
        if cols - actual.get(t, set())
    }
    assert not stale


FILTERS = (
    "date_from",
    "date_to",
    "clinic_id",
    "clinician_id",
    "crystal_type",
    "treatment_area",
    "indication",
    "fitzpatrick",
)
FILTERED = [q for q in ANALYSES if set(FILTERS) <= set(q.param_names)]


@pytest.mark.parametrize("query", FILTERED, ids=[q.name for q in FILTERED])
def test_the_shared_filters_are_the_one_macro_not_a_copy(query):
    """Every analysis that takes the sidebar's filters applies them through ``filtered_rows``."""
    assert "filtered_rows(" in query.sql
    assert not re.search(r"\$fitzpatrick is null or \w*\.?fitzpatrick = \$fitzpatrick", query.sql), (
        "a copy of the filter block: use filtered_rows(...)"
    )


def test_the_filter_macro_keeps_whole_months_and_equal_cells():
    from etl.load import _ensure_schema

    con = duckdb.connect()
    con.execute("attach ':memory:' as wh")
    _ensure_schema(con)
    con.execute("use wh")
    con.execute("""create table cells as select * from (values
        (date '2026-01-01', 'A', 'A-K1', 'corundum', 'face', 'wrinkles', 2),
        (date '2026-02-01', 'A', 'A-K2', 'diamond_tip', 'neck', 'texture', 5),
        (date '2026-03-01', 'B', 'B-K1', 'corundum', 'face', 'wrinkles', 2))
        as t(month, clinic_id, clinician_id, crystal_type, treatment_area, indication, fitzpatrick)""")

    def count(**filters) -> int:
        args = "".join(f", {k} := ${k}" for k in filters)
        return con.execute(f"select count(*) from filtered_rows('cells'{args})", filters).fetchone()[0]

    assert count() == 3
    assert count(date_from="2026-02-15") == 2  # from the month of the date: February counts whole
    assert count(date_to="2026-02-28") == 2
    assert count(clinic_id="A", fitzpatrick=2) == 1
    assert count(crystal_type="corundum", treatment_area="face", indication="wrinkles") == 2
    assert count(clinician_id="A-K2", clinic_id="B") == 0
