"""Rates over patients' repeated sessions: a Wilson interval widened by the design effect of the patients.

A patient's sessions are not independent: some patients are happier, or react more, session after
session. A plain Wilson interval treats every session as a separate trial and is too narrow when
patients contribute several sessions to a rate (clinician-year, clinic-month). The warehouse has the
same computation as SQL macros (``cluster_wilson_low`` / ``cluster_wilson_high`` in
``etl/schema.sql``), fed by per-patient sums; a test keeps the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Z975 = 1.959963984540054
#: The series' coefficients g1..g4 at z = 1.959964, rounded to 6 decimals as in the SQL macro:
#: g1 = (z³+z)/4, g2 = (5z⁵+16z³+3z)/96, g3 = (3z⁷+19z⁵+17z³−15z)/384,
#: g4 = (79z⁹+776z⁷+1482z⁵−1920z³−945z)/92160.
T_SERIES = (2.372271, 2.822499, 2.555850, 1.589534)
#: Below this many patients the interval uses t(G - 1) in place of the normal quantile.
SMALL_CLUSTERS = 100


def t975(df: float) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (Abramowitz & Stegun 26.7.5).

    The Cornish–Fisher series in 1/df to its fourth term: within 0.8% of the exact quantile for
    df = 2 and within 0.01% from df = 10; df = 1 uses the exact 12.7062. The SQL macro ``t975`` is
    the same series, so Python and SQL give the same interval.
    """
    if df < 1:
        return float("nan")
    if df < 1.5:
        return 12.7062
    return 1.959964 + sum(g / df ** (i + 1) for i, g in enumerate(T_SERIES))


@dataclass(frozen=True)
class ClusteredRate:
    """A rate over sessions with its interval, and how much the patients' clustering widened it."""

    events: float
    n: float
    patients: int
    rate: float
    ci_low: float
    ci_high: float
    design_effect: float
    effective_n: float


def design_effect(events: float, n: float, syy: float, syn: float, snn: float, patients: int) -> float:
    """Ratio of the patient-clustered variance of the rate to the binomial one, at least 1.

    ``syy``, ``syn`` and ``snn`` are the sums over patients of ``y_g²``, ``y_g n_g`` and ``n_g²`` (events
    and sessions of each patient). The clustered variance is the ratio estimator's
    ``G/(G−1) Σ_g (y_g − p n_g)² / N²``. When the rate is 0 or 1 the design effect cannot be estimated
    from the data and the mean sessions per patient (each patient one independent observation) is
    used — the most it can be.
    """
    if n <= 0 or patients <= 0:
        return float("nan")
    p = events / n
    if patients < 2 or p <= 0 or p >= 1:
        return max(1.0, n / patients)
    clustered = patients / (patients - 1) * (syy - 2 * p * syn + p * p * snn) / (n * n)
    return max(1.0, clustered / (p * (1 - p) / n))


def wilson_bounds(p: float, m: float, z: float) -> tuple[float, float]:
    """Wilson score bounds for a proportion ``p`` on an (effective) sample size ``m`` with quantile ``z``."""
    centre = p + z * z / (2 * m)
    spread = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m))
    return float((centre - spread) / (1 + z * z / m)), float((centre + spread) / (1 + z * z / m))


def clustered_rate(events_by_patient, n_by_patient) -> ClusteredRate:
    """A rate over sessions with a design-effect-adjusted Wilson 95% interval (patients as clusters).

    Parameters
    ----------
    events_by_patient, n_by_patient : array-like
        Per patient: sessions with the event (e.g. rated 4–5) and sessions counted (e.g. answered).
        Patients with ``n == 0`` are ignored.

    Returns
    -------
    ClusteredRate

    Notes
    -----
    Estimand: the share of sessions with the event (a ratio of totals). The Wilson interval is
    computed on the effective sample size ``N / deff`` (Korn & Graubard 1998, Survey Methodology
    24:193), where ``deff`` is :func:`design_effect`; with fewer than 100 patients the quantile is
    t(G − 1) (:func:`t975`). It assumes patients are independent of one another; sessions of one
    patient may be correlated in any way.
    """
    y = np.asarray(events_by_patient, dtype=float)
    n = np.asarray(n_by_patient, dtype=float)
    keep = n > 0
    y, n = y[keep], n[keep]
    total_y, total_n, g = float(y.sum()), float(n.sum()), int(keep.sum())
    if total_n <= 0:
        nan = float("nan")
        return ClusteredRate(0.0, 0.0, 0, nan, nan, nan, nan, nan)
    deff = design_effect(
        total_y, total_n, float((y * y).sum()), float((y * n).sum()), float((n * n).sum()), g
    )
    m = total_n / deff
    z = t975(g - 1) if g < SMALL_CLUSTERS else 1.959964
    low, high = wilson_bounds(total_y / total_n, m, z)
    return ClusteredRate(total_y, total_n, g, total_y / total_n, max(low, 0.0), min(high, 1.0), deff, m)
