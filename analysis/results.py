"""Result containers: what leaves ``analysis/`` (frozen dataclasses and tidy frames, never statsmodels objects)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Effect:
    """One adjusted effect on a stated scale, with its 95% interval.

    ``scale`` is ``"odds_ratio"`` for both models (for the satisfaction model: the cumulative odds
    of a higher rating). ``unit`` says what one step of the term is (``"per 10 kPa"``).
    """

    term: str
    label: str
    unit: str
    scale: str
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float | None
    n: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CurvePoint:
    x: float
    estimate: float
    ci_low: float
    ci_high: float
    n: int | None = None


@dataclass(frozen=True)
class Curve:
    """A predicted curve with its confidence band, at stated reference covariates."""

    name: str
    x: str
    y: str
    points: tuple[CurvePoint, ...]
    reference: dict = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "x": self.x,
            "y": self.y,
            "reference": dict(self.reference),
            "note": self.note,
            "points": [asdict(p) for p in self.points],
        }


@dataclass(frozen=True)
class ModelResult:
    """A fitted model's summary: what was fitted, on how much, how, and what it found.

    ``status`` is ``"ok"``, ``"simplified"`` (a guard dropped terms; see warnings) or
    ``"not_enough_data"`` (no effects are reported). ``adjusted_for`` lists what the effects are
    adjusted for (how clinic is accounted for included); ``estimand`` says in one paragraph what an
    effect means and what it does not; ``checks`` are sensitivity fits in plain words.
    """

    name: str
    outcome: str
    method: str
    n_sessions: int
    n_patients: int
    n_events: int
    effects: tuple[Effect, ...]
    warnings: tuple[str, ...] = ()
    status: str = "ok"
    details: dict = field(default_factory=dict)
    adjusted_for: tuple[str, ...] = ()
    estimand: str = ""
    checks: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "outcome": self.outcome,
            "method": self.method,
            "adjusted_for": list(self.adjusted_for),
            "estimand": self.estimand,
            "checks": list(self.checks),
            "status": self.status,
            "n_sessions": self.n_sessions,
            "n_patients": self.n_patients,
            "n_events": self.n_events,
            "warnings": list(self.warnings),
            "effects": [e.to_dict() for e in self.effects],
            "details": dict(self.details),
        }
