"""Session outcomes: side effects and their types, satisfaction, follow-up, survey response and dropout."""

from __future__ import annotations

import numpy as np

from etl.contract import SIDE_EFFECTS
from sample_data.planted import (
    PLANTED,
    compute_linear_predictor,
    compute_satisfaction_terms,
    compute_side_effect_terms,
)

#: Log-weight of each side-effect type given that an event happened, before covariate terms.
TYPE_BASE = {
    "prolonged_erythema": 0.0,
    "petechiae": np.log(0.35),
    "abrasion": np.log(0.07),
    "hyperpigmentation": np.log(0.03),
    "infection": np.log(0.0035),
    "eye_irritation": np.log(0.12),
    "other": np.log(0.07),
}
SECOND_TYPE_RATE = 0.08
FOLLOW_UP_RATE = 0.92
# Survey response: log-odds intercept, per year of age above 40, per session after the first.
RESPONSE = (1.25, 0.02, -0.04)
# Dropout hazard after a session: log-odds intercept, after a side effect, after a rating of 1–2.
DROPOUT = (-4.3, 1.4, 1.1)


def draw_side_effects(rng: np.random.Generator, cols: dict[str, np.ndarray], u: np.ndarray) -> np.ndarray:
    """Draw whether each session had any side effect (random-intercept logistic, ``PLANTED.side_effects``).

    Parameters
    ----------
    rng : numpy.random.Generator
        The generator's random stream.
    cols : dict of str to numpy.ndarray
        Contract-named session columns (see :func:`sample_data.planted.compute_side_effect_terms`).
    u : numpy.ndarray
        Standard-normal patient intercept per session (scaled here by the model's SD).

    Returns
    -------
    numpy.ndarray
        Boolean per session.
    """
    model = PLANTED.side_effects
    eta = compute_linear_predictor(model, compute_side_effect_terms(cols)) + model.patient_sd * u
    return rng.random(len(eta)) < 1.0 / (1.0 + np.exp(-eta))


def draw_side_effect_types(
    rng: np.random.Generator, cols: dict[str, np.ndarray], event: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Name the side effects of the sessions that had one: one type, occasionally two.

    Petechiae rise with vacuum and passes, hyperpigmentation with darker skin and skipped
    pre-care, eye irritation only on the face, abrasion mostly with corundum.

    Parameters
    ----------
    rng : numpy.random.Generator
        The generator's random stream.
    cols : dict of str to numpy.ndarray
        Contract-named session columns.
    event : numpy.ndarray
        Boolean per session: any side effect.

    Returns
    -------
    tuple of numpy.ndarray
        First and second type per session as indices into ``SIDE_EFFECTS``; -1 for none.
    """
    idx = np.flatnonzero(event)
    vac10 = cols["vacuum_kpa"][idx] / 10.0 - 3.0
    passes = cols["passes"][idx] - 3.0
    dark = cols["fitzpatrick"][idx] >= 4
    skipped = ~cols["pre_care_followed"][idx]
    face = cols["treatment_area"][idx] == "face"
    diamond = cols["crystal_type"][idx] == "diamond_tip"
    logw = np.tile(np.array([TYPE_BASE[name] for name in SIDE_EFFECTS]), (len(idx), 1))
    column = {name: i for i, name in enumerate(SIDE_EFFECTS)}
    logw[:, column["petechiae"]] += 0.5 * vac10 + 0.35 * passes
    logw[:, column["abrasion"]] += 0.3 * vac10 + 0.5 * (cols["crystal_type"][idx] == "corundum")
    logw[:, column["hyperpigmentation"]] += np.log(4.0) * dark + np.log(1.8) * skipped
    logw[:, column["eye_irritation"]] = np.where(
        face, logw[:, column["eye_irritation"]] - 1.0 * diamond, -np.inf
    )
    # Gumbel top-2 = two draws without replacement, proportional to the weights.
    order = np.argsort(-(logw + rng.gumbel(size=logw.shape)), axis=1)
    first = np.full(len(event), -1)
    second = np.full(len(event), -1)
    first[idx] = order[:, 0]
    two = rng.random(len(idx)) < SECOND_TYPE_RATE
    second[idx[two]] = order[two, 1]
    has_two = second >= 0
    return np.where(has_two, np.minimum(first, second), first), np.where(
        has_two, np.maximum(first, second), -1
    )


def draw_satisfaction(rng: np.random.Generator, cols: dict[str, np.ndarray], u: np.ndarray) -> np.ndarray:
    """Draw each session's rating 1–5 (latent logistic, proportional odds, ``PLANTED.satisfaction``).

    Parameters
    ----------
    rng : numpy.random.Generator
        The generator's random stream.
    cols : dict of str to numpy.ndarray
        Contract-named session columns plus ``side_effect`` (bool).
    u : numpy.ndarray
        Standard-normal patient intercept per session (scaled here by the model's SD).

    Returns
    -------
    numpy.ndarray
        Integer rating per session, as if every patient answered.
    """
    model = PLANTED.satisfaction
    latent = compute_linear_predictor(model, compute_satisfaction_terms(cols)) + model.patient_sd * u
    latent = latent + rng.logistic(size=len(latent))
    return 1 + (latent[:, None] > np.asarray(model.thresholds)[None, :]).sum(axis=1)


def draw_follow_up(
    rng: np.random.Generator, age: np.ndarray, response_offset: np.ndarray, session_number: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Draw whether follow-up happened and whether the survey was answered (missing at random).

    Response depends on age, clinic and session number only, never on the rating itself.

    Returns
    -------
    tuple of numpy.ndarray
        ``follow_up_done`` and ``answered`` (a subset of follow-up done), boolean per session.
    """
    n = len(age)
    follow_up = rng.random(n) < FOLLOW_UP_RATE
    logit = (
        RESPONSE[0]
        + RESPONSE[1] * (np.minimum(age, 80) - 40)
        + response_offset
        + RESPONSE[2] * (session_number - 1)
    )
    answered = follow_up & (rng.random(n) < 1.0 / (1.0 + np.exp(-logit)))
    return follow_up, answered


def draw_dropout(rng: np.random.Generator, side_effect: np.ndarray, rating: np.ndarray) -> np.ndarray:
    """Draw, per session, whether the patient stops the course after it (more likely after a bad one)."""
    logit = DROPOUT[0] + DROPOUT[1] * side_effect + DROPOUT[2] * (rating <= 2)
    return rng.random(len(logit)) < 1.0 / (1.0 + np.exp(-logit))
