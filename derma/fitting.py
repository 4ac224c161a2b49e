"""Every model result of one scope, from its sessions: frames shaped like the warehouse's model tables."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from etl.access import NETWORK
from etl.contract import INDICATIONS, TREATMENT_AREAS

#: The proportional-odds check refits five models; above this many sessions it runs on a random
#: sample of whole patients (a screening diagnostic; the satisfaction model itself uses every row).
PO_CHECK_MAX_SESSIONS = 200_000


def fit_everything(
    sessions: pd.DataFrame,
    scope: str,
    series: pd.DataFrame,
    rebase: Mapping[str, Sequence] | None = None,
    targets: Mapping[tuple[str, str], object] | None = None,
) -> dict[str, pd.DataFrame]:
    """Every model result for one scope from its sessions in memory, as frames shaped like the model tables.

    ``series`` is the ``monthly_series`` query of the scope (the control charts read the marts' counts);
    ``rebase`` and ``targets`` are the recorded process changes and targets (``derma.annotations``).
    The same computation runs on an engine (:func:`derma.lake.results.fit_everything_on`) for a lake.
    """
    from analysis.courses import summarise_courses
    from analysis.curves import fit_outcome_models

    return model_tables(
        fit_outcome_models(sessions),
        scope,
        series,
        po_sample=patient_sample(sessions, PO_CHECK_MAX_SESSIONS),
        seen=sessions[["fitzpatrick", "indication", "treatment_area"]].drop_duplicates(),
        has_diamond=bool((sessions["crystal_type"] == "diamond_tip").any()),
        unit_sessions=sessions,
        course_tables=course_tables(
            summarise_courses(sessions), {i: summarise_courses(g) for i, g in sessions.groupby("indication")}
        ),
        rebase=rebase,
        targets=targets,
    )


def model_tables(
    fits,
    scope: str,
    series: pd.DataFrame,
    po_sample: tuple[pd.DataFrame, str],
    seen: pd.DataFrame,
    has_diamond: bool,
    unit_sessions: pd.DataFrame,
    course_tables: dict[str, pd.DataFrame],
    rebase: Mapping[str, Sequence] | None = None,
    targets: Mapping[tuple[str, str], object] | None = None,
) -> dict[str, pd.DataFrame]:
    """The model tables from the fits and what each other stage reads (from memory or from an engine).

    ``course_tables`` are :func:`course_tables` of the courses, made by the caller: the courses (a row
    each) need not then be held while the funnels and alerts work on every session.
    """
    from analysis.curves import model_curves
    from analysis.proportional_odds import check_proportional_odds

    results = fits.results
    sample, note = po_sample
    tables = {
        "model_summaries": pd.DataFrame(
            [
                {
                    "model": r.name,
                    "outcome": r.outcome,
                    "method": r.method,
                    "status": r.status,
                    "n_sessions": r.n_sessions,
                    "n_patients": r.n_patients,
                    "n_events": r.n_events,
                    "warnings": list(r.warnings),
                    "adjusted_for": list(r.adjusted_for),
                    "estimand": r.estimand,
                    "checks": list(r.checks),
                }
                for r in results
            ]
        ),
        "model_effects": pd.DataFrame([{"model": r.name, **e.to_dict()} for r in results for e in r.effects]),
        "model_curves": pd.DataFrame(
            [
                {
                    "curve": c.name,
                    "x_name": c.x,
                    "y_name": c.y,
                    "x": p.x,
                    "estimate": p.estimate,
                    "ci_low": p.ci_low,
                    "ci_high": p.ci_high,
                    "n": p.n,
                    "reference": json.dumps(c.reference, default=str),
                    "note": c.note,
                }
                for c in model_curves(fits)
                for p in c.points
            ]
        ),
        "model_po_check": check_proportional_odds(sample).assign(checked_on=note),
        "settings_explorer": _explorer(fits, seen, has_diamond),
    }
    tables.update(_funnels(unit_sessions, scope))
    tables.update(_control_charts(series, unit_sessions, scope, rebase, targets))
    tables.update(course_tables)
    return tables


def patient_draw(keys) -> np.ndarray:
    """Each patient's fixed uniform draw in 0..999999: ``patient_number()`` of the pseudonym modulo a million.

    ``patient_number`` (``etl/schema.sql``) is 60 bits of the pseudonym's MD5, which every engine computes
    alike, so a sample of patients is the same in memory, on the warehouse and on Spark.
    """
    unique, inverse = np.unique(np.asarray(keys, dtype=object).astype(str), return_inverse=True)
    draws = np.array([int(hashlib.md5(k.encode()).hexdigest()[:15], 16) % 1_000_000 for k in unique])
    return draws[inverse]


def sample_share(total: int, max_sessions: int) -> int:
    """The draw below which a patient is in the sample (of a million) for about ``max_sessions`` sessions."""
    return int(max_sessions / total * 1_000_000)


def sample_note(sampled: int, total: int, max_sessions: int) -> str:
    """What the proportional-odds check was run on, in words."""
    if total <= max_sessions:
        return f"all {total} sessions"
    return (
        f"a random {max_sessions / total:.0%} of patients ({sampled} of {total} sessions; "
        "whole patients, so clustering is kept)"
    )


def patient_sample(sessions: pd.DataFrame, max_sessions: int) -> tuple[pd.DataFrame, str]:
    """A reproducible random sample of whole patients holding about ``max_sessions`` sessions."""
    if len(sessions) <= max_sessions:
        return sessions, sample_note(len(sessions), len(sessions), max_sessions)
    draw = patient_draw(sessions["patient_key"])
    sample = sessions[draw < sample_share(len(sessions), max_sessions)].reset_index(drop=True)
    return sample, sample_note(len(sample), len(sessions), max_sessions)


def _explorer(fits, seen: pd.DataFrame, has_diamond: bool) -> pd.DataFrame:
    """The settings trade-off for every skin type x indication x area seen in the data (``seen``)."""
    from analysis.explorer import explore_settings

    if fits.side_effect_fit is None and fits.satisfaction_fit is None:
        return pd.DataFrame()
    crystals = [None] + (["diamond_tip"] if has_diamond else [])
    seen = seen.sort_values(["fitzpatrick", "indication", "treatment_area"], kind="stable")
    frames = []
    for row in seen.itertuples(index=False):
        if row.indication not in INDICATIONS or row.treatment_area not in TREATMENT_AREAS:
            continue
        done = set()
        for crystal in crystals:
            grid = explore_settings(fits, int(row.fitzpatrick), row.indication, row.treatment_area, crystal)
            label = crystal or grid.attrs.get("reference", {}).get("crystal_type", "default")
            if label in done:  # the reference crystal may itself be the diamond tip: one grid per label
                continue
            done.add(label)
            frames.append(
                grid.assign(
                    fitzpatrick=int(row.fitzpatrick),
                    indication=row.indication,
                    treatment_area=row.treatment_area,
                    crystal_type=label,
                )
            )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


#: What each funnel compares, in words: stored with it, shown on the page and in the report.
COMPARISONS = {
    "clinic": (
        "each clinic against the network's average for patients and treatments like its own; a clinic "
        "differs for what its patients and treatments do not explain, including what no export records"
    ),
    "clinician": (
        "each clinician against colleagues in the same clinic with similar patients and treatments, so a "
        "clinic's own level (from whatever no export records) is not held against its clinicians"
    ),
}


def _funnels(sessions: pd.DataFrame, scope: str) -> dict[str, pd.DataFrame]:
    """The clinician funnel (within clinics) and, for the network, the clinic funnel.

    Each has its own case-mix fit: the clinic funnel's expected counts come from a model without
    clinic (clinics against the network's case-mix-adjusted average); the clinician funnel's from a
    model with clinic fixed effects (clinicians against colleagues in their own clinic).
    """
    from analysis.case_mix import fit_case_mix
    from analysis.funnel import funnel

    units, limits, summaries = [], [], []
    clinic_of = sessions.groupby("clinician_id")["clinic_id"].agg(lambda s: s.mode().iat[0])
    several_clinics = sessions["clinic_id"].nunique() > 1
    comparisons = [("clinician", "clinic_id" if several_clinics else None)]
    comparisons += [("clinic", None)] if scope == NETWORK else []
    for kind, within in comparisons:
        unit = f"{kind}_id"
        expected = fit_case_mix(sessions, within=within, compare=unit)
        result = funnel(sessions, expected, unit=unit, within=within)
        frame = result.units.assign(unit_type=kind)
        frame["clinic_id"] = frame["unit"].map(clinic_of) if kind == "clinician" else frame["unit"]
        units.append(frame)
        limits.append(result.curve.assign(unit_type=kind))
        summaries.append(
            {
                "unit_type": kind,
                "status": result.status,
                "method": result.method,
                "adjustment": result.adjustment,
                "phi": _num(result.phi),
                "tau2": _num(result.tau2),
                "n_units": result.n_units,
                "n_used": result.n_used,
                "n_groups": result.n_groups,
                "compared_within": "clinic" if kind == "clinician" else "network",
                "comparison": COMPARISONS[kind],
                "adjusted_for": list(result.adjusted_for),
                "notes": list(result.notes),
            }
        )
    return {
        "funnel_units": pd.concat(units, ignore_index=True),
        "funnel_limits": pd.concat(limits, ignore_index=True),
        "funnel_summaries": pd.DataFrame(summaries),
    }


def _num(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _control_charts(
    series: pd.DataFrame,
    sessions: pd.DataFrame,
    scope: str,
    rebase: Mapping[str, Sequence] | None = None,
    targets: Mapping[tuple[str, str], object] | None = None,
    arl: float | None = None,
) -> dict[str, pd.DataFrame]:
    """Control charts and their alerts per unit (the network and each clinic, or the one clinic).

    ``series`` is the ``monthly_series`` query (the charts read the marts' counts); ``sessions``
    feed the alerts' case-mix risks. ``rebase`` maps a unit to the months its process changed
    (each starts a new segment; none by default) and ``targets`` maps ``(unit, chart)`` to an
    :class:`analysis.spc.Target`; both are for recorded process changes and targets. ``arl``
    overrides the alerts' in-control run length (months; the bench compares settings with it).
    """
    from analysis.alerts import (
        NOT_SATISFIED,
        SIDE_EFFECTS,
        dissatisfaction_inputs,
        risk_adjusted_alert,
        side_effect_inputs,
        verdict,
    )
    from analysis.spc import CHART_DIRECTIONS

    rebase, targets = rebase or {}, targets or {}
    series = series.assign(month=pd.to_datetime(series["month"]))
    charts = {
        "side_effects_p_prime": (_side_effect_chart, side_effect_inputs(sessions), SIDE_EFFECTS),
        "satisfaction_xmr": (_satisfaction_chart, dissatisfaction_inputs(sessions), NOT_SATISFIED),
    }
    rows = _clinic_rows(sessions["clinic_id"])
    points, verdicts = [], []
    units = [scope] if scope != NETWORK else list(dict.fromkeys(series["unit"]))
    for unit in units:
        data = series[series["unit"] == unit]
        months = rebase.get(unit, ())
        for chart, (build, inputs, what) in charts.items():
            direction = CHART_DIRECTIONS[chart]
            result = build(data, direction, months, targets.get((unit, chart)))
            mine = inputs if unit == NETWORK else _of_clinic(inputs, rows.get(unit))
            alert = risk_adjusted_alert(mine, what, rebase=months, **({"arl": arl} if arl else {}))
            points.append(_chart_points(result, alert).assign(unit=unit, chart=chart, measure=result.measure))
            verdicts.append(
                {
                    "unit": unit,
                    "chart": chart,
                    "measure": result.measure,
                    "status": result.status,
                    "verdict": verdict(result, alert),
                    "notes": [*result.notes, *alert.notes],
                    "alert": alert.alert,
                    "alert_status": alert.status,
                    "alert_reading": alert.reading,
                    "alert_since": alert.since,
                    "last_alert": alert.last_alarm,
                    "alert_events": alert.what,
                    "alert_odds_ratio": alert.odds_ratio,
                    "in_control_arl": alert.arl,
                    "cusum_limit": _num(alert.limit),
                    "direction": direction,
                    "target": result.target,
                    "variation": result.variation,
                    "assurance": result.assurance,
                    "segment_start": result.segment_start,
                }
            )
    frame = (
        pd.concat([p for p in points if not p.empty], ignore_index=True)
        if any(not p.empty for p in points)
        else pd.DataFrame()
    )
    return {"spc_points": frame, "spc_verdicts": pd.DataFrame(verdicts)}


def _clinic_rows(clinic: pd.Series) -> dict[str, np.ndarray]:
    """Each clinic's row positions; the alerts then take one clinic's inputs at a time.

    Holding every clinic's inputs as a split copy beside the network's doubled their memory (0.4 GB
    at 10M sessions); positions are 8 bytes a session, computed once for both charts.
    """
    codes, names = pd.factorize(clinic, sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    return {str(name): order[bounds[i] : bounds[i + 1]] for i, name in enumerate(names)}


def _of_clinic(inputs: pd.DataFrame, rows: np.ndarray | None) -> pd.DataFrame:
    """A clinic's alert inputs, keeping what the case-mix fit said about itself."""
    part = inputs.iloc[rows if rows is not None else []]
    part.attrs = dict(inputs.attrs)
    return part


def _side_effect_chart(data: pd.DataFrame, direction: str, rebase, target):
    from analysis.spc import laney_p_chart

    frame = data[data["n"] > 0][["month", "events", "n"]]
    return laney_p_chart(frame, direction=direction, rebase=rebase, target=target)


def _satisfaction_chart(data: pd.DataFrame, direction: str, rebase, target):
    from analysis.spc import xmr_chart

    values = data[data["answered"] > 0][["month", "rating"]].rename(columns={"rating": "value"})
    return xmr_chart(values, direction=direction, rebase=rebase, target=target)


def _chart_points(result, alert) -> pd.DataFrame:
    """The chart's points with the alert's month by month (observed, expected, CUSUM, limit, alarm)."""
    months = alert.months.rename(
        columns={"observed": "alert_observed", "expected": "alert_expected", "sessions": "alert_sessions"}
    ).drop(columns=["segment", "score"])
    merged = result.points.merge(months, on="month", how="left")
    merged["alert"] = merged["alert"].astype("boolean").fillna(False).astype(bool)
    return merged


def course_tables(courses: pd.DataFrame, by_indication: dict) -> dict[str, pd.DataFrame]:
    """Course curves and dropout from the courses (``summarise_courses``): all, and each indication's own.

    An indication's courses are summarised from that indication's sessions alone (its clinics' first and
    last dates are those of the indication), as the curves always were.
    """
    from analysis.courses import dropout_of_courses
    from analysis.time_to_satisfied import satisfied_curve

    curves, summaries = [], []
    for indication, group in [("all", courses), *sorted(by_indication.items())]:
        km = satisfied_curve(group)
        curves.append(km.table.assign(indication=indication))
        summaries.append(
            {
                "indication": indication,
                "n_courses": km.n_courses,
                "n_satisfied": km.n_satisfied,
                "median": _num(km.median),
                "median_low": _num(km.median_low),
                "median_high": _num(km.median_high),
                "median_text": km.median_text,
                "notes": list(km.notes),
            }
        )
    return {
        "course_curves": pd.concat(curves, ignore_index=True),
        "course_summaries": pd.DataFrame(summaries),
        "course_dropout": dropout_of_courses(courses, by="indication"),
    }
