"""The model results of one scope in the shape ``derma models --format json`` prints."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from derma.annotations import annotations, targets_of
from derma.jsonvalues import plain, records
from etl.access import NETWORK
from etl.batch import LoadError
from etl.settings import Settings
from etl.timeline import UserData
from etl.userdata import read as read_userdata
from etl.warehouse import connect_current
from queries import run_query


def model_report(settings: Settings, scope: str = NETWORK) -> dict:
    """The latest model results for ``scope`` in the shape ``derma models --format json`` prints."""
    snapshot, con = connect_current(settings.data_dir)
    try:
        return model_report_from(con, snapshot.snapshot_id, scope, read_userdata(settings))
    finally:
        con.close()


def model_report_from(con, snapshot_id: str, scope: str = NETWORK, userdata: UserData | None = None) -> dict:
    """The report of ``scope`` from a connection holding the model tables (a warehouse, or a lake's fit).

    ``userdata`` is the data dir's notes and targets (a lake has none of its own).
    """
    values = {"scope": scope}
    summaries = run_query(con, "model_summaries", values)
    if summaries.empty:
        raise LoadError(f"no model results for scope '{scope}' yet: run 'derma models --refresh'")
    effects = run_query(con, "model_effects", values)
    curves = run_query(con, "model_curves", values)
    run = (
        con.execute(
            "select run_id, scope, data_batch_id, fitted_at, seconds, is_fresh from stg_model_runs "
            "where is_latest and scope = $s",
            {"s": scope},
        )
        .df()
        .iloc[0]
    )
    report = {
        "snapshot": snapshot_id,
        "scope": scope,
        "run": {k: plain(v) for k, v in run.items()},
        "models": [
            _model_entry(row, effects[effects["model"] == row["model"]]) for _, row in summaries.iterrows()
        ],
        "curves": [_curve_entry(name, group) for name, group in curves.groupby("curve", sort=False)],
        "proportional_odds": records(
            run_query(con, "model_po_check", values).drop(
                columns=["run_id", "scope", "data_batch_id", "fitted_at", "is_fresh"]
            )
        ),
        "funnel": {
            # reindex: results fitted by an older version lack the newer columns (they read as null)
            kind: records(
                run_query(con, "funnel_units", {**values, "unit_type": kind}).reindex(
                    columns=FUNNEL_UNIT_FIELDS
                )
            )
            for kind in ("clinician", "clinic")
        },
        "funnel_summaries": _funnel_summaries(run_query(con, "funnel_summaries", values)),
        "control_charts": _control_charts(
            run_query(con, "spc_verdicts", values), run_query(con, "spc_points", values)
        ),
        "annotations": annotations(userdata or UserData(), scope),
        "targets": targets_of(userdata or UserData(), scope),
        "courses": records(
            run_query(con, "course_summaries", values)[
                [
                    "indication",
                    "n_courses",
                    "n_satisfied",
                    "median",
                    "median_low",
                    "median_high",
                    "median_text",
                ]
            ]
        ),
    }
    return report


FUNNEL_UNIT_FIELDS = [
    "unit",
    "clinic_id",
    "n_sessions",
    "observed",
    "expected",
    "oe_ratio",
    "oe_low",
    "oe_high",
    "flag",
    "reading",
    "z",
    "lower_95",
    "upper_95",
    "lower_998",
    "upper_998",
    "plain_lower_998",
    "plain_upper_998",
    "outside_95",
    "small_sample",
]
FUNNEL_SUMMARY_FIELDS = [
    "status",
    "method",
    "adjustment",
    "phi",
    "tau2",
    "n_units",
    "n_used",
    "n_groups",
    "compared_within",
    "comparison",
    "adjusted_for",
    "notes",
]


def _funnel_summaries(frame: pd.DataFrame) -> dict:
    """How each funnel was drawn and what it compares, by unit type."""
    out = {}
    for row in records(frame.reindex(columns=["unit_type", *FUNNEL_SUMMARY_FIELDS])):
        kind = row.pop("unit_type")
        row["adjusted_for"] = list(row["adjusted_for"] or [])
        row["notes"] = list(row["notes"] or [])
        out[kind] = row
    return out


def _texts(value) -> list[str]:
    """A list column's value as a list (NULL in a row written before the column existed: empty)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    return [str(v) for v in value]


def _model_entry(row: pd.Series, effects: pd.DataFrame) -> dict:
    return {
        "name": row["model"],
        "outcome": row["outcome"],
        "method": row["method"],
        "adjusted_for": _texts(row.get("adjusted_for")),
        "estimand": plain(row.get("estimand")) or "",
        "checks": _texts(row.get("checks")),
        "status": row["status"],
        "n_sessions": plain(row["n_sessions"]),
        "n_patients": plain(row["n_patients"]),
        "n_events": plain(row["n_events"]),
        "warnings": _texts(row["warnings"]),
        "effects": records(
            effects[["term", "label", "unit", "scale", "estimate", "ci_low", "ci_high", "p_value"]]
        ),
    }


POINT_KEYS = ["month", "value", "centre", "lower", "upper", "special_cause", "rules"]


def _control_charts(verdicts: pd.DataFrame, points: pd.DataFrame) -> list[dict]:
    """One entry per unit and chart: the verdict, the alert and the monthly points (cli.md, v1.1)."""
    entries = []
    for row in verdicts.itertuples(index=False):
        mine = points[(points["unit"] == row.unit) & (points["chart"] == row.chart)].sort_values("month")
        mine = mine.assign(
            month=mine["month"].map(lambda m: pd.Timestamp(m).strftime("%Y-%m")),
            special_cause=mine["special_cause"].fillna(False).astype(bool),
            rules=mine["rules"].map(
                lambda r: [str(v) for v in r] if isinstance(r, list | tuple | np.ndarray) else []
            ),
        )
        entries.append(
            {
                "unit": row.unit,
                "chart": row.chart,
                "measure": row.measure,
                "status": row.status,
                "verdict": row.verdict,
                "alert": bool(row.alert) if pd.notna(row.alert) else False,
                "points": records(mine[POINT_KEYS]),
            }
        )
    return entries


def _curve_entry(name: str, group: pd.DataFrame) -> dict:
    first = group.iloc[0]
    return {
        "name": name,
        "x": first["x_name"],
        "y": first["y_name"],
        "reference": json.loads(first["reference"]) if first["reference"] else {},
        "note": first["note"],
        "points": records(group[["x", "estimate", "ci_low", "ci_high"]]),
    }
