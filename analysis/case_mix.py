"""Case mix: the expected side-effect probability of each session from patient and treatment factors, not clinician."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

OUTCOME = "any_side_effect"

#: Terms always asked for; ``crystal_type`` and ``device`` join when their column is in the data.
BASE_TERMS = ("fitzpatrick", "indication", "treatment_area", "pre_care", "session_number")
OPTIONAL_TERMS = {"crystal_type": "crystal_type", "device": "device_model"}
CASE_MIX_TERMS = (*BASE_TERMS, *OPTIONAL_TERMS)
CASE_MIX_FORMULA = (
    "events + non_events ~ C(fitzpatrick) + C(indication) + C(treatment_area) + C(pre_care) + session_number"
    " + C(crystal_type) + C(device)"
)
CATEGORICAL_TERMS = ("fitzpatrick", "indication", "treatment_area", "pre_care", *OPTIONAL_TERMS)
#: A crystal type or device level gets its own coefficient only with at least this many sessions with,
#: and this many without, the outcome (about ten events per estimated coefficient); rarer ones are pooled.
MIN_LEVEL_OUTCOMES = 10
POOLED = "other"
MAX_ITERATIONS = 100
UNRECORDED = "unrecorded"

TERM_WORDS = {
    "fitzpatrick": "skin type",
    "indication": "indication",
    "treatment_area": "treatment area",
    "pre_care": "pre-care",
    "session_number": "session number",
    "crystal_type": "crystal type",
    "device": "device",
}


def _levels(values: pd.Series, missing: str | None = None) -> pd.Series:
    """A column as a categorical of its values written as text; blank or missing as ``missing`` when given.

    Categoricals keep the grouping and coding fast on millions of sessions (no Python strings).
    """
    levels = values.astype("category")
    levels = levels.cat.rename_categories([str(c) for c in levels.cat.categories])
    if missing is None:
        return levels
    if "" in levels.cat.categories:
        levels = levels.cat.remove_categories([""])
    if levels.isna().any():
        if missing not in levels.cat.categories:
            levels = levels.cat.add_categories([missing])
        levels = levels.fillna(missing)
    return levels


def _case_mix_frame(
    sessions: pd.DataFrame, outcome: str, within: str | None, compare: str | None
) -> pd.DataFrame:
    """Categorical covariates, session number and outcome for rows whose outcome and covariates are known.

    The complete rows are chosen first and each column is built for them alone, so the frame is made
    once (no copy of every session's row to drop the incomplete ones): at 10M sessions this frame and
    its making are most of the case-mix fit's memory.
    """
    needed = ["fitzpatrick", "indication", "treatment_area", "session_number", outcome]
    needed += [c for c in (within, compare) if c is not None]
    if sessions is None or sessions.empty or any(c not in sessions for c in needed):
        return pd.DataFrame(columns=[*BASE_TERMS, "y"])
    y = sessions[outcome].astype("boolean")
    number = pd.to_numeric(sessions["session_number"], errors="coerce")
    keep = y.notna().to_numpy() & number.notna().to_numpy()
    for column in ("fitzpatrick", "indication", "treatment_area", *({within, compare} - {None})):
        keep &= sessions[column].notna().to_numpy()
    index = sessions.index[keep]

    def kept(column: str) -> pd.Series:
        # One index object shared by every column: a boolean mask per Series would copy it each time.
        return pd.Series(sessions[column].array[keep], index=index, name=column, copy=False)

    columns = {column: _levels(kept(column)) for column in ("fitzpatrick", "indication", "treatment_area")}
    # An unrecorded pre-care answer, crystal or device is its own level rather than a reason to drop the session.
    answer = np.ones(len(index), dtype=np.int8)  # 0 no, 1 unrecorded, 2 yes
    if "pre_care_followed" in sessions:
        pre = pd.array(sessions["pre_care_followed"].array[keep], dtype="boolean")
        answer[pre.fillna(False).to_numpy(bool)] = 2
        answer[(~pre).fillna(False).to_numpy(bool)] = 0
    columns["pre_care"] = pd.Series(
        pd.Categorical.from_codes(answer, categories=["no", UNRECORDED, "yes"]).remove_unused_categories(),
        index=index,
        copy=False,
    )
    for term, column in OPTIONAL_TERMS.items():
        if column in sessions:
            columns[term] = _levels(kept(column), missing=UNRECORDED)
    columns["session_number"] = pd.Series(
        number.to_numpy(dtype=float, na_value=np.nan)[keep], index=index, copy=False
    )
    for column in {within, compare} - {None}:
        columns[column] = _levels(kept(column))
    columns["y"] = pd.Series(y.to_numpy(dtype=bool, na_value=False)[keep], index=index, copy=False)
    return pd.DataFrame(columns, copy=False)


def _pattern_ids(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's covariate pattern (numbered in order of first appearance) and each pattern's first row.

    A group-by over many columns holds a 64-bit code per column and row at once (0.7 GB at 10M
    sessions); here the columns' codes are folded into one key a column at a time.
    """
    key = np.zeros(len(frame), dtype=np.int64)
    span = 1
    for column in columns:
        codes, uniques = pd.factorize(frame[column], sort=False)
        if span * (len(uniques) + 1) >= 2**62:
            key, folded = pd.factorize(key, sort=False)
            span = len(folded)
        key = key * (len(uniques) + 1) + (codes + 1)
        span *= len(uniques) + 1
    ids, _ = pd.factorize(key, sort=False)
    # Numbered in order of first appearance: a row starts a pattern when its number exceeds all before it.
    seen = np.maximum.accumulate(ids)
    return ids, np.flatnonzero(np.r_[True, ids[1:] > seen[:-1]]) if len(ids) else np.array([], dtype=np.int64)


def _pool_levels(values: pd.Series, y: pd.Series, units: pd.Series | None) -> tuple[pd.Series, int]:
    """Levels too rare to estimate, or used by one compared unit only, merged into one pooled level.

    A level seen with one unit only would absorb that unit's whole difference (with a logit link and an
    intercept, observed equals expected within every level of a factor), so it is pooled too. When the
    pool itself is too rare or belongs to one unit, it joins the most common level instead.
    """
    values = values.astype("category")
    names = list(values.cat.categories)
    codes = values.cat.codes.to_numpy()
    outcome = y.to_numpy(dtype=float)
    sessions = np.bincount(codes, minlength=len(names))
    events = np.bincount(codes, weights=outcome, minlength=len(names))
    weak = np.minimum(events, sessions - events) < MIN_LEVEL_OUTCOMES
    pairs = None
    if units is not None:
        pairs = pd.DataFrame({"v": codes, "u": pd.factorize(units)[0]}).drop_duplicates()
        weak |= np.bincount(pairs["v"], minlength=len(names)) < 2
    weak &= sessions > 0
    if not weak.any():
        return values, 0
    pooled = np.flatnonzero(weak)
    pool_events, pool_sessions = events[pooled].sum(), sessions[pooled].sum()
    too_weak = min(pool_events, pool_sessions - pool_events) < MIN_LEVEL_OUTCOMES
    if pairs is not None:
        too_weak |= pairs.loc[pairs["v"].isin(pooled), "u"].nunique() < 2
    kept = np.flatnonzero(~weak & (sessions > 0))
    target = {name: name for name in names}
    into = names[kept[np.argmax(sessions[kept])]] if (too_weak and len(kept)) else POOLED
    target.update({names[i]: into for i in pooled})
    levels = sorted(set(target.values()))
    recode = np.array([levels.index(target[name]) for name in names])
    merged = pd.Categorical.from_codes(recode[codes], levels)
    return pd.Series(merged, index=values.index, name=values.name), len(pooled)


def _design(patterns: pd.DataFrame, terms: list[str]) -> sparse.csr_matrix:
    """Intercept, ``session_number`` as it is, and one indicator per non-reference level of the other terms.

    The reference level is the first in sorted order, as patsy's treatment coding takes it. The matrix
    is sparse: with clinic fixed effects a network's design has a column per clinic, and its dense form
    (millions of patterns by hundreds of columns) took gigabytes for a handful of non-zeros a row.
    """
    n = len(patterns)
    every = np.arange(n)
    rows, columns, values = [every], [np.zeros(n, dtype=np.int64)], [np.ones(n)]
    width = 1
    for term in terms:
        if term == "session_number":
            rows.append(every)
            columns.append(np.full(n, width, dtype=np.int64))
            values.append(patterns[term].to_numpy(float))
            width += 1
            continue
        codes, _ = pd.factorize(patterns[term], sort=True)
        present = np.flatnonzero(codes > 0)
        rows.append(present)
        columns.append(width + codes[present] - 1)
        values.append(np.ones(len(present)))
        width += int(codes.max())
    return sparse.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))), shape=(n, width)
    )


def fit_binomial(x, events: np.ndarray, trials: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Fitted probabilities of a binomial logit GLM (maximum likelihood by IRLS) and plain warnings.

    The same iterations as R's ``glm.fit`` and statsmodels' GLM (start at the smoothed observed share,
    stop when the deviance changes by less than 1e-8 relative), but each step solves the p x p normal
    equations rather than a least-squares problem over every covariate pattern, and no formula is
    parsed: on the 10^5 patterns of a large network that is what makes the fit take seconds, not
    minutes. A rank-deficient design (a device used with one crystal type only nests that crystal)
    gets the minimum-norm solution, whose predictions are the unique maximum-likelihood ones.
    """
    eps = np.finfo(float).eps
    mu = (events + 0.5) / (trials + 1.0)
    eta = np.log(mu / (1 - mu))
    deviance_old, converged = np.inf, False
    for _ in range(MAX_ITERATIONS):
        weight = trials * mu * (1 - mu)
        working = eta + (events - trials * mu) / weight
        information, score = _normal_equations(x, weight, working)
        beta = np.linalg.lstsq(information, score, rcond=None)[0]
        eta = np.asarray(x @ beta).ravel()
        mu = np.clip(1 / (1 + np.exp(-eta)), eps, 1 - eps)
        deviance = _binomial_deviance(events, trials, mu)
        if abs(deviance - deviance_old) <= 1e-8 * (abs(deviance) + 0.1):
            converged = True
            break
        deviance_old = deviance
    problems = []
    if ((mu < 1e-8) | (mu > 1 - 1e-8)).any():
        problems.append("some case-mix groups had no events (separation): their expected risk is near zero")
    if not converged:
        problems.append("the case-mix model did not fully converge; expected counts are approximate")
    return mu, problems


def _normal_equations(x, weight: np.ndarray, working: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``XᵀWX`` and ``XᵀWz`` of one IRLS step, for a sparse or a dense design."""
    if sparse.issparse(x):
        weighted = sparse.csr_matrix(x.multiply(weight[:, None]))
        return (x.T @ weighted).toarray(), np.asarray(weighted.T @ working).ravel()
    weighted = x * weight[:, None]
    # einsum, not BLAS: on a tall, thin design a multi-threaded BLAS sharing busy cores ran 10-30x
    # slower than one thread; einsum's single loop costs the same whatever the machine is doing.
    return np.einsum("ij,ik->jk", weighted, x), np.einsum("ij,i->j", weighted, working)


def _binomial_deviance(events: np.ndarray, trials: np.ndarray, mu: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        hits = np.where(events > 0, events * np.log(events / (trials * mu)), 0.0)
        misses = trials - events
        rest = np.where(misses > 0, misses * np.log(misses / (trials * (1 - mu))), 0.0)
    return float(2 * np.sum(hits + rest))


def fit_case_mix(
    sessions: pd.DataFrame, outcome: str = OUTCOME, *, within: str | None = None, compare: str | None = None
) -> pd.Series:
    """Expected probability of the outcome for each session, from its case mix alone.

    Parameters
    ----------
    sessions : DataFrame
        Rows of the ``sessions`` table.
    outcome : str
        Boolean outcome column, default ``"any_side_effect"``.
    within : str, optional
        A column whose levels get a fixed effect (e.g. ``"clinic_id"``): the expected risk is then that
        of the session's own group, so units compared with these expectations are compared within it.
    compare : str, optional
        The column of the units that will be compared with these expectations (e.g. ``"clinic_id"``):
        a crystal type or device used by one of them only is pooled, so it cannot absorb that unit's
        difference.

    Returns
    -------
    Series
        Named ``"expected"``, aligned to ``sessions.index``; NaN where the outcome or a covariate is
        unknown. ``.attrs`` holds ``formula``, ``method``, ``terms`` (those kept), ``adjusted_for``
        (the kept terms in words), ``within``, ``pooled`` (term -> number of levels pooled),
        ``status`` (``"ok"``, ``"simplified"``, ``"not_enough_data"``), ``warnings`` (plain
        messages), ``n_sessions`` and ``n_events``.

    Notes
    -----
    Estimand: :math:`P(\\text{outcome} \\mid \\text{case mix})` for the pooled population of all
    clinicians (within the session's group when ``within`` is given), used as the expected risk in
    indirect standardisation (O/E). Model: binomial GLM, logit link, with :data:`CASE_MIX_FORMULA` —
    Fitzpatrick type, indication, treatment area (all categorical), pre-care followed (yes / no /
    unrecorded), session number (linear on the logit), and, where the export records them, crystal
    type and device model (categorical, unrecorded as its own level). Crystal and device are
    treatment choices rather than patient traits: adjusting for them compares units as if they had
    used the same equipment, so a difference due to a device is not held against the unit using it.
    Levels with fewer than :data:`MIN_LEVEL_OUTCOMES` sessions with or without the outcome are
    pooled (see :func:`_pool_levels`). The clinician is deliberately left out, so differences
    between clinicians stay in O/E.

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
        "method": "binomial GLM (logit, maximum likelihood by IRLS) on aggregated covariate patterns; point predictions only",
        "terms": [],
        "adjusted_for": [],
        "within": within,
        "pooled": {},
        "status": "ok",
        "warnings": [],
        "n_sessions": 0,
        "n_events": 0,
    }
    frame = _case_mix_frame(sessions, outcome, within, compare)
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

    asked = [t for t in CASE_MIX_TERMS if t in frame] + ([within] if within else [])
    for term in (t for t in OPTIONAL_TERMS if t in frame):
        frame[term], n_pooled = _pool_levels(frame[term], frame["y"], frame[compare] if compare else None)
        if n_pooled:
            attrs["pooled"][term] = n_pooled
            attrs["warnings"].append(
                f"{n_pooled} {TERM_WORDS[term]} level(s) with too few sessions, or used by one "
                f"{(compare or 'unit').removesuffix('_id')} only, pooled"
            )
    terms = [t for t in asked if frame[t].nunique() > 1]
    dropped = [t for t in asked if t not in terms]
    if dropped:
        attrs["status"] = "simplified"
        attrs["warnings"].append(
            f"dropped (only one value in the data): {', '.join(TERM_WORDS.get(t, t) for t in dropped)}"
        )
    ids, first = _pattern_ids(frame, asked)
    patterns = frame.iloc[first][asked].reset_index(drop=True)
    patterns["events"] = np.bincount(ids, weights=frame["y"].to_numpy(float)).astype(np.int64)
    patterns["count"] = np.bincount(ids).astype(np.int64)
    rhs = " + ".join(f"C({t})" if t != "session_number" else t for t in terms) or "1"
    attrs["formula"] = f"events + non_events ~ {rhs}"
    attrs["terms"] = terms
    attrs["adjusted_for"] = [TERM_WORDS[t] for t in terms if t in TERM_WORDS]
    if within in terms:
        attrs["adjusted_for"].append(f"{within.removesuffix('_id')} (fixed effects)")
    try:
        fitted, problems = fit_binomial(
            _design(patterns, terms), patterns["events"].to_numpy(float), patterns["count"].to_numpy(float)
        )
        attrs["warnings"] += problems
    except np.linalg.LinAlgError as exc:
        attrs["status"] = "simplified"
        attrs["warnings"].append(f"the case-mix model could not be fitted ({exc}); using the overall rate")
        fitted = np.full(len(patterns), events / len(frame))
    attrs["warnings"] = list(dict.fromkeys(attrs["warnings"]))
    expected.loc[frame.index] = fitted[ids]
    expected.attrs.update(attrs)
    return expected
