"""Simulated clinic networks with known truths, for recovery tests of the models and the rates.

``confounded_network`` plants what real networks look like and the models must survive: clinics
differ in how hard they set the vacuum *and* in outcomes for reasons no export records (device,
protocol, clientele), so a clinic-blind fit confounds the two. ``within_clinic_truth`` computes the
estimand the network models target — the population-averaged (over patients) odds ratio per 10 kPa
within clinics — by projecting the planted patient-level model onto the fitted model's form, the way
``sample_data.averaging`` does for the generator.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from sample_data.averaging import fit_logistic, fit_proportional_odds

QUADRATURE_NODES = 30
SIDE_INTERCEPT = -3.4
THRESHOLDS = np.array([-2.2, -1.0, 0.4, 2.0])  # latent cuts 1|2, 2|3, 3|4, 4|5


@dataclass(frozen=True)
class Network:
    """A simulated network's planted, patient-level (conditional) truth."""

    sessions: pd.DataFrame
    side_log_or: float  # per 10 kPa, conditional on patient and clinic
    satisfaction_log_or: float  # per 10 kPa, cumulative odds of a higher rating, conditional
    side_patient_sd: float
    satisfaction_patient_sd: float
    clinic_side: np.ndarray  # unrecorded clinic shifts, log-odds
    clinic_satisfaction: np.ndarray


def confounded_network(
    seed: int,
    clinics: int = 10,
    patients_per_clinic: int = 150,
    sessions_per_patient: int = 5,
    side_or: float = 1.6,
    satisfaction_or: float = 1.3,
    confounding: float = 1.0,
) -> Network:
    """A network whose clinics' vacuum habits go with unrecorded differences in their outcomes.

    Clinic ``c`` sets the vacuum around ``h_c`` (20–45 kPa); its patients' side-effect log-odds are
    shifted by ``+0.9 · confounding · (h_c − mean)/10`` and their satisfaction by
    ``−1.4 · confounding · (h_c − mean)/10``: harder-pressing clinics have more side effects and
    lower ratings for reasons the export does not record, so across clinics vacuum looks worse for
    satisfaction (and for side effects) than it is within any clinic. Within a clinic, vacuum varies
    by clinician and session. Patients have random intercepts (SD 0.7 for side effects, 0.9 for
    satisfaction); skin type, indication, area and pre-care vary but carry no effect.
    """
    rng = np.random.default_rng(seed)
    habit = np.linspace(20, 45, clinics)
    rng.shuffle(habit)
    centred = (habit - habit.mean()) / 10
    clinic_side = 0.9 * confounding * centred + rng.normal(0, 0.15, clinics)
    clinic_sat = -1.4 * confounding * centred + rng.normal(0, 0.15, clinics)
    n_patients = clinics * patients_per_clinic
    clinic_of = np.repeat(np.arange(clinics), patients_per_clinic)
    clinician_of = rng.integers(0, 3, n_patients)
    clinician_shift = rng.normal(0, 3, (clinics, 3))
    u_side = rng.normal(0, 0.7, n_patients)
    u_sat = rng.normal(0, 0.9, n_patients)
    rows = np.repeat(np.arange(n_patients), sessions_per_patient)
    session_number = np.tile(np.arange(1, sessions_per_patient + 1), n_patients)
    c = clinic_of[rows]
    vacuum = np.clip(habit[c] + clinician_shift[c, clinician_of[rows]] + rng.normal(0, 6, len(rows)), 8, 75)
    passes = rng.integers(2, 5, len(rows))
    side_eta = SIDE_INTERCEPT + np.log(side_or) * (vacuum / 10 - 3) + 0.15 * (passes - 3)
    side_eta = side_eta + clinic_side[c] + u_side[rows]
    side = rng.random(len(rows)) < expit(side_eta)
    sat_eta = (
        np.log(satisfaction_or) * (vacuum / 10 - 3)
        + 0.25 * (session_number - 3)
        + clinic_sat[c]
        + u_sat[rows]
    )
    latent = sat_eta + rng.logistic(size=len(rows))
    rating = 1 + (latent[:, None] > THRESHOLDS[None, :]).sum(axis=1)
    follow_up = rng.random(len(rows)) < 0.9
    answered = rng.random(len(rows)) < 0.8
    codes = [f"{string.ascii_uppercase[i % 26]}{i:02d}" for i in range(clinics)]
    clinic_ids = np.array([f"SIM-{code}" for code in codes])[c]
    sessions = pd.DataFrame(
        {
            "clinic_id": clinic_ids,
            "clinician_id": [f"{k}-K{j}" for k, j in zip(clinic_ids, clinician_of[rows], strict=True)],
            "patient_key": [f"pk_{i:06d}" for i in rows],
            "session_date": pd.Timestamp("2026-01-05") + pd.to_timedelta(7 * (session_number - 1), unit="D"),
            "session_number": session_number,
            "vacuum_kpa": np.round(vacuum, 1),
            "passes": passes,
            "crystal_type": "corundum",
            "particle_flow": rng.integers(40, 80, len(rows)).astype(float),
            "fitzpatrick": rng.integers(1, 7, len(rows)),
            "indication": rng.choice(["wrinkles", "texture", "hyperpigmentation"], len(rows)),
            "treatment_area": rng.choice(["face", "neck"], len(rows)),
            "pre_care_followed": rng.random(len(rows)) < 0.85,
            "satisfaction": pd.array(np.where(answered, rating, pd.NA), dtype="Int32"),
            "any_side_effect": pd.array(np.where(follow_up, side, pd.NA), dtype="boolean"),
        }
    )
    return Network(sessions, np.log(side_or), np.log(satisfaction_or), 0.7, 0.9, clinic_side, clinic_sat)


def within_clinic_truth(network: Network) -> dict[str, float]:
    """Population-averaged log odds ratios per 10 kPa within clinics, for both outcomes.

    The limit of a fit with clinic fixed effects on these sessions: the planted probabilities
    averaged over the patient intercept (Gauss–Hermite), then projected onto a logistic
    (side effects, followed-up sessions) or proportional-odds (satisfaction, answered) model with
    vacuum, passes, session number and a dummy per clinic — the terms that carry any effect.
    """
    s = network.sessions
    nodes, weights = np.polynomial.hermite_e.hermegauss(QUADRATURE_NODES)
    weights = weights / weights.sum()
    clinics = pd.Categorical(s["clinic_id"])
    dummies = np.eye(len(clinics.categories))[clinics.codes][:, 1:]
    v10 = s["vacuum_kpa"].to_numpy(float) / 10
    passes = s["passes"].to_numpy(float)
    number = s["session_number"].to_numpy(float)
    shift_side = network.clinic_side[clinics.codes]
    shift_sat = network.clinic_satisfaction[clinics.codes]

    known = s["any_side_effect"].notna().to_numpy()
    eta = SIDE_INTERCEPT + network.side_log_or * (v10 - 3) + 0.15 * (passes - 3) + shift_side
    marginal = expit(eta[:, None] + network.side_patient_sd * nodes[None, :]) @ weights
    x = np.column_stack([np.ones(len(s)), v10, passes, number, dummies])[known]
    side = fit_logistic(x, marginal[known])[1]

    rated = s["satisfaction"].notna().to_numpy()
    eta = network.satisfaction_log_or * (v10 - 3) + 0.25 * (number - 3) + shift_sat
    above = expit(
        eta[:, None, None]
        + network.satisfaction_patient_sd * nodes[None, None, :]
        - THRESHOLDS[None, :, None]
    )
    above = above @ weights
    probs = -np.diff(np.column_stack([np.ones(len(s)), above, np.zeros(len(s))]), axis=1)
    x = np.column_stack([v10, passes, number, dummies])[rated]
    satisfaction = fit_proportional_odds(x, probs[rated], THRESHOLDS)[0]
    return {"side_effects": float(side), "satisfaction": float(satisfaction)}
