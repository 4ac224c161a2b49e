"""The outcome models of a scope fitted on an engine: the same results as ``analysis.curves.fit_outcome_models``.

The sessions stay in the engine (a lake's Parquet or the warehouse); each model's rows are coded there
once (:func:`derma.lake.model_sql.coded_sessions`), the guards and fits ask them aggregation questions
(:mod:`derma.lake.fitting`, :mod:`derma.lake.sums`), and the results are the pure ``analysis`` results.
"""

from __future__ import annotations

from dataclasses import replace

from analysis.curves import OutcomeFits
from analysis.satisfaction import satisfaction_model_of
from analysis.sensitivity import compare_within
from analysis.side_effects import side_effect_model_of
from derma.lake.engines import scratch
from derma.lake.fitting import EngineRows, present_categoricals, unique_name
from derma.lake.model_sql import NUMERIC_SOURCES, coded_sessions, lit, usable

CLINIC_UNIT = "clinic_id"
CLINICIAN_UNIT = "clinic_id || ' / ' || clinician_id"


def scope_filter(scope: str | None) -> str:
    """The sessions of a scope: the network (None or 'network') or one clinic."""
    return "true" if scope in (None, "network") else f"clinic_id = {lit(scope)}"


def model_rows(
    engine,
    outcome: str,
    where: str,
    unit: str = CLINIC_UNIT,
    direct: bool = False,
    starts: dict | None = None,
):
    """A model's coded rows materialised in the engine, with what coding left out.

    ``starts`` holds the estimates of earlier fits of the same outcome (and gains this model's): its
    fits start from them where the coefficients' names match (fewer Newton steps, the same optimum).
    Returns ``(rows, clinics, unknown, notes)``: the :class:`EngineRows`, the number of clinics among
    sessions with a known outcome, the sessions without one, and the coding's plain messages.
    """
    kind = "logit" if outcome == "side_effects" else "ordinal"
    columns = present_categoricals(direct)
    coded = coded_sessions(outcome, unit, direct, where)
    table = unique_name("model_rows")
    engine.materialise(table, f"select * from ({coded}) as c where {usable([*NUMERIC_SOURCES, *columns])}")
    known = "any_side_effect is not null" if outcome == "side_effects" else "satisfaction is not null"
    counts = engine.frame(
        f"select count(*) filter (where {known}) as known, count(*) filter (where not ({known})) as unknown, "
        f"count(distinct case when {known} then clinic_id end) as clinics from sessions where {where}"
    ).iloc[0]
    rows = EngineRows(engine, table, kind, columns, starts={} if starts is None else starts)
    notes = []
    bad = int(counts["known"]) - rows.n
    if bad:
        notes.append(f"{bad} sessions without a usable setting (e.g. crystal flow) were left out")
    return rows, int(counts["clinics"] or 0), int(counts["unknown"] or 0), notes


def fit_outcome_models_on(engine, scope: str | None = None, checks: bool = True) -> OutcomeFits:
    """The side-effect, satisfaction and direct-association models of a scope, fitted on ``engine``.

    The engine must have a ``sessions`` relation (a lake's or a warehouse snapshot's). With ``checks``
    the network's models are refitted within clinicians, as :func:`analysis.curves.fit_outcome_models`.
    """
    where = scope_filter(scope)
    # Each outcome's fits start from the estimates of its fits before: the direct model from the
    # satisfaction model's, the checks within clinicians from the clinic models'.
    starts = {"side_effects": {}, "satisfaction": {}}
    with scratch(engine):
        side_rows, clinics, unknown, notes = model_rows(
            engine, "side_effects", where, starts=starts["side_effects"]
        )
        side, side_fit = side_effect_model_of(side_rows, clinics, unknown, notes)
    with scratch(engine):
        sat_rows, clinics, _, notes = model_rows(engine, "satisfaction", where, starts=starts["satisfaction"])
        sat, sat_fit, _ = satisfaction_model_of(sat_rows, clinics, notes)
    with scratch(engine):
        direct_rows, clinics, _, notes = model_rows(
            engine, "satisfaction", where, direct=True, starts=dict(starts["satisfaction"])
        )
        direct, _, _ = satisfaction_model_of(direct_rows, clinics, notes, direct=True)
    if checks and _clinicians_nest(engine, where):
        side_checks = _within_clinicians(engine, where, "side_effects", side, starts["side_effects"])
        sat_checks = _within_clinicians(engine, where, "satisfaction", sat, starts["satisfaction"])
        side, sat = replace(side, checks=side_checks), replace(sat, checks=sat_checks)
    return OutcomeFits(side, sat, side_fit, sat_fit, direct)


def _clinicians_nest(engine, where: str) -> bool:
    """Several clinics, and more clinicians than clinics: the check within clinicians has something to say."""
    counts = engine.frame(
        f"select count(distinct clinic_id) as clinics, count(distinct {CLINICIAN_UNIT}) as units "
        f"from sessions where {where}"
    ).iloc[0]
    return int(counts["clinics"]) >= 2 and int(counts["units"]) > int(counts["clinics"])


def _within_clinicians(engine, where: str, outcome: str, result, starts: dict) -> tuple[str, ...]:
    if result.status == "not_enough_data":
        return ()
    with scratch(engine):
        rows, clinics, unknown, notes = model_rows(engine, outcome, where, unit=CLINICIAN_UNIT, starts=starts)
        if outcome == "side_effects":
            refit, _ = side_effect_model_of(rows, clinics, unknown, notes)
        else:
            refit, _, _ = satisfaction_model_of(rows, clinics, notes)
    return compare_within(result, refit)
