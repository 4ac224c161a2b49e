"""The query loader: finds a SQL file by name, reads its header, checks and binds its parameters.

A file's header is at most three comment lines::

    -- Side-effect rate by vacuum band with Wilson 95% intervals.
    -- Grain: one row per vacuum band.
    -- Params: $clinic_id (text, optional), $date_from (date, optional), $setting (text, one of a|b)

Types are text, date, integer, number, boolean; ``optional`` parameters may be omitted (NULL).

Values are always bound (``cursor.execute(sql, params)``); nothing a user typed becomes SQL text.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parent
LAYERS = ("staging", "marts", "analyses")
TYPES = ("text", "date", "integer", "number", "boolean")
_PARAM_DECL = re.compile(r"\$([a-z_][a-z0-9_]*)\s*(?:\(([^)]*)\))?")
_STRINGS_AND_COMMENTS = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", re.S)
_PARAM_USE = re.compile(r"\$([a-z_][a-z0-9_]*)")


class QueryError(ValueError):
    """A query name, parameter or value is wrong; the message is one line naming it."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str = "text"
    optional: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Query:
    """One SQL file: its name (the file stem), layer (the folder), header and statement."""

    name: str
    layer: str
    path: Path
    sql: str
    purpose: str
    grain: str
    params: tuple[Param, ...]

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)


def used_params(sql: str) -> set[str]:
    """Named parameters a statement uses (``$name`` outside strings and comments)."""
    return set(_PARAM_USE.findall(_STRINGS_AND_COMMENTS.sub(" ", sql)))


def parse_query(path: Path, layer: str) -> Query:
    text = path.read_text(encoding="utf-8")
    header = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        header.append(line[2:].strip())
    purpose = header[0] if header else ""
    grain = next((h.split(":", 1)[1].strip() for h in header if h.lower().startswith("grain:")), "")
    decl = next((h.split(":", 1)[1] for h in header if h.lower().startswith("params:")), "")
    params = []
    for name, spec in _PARAM_DECL.findall(decl):
        words = [w.strip() for w in spec.split(",") if w.strip()]
        kind = next((w for w in words if w in TYPES), "text")
        choices = next((tuple(w[len("one of ") :].split("|")) for w in words if w.startswith("one of ")), ())
        params.append(Param(name, kind, "optional" in words, choices))
    return Query(path.stem, layer, path, text, purpose, grain, tuple(params))


def list_queries(layer: str = "analyses") -> list[Query]:
    """Every query of a layer, sorted by name."""
    return [parse_query(p, layer) for p in sorted((ROOT / layer).glob("*.sql"))]


def get_query(name: str, layer: str = "analyses") -> Query:
    """The query called ``name``; an unknown name is a QueryError with the nearest names."""
    path = ROOT / layer / f"{name}.sql"
    if not re.fullmatch(r"[a-z0-9_]+", name or "") or not path.is_file():
        known = [q.name for q in list_queries(layer)]
        near = difflib.get_close_matches(name or "", known, n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else "; 'derma query --list' shows them"
        raise QueryError(f"unknown query '{name}'{hint}")
    return parse_query(path, layer)


def _convert(query: Query, param: Param, value: object) -> object:
    if value is None or value == "":
        if param.optional:
            return None
        raise QueryError(f"query '{query.name}': parameter '{param.name}' needs a value")
    if param.choices and str(value) not in param.choices:
        raise QueryError(
            f"query '{query.name}': parameter '{param.name}' must be one of "
            f"{', '.join(param.choices)}, got {str(value)[:40]!r}"
        )
    if not isinstance(value, str):
        return value
    try:
        if param.type == "date":
            return dt.date.fromisoformat(value)
        if param.type == "integer":
            return int(value)
        if param.type == "number":
            return float(value)
        if param.type == "boolean":
            lowered = value.lower()
            if lowered not in ("true", "false", "yes", "no", "1", "0"):
                raise ValueError
            return lowered in ("true", "yes", "1")
    except ValueError:
        raise QueryError(
            f"query '{query.name}': parameter '{param.name}' must be a {param.type}, got {value[:40]!r}"
        ) from None
    return value


def bind_params(query: Query, values: dict[str, object]) -> dict[str, object]:
    """Check names against the header (no missing, no extra) and convert text to typed values."""
    extra = sorted(set(values) - set(query.param_names))
    if extra:
        allowed = ", ".join(query.param_names) or "none"
        raise QueryError(f"query '{query.name}' has no parameter '{extra[0]}' (parameters: {allowed})")
    bound = {}
    for param in query.params:
        if param.name not in values and not param.optional:
            raise QueryError(f"query '{query.name}': missing parameter '{param.name}'")
        bound[param.name] = _convert(query, param, values.get(param.name))
    return bound


def run_query(con, query: Query | str, values: dict[str, object] | None = None):
    """Run a named query with bound, checked parameters; returns a pandas DataFrame."""
    if isinstance(query, str):
        query = get_query(query)
    params = bind_params(query, values or {})
    return con.execute(query.sql, params).df()
