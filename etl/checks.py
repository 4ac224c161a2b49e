"""Row checks: one vectorised SQL pass that types every column and lists every rule a row breaks.

The SQL is generated from the contract's constants only; values from files are never spliced
into SQL text (they are data in the in-memory table), and the two runtime values (today, the
decimal-comma flag) are bound parameters.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from etl import contract as c
from etl.readers import RawFile

#: Columns of a checked row, in the order of the ``sessions`` table (minus what the load adds).
TYPED_COLUMNS = (
    "clinic_id", "session_id", "patient_id", "clinician_id", "session_date", "crystal_type", "vacuum_kpa",
    "passes", "treatment_area", "indication", "fitzpatrick", "particle_flow", "reported_session_number",
    "device_model", "anaesthesia", "pre_care_followed", "soothing_mask", "birth_year", "age_years",
    "satisfaction", "side_effects", "follow_up_done", "any_side_effect",
)


def _lit(text: str) -> str:
    """A SQL string literal for one of *our* constants (never for file content)."""
    return "'" + text.replace("'", "''") + "'"


def _in_list(values) -> str:
    return "(" + ", ".join(_lit(v) for v in values) + ")"


def _key(col: str) -> str:
    return f"regexp_replace(lower({col}), '[\\s\\-]+', '_', 'g')"


def _num(col: str) -> str:
    # A decimal comma is accepted only in ';'-delimited files; NaN and infinities are not numbers.
    text = f"(case when $decimal_comma then replace({col}, ',', '.') else {col} end)"
    return f"(case when isfinite(try_cast({text} as double)) then try_cast({text} as double) end)"


def _int(col: str) -> str:
    return f"(case when {_num(col)} = floor({_num(col)}) then cast({_num(col)} as bigint) end)"


def _bool(col: str) -> str:
    return (f"(case when lower({col}) in {_in_list(c.TRUE_WORDS)} then true "
            f"when lower({col}) in {_in_list(c.FALSE_WORDS)} then false end)")


def _category(col: str, name: str) -> str:
    pairs = [(v, v) for v in c.CATEGORIES[name]] + list(c.SYNONYMS.get(name, {}).items())
    whens = " ".join(f"when {_lit(k)} then {_lit(v)}" for k, v in pairs)
    return f"(case {_key(col)} {whens} end)"


def _problem(column: str, reason_sql: str, value_sql: str) -> str:
    return (f"(case when ({reason_sql}) is not null then "
            f"{{'column': {_lit(column)}, 'reason': ({reason_sql}), 'value': cast({value_sql} as varchar)}} end)")


def _simple(col: str, typed: str, low: float | None = None, high: float | None = None, *, required: bool,
            bad: str = "bad_type") -> str:
    missing = f"when {col} is null then 'missing_required'" if required else f"when {col} is null then null"
    rng = f"when {typed} not between {low} and {high} then 'out_of_range'" if low is not None else ""
    return f"case {missing} when {typed} is null then '{bad}' {rng} end"


def _vacuum_problem() -> str:
    # The vacuum may come from one of three unit columns: the record names the one the file used.
    reason = _simple("v_raw", "t_vacuum", 5, 80, required=True)
    return f"case when ({reason}) is not null then {{'column': v_column, 'reason': ({reason}), 'value': v_raw}} end"


def check_rows(con: duckdb.DuckDBPyConnection, raw: RawFile, today: dt.date, out: str) -> None:
    """Create table ``out``: typed columns, a ``problems`` list and a ``repeat_of_row`` marker.

    ``problems`` holds one ``{column, reason, value}`` per broken rule (values as in the file;
    patient numbers are masked later, before anything is written). A row repeated identically
    within the file points at its first occurrence in ``repeat_of_row``; rows of a natural key
    that occurs with different contents all get ``duplicate_in_file``.
    """
    present = set(raw.plan.mapping)
    cols = [f"{name}" if name in present else f"cast(null as varchar) as {name}" for name in c.KNOWN]
    con.execute(f"create or replace temp table _full as select _row, _bad_record, {', '.join(cols)} from {raw.table}")

    vac_sources = [v for v in c.VACUUM_COLUMNS if v in present]
    vac_raw = "coalesce(" + ", ".join(vac_sources) + ")" if len(vac_sources) > 1 else vac_sources[0]
    vac_factor = "case " + " ".join(f"when {v} is not null then {c.VACUUM_COLUMNS[v]}" for v in vac_sources) + " end"
    vac_column = "case " + " ".join(f"when {v} is not null then {_lit(v)}" for v in vac_sources) + " else 'vacuum_kpa' end"
    roman = " ".join(f"when {_lit(k)} then {v}" for k, v in c.ROMAN.items())
    codes = f"list_filter(list_transform(string_split({_key('side_effects')}, ';'), lambda x: trim(x, '_ ')), lambda x: x <> '')"
    effects_known = _in_list(c.SIDE_EFFECTS)
    has_effects_col = "true" if "side_effects" in present else "false"

    con.execute(
        f"""create or replace temp table _typed as
        select *,
            {_category('crystal_type', 'crystal_type')} as t_crystal,
            {_category('treatment_area', 'treatment_area')} as t_area,
            {_category('indication', 'indication')} as t_indication,
            case when regexp_full_match(session_date, '\\d{{4}}-\\d{{2}}-\\d{{2}}([T ].*)?')
                 then try_cast(left(session_date, 10) as date) end as t_date,
            {vac_raw} as v_raw, {vac_column} as v_column,
            round({_num(vac_raw)} * ({vac_factor}), 2) as t_vacuum,
            {_int('passes')} as t_passes,
            coalesce(case upper(fitzpatrick) {roman} end, {_int('fitzpatrick')}) as t_fitz,
            {_num('particle_flow')} as t_flow,
            {_int('session_number')} as t_session_number,
            {_bool('anaesthesia')} as t_anaesthesia,
            {_bool('pre_care_followed')} as t_pre_care,
            {_bool('soothing_mask')} as t_mask,
            {_bool('follow_up_done')} as t_follow_up,
            {_int('birth_year')} as t_birth_year,
            {_int('satisfaction')} as t_satisfaction,
            {codes} as t_codes
        from _full""",
        {"decimal_comma": raw.decimal_comma},
    )
    diamond = "t_crystal = 'diamond_tip'"
    problems = [
        "case when _bad_record is not null then {'column': '(record)', 'reason': 'bad_type', 'value': _bad_record} end",
        *[_problem(col, f"case when {col} is null then 'missing_required' end", col)
          for col in ("clinic_id", "session_id", "patient_id", "clinician_id")],
        _problem("session_date", "case when session_date is null then 'missing_required' "
                 "when t_date is null then 'bad_date' when t_date > $today then 'future_date' "
                 "when t_date < date '2000-01-01' then 'out_of_range' end", "session_date"),
        _problem("crystal_type", _simple("crystal_type", "t_crystal", required=True, bad="unknown_category"),
                 "crystal_type"),
        _problem("treatment_area", _simple("treatment_area", "t_area", required=True, bad="unknown_category"),
                 "treatment_area"),
        _problem("indication", _simple("indication", "t_indication", required=True, bad="unknown_category"),
                 "indication"),
        _vacuum_problem(),
        _problem("passes", _simple("passes", "t_passes", 1, 6, required=True), "passes"),
        _problem("fitzpatrick", _simple("fitzpatrick", "t_fitz", 1, 6, required=True), "fitzpatrick"),
        _problem("particle_flow",
                 "case when particle_flow is not null and t_flow is null then 'bad_type' "
                 "when t_flow not between 0 and 100 then 'out_of_range' "
                 f"when {diamond} and t_flow > 0 then 'inconsistent' "
                 f"when t_crystal is not null and not {diamond} and particle_flow is null then 'missing_required' end",
                 "particle_flow"),
        _problem("session_number", _simple("session_number", "t_session_number", 1, 200, required=False),
                 "session_number"),
        *[_problem(col, f"case when {col} is not null and t is null then 'bad_type' end".replace(" t ", f" {t} "), col)
          for col, t in (("anaesthesia", "t_anaesthesia"), ("pre_care_followed", "t_pre_care"),
                         ("soothing_mask", "t_mask"), ("follow_up_done", "t_follow_up"))],
        _problem("birth_year",
                 "case when birth_year is not null and t_birth_year is null then 'bad_type' "
                 "when t_birth_year not between 1900 and year($today) then 'out_of_range' "
                 "when t_birth_year > year(t_date) then 'inconsistent' end", "birth_year"),
        _problem("satisfaction", _simple("satisfaction", "t_satisfaction", 1, 5, required=False), "satisfaction"),
        _problem("side_effects",
                 f"case when len(list_filter(t_codes, lambda x: x not in {effects_known} and x <> 'none')) > 0 "
                 "then 'unknown_category' "
                 "when list_contains(t_codes, 'none') and len(t_codes) > 1 then 'inconsistent' end",
                 "side_effects"),
    ]
    con.execute(
        f"""create or replace temp table _checked as
        select _row,
            clinic_id, session_id, patient_id, clinician_id,
            t_date as session_date, t_crystal as crystal_type, t_vacuum as vacuum_kpa,
            cast(t_passes as integer) as passes, t_area as treatment_area, t_indication as indication,
            cast(t_fitz as integer) as fitzpatrick,
            case when {diamond} then null else t_flow end as particle_flow,
            cast(t_session_number as integer) as reported_session_number,
            device_model, t_anaesthesia as anaesthesia, t_pre_care as pre_care_followed,
            t_mask as soothing_mask,
            cast(case when t_birth_year is not null then greatest(t_birth_year, year(t_date) - 90) end as integer)
                as birth_year,
            cast(least(year(t_date) - t_birth_year, 90) as integer) as age_years,
            cast(t_satisfaction as integer) as satisfaction,
            case when not {has_effects_col} then null
                 when len(list_filter(t_codes, lambda x: x <> 'none')) > 0
                      then list_sort(list_distinct(list_filter(t_codes, lambda x: x <> 'none')))
                 when t_follow_up = false then null
                 else []::varchar[] end as side_effects,
            t_follow_up as follow_up_done,
            case when not {has_effects_col} then null
                 when len(list_filter(t_codes, lambda x: x <> 'none')) > 0 then true
                 when t_follow_up = false then null
                 else false end as any_side_effect,
            list_filter([{', '.join(problems)}], lambda x: x is not null) as problems,
            md5(concat_ws(chr(31), {', '.join(f"coalesce({k}, chr(0))" for k in c.KNOWN)})) as _content
        from _typed""",
        {"today": today},
    )
    # Natural keys seen more than once: identical repeats load once; differing contents are all suspect.
    con.execute(
        f"""create or replace temp table {out} as
        with keyed as (
            select _row, clinic_id, session_id, _content,
                   count(distinct _content) over (partition by clinic_id, session_id) as n_versions,
                   min(_row) over (partition by clinic_id, session_id, _content) as first_row
            from _checked where clinic_id is not null and session_id is not null
        )
        select ch.* exclude (problems, _content),
            case when k.n_versions > 1
                 then list_append(ch.problems, {{'column': 'session_id', 'reason': 'duplicate_in_file',
                                                 'value': ch.session_id}})
                 else ch.problems end as problems,
            case when k.n_versions = 1 and k.first_row < ch._row then k.first_row end as repeat_of_row
        from _checked ch left join keyed k on k._row = ch._row
        order by ch._row"""
    )
    for table in ("_full", "_typed", "_checked"):
        con.execute(f"drop table {table}")
