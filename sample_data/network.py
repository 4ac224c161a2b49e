"""The clinic network: clinic codes, clinicians, devices and each clinic's crystal mix (seed-independent)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sample_data.planted import RISKY_CLINICIAN

CITY_CODES = ("ETB", "MUC", "HAM", "KOE", "BER", "FRA", "STR", "DUS", "LEI", "NUE", "BRE", "HAN")
CLINICIANS_PER_CLINIC = (3, 2, 4, 5, 3, 4, 2, 5)
CLINIC_WEIGHTS = (1.25, 1.0, 0.9, 0.8, 1.1, 0.7)
CLINICIAN_LETTERS = "KLMNPRST"

#: Crystal mix per clinic (order of ``etl.contract.CRYSTAL_TYPES``), cycled; the second clinic is diamond-only.
CRYSTAL_MIX = (
    (0.55, 0.15, 0.10, 0.20),
    (0.0, 0.0, 0.0, 1.0),
    (0.35, 0.30, 0.15, 0.20),
    (0.40, 0.10, 0.25, 0.25),
)
#: (crystal device, diamond device) per clinic, cycled. Invented model names.
DEVICES = (
    ("Corunda Pro 45", "Diamante DT-7"),
    ("SkinPolish Diamond 2", "SkinPolish Diamond 2"),
    ("DermaLux CX-200", "DermaLux DX-200"),
    ("PeelMaster 3", "Diamante DT-7"),
)
#: Share of sessions with a soothing mask, per clinic, cycled (network mean about 60 %).
MASK_RATE = (0.70, 0.45, 0.62, 0.55)
#: Survey response log-odds offset per clinic, cycled.
RESPONSE_OFFSET = (0.25, -0.30, 0.05, -0.10)
#: Clinician preference for vacuum (kPa), by position within the clinic, cycled.
CLINICIAN_VACUUM = (1.5, -2.0, 3.0, -1.0, 0.0)


@dataclass(frozen=True)
class Network:
    """The clinics and their clinicians; clinician ``j`` of clinic ``i`` is ``clinician_ids[offsets[i] + j]``."""

    clinic_ids: np.ndarray  # str, one per clinic
    clinician_ids: np.ndarray  # str, all clinicians, grouped by clinic
    clinician_clinic: np.ndarray  # int, the clinic of each clinician
    clinician_vacuum: np.ndarray  # float, kPa preference of each clinician
    clinician_weight: np.ndarray  # float, share of its clinic's patients (sums to 1 per clinic)
    offsets: np.ndarray  # int, first clinician index of each clinic
    counts: np.ndarray  # int, clinicians per clinic
    clinic_weight: np.ndarray  # float, share of the network's patients (sums to 1)
    crystal_mix: np.ndarray  # (clinics, 4) probabilities
    crystal_device: np.ndarray  # str per clinic
    diamond_device: np.ndarray  # str per clinic
    mask_rate: np.ndarray  # float per clinic
    response_offset: np.ndarray  # float per clinic


def format_clinic_id(index: int) -> str:
    """Return the code of clinic ``index`` (0-based): ``ETB-01``, ``MUC-02``, …"""
    return f"{CITY_CODES[index % len(CITY_CODES)]}-{index + 1:02d}"


def build_network(clinics: int) -> Network:
    """Lay out ``clinics`` clinics (1–99) with 2–5 clinicians each; the same for every seed.

    Parameters
    ----------
    clinics : int
        Number of clinics.

    Returns
    -------
    Network
        Clinic and clinician codes plus the per-clinic habits the generator draws from.
    """
    if not 1 <= clinics <= 99:
        raise ValueError(f"clinics must be between 1 and 99, got {clinics}")
    counts = np.array([CLINICIANS_PER_CLINIC[i % len(CLINICIANS_PER_CLINIC)] for i in range(clinics)])
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ids, clinic_of, vacuum, weight = [], [], [], []
    for i in range(clinics):
        raw = np.array([1.6 if j == 0 else 1.0 for j in range(counts[i])])
        for j in range(counts[i]):
            letter = CLINICIAN_LETTERS[(3 * i + 2 * j) % len(CLINICIAN_LETTERS)]
            digit = (5 * i + 3 * j + 2) % 9 + 1
            ids.append(f"{format_clinic_id(i)}-{letter}{digit}")
            clinic_of.append(i)
            vacuum.append(CLINICIAN_VACUUM[(i + j) % len(CLINICIAN_VACUUM)])
            weight.append(raw[j] / raw.sum())
    assert ids[0] == RISKY_CLINICIAN
    cycle = np.arange(clinics)
    clinic_weight = np.array([CLINIC_WEIGHTS[i % len(CLINIC_WEIGHTS)] for i in cycle])
    return Network(
        clinic_ids=np.array([format_clinic_id(i) for i in cycle]),
        clinician_ids=np.array(ids),
        clinician_clinic=np.array(clinic_of),
        clinician_vacuum=np.array(vacuum, dtype=float),
        clinician_weight=np.array(weight),
        offsets=offsets,
        counts=counts,
        clinic_weight=clinic_weight / clinic_weight.sum(),
        crystal_mix=np.array([CRYSTAL_MIX[i % len(CRYSTAL_MIX)] for i in cycle]),
        crystal_device=np.array([DEVICES[i % len(DEVICES)][0] for i in cycle]),
        diamond_device=np.array([DEVICES[i % len(DEVICES)][1] for i in cycle]),
        mask_rate=np.array([MASK_RATE[i % len(MASK_RATE)] for i in cycle]),
        response_offset=np.array([RESPONSE_OFFSET[i % len(RESPONSE_OFFSET)] for i in cycle]),
    )


def draw_clinicians(rng: np.random.Generator, net: Network, clinic: np.ndarray) -> np.ndarray:
    """Draw one clinician index per entry of ``clinic`` by the clinic's workload shares."""
    u = rng.random(len(clinic))
    cum = np.cumsum(net.clinician_weight)
    # Shift each clinic's cumulative shares to start at 0, then search within the clinic's block.
    base = np.where(net.offsets > 0, cum[np.maximum(net.offsets - 1, 0)], 0.0)
    target = base[clinic] + u * (1 - 1e-12)
    picked = np.searchsorted(cum, target, side="right")
    last = net.offsets[clinic] + net.counts[clinic] - 1
    return np.minimum(picked, last)
