"""The dashboard's shared filters: what they are called, their defaults and how they become query parameters."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import asdict, dataclass

from charts.labels import ROMAN, skin_type
from etl.contract import CRYSTAL_TYPES, INDICATIONS, TREATMENT_AREAS

#: Session-state key under which the router leaves the selection for the page it runs.
ACTIVE = "active_filters"
#: Widget keys of the sidebar filters; each is also the URL query parameter that keeps it.
KEYS = {
    "months": "filters_months",
    "clinic_id": "filters_clinic",
    "clinician_id": "filters_clinician",
    "crystal_type": "filters_crystal",
    "treatment_area": "filters_area",
    "indication": "filters_indication",
    "fitzpatrick": "filters_skin_type",
}
SKIN_TYPES = (1, 2, 3, 4, 5, 6)
CHOICES = {
    "crystal_type": CRYSTAL_TYPES,
    "treatment_area": TREATMENT_AREAS,
    "indication": INDICATIONS,
    "fitzpatrick": SKIN_TYPES,
}
ALL = {
    "clinic_id": "All clinics",
    "clinician_id": "All clinicians",
    "crystal_type": "All crystal types",
    "treatment_area": "All areas",
    "indication": "All indications",
    "fitzpatrick": "All skin types",
}


@dataclass(frozen=True)
class Filters:
    """One selection of the shared filters; ``None`` means "all". Hashable, so caches key on it."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    clinic_id: str | None = None
    clinician_id: str | None = None
    crystal_type: str | None = None
    treatment_area: str | None = None
    indication: str | None = None
    fitzpatrick: int | None = None

    def params(self) -> dict[str, object]:
        """The named queries' filter parameters (every analysis query takes exactly these)."""
        return asdict(self)

    def describe(self, everyone: str = "the whole network") -> str:
        """The selection in words, for captions and the report (``everyone``: what no filter at all means)."""
        parts = []
        if self.date_from or self.date_to:
            start = self.date_from.strftime("%b %Y") if self.date_from else "start"
            end = self.date_to.strftime("%b %Y") if self.date_to else "latest"
            parts.append(f"{start} – {end}")
        for name in ("clinic_id", "clinician_id", "crystal_type", "treatment_area", "indication"):
            if getattr(self, name):
                parts.append(label(name, getattr(self, name)))
        if self.fitzpatrick:
            parts.append(f"skin type {ROMAN[self.fitzpatrick]}")
        return ", ".join(parts) or f"{everyone}, all months"


def label(name: str, value: object) -> str:
    """How a filter value reads in the sidebar (``None`` is the "all" choice)."""
    if value is None:
        return ALL.get(name, "All")
    if name == "fitzpatrick":
        return skin_type(value)
    return str(value).replace("_", " ")


def month_range(labels: list[str], chosen: tuple[str, str] | None) -> tuple[dt.date | None, dt.date | None]:
    """First and last day of the chosen months; ``None`` for an end that is the data's own end."""
    if not labels or not chosen:
        return None, None
    first, last = sorted(chosen)
    start = None if first == labels[0] else dt.date.fromisoformat(f"{first}-01")
    end = None
    if last != labels[-1]:
        year, month = (int(p) for p in last.split("-"))
        end = dt.date(year, month, calendar.monthrange(year, month)[1])
    return start, end


def build(values: dict[str, object], month_labels: list[str]) -> Filters:
    """Filters from the sidebar widgets' values (keyed by filter name, ``months`` a pair of labels)."""
    date_from, date_to = month_range(month_labels, values.get("months"))  # type: ignore[arg-type]
    skin = values.get("fitzpatrick")
    return Filters(
        date_from=date_from,
        date_to=date_to,
        clinic_id=values.get("clinic_id") or None,
        clinician_id=values.get("clinician_id") or None,
        crystal_type=values.get("crystal_type") or None,
        treatment_area=values.get("treatment_area") or None,
        indication=values.get("indication") or None,
        fitzpatrick=int(skin) if skin else None,
    )


def defaults(month_labels: list[str]) -> dict[str, object]:
    """Widget key -> default value, for the "Reset filters" button."""
    out: dict[str, object] = {key: None for name, key in KEYS.items() if name != "months"}
    if month_labels:
        out[KEYS["months"]] = (month_labels[0], month_labels[-1])
    return out
