"""Patients and their courses: who comes for what, how many sessions are planned, and when they fall."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from etl.contract import INDICATIONS
from sample_data.network import Network, draw_clinicians

#: Share of patients per indication (order of ``INDICATIONS``).
INDICATION_MIX = (0.26, 0.17, 0.20, 0.07, 0.12, 0.18)
#: Treatment area given the indication: rows follow ``INDICATIONS``, columns ``TREATMENT_AREAS``.
AREA_GIVEN_INDICATION = (
    (0.58, 0.20, 0.12, 0.10, 0.00, 0.00),
    (0.55, 0.08, 0.15, 0.22, 0.00, 0.00),
    (0.72, 0.00, 0.05, 0.00, 0.23, 0.00),
    (0.22, 0.10, 0.10, 0.03, 0.10, 0.45),
    (0.00, 0.00, 0.05, 0.00, 0.10, 0.85),
    (0.60, 0.10, 0.10, 0.10, 0.10, 0.00),
)
#: Fitzpatrick skin types I–VI.
FITZPATRICK_MIX = (0.08, 0.30, 0.30, 0.16, 0.10, 0.06)
#: Mean age at the start of the course, per indication.
AGE_MEAN = (53.0, 46.0, 27.0, 40.0, 32.0, 40.0)
#: Share of patients reported well past 89, to exercise the age cap.
VERY_OLD_RATE = 0.003
#: Planned sessions: photoageing-type courses 4–8, scars and stretch marks 6–10.
SHORT_COURSE = (np.arange(4, 9), np.array([0.10, 0.20, 0.35, 0.20, 0.15]))
LONG_COURSE = (np.arange(6, 11), np.array([0.15, 0.20, 0.30, 0.20, 0.15]))
SCARRING = ("acne_scars", "surgical_scars", "stretch_marks")


@dataclass(frozen=True)
class Window:
    """The months the export covers: ``start`` inclusive to ``end`` exclusive (numpy days)."""

    start: np.datetime64
    end: np.datetime64

    @property
    def days(self) -> int:
        return int((self.end - self.start).astype(int))


def build_window(end_month: str, months: int) -> Window:
    """Return the ``months`` calendar months ending with ``end_month`` (``YYYY-MM``), inclusive."""
    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}")
    last = np.datetime64(end_month, "M")
    return Window(start=(last - (months - 1)).astype("datetime64[D]"), end=(last + 1).astype("datetime64[D]"))


def draw_patients(
    rng: np.random.Generator, net: Network, patients: int, window: Window
) -> dict[str, np.ndarray]:
    """Draw one course per patient: clinic, clinician, indication, area, skin, age, plan and start day.

    Parameters
    ----------
    rng : numpy.random.Generator
        The generator's random stream.
    net : Network
        The clinic layout.
    patients : int
        Number of patients (courses) in the whole network.
    window : Window
        The export window; courses start uniformly inside it.

    Returns
    -------
    dict of str to numpy.ndarray
        One array per patient attribute, each of length ``patients``.
    """
    n = patients
    clinic = rng.choice(len(net.clinic_ids), size=n, p=net.clinic_weight)
    indication = rng.choice(len(INDICATIONS), size=n, p=INDICATION_MIX)
    area = draw_conditional(rng, np.asarray(AREA_GIVEN_INDICATION), indication)
    age = np.clip(rng.normal(np.asarray(AGE_MEAN)[indication], 10.0), 18, 75)
    very_old = rng.random(n) < VERY_OLD_RATE
    age = np.where(very_old, rng.uniform(90, 97, n), age)
    scarring = np.isin(np.asarray(INDICATIONS)[indication], SCARRING)
    short = rng.choice(SHORT_COURSE[0], size=n, p=SHORT_COURSE[1])
    long = rng.choice(LONG_COURSE[0], size=n, p=LONG_COURSE[1])
    return {
        "clinic": clinic,
        "clinician": draw_clinicians(rng, net, clinic),
        "indication": indication,
        "area": area,
        "fitzpatrick": rng.choice(np.arange(1, 7), size=n, p=FITZPATRICK_MIX),
        "age": age,
        "crystal": draw_conditional(rng, net.crystal_mix, clinic),
        "scarring": scarring,
        "planned": np.where(scarring, long, short),
        # Weekly for photoageing, closer to two-weekly for scars and stretch marks.
        "interval": np.where(scarring, rng.uniform(10, 13.5, n), rng.uniform(7, 10, n)),
        "start_day": rng.integers(0, window.days, size=n),
        "pre_care_propensity": rng.beta(8.0, 1.4, size=n),
        "u_side_effects": rng.standard_normal(n),
        "u_satisfaction": rng.standard_normal(n),
        "patient_number": rng.choice(90_000_000, size=n, replace=False) + 10_000_000,
    }


def expand_sessions(rng: np.random.Generator, pat: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Lay out every planned session: patient index, session number and day offset from the window start.

    Parameters
    ----------
    rng : numpy.random.Generator
        The generator's random stream.
    pat : dict of str to numpy.ndarray
        Patients as returned by :func:`draw_patients`.

    Returns
    -------
    dict of str to numpy.ndarray
        ``patient``, ``session_number`` and ``day`` for each planned session, ordered by patient.
    """
    counts = pat["planned"]
    patient = np.repeat(np.arange(len(counts)), counts)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    number = np.arange(len(patient)) - np.repeat(first, counts) + 1
    gap = np.clip(np.rint(pat["interval"][patient] + rng.normal(0, 1.2, len(patient))), 7, 14)
    gap[number == 1] = 0
    elapsed = segment_cumsum_before(gap, counts) + gap
    return {
        "patient": patient,
        "session_number": number,
        "day": pat["start_day"][patient] + elapsed.astype(int),
    }


def draw_conditional(rng: np.random.Generator, table: np.ndarray, given: np.ndarray) -> np.ndarray:
    """Draw a category index per entry from row ``given`` of a probability ``table``."""
    cum = np.cumsum(table, axis=1)
    cum[:, -1] = 1.0
    u = rng.random(len(given))
    return (u[:, None] >= cum[given]).sum(axis=1)


def segment_cumsum_before(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per entry, the sum of ``values`` at earlier entries of the same segment (segments of ``counts``)."""
    total = np.cumsum(values) - values
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return total - np.repeat(total[first], counts)
