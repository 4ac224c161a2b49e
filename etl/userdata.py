"""User data: the notes, process changes and targets people record, kept beside the snapshots.

Notes and targets are not part of any export, so they live outside the published snapshots in one
append-only JSON-lines file in the data dir (``userdata.jsonl``, next to the audit log): every load
and snapshot swap leaves them alone, and backing up the data dir backs them up. Each change is one
line (``add`` or ``remove``); the state is the replay of the lines. Every change is also written to
the audit log, and a change the audit log cannot account for is taken back (the file is cut back to
where it was), so the two never disagree.

Who may change what is decided here, below every page: analysts, administrators and the command-line
operator anywhere; a manager only for her own clinics (and their clinicians); viewers never.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

from etl import audit
from etl.access import CLINIC_ID, NETWORK, AccessDenied, Principal
from etl.settings import Settings
from etl.timeline import MEASURE_WORDS, MEASURES, Note, Target, UserData

__all__ = ["MEASURES", "MEASURE_WORDS", "Note", "Target", "UserData", "UserDataError", "add_note", "read"]

FILE_NAME = "userdata.jsonl"
MAX_TEXT = 500
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_LONG_NUMBER = re.compile(r"\d{6,}")


class UserDataError(ValueError):
    """A note or target cannot be recorded as given, or the file is damaged: one line naming it."""


def path_of(settings: Settings) -> Path:
    return Path(settings.data_dir) / FILE_NAME


def read(settings: Settings) -> UserData:
    """The notes and targets in force; a damaged line is an error naming the file and line."""
    path = path_of(settings)
    try:
        with path.open("rb") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
            lines = handle.read().split(b"\n")
    except FileNotFoundError:
        return UserData()
    except OSError as exc:
        raise UserDataError(f"cannot read {path}: {exc.strerror or exc}") from None
    notes: dict[str, Note] = {}
    targets: dict[str, Target] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            event = json.loads(raw)
            if event["op"] == "remove":
                notes.pop(event["id"], None)
                targets.pop(event["id"], None)
            elif event["kind"] == "note":
                notes[event["id"]] = _note(event)
            elif event["kind"] == "target":
                for key, old in list(targets.items()):  # a newer target of the same scope replaces it
                    if old.measure == event["measure"] and old.clinic_id == event.get("clinic_id"):
                        del targets[key]
                targets[event["id"]] = _target(event)
            else:
                raise KeyError("kind")
        except (ValueError, KeyError, TypeError) as exc:
            raise UserDataError(f"{path} line {number} is not a note or target record ({exc})") from None
    return UserData(
        tuple(sorted(notes.values(), key=lambda n: (n.day, n.recorded_at))), tuple(targets.values())
    )


def _note(event: dict) -> Note:
    return Note(
        id=event["id"],
        day=dt.date.fromisoformat(event["day"]),
        text=event["text"],
        process_change=bool(event["process_change"]),
        clinic_id=event.get("clinic_id"),
        clinician_id=event.get("clinician_id"),
        author=event.get("by", ""),
        recorded_at=event.get("at", ""),
    )


def _target(event: dict) -> Target:
    return Target(
        id=event["id"],
        measure=event["measure"],
        value=float(event["value"]),
        direction=event["direction"],
        clinic_id=event.get("clinic_id"),
        author=event.get("by", ""),
        recorded_at=event.get("at", ""),
    )


# --- Changes ------------------------------------------------------------------------------------------------


def may_change(who: Principal | None, clinic_id: str | None) -> bool:
    """Analysts, administrators and the operator (None) anywhere; a manager for her own clinics only."""
    if who is None:
        return True
    if who.role in ("admin", "analyst"):
        return True
    return who.role == "manager" and clinic_id is not None and who.sees(clinic_id)


def _require(who: Principal | None, clinic_id: str | None, what: str) -> None:
    if not may_change(who, clinic_id):
        where = f"clinic {clinic_id}" if clinic_id else "the network"
        raise AccessDenied(f"{who.identity} ({who.role or 'no role'}) may not {what} for {where}")


def add_note(
    settings: Settings,
    *,
    day: dt.date | str,
    text: str,
    process_change: bool = False,
    clinic_id: str | None = None,
    clinician_id: str | None = None,
    who: Principal | None = None,
    via: str = "cli",
    operator: str = "",
) -> Note:
    """Record a note; returns it. A clinician's note needs the clinician's clinic."""
    clinic_id, clinician_id = _unit(clinic_id, "clinic"), _unit(clinician_id, "clinician")
    if clinician_id and not clinic_id:
        raise UserDataError("a clinician's note needs the clinician's clinic (--clinic)")
    day = _day(day)
    text = _text(text)
    _require(who, clinic_id, "record notes")
    event = {
        "op": "add",
        "kind": "note",
        "id": _new_id("n"),
        "day": day.isoformat(),
        "text": text,
        "process_change": bool(process_change),
        "clinic_id": clinic_id,
        "clinician_id": clinician_id,
    }
    what = f"{'process change' if process_change else 'note'} {event['id']} for {clinic_id or NETWORK}"
    _append(settings, event, who, via, operator, what, {"clinic": clinic_id, "day": day.isoformat()})
    return _note(event)


def set_target(
    settings: Settings,
    *,
    measure: str,
    value: float | str,
    direction: str | None = None,
    clinic_id: str | None = None,
    who: Principal | None = None,
    via: str = "cli",
    operator: str = "",
) -> Target:
    """Record the target of ``measure`` for the network or a clinic (replacing its earlier one)."""
    if measure not in MEASURES:
        raise UserDataError(f"unknown measure {measure!r}: choose from {', '.join(MEASURES)}")
    clinic_id = _unit(clinic_id, "clinic")
    better, chart = MEASURES[measure]
    direction = direction or better
    if direction not in ("increase", "decrease"):
        raise UserDataError(f"direction must be 'increase' or 'decrease', got {direction!r}")
    if chart is not None and direction != better:
        raise UserDataError(
            f"a {MEASURE_WORDS[measure]} target is met by a {better} (its control chart's better direction)"
        )
    value = parse_share(value)
    _require(who, clinic_id, "set targets")
    event = {
        "op": "add",
        "kind": "target",
        "id": _new_id("t"),
        "measure": measure,
        "value": value,
        "direction": direction,
        "clinic_id": clinic_id,
    }
    what = f"target {event['id']}: {measure} {value:.4g} for {clinic_id or NETWORK}"
    _append(settings, event, who, via, operator, what, {"clinic": clinic_id, "measure": measure})
    return _target(event)


def remove(
    settings: Settings,
    item_id: str,
    kind: str,
    *,
    who: Principal | None = None,
    via: str = "cli",
    operator: str = "",
) -> Note | Target:
    """Remove the note or target (``kind``) ``item_id``; the line that added it stays: the history is kept."""
    state = read(settings)
    found = next((x for x in (state.notes if kind == "note" else state.targets) if x.id == item_id), None)
    if found is None:
        raise UserDataError(f"no {kind} with id {item_id!r} (see 'derma {kind}s list')")
    _require(who, found.clinic_id, f"remove {kind}s")
    _append(
        settings,
        {"op": "remove", "kind": kind, "id": item_id},
        who,
        via,
        operator,
        f"removed {kind} {item_id} of {found.clinic_id or NETWORK}",
        {"clinic": found.clinic_id},
    )
    return found


def parse_share(value: float | str) -> float:
    """A share as ``0.05``, ``5%`` or ``"5 %"``; between 0 and 1."""
    text = str(value).strip()
    try:
        number = float(text.rstrip("%").strip()) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise UserDataError(f"a target value is a share such as 0.05 or 5%, got {text!r}") from None
    if not 0 <= number <= 1:
        raise UserDataError(f"a target value lies between 0 and 1 (0% and 100%), got {text!r}")
    return number


def _unit(value: str | None, what: str) -> str | None:
    if value is None or value == "" or (what == "clinic" and value == NETWORK):
        return None
    if not CLINIC_ID.match(value):
        raise UserDataError(f"{value!r} is not a {what} id")
    return value


def _day(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise UserDataError(f"a note's date is YYYY-MM-DD, got {value!r}") from None


def _text(value: str) -> str:
    text = " ".join(str(value or "").split())
    if not text:
        raise UserDataError("a note needs some text")
    if len(text) > MAX_TEXT:
        raise UserDataError(f"a note holds at most {MAX_TEXT} characters, got {len(text)}")
    if _EMAIL.search(text) or _LONG_NUMBER.search(text):
        # Notes are read by everyone who sees the scope and go out in reports: no patient details.
        raise UserDataError(
            "a note may not hold an e-mail address or a long number (patient details stay out of notes)"
        )
    return text


def _new_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


def _append(
    settings: Settings,
    event: dict,
    who: Principal | None,
    via: str,
    operator: str,
    what: str,
    params: dict,
) -> None:
    """Append one change and account for it in the audit log; without the audit record the change is undone."""
    event["at"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event["by"] = who.identity if who is not None else operator
    path = path_of(settings)
    line = json.dumps(event, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise UserDataError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        try:
            if os.write(fd, line) != len(line):
                raise OSError("short write")
            os.fsync(fd)
        except OSError as exc:
            os.ftruncate(fd, size)
            raise UserDataError(f"cannot write {path}: {exc.strerror or exc}") from None
        try:
            audit.append(
                settings.audit_path,
                who=event["by"] or "unknown",
                role=who.role if who is not None else "cli",
                via=via,
                action="annotate",
                what=what,
                params=params,
            )
        except BaseException:
            os.ftruncate(fd, size)  # a change nobody can account for is not kept
            os.fsync(fd)
            raise
    finally:
        os.close(fd)


def clinics_of(items: Iterable[Note | Target]) -> set[str]:
    return {x.clinic_id for x in items if x.clinic_id}
