"""Covariate coding, covariate-pattern collapsing and design matrices shared by the outcome models."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy
import scipy.sparse as sp

# Skin phototypes grouped where the published risk gradient lies (PIH: I–III low, IV–VI higher) and
# where single types are sparse in clinic data.
SKIN_GROUPS = {1: "I–II", 2: "I–II", 3: "III", 4: "IV", 5: "V–VI", 6: "V–VI"}

# Canonical levels, preferred reference first (the reference falls back to the most common level
# when the preferred one is absent from the data).
LEVELS = {
    "skin_type": ("I–II", "III", "IV", "V–VI"),
    "indication": (
        "wrinkles",
        "hyperpigmentation",
        "acne_scars",
        "surgical_scars",
        "stretch_marks",
        "texture",
    ),
    "treatment_area": ("face", "neck", "decolletage", "hands", "back", "body"),
    "crystal_type": ("corundum", "aluminium_hydroxide", "sodium_bicarbonate", "diamond_tip"),
    "pre_care": ("followed", "skipped", "not recorded"),
    # Clinics are data: no preferred reference (the largest clinic is), and no reported effects.
    "clinic": (),
    # Only in the direct association of satisfaction: the session's side-effect status.
    "side_effect": ("none", "some", "not known"),
}
CATEGORICALS = tuple(LEVELS)
#: The clinic term: fixed effects, so the settings are compared between sessions of the same clinic.
CLINIC = "clinic"
#: What ``reference_frame`` puts in the clinic column: predictions average over the clinics.
AVERAGE_CLINIC = "(average clinic)"
NUMERICS = ("vacuum_10kpa", "passes", "flow_10pct", "session_number")
COVARIATES = NUMERICS + CATEGORICALS
DIAMOND = "diamond_tip"

# The shared adjustment set, so the two models' effects are comparable. ``rcs`` is a restricted
# cubic spline (linear column first, then the nonlinear columns) with knots fixed from the data.
# Clinic enters as fixed effects: clinics differ in how they set the hand piece *and* in outcomes for
# reasons no export records (device, protocol, clientele), so only comparisons within a clinic are
# fair. A clinic's own fit has one clinic and the guards drop the term.
ADJUSTMENT = (
    "vacuum_10kpa + passes + flow_10pct + skin_type + indication + treatment_area"
    " + crystal_type + pre_care + clinic + {session}"
)
SESSION_LINEAR = "session_number"
SESSION_SPLINE = "rcs(session_number, session_knots)"
# Vacuum stays linear in the models (its odds ratio per 10 kPa is a reported effect); a spline in it
# is fitted as a check, and used for the vacuum curves when the data reject linearity.
VACUUM_SPLINE = "rcs(vacuum_10kpa, vacuum_knots)"
#: A spline's design column name: the variable, the knots' name and the column (0 is the variable itself).
SPLINE_COLUMN = re.compile(r"^rcs\((\w+), (\w+)\)\[(\d+)\]$")


def code_covariates(sessions: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Code the ``sessions`` columns as model covariates (one row per usable session).

    Vacuum is in units of 10 kPa, particle flow in units of 10 percentage points and set to 0 for
    diamond-tip sessions (no particles: the ``crystal_type`` indicator absorbs them, so the flow
    slope is estimated within crystal sessions). Skin types are grouped I–II / III / IV / V–VI;
    a missing ``pre_care_followed`` is its own level; ``clinic`` is the clinic id (one level when
    the rows carry no ``clinic_id``). Crystal sessions without a flow are dropped
    with a warning (the export contract requires it, so there should be none).
    """
    warnings: list[str] = []
    crystal = sessions["crystal_type"].astype("string")
    diamond = crystal.eq(DIAMOND).fillna(False).to_numpy(bool)
    flow = pd.to_numeric(sessions["particle_flow"], errors="coerce").to_numpy(float)
    flow = np.where(diamond, 0.0, flow)
    pre = pd.array(sessions["pre_care_followed"], dtype="boolean")
    frame = pd.DataFrame(
        {
            "vacuum_10kpa": pd.to_numeric(sessions["vacuum_kpa"]).to_numpy(float) / 10.0,
            "passes": pd.to_numeric(sessions["passes"]).to_numpy(float),
            "flow_10pct": flow / 10.0,
            "session_number": pd.to_numeric(sessions["session_number"]).to_numpy(float),
            "skin_type": sessions["fitzpatrick"].map(SKIN_GROUPS).to_numpy(object),
            "indication": sessions["indication"].to_numpy(object),
            "treatment_area": sessions["treatment_area"].to_numpy(object),
            "crystal_type": crystal.to_numpy(object),
            "pre_care": np.where(
                np.asarray(pre.isna()),
                "not recorded",
                np.where(pre.fillna(True).to_numpy(bool), "followed", "skipped"),
            ),
            CLINIC: (
                sessions["clinic_id"].astype(object).to_numpy(object)
                if "clinic_id" in sessions
                else np.full(len(sessions), "all", dtype=object)
            ),
        },
        index=sessions.index,
    )
    present = [c for c in CATEGORICALS if c in frame]
    bad = frame[list(NUMERICS)].isna().any(axis=1) | frame[present].isna().any(axis=1)
    if bad.any():
        warnings.append(
            f"{int(bad.sum())} sessions without a usable setting (e.g. crystal flow) were left out"
        )
    return frame.loc[~bad.to_numpy()], warnings


def restricted_cubic_spline(x, knots) -> np.ndarray:
    """Harrell's restricted cubic spline basis: ``x`` then ``len(knots) - 2`` nonlinear columns.

    Linear beyond the outer knots; the nonlinear columns are zero when the relation is linear, so a
    Wald test on them is a test of linearity.
    """
    x = np.asarray(x, dtype=float)
    t = np.asarray(knots, dtype=float)
    cols = [x]
    k = len(t)
    if k >= 3:
        scale = (t[-1] - t[0]) ** 2

        def pos3(z):
            return np.clip(z, 0, None) ** 3

        for j in range(k - 2):
            cols.append(
                (
                    pos3(x - t[j])
                    - pos3(x - t[-2]) * (t[-1] - t[j]) / (t[-1] - t[-2])
                    + pos3(x - t[-1]) * (t[-2] - t[j]) / (t[-1] - t[-2])
                )
                / scale
            )
    return np.column_stack(cols)


def spline_knots(x: pd.Series, n_knots: int = 4) -> tuple[float, ...]:
    """Knots at Harrell's default quantiles (4 knots: 5, 35, 65, 95 %), ties removed."""
    qs = {3: (0.10, 0.5, 0.90), 4: (0.05, 0.35, 0.65, 0.95), 5: (0.05, 0.275, 0.5, 0.725, 0.95)}[n_knots]
    return tuple(float(v) for v in np.unique(np.quantile(np.asarray(x, float), qs)))


@dataclass(frozen=True)
class Collapsed:
    """Rows collapsed to unique covariate patterns, keeping what the cluster sandwich needs.

    ``row_pattern``, ``row_y`` and ``row_cluster`` index every original row; ``counts[p, j]`` is the
    number of rows of pattern ``p`` with outcome code ``j``.
    """

    patterns: pd.DataFrame
    counts: np.ndarray
    row_pattern: np.ndarray
    row_y: np.ndarray
    row_cluster: np.ndarray | None
    n_clusters: int
    y_levels: tuple


def collapse(frame: pd.DataFrame, columns, y: pd.Series, clusters: pd.Series | None = None) -> Collapsed:
    """Collapse rows to unique covariate patterns with outcome counts per pattern.

    The likelihood of the rows is the count-weighted likelihood of the patterns, so estimates are
    identical; the per-row pattern and cluster codes keep per-cluster score sums (hence
    cluster-robust errors) identical too.
    """
    columns = list(columns)
    keys = frame[columns]
    row_pattern = keys.groupby(columns, sort=False, observed=True, dropna=False).ngroup().to_numpy()
    _, first = np.unique(row_pattern, return_index=True)
    patterns = keys.iloc[first].reset_index(drop=True)
    y_codes, y_levels = pd.factorize(pd.Series(y).to_numpy(), sort=True)
    counts = np.zeros((len(patterns), len(y_levels)))
    np.add.at(counts, (row_pattern, y_codes), 1.0)
    row_cluster, n_clusters = None, 0
    if clusters is not None:
        row_cluster, uniq = pd.factorize(pd.Series(clusters).to_numpy())
        n_clusters = len(uniq)
    return Collapsed(patterns, counts, row_pattern, y_codes, row_cluster, n_clusters, tuple(y_levels))


def design_env(knots: tuple[float, ...], vacuum_knots: tuple[float, ...] = ()) -> patsy.EvalEnvironment:
    """The names a model formula may use besides the data columns."""
    return patsy.EvalEnvironment(
        [{"rcs": restricted_cubic_spline, "session_knots": knots, "vacuum_knots": vacuum_knots}]
    )


def build_design(
    rhs: str, data: pd.DataFrame, env: patsy.EvalEnvironment
) -> tuple[np.ndarray, patsy.DesignInfo]:
    """The design matrix of a formula's right-hand side (with intercept) and its patsy design info."""
    mat = patsy.dmatrix(rhs, data, eval_env=env, NA_action="raise", return_type="matrix")
    return np.asarray(mat), mat.design_info


def design_rows(design_info: patsy.DesignInfo, data: pd.DataFrame) -> np.ndarray:
    """Design rows for new data, coded exactly as in the fit."""
    return np.asarray(patsy.build_design_matrices([design_info], data, NA_action="raise")[0])


def fit_rows(fit: LinearFit, data: pd.DataFrame) -> np.ndarray:
    """Design rows of ``fit`` for ``data``; a row whose clinic is :data:`AVERAGE_CLINIC` averages the clinics.

    The average is over the clinics of the fit, weighted by their sessions, on the linear-predictor
    scale: a prediction "at the average clinic" adds the session-weighted mean of the clinic effects.
    Because the clinic enters additively (treatment-coded dummies), the average row is the reference
    clinic's row with the dummies replaced by the clinics' weights. A contrast between two rows is the
    same at every clinic.
    """
    weights = fit.reference.get("clinic_weights") or {}
    if CLINIC not in data or not weights:
        return design_rows(fit.design_info, data)
    average = (data[CLINIC].astype(object) == AVERAGE_CLINIC).to_numpy()
    if not average.any():
        return design_rows(fit.design_info, data)
    chosen = np.where(average, fit.reference[CLINIC], data[CLINIC].astype(object))
    rows = design_rows(fit.design_info, data.assign(**{CLINIC: chosen}))
    columns = fit.design_info.term_name_slices.get(CLINIC)
    if columns is not None:
        names = fit.design_info.column_names[columns]
        # patsy names treatment-coded dummies "clinic[T.<level>]".
        shares = [weights.get(name[len(CLINIC) + 3 : -1], 0.0) for name in names]
        rows[np.ix_(average, np.arange(rows.shape[1])[columns])] = shares
    return rows


def cluster_score_sums(weights: np.ndarray, rows: Collapsed, exog: np.ndarray) -> np.ndarray:
    """Per-cluster sums of ``weights[row] * exog[pattern(row)]`` (shape clusters × columns).

    Builds the sparse cluster-by-pattern matrix of row weights (this is the aggregation within
    patient × covariate pattern), then multiplies by the pattern design.
    """
    mat = sp.csr_matrix(
        (weights, (rows.row_cluster, rows.row_pattern)), shape=(rows.n_clusters, len(rows.patterns))
    )
    return np.asarray(mat @ exog)


def cluster_sandwich(hessian: np.ndarray, cluster_scores: np.ndarray) -> np.ndarray:
    """Cluster-robust covariance ``G/(G-1) · H⁻¹ (Σ_g s_g s_gᵀ) H⁻¹`` from the log-likelihood Hessian."""
    g = cluster_scores.shape[0]
    bread = np.linalg.inv(-hessian)
    meat = cluster_scores.T @ cluster_scores
    return (g / (g - 1.0)) * bread @ meat @ bread


class FitFailure(Exception):
    """A model could not be fitted credibly (non-convergence, separation, singular information)."""


@dataclass(frozen=True)
class LinearFit:
    """What ``analysis`` keeps of a fitted model: coefficients, covariance and coding, no statsmodels.

    ``params`` holds the covariate coefficients (``names``) followed, for a cumulative-logit model,
    by the thresholds θ₁ < … < θ_{K-1} of ``logit P(Y ≤ y_j) = θ_j − xβ``.
    """

    kind: str
    rhs: str
    names: tuple[str, ...]
    params: np.ndarray
    cov: np.ndarray
    design_info: patsy.DesignInfo
    y_levels: tuple
    reference: dict
    loglike: float
    n_clusters: int
    cov_type: str
    levels: dict = field(default_factory=dict)
    support: dict = field(default_factory=dict)
    decisions: dict = field(default_factory=dict)
    curve_fits: dict = field(default_factory=dict)

    @classmethod
    def from_rows(
        cls,
        kind: str,
        rhs: str,
        names,
        params,
        cov,
        info,
        rows,
        reference: dict,
        loglike: float,
        cov_type: str,
        support: dict,
    ) -> LinearFit:
        """A fit on ``rows`` (its outcome levels and patient clusters), with its covariance's kind named."""
        return cls(
            kind,
            rhs,
            tuple(names),
            params,
            cov,
            info,
            rows.y_levels,
            reference,
            float(loglike),
            rows.n_clusters,
            "cluster-robust by patient" if cov_type == "cluster" else "model-based",
            support=support,
        )

    @property
    def k_beta(self) -> int:
        return len(self.names)

    @property
    def bse(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))


def check_information(hessian: np.ndarray) -> None:
    """Raise FitFailure when the information matrix is singular or nearly so (collinear terms)."""
    if not np.all(np.isfinite(hessian)):
        raise FitFailure("the fit produced non-finite values")
    eig = np.linalg.eigvalsh(-hessian)
    if eig.min() <= eig.max() * 1e-12:
        raise FitFailure("some terms cannot be separated in these data (collinear or without variation)")


def wald_test(fit: LinearFit, columns) -> tuple[float, int, float]:
    """Wald χ² test that the coefficients named ``columns`` are all zero: (statistic, df, p)."""
    from scipy import stats

    idx = [fit.names.index(c) for c in columns]
    if not idx:
        return 0.0, 0, 1.0
    b = fit.params[idx]
    stat = float(b @ np.linalg.solve(fit.cov[np.ix_(idx, idx)], b))
    return stat, len(idx), float(stats.chi2.sf(stat, len(idx)))


def reference_frame(fit: LinearFit, n: int = 1, **overrides) -> pd.DataFrame:
    """``n`` rows of the fit's reference covariates with ``overrides`` (scalars or arrays).

    The clinic is :data:`AVERAGE_CLINIC` when the fit has clinic effects (see :func:`fit_rows`).
    """
    cols = {c: np.repeat(fit.reference[c], n) for c in COVARIATES if c in fit.reference}
    if fit.reference.get("clinic_weights"):
        cols[CLINIC] = np.repeat(AVERAGE_CLINIC, n)
    for key, value in overrides.items():
        cols[key] = np.broadcast_to(np.asarray(value, dtype=object if isinstance(value, str) else None), (n,))
    frame = pd.DataFrame(cols)
    for col in NUMERICS:
        if col in frame:
            frame[col] = frame[col].astype(float)
    return frame


def linear_predictor(fit: LinearFit, data: pd.DataFrame, cut_index: int | None = None):
    """Estimate and standard error of the logit of the modelled probability for each row of ``data``.

    For a logit model: logit P(event). For a cumulative logit: logit P(Y > y_cut) = xβ − θ_cut.
    """
    x = fit_rows(fit, data)
    if fit.kind == "cumulative_logit":
        x = x[:, 1:]
        grad = np.zeros((len(x), len(fit.params)))
        grad[:, : fit.k_beta] = x
        grad[:, fit.k_beta + cut_index] = -1.0
    else:
        grad = x
    est = grad @ fit.params
    se = np.sqrt(np.einsum("ij,jk,ik->i", grad, fit.cov, grad))
    return est, se
