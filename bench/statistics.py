"""The figures behind issue 13's recovery and coverage tests, printed and saved.

    python -m bench.statistics

Not speed: what the tests assert as bounds (``tests/analysis/test_clinic_confounding.py``,
``tests/analysis/test_clustered_rates.py``), here as the numbers themselves, on the same simulated
data and seeds. (1) On a network whose clinics confound vacuum and outcomes, the vacuum odds ratios
of the network fits (clinic fixed effects) and of a clinic-blind fit, against the within-clinic
truth. (2) Coverage of plain and patient-clustered Wilson intervals over 1,000 simulated
clinician-years.
"""

from __future__ import annotations

import numpy as np

from bench.common import save


def confounding() -> dict:
    from analysis.satisfaction import fit_satisfaction
    from analysis.side_effects import fit_side_effects
    from tests.simulators import confounded_network, within_clinic_truth

    net = confounded_network(seed=1)
    out = {"truth": {k: float(np.exp(v)) for k, v in within_clinic_truth(net).items()}}
    for name, data in (("adjusted", net.sessions), ("clinic_blind", net.sessions.assign(clinic_id="ALL"))):
        for model, fit in (("side_effects", fit_side_effects), ("satisfaction", fit_satisfaction)):
            e = next(e for e in fit(data).effects if e.term == "vacuum_kpa")
            out.setdefault(name, {})[model] = {"or": e.estimate, "ci_low": e.ci_low, "ci_high": e.ci_high}
    return out


def coverage() -> dict:
    from analysis.clustered_rates import clustered_rate
    from analysis.rates import wilson_interval
    from tests.analysis.test_clustered_rates import clinician_years

    plain, clustered = [], []
    for truth, y, n in clinician_years(seed=2026, replicates=1000):
        low, high = wilson_interval(int(y.sum()), int(n.sum()))
        plain.append(low < truth < high)
        c = clustered_rate(y, n)
        clustered.append(c.ci_low < truth < c.ci_high)
    return {"replicates": 1000, "plain_wilson": float(np.mean(plain)), "clustered": float(np.mean(clustered))}


def main() -> None:
    result = {"confounding": confounding(), "coverage": coverage()}
    c = result["confounding"]
    print("within-clinic truth (OR per 10 kPa):", {k: round(v, 3) for k, v in c["truth"].items()})
    for name in ("adjusted", "clinic_blind"):
        for model, e in c[name].items():
            print(f"{name:13} {model:13} OR {e['or']:.3f} ({e['ci_low']:.3f}-{e['ci_high']:.3f})")
    cov = result["coverage"]
    print(
        f"coverage over {cov['replicates']} clinician-years: plain Wilson {cov['plain_wilson']:.3f}, "
        f"clustered {cov['clustered']:.3f}"
    )
    print("->", save("statistics", result))


if __name__ == "__main__":
    main()
