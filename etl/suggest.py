"""``derma mapping suggest``: a proposed mapping for one export, every unsure guess marked ``# check:``.

Headers are matched to the format's columns exactly, by the synonyms vendors use
(``etl/suggest_words.py``), then by containment or resemblance (marked). The values of category,
boolean, coded and list columns are matched to codes, the date format and the vacuum unit are worked
out from the data (``etl/suggest_values.py``). The proposal never holds a patient number, name or
e-mail: protected columns and the patient column are never shown, a value that also occurs in one of
them is never written, nor one with an ``@`` or a long run of digits, and a value the suggestion
could not match is listed only when it occurs at least :data:`MIN_SHOWN` times. The text is checked
with the mapping's own rules before it is returned.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from etl import contract as c
from etl.escaping import escape_line, shown_name
from etl.mapping_format import VALUE_COLUMNS, MappingError, date_format_problem, key_of, parse_mapping
from etl.peek import Peek, peek_columns, peek_header
from etl.readers import RejectedFile
from etl.suggest_values import (
    FUZZY,
    format_reads,
    guess_date_format,
    guess_decimal,
    guess_value,
    vacuum_units,
    words,
)
from etl.suggest_words import HEADER_SYNONYMS

#: An unmatched value is listed only when this many rows hold it (a rarer one could identify someone).
MIN_SHOWN = 3
#: Distinct values looked at per column (a category has a handful; more means it is not one).
MAX_DISTINCT = 300
NUMBER_COLUMNS = (
    "vacuum_kpa",
    "vacuum_mmhg",
    "vacuum_inhg",
    "passes",
    "particle_flow",
    "birth_year",
    "session_number",
)
_UNIT_WORDS = {"kpa", "mmhg", "inhg", "mm", "hg", "in", "inches", "pct", "percent"}
_RANK = {"exact": 0, "synonym": 1, "contains": 2, "fuzzy": 3}
_DATE_IN_NAME = re.compile(r"(19|20)\d{2}[-_.]?(0[1-9]|1[0-2])([-_.]?(0[1-9]|[12]\d|3[01]))?")
_UNSAFE = re.compile(r"@|\d{6,}")


class SuggestError(ValueError):
    """The export cannot be looked at; one line naming it."""


@dataclass(frozen=True)
class Proposal:
    text: str
    matched: int  # headers mapped to a column
    unsure: int  # lines marked "# check:"


@dataclass
class _Header:
    header: str
    target: str | None = None
    how: str = "none"
    note: str = ""


@dataclass
class _Draft:
    columns: list[str] = field(default_factory=list)
    sections: list[list[str]] = field(default_factory=list)


def suggest_mapping(path: Path, *, sheet: str | None = None) -> Proposal:
    """Propose a mapping for the export at ``path`` (a workbook's ``sheet``, else the best-fitting one)."""
    path = Path(path)
    try:
        peek = peek_header(path, sheet)
        guesses = _resolve([_match_header(h) for h in peek.header])
        con = duckdb.connect(":memory:", config={"memory_limit": "1GB"})
        try:
            text = _Writer(peek, guesses, con).write()
        finally:
            con.close()
    except RejectedFile as exc:
        raise SuggestError(str(exc)) from None
    try:
        parse_mapping(text, "the suggestion")
    except MappingError as exc:  # a suggestion that would not pass its own check is not handed out
        raise SuggestError(f"{shown_name(path.name)}: no usable mapping could be suggested ({exc})") from None
    return Proposal(text, sum(g.target is not None for g in guesses), text.count("# check:"))


def _match_header(header: str) -> _Header:
    name = c.normalise_header(header)
    if not name:
        return _Header(header, note="an empty header")
    if c.is_phi_column(name):
        return _Header(header, how="protected", note="protected (names, e-mail, phone, address, dob, notes)")
    if name in c.KNOWN:
        return _Header(header, name, "exact", "the format's own name")
    tokens = words(header).split("_")
    core = "_".join(t for t in tokens if t not in _UNIT_WORDS and not t.isdigit())
    unit = _unit(tokens)
    for target, synonyms in HEADER_SYNONYMS.items():
        if core == target or core in synonyms:
            return _Header(header, unit if target == "vacuum_kpa" else target, "synonym", "")
    phrases = [(p, t) for t, synonyms in HEADER_SYNONYMS.items() for p in (t, *synonyms)]
    inside = sorted(((len(p), t, p) for p, t in phrases if _contains(core, p)), reverse=True)
    if inside and (len(inside) == 1 or inside[0][0] > inside[1][0] or inside[0][1] == inside[1][1]):
        _, target, phrase = inside[0]
        target = unit if target == "vacuum_kpa" else target
        return _Header(header, target, "contains", f"check: the header contains {phrase.replace('_', ' ')!r}")
    close = difflib.get_close_matches(core, [p for p, _ in phrases], n=1, cutoff=FUZZY)
    if close:
        target = dict(phrases)[close[0]]
        target = unit if target == "vacuum_kpa" else target
        return _Header(
            header, target, "fuzzy", f"check: the header looks like {close[0].replace('_', ' ')!r}"
        )
    return _Header(header, note="no column of the export format matched; ignored")


def _contains(core: str, phrase: str) -> bool:
    return f"_{phrase}_" in f"_{core}_" and len(phrase) >= 3


def _unit(tokens: list[str]) -> str:
    joined = "".join(tokens)
    if "mmhg" in joined:
        return "vacuum_mmhg"
    if "inhg" in joined or "inches" in tokens:
        return "vacuum_inhg"
    return "vacuum_kpa" if "kpa" in tokens else "vacuum_?"


def _resolve(guesses: list[_Header]) -> list[_Header]:
    """One header per column (the surest wins; the others are commented) and one per normalised header."""
    best: dict[str, _Header] = {}
    seen: set[str] = set()
    for g in guesses:
        normalised = c.normalise_header(g.header)
        if normalised in seen and g.how != "protected":
            g.target, g.how, g.note = None, "none", "the same header again (any case); only the first is read"
        seen.add(normalised)
        if g.target is None:
            continue
        slot = "vacuum" if g.target.startswith("vacuum_") else g.target
        other = best.get(slot)
        if other is None or _RANK[g.how] < _RANK[other.how]:
            if other is not None:
                _demote(other, g)
            best[slot] = g
        else:
            _demote(g, other)
    return guesses


def _demote(loser: _Header, winner: _Header) -> None:
    loser.note = f"check: {loser.target} is read from {winner.header!r} instead"
    loser.target, loser.how = None, "none"


def toml_string(text: str) -> str:
    """A TOML basic string for any text (quotes, backslashes and control characters escaped)."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F or ch in "\u2028\u2029":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _comment(text: str) -> str:
    return escape_line(text)


class _Writer:
    """Reads the columns it needs from the export and writes the mapping's text, section by section."""

    def __init__(self, peek: Peek, guesses: list[_Header], con: duckdb.DuckDBPyConnection) -> None:
        self.peek, self.guesses, self.con = peek, guesses, con
        wanted = {*VALUE_COLUMNS, *NUMBER_COLUMNS, "session_date", "vacuum_?"}
        guard = [g.header for g in guesses if g.how == "protected" or g.target == "patient_id"]
        looked = [g.header for g in guesses if g.target in wanted]
        self.headers = list(dict.fromkeys(looked + guard))
        self.index = {h: i for i, h in enumerate(self.headers)}
        peek_columns(con, peek, self.headers)
        self.rows = con.execute("select count(*) from _peek").fetchone()[0]
        guards = [f"v{self.index[h]}" for h in guard]
        union = " union ".join(f"select {v} as v from _peek" for v in guards) or "select null as v"
        con.execute(f"create temp table _guard as select distinct v from ({union}) where v is not null")
        for g in guesses:
            if g.target == "vacuum_?":
                g.target, g.note = self._vacuum_unit(g.header)
        self.targets = {g.target: g for g in guesses if g.target}

    def distinct(self, header: str, limit: int = MAX_DISTINCT) -> list[tuple[str, int]]:
        v = f"v{self.index[header]}"
        return self.con.execute(
            f"""select {v}, count(*) as n from _peek where {v} is not null
                and {v} not in (select v from _guard) group by 1 order by n desc, 1 limit {int(limit)}"""
        ).fetchall()

    def write(self) -> str:
        lines = [
            f"# Mapping suggested by `derma mapping suggest` for {_comment(self.peek.path.name)} "
            f"({self.peek.format}, {self.rows} row(s)).",
            "# Look at every line marked `# check:`, then run `derma mapping check` on this file.",
            "",
        ]
        lines += [*self._source(), "", *self._columns(), ""]
        for part in (self._constants(), self._formats(), self._lists(), *self._values()):
            if part:
                lines += [*part, ""]
        return "\n".join(lines).rstrip() + "\n"

    def _source(self) -> list[str]:
        stem = re.sub(r"\.(csv\.gz|csv|xlsx|parquet|jsonl|ndjson)$", "", self.peek.path.name, flags=re.I)
        glob = _DATE_IN_NAME.sub("*", self.peek.path.name)
        name = re.sub(r"[-_ .]+$", "", _DATE_IN_NAME.sub("", stem)) or stem
        out = ["[source]", f"name = {toml_string(name + ' export')}  # check: the name shown in load reports"]
        note = (
            "every file named like this one" if glob != self.peek.path.name else "check: only this file name"
        )
        out.append(f"match = [{toml_string(glob)}]  # {note}")
        if self.peek.format == "xlsx":
            names = ", ".join(name for name, _ in self.peek.sheets)
            default = "sessions" if "sessions" in dict(self.peek.sheets) else self.peek.sheets[0][0]
            if self.peek.sheet != default:
                out.append(
                    f"sheet = {toml_string(self.peek.sheet)}  # check: its header fits best (sheets: "
                    f"{_comment(names)})"
                )
        return out

    def _columns(self) -> list[str]:
        out = ["[columns]"]
        for g in self.guesses:
            if g.target is None:
                out.append(f"# {toml_string(g.header)}: {_comment(g.note)}")
                continue
            note = f"  # {_comment(g.note)}" if g.note else ""
            out.append(f"{toml_string(g.header)} = {toml_string(g.target)}{note}")
        return out

    def _vacuum_unit(self, header: str) -> tuple[str, str]:
        decimal = "," if guess_decimal([v for v, _ in self.distinct(header)]) else "."
        numbers = [float(v.replace(decimal, ".")) for v, _ in self.distinct(header) if _is_number(v, decimal)]
        units = vacuum_units(numbers)
        if len(units) == 1:
            return units[0], f"check: the header names no unit; the values fit {units[0].split('_')[1]}"
        fits = ", ".join(u.split("_")[1] for u in units) or "no unit"
        return "vacuum_kpa", f"check: the header names no unit and the values fit {fits}: say which"

    def _constants(self) -> list[str]:
        if "clinic_id" in self.targets:
            return []
        return [
            "[constants]",
            '# clinic_id = ""  # check: the export has no clinic column: give the clinic\'s code',
        ]

    def _formats(self) -> list[str]:
        out = []
        date = self.targets.get("session_date")
        if date is not None:
            values = [v for v, _ in self.distinct(date.header, limit=5000)]
            guess = guess_date_format(values)
            if guess.format and not date_format_problem(guess.format):
                prefix = "" if guess.sure else "# "
                mark = "" if guess.sure else "check: "
                out.append(
                    f"{prefix}session_date = {toml_string(guess.format)}  # {mark}{_comment(guess.note)}"
                )
            elif guess.format is None and not guess.sure:
                out.append(f'# session_date = ""  # check: {_comment(guess.note)}')
        numbers = [
            v for t, g in self.targets.items() if t in NUMBER_COLUMNS for v, _ in self.distinct(g.header)
        ]
        if guess_decimal(numbers) == ",":
            out.append('decimal = ","  # the numbers are written with a decimal comma')
        return ["[formats]", *out] if out else []

    def _separator(self) -> str | None:
        effects = self.targets.get("side_effects")
        if effects is None:
            return None
        cells = [v for v, _ in self.distinct(effects.header, limit=5000)]
        for separator in (";", ",", "|", "/", "+"):
            if any(separator in cell for cell in cells):
                return separator
        return None

    def _lists(self) -> list[str]:
        separator = self._separator()
        if separator in (None, ";"):
            return []
        return ["[lists]", f"side_effects = {toml_string(separator)}  # the separator seen in the cells"]

    def _values(self) -> list[list[str]]:
        tables = []
        for target, g in self.targets.items():
            if target not in VALUE_COLUMNS:
                continue
            counts = self._items(target, g.header)
            table = self._table(target, counts)
            if table:
                tables.append(table)
        return tables

    def _items(self, target: str, header: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        separator = self._separator() if target == "side_effects" else None
        for value, n in self.distinct(header, limit=5000 if separator else MAX_DISTINCT):
            for item in value.split(separator) if separator else [value]:
                item = item.strip()
                if item:
                    counts[item] = counts.get(item, 0) + n
        return counts

    def _table(self, target: str, counts: dict[str, int]) -> list[str]:
        out, seen, rare = [f"[values.{target}]"], set(), 0
        for value, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            if format_reads(target, value) or key_of(value) in seen:
                continue
            seen.add(key_of(value))
            guess = guess_value(target, value)
            safe = not _UNSAFE.search(value) and len(value) <= 60 and "\n" not in value
            if not safe or (n < MIN_SHOWN and (guess is None or guess.check)):
                rare += 1
                continue
            if guess is None:
                out.append(f'# {toml_string(value)} = ""  # check: not matched ({n} row(s)): give its value')
                continue
            right = _right_side(target, guess.value)
            note = f"  # check: {_comment(guess.check)}" if guess.check else ""
            out.append(f"{toml_string(value)} = {right}{note}")
        if rare:
            out.append(
                f"# {rare} other value(s) are not shown: held by fewer than {MIN_SHOWN} rows or "
                "shaped like an identifier; rows with them are quarantined"
            )
        return out if len(out) > 1 else []


def _right_side(target: str, value: str) -> str:
    if value == "":
        return '""'
    if target in c.BOOLEANS:
        return value  # true / false
    if target in ("fitzpatrick", "satisfaction"):
        return str(int(value))
    return toml_string(value)


def _is_number(value: str, decimal: str) -> bool:
    try:
        float(value.replace(decimal, "."))
    except ValueError:
        return False
    return True
