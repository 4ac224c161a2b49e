"""Simulated sessions with known side-effect risks for the case-mix and funnel tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: True log-odds of the simulated side-effect model (a unit's own effect is added on top).
TRUE_COEF = {
    "intercept": -3.0,
    "fitz": 0.2,
    "acne": 0.4,
    "neck": 0.3,
    "no_pre_care": 0.5,
    "session": -0.05,
    "diamond": -0.4,
    "risky_device": 0.5,
}
RISKY_DEVICE = "C-2"


def simulate(
    seed: int,
    clinics: int = 1,
    per_clinic: int = 20,
    per_unit: int = 400,
    clinic_log_or=None,
    clinician_log_or: dict[str, float] | None = None,
    between_sd: float = 0.0,
    devices: dict[str, tuple[str, ...]] | None = None,
    device_log_or: float = TRUE_COEF["risky_device"],
) -> pd.DataFrame:
    """Sessions of ``clinics`` x ``per_clinic`` clinicians (``C{c}-K{k}``) with a known logit model.

    ``clinic_log_or`` adds a clinic's level for reasons no column records; ``clinician_log_or`` plants
    a clinician's own effect; ``between_sd`` gives every clinician a random one; ``devices`` maps a
    clinic id to the crystal devices it uses (default ``C-1`` and ``C-2``; diamond devices ``D-1``,
    ``D-2``), and ``device_log_or`` is the risky device's (``C-2``) effect. ``true_p`` is each session's
    true risk.
    """
    rng = np.random.default_rng(seed)
    clinic_log_or = np.zeros(clinics) if clinic_log_or is None else np.asarray(clinic_log_or, dtype=float)
    clinician_log_or = clinician_log_or or {}
    parts = []
    for c in range(clinics):
        crystal_devices = (devices or {}).get(f"C{c}", ("C-1", RISKY_DEVICE))
        for k in range(per_clinic):
            n = per_unit
            fitz = rng.integers(1, 7, n)
            indication = rng.choice(["wrinkles", "acne_scars", "texture"], n)
            area = rng.choice(["face", "neck", "body"], n)
            pre = rng.choice(np.array([True, False, None], dtype=object), n, p=[0.7, 0.2, 0.1])
            session = rng.integers(1, 9, n)
            crystal = rng.choice(["corundum", "diamond_tip"], n, p=[0.7, 0.3])
            device = np.where(
                crystal == "diamond_tip", rng.choice(["D-1", "D-2"], n), rng.choice(crystal_devices, n)
            )
            unit = f"C{c}-K{k}"
            lp = (
                TRUE_COEF["intercept"]
                + TRUE_COEF["fitz"] * (fitz - 1)
                + TRUE_COEF["acne"] * (indication == "acne_scars")
                + TRUE_COEF["neck"] * (area == "neck")
                + TRUE_COEF["no_pre_care"] * (pre == False)  # noqa: E712 (object array of True/False/None)
                + TRUE_COEF["session"] * session
                + TRUE_COEF["diamond"] * (crystal == "diamond_tip")
                + device_log_or * (device == RISKY_DEVICE)
                + clinic_log_or[c]
                + clinician_log_or.get(unit, 0.0)
                + rng.normal(0, between_sd)
            )
            p = 1 / (1 + np.exp(-lp))
            parts.append(
                pd.DataFrame(
                    {
                        "clinic_id": f"C{c}",
                        "clinician_id": unit,
                        "fitzpatrick": fitz,
                        "indication": indication,
                        "treatment_area": area,
                        "pre_care_followed": pd.array(pre, dtype="boolean"),
                        "session_number": session,
                        "crystal_type": crystal,
                        "device_model": device,
                        "any_side_effect": pd.array(rng.random(n) < p, dtype="boolean"),
                        "true_p": p,
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


def units_with(observed, expected_counts, n=None, rate=0.1):
    """Sessions and per-session expected probabilities giving exactly these O and E per unit."""
    rows, probs = [], []
    for i, (o, e) in enumerate(zip(observed, expected_counts, strict=True)):
        size = n[i] if n is not None else round(e / rate)
        rows += [{"clinician_id": f"U{i:02d}", "any_side_effect": j < o} for j in range(size)]
        probs += [e / size] * size
    sessions = pd.DataFrame(rows)
    return sessions, pd.Series(probs, index=sessions.index)
