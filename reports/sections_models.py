"""The report's sections from the model results: control charts, courses, adjusted effects, the funnel."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from charts import figures as plots
from charts import labels, model_figures, style
from etl.access import NETWORK
from reports.content import (
    ANOTHER_CLINIC,
    PROFILE,
    PROFILE_TEXT,
    SETTINGS,
    Figure,
    Reader,
    Section,
    shift,
    table_of,
)
from reports.suppression import Rate

ALERT_MEANING = (
    "How to read this: a special cause on a chart (blue for the better, orange for the worse) follows the NHS "
    "Making Data Count rules and turns up by chance in a few per cent of months. An alert is rarer: after "
    "allowing for the patients treated, side effects or answers of 1–3 have run above the unit's own usual level "
    "for long enough that chance alone would do this about once in 30 years per chart. An alert asks the manager "
    "to investigate what changed."
)


def spc_section(r: Reader) -> Section:
    verdicts = r.q("spc_verdicts", unit=r.scope)
    paragraphs = [
        f"{row.measure.capitalize()}: {row.verdict.rstrip('.')}." for row in verdicts.itertuples()
    ] or ["No control charts have been computed for this snapshot (run `derma models`)."]
    if not verdicts.empty:
        paragraphs.append(ALERT_MEANING)
    figures = []
    for chart, percent, what in (
        ("side_effects_p_prime", True, "Side-effect rate (Laney p′ chart)"),
        ("satisfaction_xmr", False, "Mean satisfaction (XmR chart)"),
    ):
        points = r.q("spc_points", unit=r.scope, chart=chart)
        points = points[points["month"] <= pd.Timestamp(r.last)]
        if r.min_cell and chart == "side_effects_p_prime":
            points = points[points["events"].fillna(0) >= r.min_cell]
        if not points.empty:
            figures.append(
                Figure(
                    what,
                    model_figures.spc(points, percent),
                    "Each month against the centre line and 3-sigma limits of its segment's first 12 months; "
                    "blue and orange mark special causes for the better and the worse, a red triangle an alert.",
                )
            )
    latest = r.q("spc_points", unit=r.scope)["month"].max()
    if pd.notna(latest) and latest.date() != r.first:
        paragraphs.append(
            f"The verdicts read the latest charted month ({latest:%B %Y}), which is not {r.first:%B %Y}."
        )
    return Section("control", "Control charts", tuple(paragraphs), tuple(figures))


def course_section(r: Reader, model_scope: str) -> Section:
    start = shift(r.first, -11)
    frame = r.q("satisfaction_by_session_number", date_from=start, date_to=r.last, clinic_id=r.clinic_id)
    table = r.hide(
        table_of(
            "Course",
            "Satisfaction by session number (12 months)",
            frame,
            {
                "session_number": "level",
                "sessions": "int",
                "answered": "int",
                "satisfied": "int",
                "pct_satisfied": "pct",
                "pct_satisfied_low": "pct",
                "pct_satisfied_high": "pct",
                "mean_rating": "num",
            },
            counts=("sessions", "answered", "satisfied"),
            rates=(
                Rate(
                    "pct_satisfied",
                    "satisfied",
                    "answered",
                    ("pct_satisfied_low", "pct_satisfied_high", "mean_rating"),
                ),
            ),
        )
    )
    figures = []
    visible = table.visible_rows()
    if style.enough(visible, "answered"):
        figures.append(
            Figure(
                "Satisfied by session number",
                plots.rate_points(
                    visible,
                    "session_number",
                    "pct_satisfied",
                    "satisfied",
                    "answered",
                    x_title="session number",
                    y_title="% satisfied",
                ),
                f"Share of answered surveys rated 4–5 at each session, {start:%b %Y} – "
                f"{r.first:%b %Y}, with Wilson 95% intervals.",
            )
        )
    curves = r.q("course_curves", scope=model_scope, indication="all")
    if r.min_cell:
        curves = curves[
            (curves["at_risk"] >= r.min_cell)
            & (curves["satisfied"] >= r.min_cell)
            & (curves["stopped"].fillna(0) >= r.min_cell)
        ]
    summary = r.q("course_summaries", scope=model_scope)
    median = summary.loc[summary["indication"] == "all", "median_text"]
    paragraphs = []
    if not median.empty:
        paragraphs.append(
            f"Median sessions until a patient is first satisfied ({model_scope} fit, all data): "
            f"{median.iat[0]}."
        )
    if not curves.empty:
        figures.append(
            Figure(
                "Courses satisfied by session (Kaplan–Meier)",
                plots.km_curve(curves, median.iat[0] if not median.empty else None),
                "Share of courses with a first 4–5 rating by each session, with its 95% band. It counts a course "
                "that stopped as if it could still end happily, so it is optimistic when unhappy patients stop.",
            )
        )
        figures.append(
            Figure(
                "How courses end",
                plots.course_outcomes(curves),
                "Courses satisfied (green) and ended without a 4–5 rating (red) by each session, counting stopping "
                "as an outcome (cumulative incidence), with 95% bands; dashed: the simple curve above.",
            )
        )
    return Section("course", "Satisfaction over the course", tuple(paragraphs), tuple(figures), (table,))


WHAT_MODEL = {
    "side_effects": "Side effects",
    "satisfaction": "Satisfaction (total)",
    "satisfaction_direct": "Satisfaction (direct)",
}
WHAT_ODDS = {
    "side_effects": "the odds of any side effect",
    "satisfaction": "the odds of a higher rating (total)",
    "satisfaction_direct": "the odds of a higher rating with side effects held fixed (direct)",
}


def effects_section(r: Reader, model_scope: str) -> Section:
    effects = r.q("model_effects", scope=model_scope)
    effects = effects[effects["term"].isin(SETTINGS)].sort_values(["model", "term"])
    table = r.hide(
        table_of(
            "Effects",
            "Adjusted effects of the settings",
            effects,
            {
                "model": "text",
                "term": "text",
                "label": "text",
                "unit": "text",
                "estimate": "ratio",
                "ci_low": "ratio",
                "ci_high": "ratio",
                "p_value": "num",
                "n": "int",
            },
            counts=("n",),
        )
    )
    summaries = r.q("model_summaries", scope=model_scope)
    within = "within each clinic" if model_scope == NETWORK else f"within {model_scope}"
    paragraphs = [
        f"Odds ratios from the {model_scope} models, comparing sessions {within}, adjusted for skin type, "
        "indication, area, crystal, session number and pre-care, with patient-clustered 95% intervals "
        "(1 = no difference). They describe how past sessions with different settings went; they are not a "
        "promise of what changing a setting will do, because settings were chosen for patients, not assigned "
        "at random. Satisfaction is shown twice: the total association (including any path through side "
        "effects) and the direct one (sessions with the same side-effect status compared)."
    ]
    for row in summaries.itertuples():
        if getattr(row, "estimand", None):
            paragraphs.append(f"{WHAT_MODEL.get(row.model, row.model)}: {row.estimand}")
    for row in table.frame.itertuples():
        what = WHAT_ODDS.get(row.model, "the odds")
        paragraphs.append(
            f"{row.label} ({row.unit}): {what} × {row.estimate:.2f} (95% CI {row.ci_low:.2f}–"
            f"{row.ci_high:.2f})."
        )
    figures = (
        [
            Figure(
                "Adjusted effects",
                model_figures.forest(table.frame),
                "Odds ratios with 95% intervals on a log axis.",
            )
        ]
        if not table.frame.empty
        else []
    )
    explorer = r.q("settings_explorer", scope=model_scope, **PROFILE)
    crystal = "corundum" if "corundum" in set(explorer["crystal_type"]) else None
    if not explorer.empty:
        figures.append(
            Figure(
                f"Settings trade-off for {PROFILE_TEXT}",
                model_figures.tradeoff(
                    explorer.drop_duplicates(["crystal_type", "vacuum_kpa", "passes"]), crystal
                ),
                f"Predicted chance of a 4–5 rating against side-effect risk per session over vacuum and passes, for "
                f"one common profile ({PROFILE_TEXT}).",
            )
        )
    return Section("effects", "Settings: effects and trade-off", tuple(paragraphs), tuple(figures), (table,))


FUNNEL_FORMATS = {
    "unit_type": "text",
    "unit": "text",
    "n_sessions": "int",
    "observed": "int",
    "expected": "num",
    "oe_ratio": "ratio",
    "oe_low": "ratio",
    "oe_high": "ratio",
    "flag": "text",
    "reading": "text",
}


def funnel_section(r: Reader) -> Section:
    figures, tables, paragraphs, method = [], [], [], []
    summaries = r.q("funnel_summaries")
    for unit_type in ("clinic", "clinician"):
        for row in summaries[summaries["unit_type"] == unit_type].to_dict("records"):
            method.append(f"{unit_type.capitalize()} funnel: " + " ".join(labels.funnel_words(row)))
        units = r.q("funnel_units", unit_type=unit_type)
        limits = r.q("funnel_limits", unit_type=unit_type)
        if units.empty:
            continue
        if r.clinic_id:
            own = units["clinic_id"] == r.clinic_id
            if unit_type == "clinician":
                units = units[own]
            else:  # the others stay as anonymous points, without their counts or words
                units = units.assign(
                    unit=units["unit"].where(own, ANOTHER_CLINIC),
                    clinic_id=units["clinic_id"].where(own, ANOTHER_CLINIC),
                    reading=units["reading"].where(own, ""),
                )
        rules = {
            "counts": ("n_sessions", "observed"),
            "rates": (Rate("oe_ratio", "observed", None, ("oe_low", "oe_high")),),
        }
        table = r.hide(
            table_of(
                "Funnel",
                "Risk-adjusted side effects (observed ÷ expected)",
                units[units["unit"] != ANOTHER_CLINIC],
                FUNNEL_FORMATS,
                **rules,
            )
        )
        tables.append(table)
        drawn = r.hide(
            table_of(
                "drawn", "", units.reset_index(drop=True), {**FUNNEL_FORMATS, "clinic_id": "text"}, **rules
            )
        ).visible_rows()
        if not drawn.empty:
            figures.append(
                Figure(
                    f"Funnel plot: {unit_type}s",
                    model_figures.funnel(drawn, limits, highlight=r.clinic_id),
                    "Each point is a unit's observed ÷ expected side effects given its case mix; "
                    "points inside the funnel are within chance. No ranking is implied.",
                )
            )
        for row in table.frame.itertuples():
            if row.flag != "within":
                paragraphs.append(f"{row.unit}: {row.reading}.")
    if len(tables) == 2:
        tables = [
            replace(
                tables[0],
                frame=pd.concat([tables[0].frame, tables[1].frame], ignore_index=True),
                hidden=pd.concat([tables[0].hidden_mask(), tables[1].hidden_mask()], ignore_index=True),
            )
        ]
    intro = (
        "Other clinics appear as unnamed points; only this clinic and its clinicians are named."
        if r.clinic_id
        else "Every clinic and clinician of the network, in alphabetical order (not ranked)."
    )
    return Section(
        "funnel",
        "Fair comparison (risk-adjusted funnel)",
        (
            intro,
            "Fitted on all months of the network (risk adjustment needs the whole picture).",
            *method,
            *(paragraphs or ["All units are within the expected range."]),
        ),
        tuple(figures),
        tuple(tables),
    )
