"""Row checks: one vectorised SQL pass that types every column and lists every rule a row breaks.

The SQL is generated from the contract's constants only; values from files are never spliced
into SQL text (they are data in the in-memory table), and the two runtime values (today, the
decimal-comma flag) are bound parameters. Each value is parsed once (a projection per step), and
the list of problems is only built for rows that break something, which keeps the pass cheap.

Before any type rule, every text value is checked for length (``too_long``) and control characters
(``bad_characters``), so neither a 50 MB field nor a NUL byte reaches the warehouse or a report. A
number too large for its column (``passes=1e19``, ``1e400``) is ``out_of_range`` for its row, never a
failed cast that stops the batch; a row of the wrong shape has one ``bad_shape`` problem and no values.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from etl import contract as c
from etl.readers import ID_CONTROLS, TEXT_CONTROLS, RawFile, text_issue

#: Typed columns of a checked row (the patient's pseudonym: the raw number never reaches a table).
TYPED_COLUMNS = (
    "clinic_id",
    "session_id",
    "patient_key",
    "clinician_id",
    "session_date",
    "crystal_type",
    "vacuum_kpa",
    "passes",
    "treatment_area",
    "indication",
    "fitzpatrick",
    "particle_flow",
    "reported_session_number",
    "device_model",
    "anaesthesia",
    "pre_care_followed",
    "soothing_mask",
    "birth_year",
    "age_years",
    "satisfaction",
    "side_effects",
    "follow_up_done",
    "any_side_effect",
)
NUMBERS = ("v_raw", "passes", "fitzpatrick", "particle_flow", "session_number", "birth_year", "satisfaction")
#: Text columns as read (``patient_id`` is checked by the reader, which sees it before it is replaced).
TEXTS = tuple(name for name in c.KNOWN if name != "patient_id")
#: A number written out in full, whatever its size (``1e400`` overflows a double: still a number).
NUMBER_LITERAL = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"
#: Integers up to this size are cast; anything larger is out of every column's range.
SAFE_INTEGER = "1e15"
MASK = "•••"


def _lit(text: str) -> str:
    """A SQL string literal for one of *our* constants (never for file content)."""
    return "'" + text.replace("'", "''") + "'"


def _in_list(values) -> str:
    return "(" + ", ".join(_lit(v) for v in values) + ")"


def _key(col: str) -> str:
    return f"regexp_replace(lower({col}), '[\\s\\-]+', '_', 'g')"


def _bool(col: str) -> str:
    return (
        f"(case when lower({col}) in {_in_list(c.TRUE_WORDS)} then true "
        f"when lower({col}) in {_in_list(c.FALSE_WORDS)} then false end)"
    )


def _category(col: str, name: str) -> str:
    """A category's canonical value, or NULL. A value written exactly as canonical is kept without
    the regular expression (most rows; the key of a canonical value is itself, and it is the first
    match)."""
    pairs = [(v, v) for v in c.CATEGORIES[name]] + list(c.SYNONYMS.get(name, {}).items())
    whens = " ".join(f"when {_lit(k)} then {_lit(v)}" for k, v in pairs)
    return f"(case when {col} in {_in_list(c.CATEGORIES[name])} then {col} else (case {_key(col)} {whens} end) end)"


def _int_of(num: str) -> str:
    return f"(case when {num} = floor({num}) and abs({num}) < {SAFE_INTEGER} then cast({num} as bigint) end)"


def _typed(col: str, value: str) -> str:
    """An integer column's value, cast only when its rule passed (an out-of-range value is never cast)."""
    return f"cast(case when r_{col} is null then {value} end as integer)"


def _rule(raw: str, typed: str, low=None, high=None, *, required: bool, bad: str = "bad_type") -> str:
    """Reason code (or NULL) for a value: missing, unparseable, or out of range — the first that applies."""
    missing = f"when {raw} is null then 'missing_required'" if required else f"when {raw} is null then null"
    rng = f"when {typed} not between {low} and {high} then 'out_of_range'" if low is not None else ""
    return f"case {missing} when {typed} is null then '{bad}' {rng} end"


def _number_rule(raw: str, typed: str, low, high, *, required: bool, number: str) -> str:
    """Like :func:`_rule` for a number: a whole number or a literal too large to type is out of range."""
    missing = f"when {raw} is null then 'missing_required'" if required else f"when {raw} is null then null"
    return (
        f"case {missing} when {typed} is not null then "
        f"(case when {typed} not between {low} and {high} then 'out_of_range' end) "
        f"when n_{number} is not null and n_{number} = floor(n_{number}) then 'out_of_range' "
        f"when n_{number} is null and regexp_full_match({number}_text, '{NUMBER_LITERAL}') then 'out_of_range' "
        "else 'bad_type' end"
    )


def _reasons() -> dict[str, str]:
    """Column -> SQL giving that column's reason code (NULL when the value is fine)."""
    diamond = "t_crystal = 'diamond_tip'"
    effects = _in_list(c.SIDE_EFFECTS)
    reasons = {
        col: f"case when {col} is null then 'missing_required' end"
        for col in ("clinic_id", "session_id", "clinician_id")
    }
    reasons["patient_id"] = "_patient_issue"  # checked by the reader, on the raw number
    reasons["device_model"] = "cast(null as varchar)"  # free text: only its length and characters
    reasons.update(
        {
            "session_date": "case when session_date is null then 'missing_required' when t_date is null then 'bad_date' "
            "when t_date > $today then 'future_date' when t_date < date '2000-01-01' then 'out_of_range' end",
            "crystal_type": _rule("crystal_type", "t_crystal", required=True, bad="unknown_category"),
            "treatment_area": _rule("treatment_area", "t_area", required=True, bad="unknown_category"),
            "indication": _rule("indication", "t_indication", required=True, bad="unknown_category"),
            "vacuum": _number_rule("v_raw", "t_vacuum", 5, 80, required=True, number="v_raw"),
            "passes": _number_rule("passes", "t_passes", 1, 6, required=True, number="passes"),
            "fitzpatrick": _number_rule("fitzpatrick", "t_fitz", 1, 6, required=True, number="fitzpatrick"),
            "particle_flow": "case when particle_flow is not null and n_particle_flow is null then "
            f"(case when regexp_full_match(particle_flow_text, '{NUMBER_LITERAL}') then 'out_of_range' "
            "else 'bad_type' end) "
            "when n_particle_flow not between 0 and 100 then 'out_of_range' "
            f"when {diamond} and n_particle_flow > 0 then 'inconsistent' "
            f"when t_crystal is not null and not {diamond} and particle_flow is null "
            "then 'missing_required' end",
            "session_number": _number_rule(
                "session_number", "t_session_number", 1, 200, required=False, number="session_number"
            ),
            "birth_year": "case when birth_year is null then null when t_birth_year is null then "
            + f"({_number_rule('birth_year', 't_birth_year', 1900, 'year($today)', required=False, number='birth_year')}) "
            "when t_birth_year not between 1900 and year($today) then 'out_of_range' "
            "when t_birth_year > year(t_date) then 'inconsistent' end",
            "satisfaction": _number_rule(
                "satisfaction", "t_satisfaction", 1, 5, required=False, number="satisfaction"
            ),
            "side_effects": f"case when len(list_filter(t_codes, lambda x: x not in {effects} and x <> 'none')) > 0 "
            "then 'unknown_category' "
            "when list_contains(t_codes, 'none') and len(t_codes) > 1 then 'inconsistent' end",
        }
    )
    for col, typed in (
        ("anaesthesia", "t_anaesthesia"),
        ("pre_care_followed", "t_pre_care"),
        ("soothing_mask", "t_mask"),
        ("follow_up_done", "t_follow_up"),
    ):
        reasons[col] = f"case when {col} is not null and {typed} is null then 'bad_type' end"
    # Length and control characters come first: a value that breaks them is not typed at all. Each
    # column is looked at only in a row whose values together are long or hold a refused character
    # (``_suspect``, one regular expression per row instead of one per column).
    for col in reasons:
        if col == "patient_id":
            continue
        value = "v_raw" if col == "vacuum" else col
        controls = ID_CONTROLS if col in c.IDENTIFIER_COLUMNS else TEXT_CONTROLS
        reasons[col] = f"coalesce(case when _suspect then {text_issue(value, controls)} end, {reasons[col]})"
    return reasons


def check_rows(con: duckdb.DuckDBPyConnection, raw: RawFile, today: dt.date, out: str) -> None:
    """Create ``out`` (typed columns, ``problems``, ``_content``) and ``{out}_dups`` (repeated keys).

    ``problems`` holds one ``{column, reason, value}`` per broken rule (values as in the file, the
    original cell where a mapping transformed the column, patient numbers masked); it is empty for a good row, and a row of the wrong shape has exactly one
    (``bad_shape``), with no value from the row.
    ``{out}_dups`` lists rows whose natural key occurs more than once in the file: ``kind`` is
    ``duplicate_in_file`` when the key has differing contents (every row of it is suspect) and
    ``repeat`` for a later identical copy (loaded once; the copy counts as unchanged).
    """
    present = set(raw.plan.mapping) | set(raw.plan.constants)
    cols = ", ".join(name if name in present else f"cast(null as varchar) as {name}" for name in TEXTS)
    cols += ", patient_key, _patient_issue"
    cols += "".join(f", _orig_{name}" for name in raw.originals)
    vac = [v for v in c.VACUUM_COLUMNS if v in present]
    vac_raw = f"coalesce({', '.join(vac)})" if len(vac) > 1 else vac[0]
    vac_factor = "case " + " ".join(f"when {v} is not null then {c.VACUUM_COLUMNS[v]}" for v in vac) + " end"
    vac_column = (
        "case " + " ".join(f"when {v} is not null then {_lit(v)}" for v in vac) + " else 'vacuum_kpa' end"
    )
    roman = " ".join(f"when {_lit(k)} then {v}" for k, v in c.ROMAN.items())
    # A decimal comma is accepted only in ';'-delimited files; NaN and infinities are not numbers.
    numbers = ", ".join(f"try_cast({n}_text as double) as d_{n}" for n in NUMBERS)
    finite = ", ".join(f"case when isfinite(d_{n}) then d_{n} end as n_{n}" for n in NUMBERS)
    texts = ", ".join(
        f"(case when $decimal_comma then replace({n}, ',', '.') else {n} end) as {n}_text" for n in NUMBERS
    )
    reasons = _reasons()
    shown = {"vacuum": "v_raw", "patient_id": _lit(MASK)}  # a patient number is never echoed
    # A column a mapping transformed is shown as the export wrote it (the original cell).
    shown.update({name: f"_orig_{name}" for name in raw.originals})
    structs = ", ".join(
        f"case when r_{col} is not null then {{'column': {'v_column' if col == 'vacuum' else _lit(col)}, "
        f"'reason': r_{col}, 'value': cast({shown.get(col, col)} as varchar)}} end"
        for col in reasons
    )
    has_effects = "true" if "side_effects" in present else "false"
    effects_list = "list_sort(list_distinct(list_filter(t_codes, lambda x: x <> 'none')))"
    con.execute(
        f"""create or replace temp table {out} as
        with base as (
            select {raw.row_expr or "cast(null as bigint)"} as _row, _bad_record, {cols}, {vac_raw} as v_raw, {vac_column} as v_column,
                   {vac_factor} as v_factor, concat({", ".join(sorted(present - {"patient_id"}))}) as _all
            from {raw.table}
        ),
        texts as (
            select *, {texts},
                   length(_all) > {c.MAX_FIELD_CHARS} or regexp_matches(_all, '{ID_CONTROLS}') as _suspect
            from base
        ),
        parsed as (
            select *, {numbers},
                {_category("crystal_type", "crystal_type")} as t_crystal,
                {_category("treatment_area", "treatment_area")} as t_area,
                {_category("indication", "indication")} as t_indication,
                case when regexp_full_match(session_date, '\\d{{4}}-\\d{{2}}-\\d{{2}}([T ].*)?')
                     then try_cast(left(session_date, 10) as date) end as t_date,
                {_bool("anaesthesia")} as t_anaesthesia,
                {_bool("pre_care_followed")} as t_pre_care,
                {_bool("soothing_mask")} as t_mask,
                {_bool("follow_up_done")} as t_follow_up,
                list_filter(list_transform(string_split({_key("side_effects")}, ';'), lambda x: trim(x, '_ ')),
                            lambda x: x <> '') as t_codes
            from texts
        ),
        numbered as (
            select *, {finite} from parsed
        ),
        typed as (
            select *,
                round(n_v_raw * v_factor, 2) as t_vacuum,
                {_int_of("n_passes")} as t_passes,
                coalesce(case upper(fitzpatrick) {roman} end, {_int_of("n_fitzpatrick")}) as t_fitz,
                {_int_of("n_session_number")} as t_session_number,
                {_int_of("n_birth_year")} as t_birth_year,
                {_int_of("n_satisfaction")} as t_satisfaction,
                len(list_filter(t_codes, lambda x: x <> 'none')) > 0 as t_has_effect
            from numbered
        ),
        judged as (
            select *, {", ".join(f"{sql} as r_{col}" for col, sql in reasons.items())}
            from typed
        )
        select
            _row, clinic_id, session_id, patient_key, clinician_id,
            t_date as session_date, t_crystal as crystal_type, t_vacuum as vacuum_kpa,
            {_typed("passes", "t_passes")} as passes, t_area as treatment_area, t_indication as indication,
            {_typed("fitzpatrick", "t_fitz")} as fitzpatrick,
            case when t_crystal = 'diamond_tip' then null else n_particle_flow end as particle_flow,
            {_typed("session_number", "t_session_number")} as reported_session_number,
            device_model, t_anaesthesia as anaesthesia, t_pre_care as pre_care_followed, t_mask as soothing_mask,
            {_typed("birth_year", "greatest(t_birth_year, year(t_date) - 90)")} as birth_year,
            {_typed("birth_year", "least(year(t_date) - t_birth_year, 90)")} as age_years,
            {_typed("satisfaction", "t_satisfaction")} as satisfaction,
            case when not {has_effects} then null
                 when t_has_effect then {effects_list}
                 when t_follow_up = false then null
                 else []::varchar[] end as side_effects,
            t_follow_up as follow_up_done,
            case when not {has_effects} then null when t_has_effect then true
                 when t_follow_up = false then null else false end as any_side_effect,
            case when _bad_record is not null
                 then [{{'column': '(record)', 'reason': 'bad_shape', 'value': _bad_record}}]
                 when coalesce({", ".join(f"r_{col}" for col in reasons)}) is not null
                 then list_filter([{structs}], lambda x: x is not null)
                 else [] end as problems,
            hash({", ".join(TEXTS)}, patient_key) as _content
        from judged""",
        {**raw.params, "today": today, "decimal_comma": raw.decimal_comma},
    )
    if raw.row_expr is None:
        # Read in the same statement: the rows were stored in the file's order (as the readers' own
        # tables are), so the row number is the place in ``out``.
        con.execute(f"update {out} set _row = rowid + 1")
    # Natural keys seen more than once (a small table: most files have none). The pass over every
    # row only counts each key; the contents are compared for the few repeated keys alone (counting
    # distinct contents of every key cost three times as much at 1M rows).
    con.execute(
        f"""create or replace temp table {out}_dups as
        with repeated_keys as (
            select clinic_id, session_id
            from {out} where clinic_id is not null and session_id is not null
            group by clinic_id, session_id having count(*) > 1
        ),
        repeated as (
            select r._row, r.clinic_id, r.session_id, r._content
            from {out} as r semi join repeated_keys as k using (clinic_id, session_id)
        ),
        versions as (
            select _row, count(distinct _content) over (partition by clinic_id, session_id) as versions,
                   min(_row) over (partition by clinic_id, session_id, _content) as first_row
            from repeated
        )
        select _row, case when versions > 1 then 'duplicate_in_file' else 'repeat' end as kind
        from versions where versions > 1 or _row > first_row"""
    )
