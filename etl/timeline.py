"""What is recorded on the timeline: notes, process changes and targets, and which charts each belongs on.

Plain frozen dataclasses; ``etl.userdata`` stores and changes them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

from etl.access import NETWORK, Principal

#: The measures a target can be set for: the better direction and the control chart that draws it.
MEASURES: dict[str, tuple[str, str | None]] = {
    "side_effect_rate": ("decrease", "side_effects_p_prime"),
    "pct_satisfied": ("increase", None),
    "response_rate": ("increase", None),
}
MEASURE_WORDS = {
    "side_effect_rate": "side-effect rate",
    "pct_satisfied": "% satisfied",
    "response_rate": "survey response",
}


@dataclass(frozen=True)
class Note:
    """A dated note on the timeline of the network, a clinic or a clinician (``clinic_id`` None = network)."""

    id: str
    day: dt.date
    text: str
    process_change: bool
    clinic_id: str | None = None
    clinician_id: str | None = None
    author: str = ""
    recorded_at: str = ""

    @property
    def scope(self) -> str:
        if self.clinic_id is None:
            return NETWORK
        return f"{self.clinic_id}/{self.clinician_id}" if self.clinician_id else self.clinic_id

    @property
    def month(self) -> str:
        return self.day.strftime("%Y-%m")

    def applies_to(self, unit: str, clinician_id: str | None = None) -> bool:
        """Whether the note belongs on the charts of ``unit`` (the network or a clinic), or one clinician's."""
        if self.clinic_id is None:
            return True  # a change across the network happened in every clinic too
        if self.clinician_id is not None:
            return unit == self.clinic_id and clinician_id == self.clinician_id
        return unit == self.clinic_id

    def as_dict(self) -> dict:
        out = asdict(self)
        out["day"] = self.day.isoformat()
        out["scope"] = self.scope
        return out


@dataclass(frozen=True)
class Target:
    """A target for a measure of the network or a clinic: met above (``increase``) or below (``decrease``) it."""

    id: str
    measure: str
    value: float
    direction: str
    clinic_id: str | None = None
    author: str = ""
    recorded_at: str = ""

    @property
    def scope(self) -> str:
        return self.clinic_id or NETWORK

    def as_dict(self) -> dict:
        return {**asdict(self), "scope": self.scope}


@dataclass(frozen=True)
class UserData:
    """Every note and target in force (removed ones left out), oldest first."""

    notes: tuple[Note, ...] = ()
    targets: tuple[Target, ...] = field(default_factory=tuple)

    def notes_for(self, scope: str) -> list[Note]:
        """The notes a report or model result of ``scope`` shows: all for the network, else the clinic's own and the network's."""
        if scope == NETWORK:
            return list(self.notes)
        return [n for n in self.notes if n.clinic_id in (None, scope)]

    def notes_on(self, unit: str, clinician_id: str | None = None) -> list[Note]:
        """The notes drawn on the charts of ``unit`` (and of one clinician when given)."""
        return [
            n
            for n in self.notes
            if n.applies_to(unit, clinician_id) or (n.clinician_id is None and n.applies_to(unit))
        ]

    def rebase_months(self, unit: str) -> tuple[str, ...]:
        """The months (``YYYY-MM``) a process change starts a new segment of ``unit``'s control charts."""
        months = {
            n.month for n in self.notes if n.process_change and n.clinician_id is None and n.applies_to(unit)
        }
        return tuple(sorted(months))

    def target(self, unit: str, measure: str) -> Target | None:
        """The target of ``measure`` for ``unit``: the clinic's own, else the network's."""
        own = [t for t in self.targets if t.measure == measure and t.scope == unit]
        network = [t for t in self.targets if t.measure == measure and t.scope == NETWORK]
        return (own or network or [None])[-1]

    def visible_to(self, who: Principal) -> UserData:
        """What ``who`` may read: notes and targets of the network and of the clinics they see."""
        if who.all_clinics:
            return self
        return UserData(
            tuple(n for n in self.notes if n.clinic_id is None or who.sees(n.clinic_id)),
            tuple(t for t in self.targets if t.clinic_id is None or who.sees(t.clinic_id)),
        )
