"""Case mix: the expected side-effect probability of each session from patient and treatment factors, not clinician."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

OUTCOME = "any_side_effect"

CASE_MIX_TERMS = ("fitzpatrick", "indication", "treatment_area", "pre_care", "session_number")
CASE_MIX_FORMULA = (
    "events + non_events ~ C(fitzpatrick) + C(indication) + C(treatment_area) + C(pre_care) + session_number"
)
CATEGORICAL_TERMS = ("fitzpatrick", "indication", "treatment_area", "pre_care")


def _case_mix_frame(sessions: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Plain-typed covariates and outcome for rows whose outcome and covariates are known."""
    needed = ["fitzpatrick", "indication", "treatment_area", "session_number", outcome]
    if sessions is None or sessions.empty or any(c not in sessions for c in needed):
        return pd.DataFrame(columns=[*CASE_MIX_TERMS, "y"])
    frame = pd.DataFrame(index=sessions.index)
    frame["fitzpatrick"] = sessions["fitzpatrick"].astype("string")
    frame["indication"] = sessions["indication"].astype("string")
    frame["treatment_area"] = sessions["treatment_area"].astype("string")
    pre = (
        sessions["pre_care_followed"]
        if "pre_care_followed" in sessions
        else pd.Series(pd.NA, index=frame.index)
    )
    # An unrecorded pre-care answer is its own level rather than a reason to drop the session.
    frame["pre_care"] = (
        pre.astype("boolean").map({True: "yes", False: "no"}).astype("string").fillna("unknown")
    )
    frame["session_number"] = pd.to_numeric(sessions["session_number"], errors="coerce").astype("Float64")
    frame["y"] = sessions[outcome].astype("boolean")
    frame = frame.dropna()
    frame["session_number"] = frame["session_number"].astype(float)
    frame["y"] = frame["y"].astype(bool)
    for column in CATEGORICAL_TERMS:
        frame[column] = frame[column].astype(str)
    return frame


def fit_case_mix(sessions: pd.DataFrame, outcome: str = OUTCOME) -> pd.Series:
    """Expected probability of the outcome for each session, from its case mix alone.

    Parameters
    ----------
    sessions : DataFrame
        Rows of the ``sessions`` table.
    outcome : str
        Boolean outcome column, default ``"any_side_effect"``.

    Returns
    -------
    Series
        Named ``"expected"``, aligned to ``sessions.index``; NaN where the outcome or a covariate is
        unknown. ``.attrs`` holds ``formula``, ``method``, ``terms`` (those kept), ``status``
        (``"ok"``, ``"simplified"``, ``"not_enough_data"``), ``warnings`` (plain messages),
        ``n_sessions`` and ``n_events``.

    Notes
    -----
    Estimand: :math:`P(\\text{outcome} \\mid \\text{case mix})` for the pooled population of all
    clinicians, used as the expected risk in indirect standardisation (O/E). Model: binomial GLM,
    logit link, with :data:`CASE_MIX_FORMULA` — Fitzpatrick type, indication, treatment area (all
    categorical), pre-care followed (yes / no / unknown) and session number (linear on the logit).
    The clinician is deliberately left out, so differences between clinicians stay in O/E.

    It is fitted on aggregated covariate patterns (events and non-events per pattern). For a
    binomial GLM that is the same likelihood as the session-level fit up to a constant, so the
    coefficients and predictions are identical. Only point predictions leave this function;
    within-patient correlation does not bias them (the GLM estimating equations stay unbiased) and no
    standard errors are reported. A term with a single level in the data is dropped (status
    ``"simplified"``). Separation or non-convergence is reported in ``warnings``; predictions are
    still returned, since fitted probabilities near 0 for an event-free stratum are what the data say.
    """
    expected = pd.Series(np.nan, index=sessions.index if sessions is not None else None, name="expected")
    attrs = {
        "formula": CASE_MIX_FORMULA,
        "method": "binomial GLM (logit) on aggregated covariate patterns; point predictions only",
        "terms": [],
        "status": "ok",
        "warnings": [],
        "n_sessions": 0,
        "n_events": 0,
    }
    frame = _case_mix_frame(sessions, outcome)
    attrs["n_sessions"] = len(frame)
    attrs["n_events"] = int(frame["y"].sum()) if len(frame) else 0
    if frame.empty:
        attrs["status"] = "not_enough_data"
        attrs["warnings"].append("no sessions with a known outcome and complete case mix")
        expected.attrs.update(attrs)
        return expected
    events = attrs["n_events"]
    if events == 0 or events == len(frame):
        rate = events / len(frame)
        expected.loc[frame.index] = rate
        attrs["status"] = "not_enough_data"
        attrs["warnings"].append(
            "no side effects recorded: every expected probability is 0"
            if events == 0
            else "every session had the outcome: the case mix cannot explain anything"
        )
        expected.attrs.update(attrs)
        return expected

    terms = [t for t in CASE_MIX_TERMS if frame[t].nunique() > 1]
    dropped = [t for t in CASE_MIX_TERMS if t not in terms]
    if dropped:
        attrs["status"] = "simplified"
        attrs["warnings"].append(f"dropped (only one value in the data): {', '.join(dropped)}")
    patterns = frame.groupby(list(CASE_MIX_TERMS), sort=False, observed=True)["y"].agg(["sum", "count"])
    patterns = patterns.reset_index().rename(columns={"sum": "events"})
    patterns["non_events"] = patterns["count"] - patterns["events"]
    rhs = " + ".join(f"C({t})" if t in CATEGORICAL_TERMS else t for t in terms) or "1"
    formula = f"events + non_events ~ {rhs}"
    attrs["formula"] = formula
    attrs["terms"] = terms
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = smf.glm(formula, data=patterns, family=sm.families.Binomial()).fit()
            fitted = np.asarray(fit.predict(patterns), dtype=float)
        except (np.linalg.LinAlgError, ValueError) as exc:
            attrs["status"] = "simplified"
            attrs["warnings"].append(
                f"the case-mix model could not be fitted ({exc}); using the overall rate"
            )
            fitted = np.full(len(patterns), events / len(frame))
    for w in caught:
        if issubclass(w.category, PerfectSeparationWarning):
            attrs["warnings"].append(
                "some case-mix groups had no events (separation): their expected risk is near zero"
            )
        elif issubclass(w.category, ConvergenceWarning):
            attrs["warnings"].append(
                "the case-mix model did not fully converge; expected counts are approximate"
            )
    attrs["warnings"] = list(dict.fromkeys(attrs["warnings"]))
    patterns["expected"] = fitted
    merged = frame[list(CASE_MIX_TERMS)].merge(
        patterns[[*CASE_MIX_TERMS, "expected"]], on=list(CASE_MIX_TERMS), how="left"
    )
    expected.loc[frame.index] = merged["expected"].to_numpy()
    expected.attrs.update(attrs)
    return expected


# ---------------------------------------------------------------------------------------------- limits
