"""Every model result of a scope computed where the sessions are: fits from aggregates, small reads for the rest.

The outcome models are fitted in the engine (:mod:`derma.lake.models`). The other stages read only
what they need: a sample of whole patients for the proportional-odds check, the combinations seen for
the settings explorer, the courses summarised by the engine for the course curves, and the few columns
the funnels compare (as categoricals). No stage holds every session's full row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from derma.fitting import PO_CHECK_MAX_SESSIONS, course_tables, model_tables, sample_note, sample_share
from derma.lake.models import fit_outcome_models_on, scope_filter
from derma.refresh import INPUT_COLUMNS

#: What the funnels' case-mix model and comparison (``analysis.case_mix``, ``analysis.funnel``) and the
#: control charts' alerts (``analysis.alerts``: month, outcome and the case-mix risk) read of each session.
UNIT_COLUMNS = (
    "clinic_id",
    "clinician_id",
    "fitzpatrick",
    "indication",
    "treatment_area",
    "crystal_type",
    "device_model",
    "pre_care_followed",
    "session_number",
    "any_side_effect",
    "satisfaction",
)
#: A session's month is all the alerts read of its date (``analysis.alerts`` counts by month).
SESSION_MONTH = "cast(date_trunc('month', session_date) as timestamp) as session_date"


def fit_everything_on(
    engine, scope: str, series: pd.DataFrame, rebase=None, targets=None
) -> tuple[dict[str, pd.DataFrame], int]:
    """Every model table of ``scope`` from the engine's ``sessions``, and the number of sessions.

    ``rebase`` and ``targets`` are the recorded process changes and targets (``derma.annotations``).
    """
    inputs, total = read_everything(engine, scope)
    return model_tables(scope=scope, series=series, rebase=rebase, targets=targets, **inputs), total


def read_everything(engine, scope: str) -> tuple[dict, int]:
    """All the engine work of a scope's model tables: the fits and the small reads the other stages need.

    Returned as :func:`derma.fitting.model_tables`' keyword arguments, with the number of sessions, so
    a caller can close the engine (and give its memory back) before the tables are computed.
    """
    where = scope_filter(scope)
    total = int(engine.frame(f"select count(*) as n from sessions where {where}").iloc[0]["n"])
    fits = fit_outcome_models_on(engine, scope)
    seen = engine.frame(
        f"select distinct fitzpatrick, indication, treatment_area from sessions where {where}"
    )
    has_diamond = bool(
        engine.frame(
            f"select count(*) as n from sessions where {where} and crystal_type = 'diamond_tip'"
        ).iloc[0]["n"]
    )
    courses, by_indication = engine_courses(engine, where)
    courses_made = course_tables(courses, by_indication)
    del courses, by_indication  # a row per course: not held beside the sessions' columns below
    inputs = {
        "fits": fits,
        "po_sample": engine_sample(engine, where, total),
        "seen": seen,
        "has_diamond": has_diamond,
        "unit_sessions": unit_frame(engine, where),
        "course_tables": courses_made,
    }
    return inputs, total


def unit_frame(engine, where: str) -> pd.DataFrame:
    """The few columns the funnels and alerts read of every session of the scope, in the table's order.

    Text as pandas categoricals and the date as its month (a few bytes a session, not a row of
    Python strings): the case mix is then fitted on covariate patterns and each session's expected
    risk is its pattern's, exactly as from the full rows.
    """
    columns = ", ".join([*UNIT_COLUMNS, SESSION_MONTH])
    frame = categorical_frame(engine, f"select {columns} from sessions where {where}")
    return frame.astype(
        {"satisfaction": "Int32", "any_side_effect": "boolean", "pre_care_followed": "boolean"}
    )


def categorical_frame(engine, sql: str) -> pd.DataFrame:
    """A result with its text columns as pandas categoricals (a few bytes a row, not a string each).

    The result is streamed batch by batch and each batch's text is kept only as small integer codes
    into that batch's own dictionary, so no column of every row's text is ever held (at 10M sessions
    that text, with its Arrow and pandas copies, took 2.3 GB at peak). The codes are mapped onto the
    sorted union of the dictionaries at the end, which is what ``astype("category")`` gives.
    """
    texts: dict[str, list[tuple[np.ndarray, list]]] = {}
    others: dict[str, list[pa.Array]] = {}
    names: list[str] = []
    for batch in engine.batches(sql):
        names = batch.schema.names
        for name, column in zip(names, batch.columns, strict=True):
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                encoded = pc.dictionary_encode(column)
                codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
                dictionary = encoded.dictionary.to_pylist()
                texts.setdefault(name, []).append((_narrow(codes, len(dictionary)), dictionary))
            else:
                # Copied out of the batch: a column still pointing into an imported batch keeps that
                # whole batch, its text included, alive (1.2 GB more at 10M sessions).
                others.setdefault(name, []).append(pa.concat_arrays([column, pa.array([], type=column.type)]))
    if not names:
        frame = engine.frame(f"select * from ({sql}) where false")
        return frame.astype({c: "category" for c in frame.columns if pd.api.types.is_string_dtype(frame[c])})
    columns = {}
    for name in names:
        if name in texts:
            columns[name] = _categorical(texts.pop(name))
        else:
            columns[name] = pa.chunked_array(others.pop(name)).to_pandas()
    frame = pd.DataFrame(columns, copy=False)
    pa.default_memory_pool().release_unused()  # mimalloc keeps freed pages (0.5 GB at 10M) otherwise
    return frame


def _narrow(codes: np.ndarray, size: int) -> np.ndarray:
    return codes.astype(np.int16) if size < np.iinfo(np.int16).max else codes


def _categorical(parts: list[tuple[np.ndarray, list]]) -> pd.Categorical:
    """One categorical from each batch's codes and dictionary: codes remapped onto the sorted union."""
    categories = sorted({value for _, dictionary in parts for value in dictionary})
    position = {value: i for i, value in enumerate(categories)}
    kind = np.int16 if len(categories) < np.iinfo(np.int16).max else np.int32
    codes = np.empty(sum(len(c) for c, _ in parts), dtype=kind)
    start = 0
    for batch_codes, dictionary in parts:
        lookup = np.array([position[v] for v in dictionary] + [-1], dtype=kind)  # code -1 (null) -> -1
        codes[start : start + len(batch_codes)] = lookup[batch_codes]
        start += len(batch_codes)
    return pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype="str"))


def engine_sample(engine, where: str, total: int) -> tuple[pd.DataFrame, str]:
    """The proportional-odds check's sample of whole patients (``derma.fitting.patient_sample``'s rule)."""
    columns = ", ".join(
        "cast(session_date as timestamp) as session_date" if c == "session_date" else c for c in INPUT_COLUMNS
    )
    draw = (
        ""
        if total <= PO_CHECK_MAX_SESSIONS
        else (f" and patient_number(patient_key) % 1000000 < {sample_share(total, PO_CHECK_MAX_SESSIONS)}")
    )
    sample = engine.frame(
        f"select {columns} from sessions where {where}{draw} order by clinic_id, session_id"
    )
    sample = sample.astype({"satisfaction": "Int32", "any_side_effect": "boolean"})
    return sample, sample_note(len(sample), total, PO_CHECK_MAX_SESSIONS)


COURSES = """
    with s as (
        select clinic_id, patient_key, indication, treatment_area, session_date,
            cast(session_number as double) as sn, satisfaction,
            reported_session_number is not null as reported
        from sessions where {where}
    ),
    clinics as (
        select clinic_id, min(session_date) as window_all, max(session_date) as cutoff_all from s group by clinic_id
    ),
    clinic_indications as (
        select clinic_id, indication, min(session_date) as window_ind, max(session_date) as cutoff_ind
        from s group by clinic_id, indication
    ),
    courses as (
        select clinic_id, patient_key, indication, treatment_area,
            count(*) as sessions_done, min(sn) as first_session, max(sn) as last_session,
            min(session_date) as first_date, max(session_date) as last_date,
            arg_min(reported, (session_date, sn)) as numbers_reported,
            min(sn) filter (where satisfaction >= 4) as first_satisfied_session
        from s group by clinic_id, patient_key, indication, treatment_area
    )
    select c.indication, c.sessions_done, c.first_session, c.last_session,
        cast(c.first_date as timestamp) as first_date, cast(c.last_date as timestamp) as last_date,
        c.numbers_reported, c.first_satisfied_session,
        cast(a.window_all as timestamp) as window_all, cast(a.cutoff_all as timestamp) as cutoff_all,
        cast(i.window_ind as timestamp) as window_ind, cast(i.cutoff_ind as timestamp) as cutoff_ind
    from courses as c
    inner join clinics as a on a.clinic_id = c.clinic_id
    inner join clinic_indications as i on i.clinic_id = c.clinic_id and i.indication = c.indication
"""


def engine_courses(engine, where: str) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The courses as ``analysis.courses.summarise_courses`` gives them, summarised by the engine.

    All courses with their clinic's first and last dates, and each indication's courses with the dates
    of that indication's sessions (what summarising one indication's sessions gives).
    """
    from analysis.courses import with_status

    frame = categorical_frame(engine, COURSES.format(where=where))
    base = frame.drop(columns=["window_all", "cutoff_all", "window_ind", "cutoff_ind"])
    every = with_status(base.assign(window_start=frame["window_all"], cutoff=frame["cutoff_all"]))
    own = with_status(base.assign(window_start=frame["window_ind"], cutoff=frame["cutoff_ind"]))
    by_indication = {
        str(i): own[own["indication"] == i].reset_index(drop=True) for i in own["indication"].unique()
    }
    return every.assign(indication=every["indication"].astype(str)), by_indication
