"""The planted effects: true model coefficients of the synthetic outcomes and their population averages."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

#: The one clinician with raised side-effect risk (subject-specific OR 2.0).
RISKY_CLINICIAN = "ETB-01-K3"
#: Zeger et al. (1988): c**2 with c = 16 * sqrt(3) / (15 * pi).
ZEGER_C2 = (16 * math.sqrt(3) / (15 * math.pi)) ** 2

# Names of the three setting terms both outcomes share; each is named the same in both models.
SETTING_TERMS = ("vacuum_per_10kpa", "per_pass", "flow_per_10pts")


def _frozen(values: dict[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True)
class OutcomeModel:
    """One outcome's subject-specific model: log-odds coefficients and the patient random intercept SD.

    For side effects the intercept is the log-odds at all covariates zero; for satisfaction
    ``thresholds`` are the latent cut points between ratings 1|2, 2|3, 3|4 and 4|5 (a rating is
    ``1 + #(latent > threshold)``), and a positive coefficient means higher ratings.
    """

    coefficients: Mapping[str, float]
    patient_sd: float
    intercept: float = 0.0
    thresholds: tuple[float, ...] = ()


@dataclass(frozen=True)
class PlantedEffect:
    """A named setting effect: subject-specific truth and what a population-averaged fit estimates."""

    outcome: str  # "any_side_effect" or "satisfaction" (cumulative odds of a higher rating)
    term: str
    log_or: float  # conditional on the patient (the mixed-model / simulation scale)
    pa_log_or: float  # population-averaged, numerical projection (see sample_data.averaging)
    zeger_log_or: float  # population-averaged, Zeger's approximation beta / sqrt(1 + 0.346 sigma^2)

    @property
    def odds_ratio(self) -> float:
        return math.exp(self.log_or)

    @property
    def pa_odds_ratio(self) -> float:
        return math.exp(self.pa_log_or)


@dataclass(frozen=True)
class Planted:
    """Everything the generator plants, in one place."""

    side_effects: OutcomeModel
    satisfaction: OutcomeModel
    effects: tuple[PlantedEffect, ...]
    risky_clinician: str = RISKY_CLINICIAN

    def effect(self, outcome: str, term: str) -> PlantedEffect:
        """Return the planted effect of ``term`` on ``outcome`` ("any_side_effect" / "satisfaction")."""
        for item in self.effects:
            if item.outcome == outcome and item.term == term:
                return item
        raise KeyError(f"no planted effect {term!r} on {outcome!r}")


SIDE_EFFECTS_MODEL = OutcomeModel(
    intercept=-6.55,
    patient_sd=0.7,
    coefficients=_frozen(
        {
            "vacuum_per_10kpa": math.log(1.6),
            "per_pass": math.log(1.3),
            "flow_per_10pts": math.log(1.15),
            "pre_care_skipped": math.log(2.2),
            "fitzpatrick_iv_vi": math.log(1.6),
            "session_number": -0.03,
            "area[neck]": 0.30,
            "area[decolletage]": 0.20,
            "area[hands]": -0.20,
            "area[back]": 0.10,
            "area[body]": -0.10,
            "indication[acne_scars]": 0.25,
            "indication[hyperpigmentation]": 0.10,
            "crystal[aluminium_hydroxide]": -0.15,
            "crystal[sodium_bicarbonate]": -0.30,
            "crystal[diamond_tip]": -0.20,
            f"clinician[{RISKY_CLINICIAN}]": math.log(2.0),
        }
    ),
)

SATISFACTION_MODEL = OutcomeModel(
    patient_sd=0.8,
    thresholds=(-1.55, -0.25, 1.0, 3.05),
    coefficients=_frozen(
        {
            "log_session_number": 0.9,
            "vacuum_per_10kpa": math.log(1.2),
            "per_pass": math.log(1.1),
            "flow_per_10pts": math.log(1.1),
            "side_effect": -0.8,
            "crystal[diamond_tip]": -0.10,
            "indication[hyperpigmentation]": -0.10,
            "indication[texture]": 0.05,
            "indication[acne_scars]": -2.65,
            "indication[surgical_scars]": -2.75,
            "indication[stretch_marks]": -2.8,
        }
    ),
)


def compute_side_effect_terms(cols: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Return the covariate arrays of the side-effect model, keyed like its coefficients.

    Parameters
    ----------
    cols : mapping of str to numpy.ndarray
        Contract-named session columns: ``vacuum_kpa``, ``passes``, ``particle_flow`` (NaN for
        diamond tip), ``pre_care_followed``, ``fitzpatrick``, ``session_number``,
        ``treatment_area``, ``indication``, ``crystal_type``, ``clinician_id``.

    Returns
    -------
    dict of str to numpy.ndarray
        One float array per coefficient name of ``SIDE_EFFECTS_MODEL``.
    """
    terms = _setting_terms(cols)
    terms["pre_care_skipped"] = (~np.asarray(cols["pre_care_followed"], dtype=bool)).astype(float)
    terms["fitzpatrick_iv_vi"] = (np.asarray(cols["fitzpatrick"]) >= 4).astype(float)
    terms["session_number"] = np.asarray(cols["session_number"], dtype=float)
    terms |= _dummies(cols, SIDE_EFFECTS_MODEL.coefficients)
    return {name: terms[name] for name in SIDE_EFFECTS_MODEL.coefficients}


def compute_satisfaction_terms(cols: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Return the covariate arrays of the satisfaction model, keyed like its coefficients.

    Parameters
    ----------
    cols : mapping of str to numpy.ndarray
        As for :func:`compute_side_effect_terms`, plus ``side_effect`` (bool: any side effect in
        the session).

    Returns
    -------
    dict of str to numpy.ndarray
        One float array per coefficient name of ``SATISFACTION_MODEL``.
    """
    terms = _setting_terms(cols)
    terms["log_session_number"] = np.log(np.asarray(cols["session_number"], dtype=float))
    terms["side_effect"] = np.asarray(cols["side_effect"], dtype=float)
    terms |= _dummies(cols, SATISFACTION_MODEL.coefficients)
    return {name: terms[name] for name in SATISFACTION_MODEL.coefficients}


def compute_linear_predictor(model: OutcomeModel, terms: Mapping[str, np.ndarray]) -> np.ndarray:
    """Return ``intercept + sum(coefficient * term)`` without the patient random intercept."""
    eta = np.full(len(next(iter(terms.values()))), model.intercept)
    for name, beta in model.coefficients.items():
        eta += beta * terms[name]
    return eta


def _setting_terms(cols: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    flow = np.asarray(cols["particle_flow"], dtype=float)
    return {
        "vacuum_per_10kpa": np.asarray(cols["vacuum_kpa"], dtype=float) / 10.0,
        "per_pass": np.asarray(cols["passes"], dtype=float),
        # Diamond tips have no flow; with the crystal_type term in the model, 0 is a neutral filler.
        "flow_per_10pts": np.where(np.isnan(flow), 0.0, flow) / 10.0,
    }


def _dummies(cols: Mapping[str, np.ndarray], names: Mapping[str, float]) -> dict[str, np.ndarray]:
    source = {"area": "treatment_area", "indication": "indication", "crystal": "crystal_type"}
    source["clinician"] = "clinician_id"
    out: dict[str, np.ndarray] = {}
    for name in names:
        if "[" in name:
            kind, level = name[:-1].split("[", 1)
            out[name] = (np.asarray(cols[source[kind]]) == level).astype(float)
    return out


def _build_effects() -> tuple[PlantedEffect, ...]:
    # Numerical projections (sample_data.averaging.project_population_averaged) over
    # generate_sessions(patients=52_000, seed=7), about 300,000 sessions; a test re-projects them.
    pa = {
        ("any_side_effect", "vacuum_per_10kpa"): 0.4556,
        ("any_side_effect", "per_pass"): 0.2541,
        ("any_side_effect", "flow_per_10pts"): 0.1337,
        ("satisfaction", "vacuum_per_10kpa"): 0.1634,
        ("satisfaction", "per_pass"): 0.0855,
        ("satisfaction", "flow_per_10pts"): 0.0852,
    }
    effects = []
    for outcome, model in (("any_side_effect", SIDE_EFFECTS_MODEL), ("satisfaction", SATISFACTION_MODEL)):
        shrink = 1.0 / math.sqrt(1.0 + ZEGER_C2 * model.patient_sd**2)
        for term in SETTING_TERMS:
            beta = model.coefficients[term]
            effects.append(PlantedEffect(outcome, term, beta, pa[(outcome, term)], beta * shrink))
    return tuple(effects)


PLANTED = Planted(side_effects=SIDE_EFFECTS_MODEL, satisfaction=SATISFACTION_MODEL, effects=_build_effects())
