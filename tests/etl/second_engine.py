"""The second engine: DataFusion over the exported Parquet, and the analyst SQL it runs (DuckDB dialect).

The analyst SQL is written once, in DuckDB's dialect, and runs unchanged on the warehouse; for
DataFusion it goes through the product's transpiler (``derma.lake.transpile``). Shared by
``tests/etl/test_export.py`` and ``bench/export.py``.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from etl.export import read_manifest

#: Analyst questions over the exported tables, in DuckDB SQL. No ORDER BY (DataFusion has no
#: ``order by all``; results are sorted before comparing), every integer sum cast to bigint (DuckDB
#: sums integers into HUGEINT, DataFusion into BIGINT) and rank() too (UBIGINT in DataFusion): uncast,
#: they would differ in type only.
ANALYST_QUERIES = {
    "sessions_and_patients_by_clinic_month": """
        select clinic_id, cast(date_trunc('month', session_date) as date) as month,
            count(*) as sessions, count(distinct patient_key) as patients
        from sessions
        group by all""",
    "outcomes_by_clinic_month": """
        select clinic_id, month,
            cast(sum(satisfied) as bigint) as satisfied, cast(sum(answered) as bigint) as answered,
            cast(sum(side_effect_sessions) as bigint) as side_effect_sessions,
            cast(sum(outcome_known) as bigint) as outcome_known,
            sum(satisfied) / nullif(sum(answered), 0) as pct_satisfied,
            sum(side_effect_sessions) / nullif(sum(outcome_known), 0) as side_effect_rate,
            cast(sum(rating_sum) as bigint) as rating_sum,
            sum(vacuum_kpa_sum) / sum(sessions) as mean_vacuum_kpa
        from monthly_outcomes
        group by all""",
    "course_status_by_indication": """
        select indication, status, count(*) as courses, cast(sum(sessions_done) as bigint) as sessions_done,
            avg(mean_gap_days) as mean_gap_days, count(*) filter (where any_side_effect) as with_side_effects
        from patient_courses
        group by all""",
    "sessions_running_total_and_rank_by_clinic": """
        with per_month as (
            select clinic_id, month, cast(sum(sessions) as bigint) as sessions
            from monthly_outcomes
            group by all
        )
        select clinic_id, month, sessions,
            cast(sum(sessions) over (partition by clinic_id order by month) as bigint) as running_sessions,
            sessions - lag(sessions) over (partition by clinic_id order by month) as change_prev,
            cast(rank() over (partition by month order by sessions desc, clinic_id) as bigint) as rank_in_month
        from per_month""",
    "patients_per_clinic_month_joined_to_the_network": """
        with sessions_per_month as (
            select clinic_id, month, cast(sum(sessions) as bigint) as sessions
            from monthly_outcomes
            group by all
        ),
        patients_per_month as (
            select clinic_id, month, count(distinct patient_no) as patients
            from patient_months
            group by all
        )
        select s.clinic_id, s.month, s.sessions, p.patients, s.sessions / p.patients as sessions_per_patient,
            n.patients as network_patients
        from sessions_per_month as s
        inner join patients_per_month as p on p.clinic_id = s.clinic_id and p.month = s.month
        left join monthly_patients as n on n.month = s.month""",
    "side_effect_codes_by_clinic": """
        select clinic_id,
            count(*) filter (where list_contains(side_effects, 'petechiae')) as petechiae,
            count(*) filter (where array_length(side_effects) > 1) as several_effects,
            count(*) filter (where side_effects is null) as not_followed_up
        from sessions
        group by all""",
    "side_effect_by_vacuum_band": """
        select vacuum_band, vacuum_band_low, passes, cast(sum(sessions) as bigint) as sessions,
            cast(sum(side_effect_sessions) as bigint) as side_effect_sessions
        from settings_bands
        group by all""",
    "freshness_and_unit_patients": """
        select f.clinic_id, f.first_session_date, f.last_loaded_at, f.sessions, u.clinician_id, u.patients
        from clinic_freshness as f
        left join unit_patients as u on u.clinic_id = f.clinic_id""",
}

#: Named analyses (``queries/analyses``) that read only exported tables and run on DataFusion as they
#: are, with parameter values bound as literals. The others, and why they cannot:
#:   side_effect_rate_by_setting     DuckDB's error() (rejects a bad $setting) has no DataFusion function
#:   side_effect_types_by_skin_type  UNPIVOT: sqlglot's Postgres output has none, nor has DataFusion's SQL
#:   model_*, course_*, funnel_*, spc_*, settings_explorer, load/quarantine ones: read model results,
#:                                   load history or quarantined rows, which are not part of the export
NAMED_ANALYSES = (
    ("kpis_by_month", {}),
    ("kpis_by_month", {"clinic_id": "ETB-01", "date_from": "2026-03-01", "date_to": "2026-09-30"}),
    ("kpis_by_month", {"crystal_type": "corundum", "fitzpatrick": "2"}),
    ("unit_outcomes", {}),
    ("unit_outcomes", {"grain": "clinician", "clinic_id": "MUC-02"}),
    ("course_completion", {}),
    ("data_freshness", {}),
    ("satisfaction_by_session_number", {"indication": "wrinkles"}),
    ("survey_response", {}),
)


def datafusion_context(export_dir: Path):
    """A DataFusion session with every table of an export registered, hive partition columns restored."""
    from datafusion import SessionContext

    types = {"VARCHAR": pa.string()}
    ctx = SessionContext()
    for name, table in read_manifest(export_dir)["tables"].items():
        column_types = {c["name"]: c["type"] for c in table["columns"]}
        partitions = [(c, types[column_types[c]]) for c in table["partition_by"]]
        ctx.register_parquet(name, str(Path(export_dir) / name), table_partition_cols=partitions)
    return ctx


def duckdb_over_parquet(export_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one view per exported table over its Parquet files."""
    con = duckdb.connect()
    for name, table in read_manifest(export_dir)["tables"].items():
        glob = str(Path(export_dir) / name / ("*/" * len(table["partition_by"])) / "*.parquet")
        hive_types = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in table["partition_by"]) + "}"
        options = f", hive_partitioning = true, hive_types = {hive_types}" if table["partition_by"] else ""
        con.execute(f"create view \"{name}\" as select * from read_parquet('{glob}'{options})")
    return con


def comparable(table: pa.Table) -> pd.DataFrame:
    """A result as a plain frame sorted by every column (engines differ in string kinds and row order)."""
    columns = []
    for column in table.columns:
        if pa.types.is_string_view(column.type) or pa.types.is_large_string(column.type):
            column = column.cast(pa.string())
        columns.append(column)
    frame = pa.table(columns, names=table.column_names).to_pandas()
    return frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True)


def assert_same_result(actual: pa.Table, expected: pa.Table) -> None:
    """Same columns, rows and values: integers, text and dates exactly, doubles to 1e-12 relative."""
    pd.testing.assert_frame_equal(
        comparable(actual), comparable(expected), check_exact=False, rtol=1e-12, atol=0
    )
