"""The audit log: an append-only, hash-chained record of who viewed, queried and exported what.

Health-data access has to be accounted for, so the dashboard and the CLI write one JSON line per
action to one file (``Settings.audit_path``) and refuse the action when they cannot. Each line
carries ``prev``, the sha256 of the line before it, so an edited, removed or reordered record
breaks the chain and :func:`read` says where. The chain cannot show that the *last* lines were cut
off; copy the log off the host if that matters.

The log holds no patient keys and no result values: parameter names containing "patient" are
dropped, long text is cut, and free SQL goes through :func:`redact_sql` first.
"""

from __future__ import annotations

import datetime as dt
import decimal
import fcntl
import hashlib
import json
import math
import operator
import os
import re
from collections.abc import Mapping
from pathlib import Path

ACTIONS = (
    "view",
    "query",
    "sql",
    "download",
    "report",
    "export",
    "denied",
    "sign_in",
    "upload",
    "load",
    "annotate",
    "send",
)
VIAS = ("dashboard", "cli")
OUTCOMES = ("ok", "refused", "error")
#: The keys of every record, in the order they are written.
FIELDS = ("at", "who", "role", "via", "action", "what", "params", "rows", "outcome", "prev")

MAX_WHAT = 300
MAX_PARAM_TEXT = 200
MAX_SQL = 500
_TAIL_CHUNK = 8192


class AuditError(Exception):
    """The audit log cannot be written, or it was edited: one line naming the file (and line)."""


def append(
    path: Path,
    *,
    who: str,
    role: str | None,
    via: str,
    action: str,
    what: str,
    params: Mapping[str, object] | None = None,
    rows: int | None = None,
    outcome: str = "ok",
) -> dict:
    """Append one record to the log at ``path`` and return it (with its ``prev``).

    Raises ``ValueError`` for an unknown ``action``, ``via`` or ``outcome`` (a programming error) and
    :class:`AuditError` when the file cannot be written; callers then refuse the action.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; expected one of {', '.join(ACTIONS)}")
    if via not in VIAS:
        raise ValueError(f"unknown audit via {via!r}; expected one of {', '.join(VIAS)}")
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
    record = {
        "at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "who": _cut(str(who), MAX_PARAM_TEXT),
        "role": None if role is None else _cut(str(role), MAX_PARAM_TEXT),
        "via": via,
        "action": action,
        "what": _cut(str(what), MAX_WHAT),
        "params": _plain_params(params or {}),
        "rows": None if rows is None else operator.index(rows),
        "outcome": outcome,
        "prev": "",
    }
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Read-write rather than write-only: the last line is read through the same locked descriptor.
        # O_APPEND still sends every write to the end of the file.
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            record["prev"] = _last_line_hash(fd, size, path)
            line = _dump(record) + b"\n"
            try:
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(f"short write ({written} of {len(line)} bytes)")
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, size)  # never leave half a record behind
                raise
        finally:
            os.close(fd)  # closing releases the lock
    except OSError as exc:
        raise AuditError(f"cannot write the audit log {path}: {exc.strerror or exc}") from None
    return record


def read(path: Path, since: dt.date | None = None) -> list[dict]:
    """Every record of the log at ``path`` in file order, after checking the whole chain.

    ``since`` keeps the records written on or after that UTC date. A missing file is an empty log.
    Raises :class:`AuditError` naming the file and the first line that breaks the chain.
    """
    path = Path(path)
    records = []
    try:
        with path.open("rb") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH)  # no half-written line from a concurrent append
            expected = ""
            for number, raw in enumerate(handle, start=1):
                if not raw.endswith(b"\n"):
                    raise AuditError(
                        f"audit log {path} line {number} is incomplete: the last write was cut off"
                    )
                line = raw[:-1]
                record = _parse(line)
                if record is None:
                    raise AuditError(
                        f"audit log {path} line {number} is not an audit record: the log was edited"
                    )
                if record["prev"] != expected:
                    if number == 1:
                        raise AuditError(
                            f"audit log {path} line 1 does not start the log: earlier records were removed"
                        )
                    raise AuditError(
                        f"audit log {path} line {number} does not follow line {number - 1}: the log "
                        "was edited or a record removed"
                    )
                expected = _sha256(line)
                records.append(record)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise AuditError(f"cannot read the audit log {path}: {exc.strerror or exc}") from None
    if since is not None:
        first = since.isoformat()
        records = [r for r in records if str(r["at"])[:10] >= first]
    return records


def redact_sql(sql: str) -> str:
    """``sql`` with every string and numeric literal replaced by ``?``, comments dropped, whitespace collapsed.

    ``where patient_key = 'abc' and passes > -3`` becomes ``where patient_key = ? and passes > ?``;
    identifiers, keywords and operators stay, so the log shows what was asked but not of whom.
    """
    import duckdb  # the CLI loads duckdb only for commands that need it

    kinds = duckdb.token_type
    # DuckDB takes only valid UTF-8 (a lone surrogate is a TypeError) and reports *byte* offsets.
    data = str(sql).encode("utf-8", "replace")
    try:
        tokens = duckdb.tokenize(data.decode("utf-8"))
    except Exception:  # noqa: BLE001 - whatever the tokenizer dislikes, the log gets no literal
        return "(statement not shown: it could not be tokenized)"
    # Only starts are reported: a token runs to the next one, so split off the whitespace in between.
    spans = []  # [text, whitespace after it, kind]
    for i, (start, kind) in enumerate(tokens):
        span = data[start : tokens[i + 1][0] if i + 1 < len(tokens) else len(data)]
        text = span.rstrip()
        spans.append([text, span[len(text) :], kind])
    for i, (_, _, kind) in enumerate(spans):
        if kind == kinds.comment:
            spans[i][0] = b" "
        elif kind in (kinds.string_const, kinds.numeric_const):
            spans[i][0] = b"?"
            if kind == kinds.numeric_const and _is_sign(spans, i - 1, kinds):
                spans[i - 1][0] = b""  # '-3' -> '?', not '-?'
        elif (
            kind == kinds.identifier and i and spans[i - 1][2] == kinds.numeric_const and not spans[i - 1][1]
        ):
            spans[i][0] = b""  # DuckDB splits 0x1F into 0 and x1F: the rest of the number
    head = data[: tokens[0][0]] if tokens else data
    redacted = (head + b"".join(text + gap for text, gap, _ in spans)).decode("utf-8", "replace")
    return _cut(re.sub(r"\s+", " ", redacted).strip(), MAX_SQL)


def _is_sign(spans: list, i: int, kinds) -> bool:
    """Whether token ``i`` is a ``-`` written against the number after it as its sign, not a subtraction."""
    if i < 0 or spans[i][0] != b"-" or spans[i][1]:
        return False
    if i == 0:
        return True
    text, _, kind = spans[i - 1]
    if kind in (kinds.identifier, kinds.numeric_const, kinds.string_const):
        return False
    if kind == kinds.operator and text.endswith((b")", b"]")):
        return False
    return not (kind == kinds.keyword and text.lower() == b"end")


def _plain_params(params: Mapping[str, object]) -> dict:
    return {str(k): _plain(v) for k, v in params.items() if "patient" not in str(k).lower()}


def _plain(value: object) -> object:
    """A JSON-safe plain value: no patient keys, no NaN, text cut short; numpy/pandas scalars unwrapped."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, str):
        return _cut(value, MAX_PARAM_TEXT)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (dt.date, dt.time)):  # datetimes and pandas Timestamps too
        return None if value != value else value.isoformat()  # pandas NaT is a datetime unequal to itself
    if isinstance(value, decimal.Decimal):
        return _plain(float(value))
    if isinstance(value, Mapping):
        return _plain_params(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=repr)
    item = getattr(value, "item", None)  # numpy and pandas scalars
    if callable(item):
        try:
            unwrapped = item()
        except (TypeError, ValueError):
            unwrapped = None
        if unwrapped is not value and not hasattr(unwrapped, "item"):
            return _plain(unwrapped)
    if str(value) in ("NaT", "<NA>", "nan"):
        return None
    return _cut(str(value), MAX_PARAM_TEXT)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _dump(record: dict) -> bytes:
    # ASCII-only JSON: the bytes that get hashed never depend on an encoding choice.
    return json.dumps(record, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode("ascii")


def _sha256(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _parse(line: bytes) -> dict | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or set(record) != set(FIELDS) or not isinstance(record["prev"], str):
        return None
    return record


def _last_line_hash(fd: int, size: int, path: Path) -> str:
    """The sha256 of the file's last line, read backwards from the end in chunks ("" for an empty file)."""
    if size == 0:
        return ""
    if os.pread(fd, 1, size - 1) != b"\n":
        raise OSError(
            f"its last line is incomplete (a cut-off write); repair {path.name} before logging more"
        )
    tail, pos = b"", size - 1  # the final newline is not part of the line
    while pos > 0:
        start = max(0, pos - _TAIL_CHUNK)
        tail = os.pread(fd, pos - start, start) + tail
        pos = start
        if (cut := tail.rfind(b"\n")) >= 0:
            return _sha256(tail[cut + 1 :])
    return _sha256(tail)
