"""Treatment settings: how clinicians choose crystal, vacuum, passes and flow for each session."""

from __future__ import annotations

import numpy as np

from etl.contract import CRYSTAL_TYPES, INDICATIONS, TREATMENT_AREAS
from sample_data.network import Network, draw_clinicians

DIAMOND = CRYSTAL_TYPES.index("diamond_tip")

# Vacuum (kPa): base per crystal type, then adjustments. Gentler on darker and thin skin,
# stronger on scars, stretch marks and the body; it creeps up over the course.
VACUUM_BASE = (29.0, 27.0, 25.0, 22.0)  # CRYSTAL_TYPES order
VACUUM_BY_FITZPATRICK = (1.0, 0.5, 0.0, -3.5, -5.0, -6.0)  # I–VI
VACUUM_BY_AREA = (-1.5, -6.0, -4.0, 0.0, 5.0, 5.0)  # TREATMENT_AREAS order
VACUUM_BY_INDICATION = (0.0, -1.0, 3.0, 4.0, 5.0, 0.0)  # INDICATIONS order
VACUUM_CREEP = 1.4  # kPa per session
VACUUM_LIMITS = (10.0, 70.0)
DIAMOND_MIN_VACUUM = 13.0

PASSES_BY_AREA = (-0.15, -0.8, -0.5, 0.0, 0.4, 0.4)
PASSES_BY_INDICATION = (0.0, 0.0, 0.3, 0.3, 0.3, 0.0)

FLOW_BY_INDICATION = (0.0, 0.0, 8.0, 8.0, 10.0, 0.0)
FLOW_BY_AREA = (0.0, -5.0, -3.0, 0.0, 0.0, 0.0)
FLOW_CREEP = 1.0  # points per session
OTHER_CLINICIAN_RATE = 0.15


def choose_settings(
    rng: np.random.Generator, net: Network, pat: dict[str, np.ndarray], ses: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Choose each session's clinician and settings the way the clinics do.

    Parameters
    ----------
    rng : numpy.random.Generator
        The generator's random stream.
    net : Network
        The clinic layout (clinician habits, devices, mask habits).
    pat : dict of str to numpy.ndarray
        Patients from :func:`sample_data.courses.draw_patients`.
    ses : dict of str to numpy.ndarray
        Planned sessions from :func:`sample_data.courses.expand_sessions`.

    Returns
    -------
    dict of str to numpy.ndarray
        Per session: ``clinician`` (index), ``vacuum_kpa``, ``passes``, ``particle_flow`` (NaN for
        diamond tip), ``device_model``, ``anaesthesia``, ``pre_care_followed``, ``soothing_mask``.
    """
    p = ses["patient"]
    n = len(p)
    k = ses["session_number"].astype(float)
    clinic, crystal = pat["clinic"][p], pat["crystal"][p]
    area, indication = pat["area"][p], pat["indication"][p]
    fitz = pat["fitzpatrick"][p]
    dark = fitz >= 4

    # Mostly the patient's own clinician; now and then whoever is free that day.
    clinician = np.where(
        rng.random(n) < OTHER_CLINICIAN_RATE, draw_clinicians(rng, net, clinic), pat["clinician"][p]
    )

    patient_vacuum = rng.normal(0.0, 2.5, len(pat["clinic"]))[p]
    vacuum = (
        np.asarray(VACUUM_BASE)[crystal]
        + np.asarray(VACUUM_BY_FITZPATRICK)[fitz - 1]
        + np.asarray(VACUUM_BY_AREA)[area]
        + np.asarray(VACUUM_BY_INDICATION)[indication]
        + net.clinician_vacuum[clinician]
        + patient_vacuum
        + VACUUM_CREEP * (k - 1)
        + rng.normal(0.0, 1.5, n)
    )
    floor = np.where(crystal == DIAMOND, DIAMOND_MIN_VACUUM, VACUUM_LIMITS[0])
    vacuum = np.round(np.clip(vacuum, floor, VACUUM_LIMITS[1]), 1)

    patient_passes = rng.normal(0.0, 0.4, len(pat["clinic"]))[p]
    passes = 3.0 + np.asarray(PASSES_BY_AREA)[area] + np.asarray(PASSES_BY_INDICATION)[indication]
    passes = passes - 0.2 * dark + patient_passes + rng.normal(0.0, 0.35, n)
    passes = np.clip(np.rint(passes), 2, 4).astype(np.int64)

    patient_flow = rng.normal(0.0, 7.0, len(pat["clinic"]))[p]
    flow = 55.0 + np.asarray(FLOW_BY_INDICATION)[indication] + np.asarray(FLOW_BY_AREA)[area] - 5.0 * dark
    flow = np.clip(np.rint(flow + patient_flow + FLOW_CREEP * (k - 1) + rng.normal(0.0, 4.0, n)), 30, 90)
    flow = np.where(crystal == DIAMOND, np.nan, flow)

    scarring = np.isin(indication, [INDICATIONS.index(name) for name in ("acne_scars", "surgical_scars")])
    mask_rate = np.clip(net.mask_rate[clinic] + 0.08 * dark, 0, 1)
    return {
        "clinician": clinician,
        "vacuum_kpa": vacuum,
        "passes": passes,
        "particle_flow": flow,
        "device_model": np.where(crystal == DIAMOND, net.diamond_device[clinic], net.crystal_device[clinic]),
        "anaesthesia": rng.random(n) < np.where(scarring, 0.05, 0.008),
        "pre_care_followed": rng.random(n) < pat["pre_care_propensity"][p],
        "soothing_mask": rng.random(n) < mask_rate,
        "crystal_type": np.asarray(CRYSTAL_TYPES)[crystal],
        "treatment_area": np.asarray(TREATMENT_AREAS)[area],
        "indication": np.asarray(INDICATIONS)[indication],
        "fitzpatrick": fitz.astype(np.int64),
    }
