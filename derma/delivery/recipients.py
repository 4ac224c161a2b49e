"""Who gets what: each clinic's report and alerts to the people of the roles file who may see that clinic.

* A clinic's report goes to its managers and viewers; the network's report to analysts and admins.
  One mail a person, holding every file of every scope they get (a manager of two clinics gets both
  clinics' reports in one mail) and no file of any other scope.
* An alert of a clinic goes to that clinic's managers and viewers and to analysts and admins (who see
  every clinic); an alert of the network (or of files without a valid clinic) to analysts and admins.

The identities of the roles file are the people's e-mail addresses; one that is not an address is
reported (never silently skipped).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from etl.access import ALL_CLINIC_ROLES, NETWORK, AccessConfig, Principal

_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


def is_address(identity: str) -> bool:
    return bool(_ADDRESS.match(identity))


def people(config: AccessConfig) -> list[Principal]:
    """Everyone of the roles file, by address."""
    return sorted(config.users.values(), key=lambda p: p.identity)


def report_plan(
    config: AccessConfig, built: Mapping[str, Iterable[Path]]
) -> tuple[dict[str, list[Path]], list[str]]:
    """Which files each person gets from ``built`` (scope -> files; ``network`` or a clinic id).

    Returns the plan (address -> files, in scope order) and the identities left out because they are
    not e-mail addresses although they would have got files.
    """
    plan: dict[str, list[Path]] = {}
    not_addresses = []
    for person in people(config):
        if person.role in ALL_CLINIC_ROLES:
            scopes = [NETWORK] if NETWORK in built else []
        else:
            scopes = [c for c in built if c != NETWORK and c in (person.clinics or ())]
        files = [f for scope in scopes for f in built[scope]]
        if not files:
            continue
        if not is_address(person.identity):
            not_addresses.append(person.identity)
            continue
        plan[person.identity] = files
    return plan, not_addresses


def alert_plan(config: AccessConfig, alerts: Iterable[dict]) -> tuple[dict[str, list[dict]], list[str]]:
    """Which alerts each person gets: their clinics' (every clinic's and the network's for analysts and admins)."""
    alerts = list(alerts)
    plan: dict[str, list[dict]] = {}
    not_addresses = []
    for person in people(config):
        mine = [
            a
            for a in alerts
            if person.all_clinics or (a["clinic_id"] != NETWORK and person.sees(a["clinic_id"]))
        ]
        if not mine:
            continue
        if not is_address(person.identity):
            not_addresses.append(person.identity)
            continue
        plan[person.identity] = mine
    return plan, not_addresses
