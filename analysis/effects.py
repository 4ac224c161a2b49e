"""Effects: adjusted odds ratios as contrasts between two covariate rows of a fitted model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.design import DIAMOND, SESSION_SPLINE, LinearFit, fit_rows, reference_frame


def contrast(fit: LinearFit, base: pd.DataFrame, alt: pd.DataFrame) -> tuple[float, float]:
    """Log-odds-ratio of ``alt`` vs ``base`` (one row each) and its standard error."""
    diff = fit_rows(fit, alt)[0] - fit_rows(fit, base)[0]
    if fit.kind == "cumulative_logit":
        diff = diff[1:]
    cov = fit.cov[: fit.k_beta, : fit.k_beta]
    return float(diff @ fit.params[: fit.k_beta]), float(np.sqrt(diff @ cov @ diff))


SOURCE_NAMES = {
    "skin_type": ("fitzpatrick", "Skin type {level} vs {ref}"),
    "indication": ("indication", "Indication: {level} vs {ref}"),
    "treatment_area": ("treatment_area", "Area: {level} vs {ref}"),
    "crystal_type": ("crystal_type", "Crystal: {level} vs {ref}"),
    "pre_care": ("pre_care_followed", "Pre-care {level} vs {ref}"),
    "side_effect": ("any_side_effect", "Side effect in the session: {level} vs {ref}"),
}


def effect_contrasts(fit: LinearFit, summary) -> list[dict]:
    """Every reported effect as a contrast between two covariate rows, with term, label, unit and n.

    ``summary`` holds the counts of the rows the fit used (:class:`analysis.summary.RowsSummary`).
    Numeric terms: one step of their unit at the reference (for the flow: at the reference crystal
    type, a crystal). Categorical levels: that level vs the reference level, other covariates at
    reference; a diamond tip is compared with the reference crystal at its reference flow.
    """
    ref = fit.reference
    specs: list[dict] = []
    n = summary.n

    def add(term, label, unit, base, alt, count):
        specs.append(dict(term=term, label=label, unit=unit, base=base, alt=alt, n=int(count)))

    vac = ref["vacuum_10kpa"]
    add("vacuum_kpa", "Vacuum", "per 10 kPa", {}, {"vacuum_10kpa": vac + 1}, n)
    add("passes", "Passes", "per additional pass", {}, {"passes": ref["passes"] + 1}, n)
    crystals = [c for c in ref["crystal_levels"] if c != DIAMOND]
    if crystals and "flow_10pct" in fit.rhs:
        crystal = ref["crystal_type"] if ref["crystal_type"] != DIAMOND else crystals[0]
        flow = ref["crystal_flow_10pct"]
        add(
            "particle_flow",
            "Particle flow",
            "per 10 percentage points (crystal sessions)",
            {"crystal_type": crystal, "flow_10pct": flow},
            {"crystal_type": crystal, "flow_10pct": flow + 1},
            n - summary.levels["crystal_type"].get(DIAMOND, 0),
        )
    if SESSION_SPLINE in fit.rhs:
        last = min(6.0, float(summary.values["session_number"][0].max()))
        add(
            "session_number",
            "Session number",
            f"session {last:g} vs session 1",
            {"session_number": 1.0},
            {"session_number": last},
            n,
        )
    else:
        add(
            "session_number",
            "Session number",
            "per additional session",
            {},
            {"session_number": ref["session_number"] + 1},
            n,
        )
    for col, (source, template) in SOURCE_NAMES.items():
        if col not in fit.levels or col not in fit.rhs:
            continue
        counts = summary.levels[col]
        ref_level = fit.levels[col][0]
        for level in fit.levels[col]:
            if level == ref_level:
                continue
            base, alt = {col: ref_level}, {col: level}
            if col == "crystal_type":
                base["flow_10pct"] = ref["crystal_flow_10pct"]
                alt["flow_10pct"] = 0.0 if level == DIAMOND else ref["crystal_flow_10pct"]
            label = template.format(level=_readable(level), ref=_readable(ref_level))
            add(f"{source}[{level}]", label, f"vs {_readable(ref_level)}", base, alt, counts.get(level, 0))
    return specs


def _readable(level) -> str:
    return str(level).replace("_", " ")


#: Below this many patients (clusters) a cluster-robust interval uses t(G - 1), not the normal quantile.
SMALL_CLUSTERS = 100


def reference_df(n_clusters: int) -> float | None:
    """Degrees of freedom for a cluster-robust interval: G - 1 with fewer than 100 clusters, else None (normal).

    With few clusters the sandwich variance is itself uncertain and the normal quantile gives
    intervals that are too narrow; t with G - 1 degrees of freedom is the usual correction
    (Cameron & Miller 2015, J Human Resources 50:317, section VI).
    """
    return float(n_clusters - 1) if 1 < n_clusters < SMALL_CLUSTERS else None


def odds_ratio_interval(log_estimate: float, se: float, df: float | None = None) -> dict:
    """An odds ratio with its 95% Wald interval (on the log scale) and two-sided p-value.

    ``df`` switches from the normal to Student's t with ``df`` degrees of freedom (few clusters).
    """
    from scipy import stats

    dist = stats.norm if df is None else stats.t(df)
    z = float(dist.ppf(0.975))
    return {
        "estimate": float(np.exp(log_estimate)),
        "ci_low": float(np.exp(log_estimate - z * se)),
        "ci_high": float(np.exp(log_estimate + z * se)),
        "p_value": float(2 * dist.sf(abs(log_estimate / se))),
    }


def odds_ratio_effects(fit: LinearFit, summary) -> list[dict]:
    """Odds ratios with 95% Wald intervals and p-values for every contrast of ``effect_contrasts``."""
    out = []
    for spec in effect_contrasts(fit, summary):
        base = reference_frame(fit, 1, **spec["base"])
        alt = reference_frame(fit, 1, **{**spec["base"], **spec["alt"]})
        est, se = contrast(fit, base, alt)
        df = reference_df(fit.n_clusters) if fit.cov_type.startswith("cluster") else None
        out.append(
            dict(
                term=spec["term"],
                label=spec["label"],
                unit=spec["unit"],
                scale="odds_ratio",
                **odds_ratio_interval(est, se, df),
                n=spec["n"],
                log_estimate=est,
                se=se,
            )
        )
    return out
