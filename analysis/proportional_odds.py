"""The proportional-odds check: binary logits at each cut of the rating against the ordinal model's odds ratios."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from analysis.design import design_env
from analysis.effects import odds_ratio_effects
from analysis.satisfaction import _satisfaction_model
from analysis.summary import knots


def check_proportional_odds(sessions: pd.DataFrame) -> pd.DataFrame:
    """Compare the proportional-odds odds ratios with separate binary logits at each cut of the rating.

    Parameters
    ----------
    sessions : pandas.DataFrame
        As for :func:`fit_satisfaction`.

    Returns
    -------
    pandas.DataFrame
        One row per term × cut (``≥2`` … ``≥5``): ``term, label, cut, binary_or, binary_ci_low,
        binary_ci_high, po_or, po_ci_low, po_ci_high, verdict``. Empty (with ``attrs["message"]``)
        when the satisfaction model could not be fitted.

    Notes
    -----
    Each binary model is ``logit P(Y ≥ k) = α_k + xβ_k`` with the proportional-odds model's final
    terms, rows and cluster-robust errors. Proportional odds says ``β_k = β`` for every k; the
    verdict is "consistent" when the PO odds ratio lies inside the binary 95% interval and
    "departs" otherwise — a screening check per term and cut, not a formal multiple-testing-aware
    test. Cuts with fewer than 20 sessions on one side are not fitted.
    """
    from analysis.guards import MIN_EVENTS, _attempt
    from analysis.side_effects import fit_logit

    columns = [
        "term",
        "label",
        "cut",
        "binary_or",
        "binary_ci_low",
        "binary_ci_high",
        "po_or",
        "po_ci_low",
        "po_ci_high",
        "verdict",
    ]
    result, fit, guarded = _satisfaction_model(sessions)
    if fit is None:
        out = pd.DataFrame(columns=columns)
        out.attrs["message"] = " ".join(result.warnings)
        return out
    summary = guarded.summary
    po = odds_ratio_effects(fit, summary)
    env = design_env(knots(summary, "session_number"))
    records = []
    for cut in fit.y_levels[1:]:
        above = (guarded.y >= cut).astype(int)
        binary = None
        if min(above.sum(), len(above) - above.sum()) >= MIN_EVENTS:
            binary, _ = _attempt(fit_logit, fit.rhs, guarded.data.collapsed_binary(cut), env, fit.reference)
        by_term = (
            {e["term"]: e for e in odds_ratio_effects(replace(binary, levels=fit.levels), summary)}
            if binary is not None
            else {}
        )
        for e in po:
            b = by_term.get(e["term"])
            if b is None:
                verdict = "not checked: too few sessions on one side of the cut, or the fit failed"
            elif b["ci_low"] <= e["estimate"] <= b["ci_high"]:
                verdict = "consistent"
            else:
                verdict = "departs"
            binary_or = (np.nan,) * 3 if b is None else (b["estimate"], b["ci_low"], b["ci_high"])
            records.append(
                (
                    e["term"],
                    e["label"],
                    f"≥{cut}",
                    *binary_or,
                    e["estimate"],
                    e["ci_low"],
                    e["ci_high"],
                    verdict,
                )
            )
    return pd.DataFrame.from_records(records, columns=columns)
