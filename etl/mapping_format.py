"""The mapping file: its sections, the rule every key must keep, and the checked :class:`Mapping`.

A mapping's text is parsed with :mod:`tomllib` and checked whole; every mistake is one
:class:`MappingError` line naming the file, the key and the rule (the first one found, section by
section). The checked :class:`Mapping` holds plain data only: the SQL that applies it to a whole file
is in :mod:`etl.mapped`, and which mapping reads which file is :mod:`etl.mapping`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import tomllib
from dataclasses import dataclass, field

from etl import contract as c
from etl.escaping import escape_line

#: A mapping is a short text file; anything larger is refused before it is parsed.
MAX_MAPPING_BYTES = 1 * 2**20

CATEGORY_COLUMNS = tuple(c.CATEGORIES)
CODED_INTEGERS = {"fitzpatrick": (1, 6), "satisfaction": (1, 5)}
#: Columns that may have a ``[values.X]`` table: categories, booleans, coded integers and the list.
VALUE_COLUMNS = (*CATEGORY_COLUMNS, *c.BOOLEANS, *CODED_INTEGERS, "side_effects")
#: Columns a constant may not stand for: each row has its own session and patient.
NO_CONSTANT = ("session_id", "patient_id")
SECTIONS = ("source", "columns", "constants", "formats", "lists", "values")
SOURCE_KEYS = ("name", "match", "sheet")
FORMAT_KEYS = ("session_date", "decimal")
#: strptime directives a date format may use (DuckDB and Python read them alike).
DATE_DIRECTIVES = {"d": "day", "m": "month", "b": "month", "B": "month", "y": "year", "Y": "year"}
TIME_DIRECTIVES = ("H", "I", "M", "S", "p")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufffe\uffff]")


class MappingError(ValueError):
    """A mapping cannot be used; the message is one line naming the file, the key and the rule."""


@dataclass(frozen=True)
class Mapping:
    """A checked mapping. Keys of ``columns`` are normalised export headers (``normalise_header``)."""

    name: str
    source: str  # the mapping's file name as shown in messages
    sha256: str
    match: tuple[str, ...] = ()
    sheet: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    date_format: str | None = None
    decimal: str | None = None
    separator: str | None = None
    #: column -> ((export value lower-cased and trimmed, value in the format's terms; "" = empty), ...)
    values: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    def matches(self, file_name: str) -> bool:
        """Whether a ``[source].match`` glob matches ``file_name`` (compared without case)."""
        name = file_name.lower()
        return any(fnmatch.fnmatchcase(name, glob.lower()) for glob in self.match)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.source})"


def key_of(value: str) -> str:
    """How an export value is compared with a ``[values]`` key: trimmed, without case."""
    return value.strip().lower()


def parse_mapping(data: bytes | str, source: str) -> Mapping:
    """Check a mapping's text (``source`` names it in messages) and return it."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_MAPPING_BYTES:
        raise MappingError(f"{source}: (file): a mapping is at most {MAX_MAPPING_BYTES // 2**20} MB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MappingError(f"{source}: (file): not UTF-8 text; save the mapping as UTF-8") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{source}: (file): not valid TOML: {escape_line(exc)}") from None
    return _Checker(source, doc, hashlib.sha256(raw).hexdigest()).mapping()


def _quoted(key: str) -> str:
    return '"' + escape_line(key).replace('"', '\\"') + '"'


def accepted_value(column: str, value: object) -> str | None:
    """``value`` as the text the format reads for ``column`` (``""`` = empty), or None when it is not valid.

    The right-hand sides of ``[values.X]`` tables: canonical codes, booleans, coded integers.
    """
    if value == "":
        return ""
    if column in CATEGORY_COLUMNS:
        return value if value in c.CATEGORIES[column] else None
    if column == "side_effects":
        return value if value in c.SIDE_EFFECTS else None
    if column in c.BOOLEANS:
        return ("true" if value else "false") if isinstance(value, bool) else None
    low, high = CODED_INTEGERS[column]
    if isinstance(value, str) and column == "fitzpatrick" and value.upper() in c.ROMAN:
        return str(c.ROMAN[value.upper()])
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return str(value)
    return None


def expected_values(column: str) -> str:
    if column in CATEGORY_COLUMNS:
        return ", ".join(c.CATEGORIES[column])
    if column == "side_effects":
        return ", ".join(c.SIDE_EFFECTS)
    if column in c.BOOLEANS:
        return "true, false"
    low, high = CODED_INTEGERS[column]
    return f"a whole number {low}-{high}"


class _Checker:
    """Walks a parsed mapping section by section; the first broken rule raises."""

    def __init__(self, source: str, doc: dict, sha256: str) -> None:
        self.source, self.doc, self.sha256 = source, doc, sha256

    def fail(self, key: str, rule: str) -> MappingError:
        return MappingError(f"{self.source}: {key}: {rule}")

    def mapping(self) -> Mapping:
        for section in self.doc:
            if section not in SECTIONS:
                raise self.fail(
                    f"[{escape_line(section)}]", f"unknown section (expected {', '.join(SECTIONS)})"
                )
        for section in SECTIONS:
            if section in self.doc and not isinstance(self.doc[section], dict):
                raise self.fail(f"[{section}]", "must be a table")
        name, match, sheet = self._source()
        columns = self._columns()
        constants = self._constants(columns)
        date_format, decimal = self._formats()
        separator = self._lists()
        values = self._values()
        return Mapping(
            name,
            self.source,
            self.sha256,
            match,
            sheet,
            columns,
            constants,
            date_format,
            decimal,
            separator,
            values,
        )

    def _table(self, section: str) -> dict:
        return self.doc.get(section, {})

    def _source(self) -> tuple[str, tuple[str, ...], str | None]:
        table = self._table("source")
        for key in table:
            if key not in SOURCE_KEYS:
                raise self.fail(
                    f"[source].{escape_line(key)}", f"unknown key (expected {', '.join(SOURCE_KEYS)})"
                )
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            raise self.fail("[source].name", "missing: give the mapping a name (shown in load reports)")
        if _CONTROL.search(name) or len(name) > 200:
            raise self.fail("[source].name", "must be one line of at most 200 characters")
        match = table.get("match", [])
        if isinstance(match, str):
            match = [match]
        if not isinstance(match, list) or not all(isinstance(g, str) and g.strip() for g in match):
            raise self.fail("[source].match", 'must be a list of file-name globs, e.g. ["acme_*.csv"]')
        for glob in match:
            if "/" in glob or "\\" in glob or _CONTROL.search(glob):
                raise self.fail(
                    "[source].match", f"{_quoted(glob)}: globs match the file name only, without folders"
                )
        sheet = table.get("sheet")
        if sheet is not None and (not isinstance(sheet, str) or not sheet.strip() or _CONTROL.search(sheet)):
            raise self.fail("[source].sheet", "must be the name of a sheet of the workbook")
        return name.strip(), tuple(match), sheet

    def _columns(self) -> dict[str, str]:
        columns: dict[str, str] = {}
        written: dict[str, str] = {}  # normalised header -> header as written
        targets: dict[str, str] = {}  # target (vacuum units as vacuum_kpa) -> header as written
        for header, target in self._table("columns").items():
            key = f"[columns].{_quoted(header)}"
            normalised = c.normalise_header(header)
            if not normalised or _CONTROL.search(header):
                raise self.fail(key, "must name a header of the export")
            if not isinstance(target, str) or target not in c.KNOWN:
                shown = escape_line(target) if isinstance(target, str) else type(target).__name__
                raise self.fail(key, f"'{shown}' is not a column of the export format")
            if normalised in written:
                raise self.fail(
                    key,
                    f"the same header as {_quoted(written[normalised])} (headers are compared "
                    "without case, spaces and dashes as _)",
                )
            if c.is_phi_column(normalised) and target != "patient_id":
                raise self.fail(
                    key,
                    "a protected column (names, e-mail, phone, address, dob, notes, comments) "
                    "is never stored; only patient_id, which is pseudonymised, may be read from one",
                )
            slot = "vacuum_kpa" if target in c.VACUUM_COLUMNS else target
            if slot in targets:
                what = "the vacuum (in any unit)" if slot == "vacuum_kpa" else target
                raise self.fail(
                    key,
                    f"{what} is already the target of {_quoted(targets[slot])}; a column can "
                    "be the target of one header only",
                )
            written[normalised], targets[slot], columns[normalised] = header, header, target
        return columns

    def _constants(self, columns: dict[str, str]) -> dict[str, str]:
        constants: dict[str, str] = {}
        mapped = {("vacuum_kpa" if t in c.VACUUM_COLUMNS else t): h for h, t in columns.items()}
        for column, value in self._table("constants").items():
            key = f"[constants].{escape_line(column)}"
            if column not in c.KNOWN:
                raise self.fail(key, f"'{escape_line(column)}' is not a column of the export format")
            if column in NO_CONSTANT:
                raise self.fail(key, f"{column} differs from row to row; it cannot be a constant")
            slot = "vacuum_kpa" if column in c.VACUUM_COLUMNS else column
            if slot in mapped:
                raise self.fail(
                    key,
                    f"{column} is also mapped from a header in [columns]; a column is mapped "
                    "or a constant, never both",
                )
            if slot in {("vacuum_kpa" if k in c.VACUUM_COLUMNS else k) for k in constants}:
                raise self.fail(key, "the vacuum is given twice")
            constants[column] = self._constant_text(key, column, value)
        return constants

    def _constant_text(self, key: str, column: str, value: object) -> str:
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int | float):
            text = repr(value)
        elif isinstance(value, str):
            text = value.strip()
        else:
            raise self.fail(key, "must be text, a number or true/false")
        if not text:
            raise self.fail(key, "is empty; leave the constant out instead")
        if _CONTROL.search(text) or len(text) > c.MAX_FIELD_CHARS:
            raise self.fail(key, f"must be one line of at most {c.MAX_FIELD_CHARS} characters")
        if column in CATEGORY_COLUMNS:
            code = re.sub(r"[\s\-]+", "_", text.lower())
            if code not in c.CATEGORIES[column] and code not in c.SYNONYMS.get(column, {}):
                raise self.fail(
                    key,
                    f"'{escape_line(text)}' is not a code of {column} "
                    f"(expected one of {expected_values(column)})",
                )
        if column in c.BOOLEANS and text.lower() not in (*c.TRUE_WORDS, *c.FALSE_WORDS):
            raise self.fail(key, f"{column} is true or false")
        return text

    def _formats(self) -> tuple[str | None, str | None]:
        table = self._table("formats")
        for key in table:
            if key not in FORMAT_KEYS:
                raise self.fail(
                    f"[formats].{escape_line(key)}", f"unknown key (expected {', '.join(FORMAT_KEYS)})"
                )
        date_format = table.get("session_date")
        if date_format is not None:
            problem = date_format_problem(date_format)
            if problem:
                raise self.fail("[formats].session_date", problem)
        decimal = table.get("decimal")
        if decimal is not None and decimal not in (".", ","):
            raise self.fail("[formats].decimal", 'the decimal separator is "." or ","')
        return date_format, decimal

    def _lists(self) -> str | None:
        table = self._table("lists")
        for key, separator in table.items():
            if key != "side_effects":
                raise self.fail(f"[lists].{escape_line(key)}", "only side_effects is a list")
            if (
                not isinstance(separator, str)
                or not separator
                or len(separator) > 10
                or _CONTROL.search(separator)
            ):
                raise self.fail("[lists].side_effects", 'the separator is a short text, e.g. ","')
        return table.get("side_effects")

    def _values(self) -> dict[str, tuple[tuple[str, str], ...]]:
        out: dict[str, tuple[tuple[str, str], ...]] = {}
        for column, table in self._table("values").items():
            where = f"[values.{escape_line(column)}]"
            if column not in VALUE_COLUMNS:
                what = (
                    "is not a column of the export format"
                    if column not in c.KNOWN
                    else "takes no [values] table"
                )
                raise self.fail(
                    where,
                    f"{escape_line(column)} {what} (only categories, booleans, fitzpatrick, "
                    "satisfaction and side_effects do)",
                )
            if not isinstance(table, dict):
                raise self.fail(where, "must be a table of export value = code")
            pairs: dict[str, tuple[str, str]] = {}
            for value, code in table.items():
                key = f"{where}.{_quoted(value)}"
                lowered = key_of(value)
                if not lowered:
                    raise self.fail(key, "an empty cell is always empty; map values, not blanks")
                if _CONTROL.search(value) or len(value) > c.MAX_FIELD_CHARS:
                    raise self.fail(key, f"must be one line of at most {c.MAX_FIELD_CHARS} characters")
                text = accepted_value(column, code)
                if text is None:
                    raise self.fail(
                        key,
                        f"{escape_line(repr(code))} is not a value of {column} "
                        f'(expected {expected_values(column)}, or "" for empty)',
                    )
                if lowered in pairs and pairs[lowered][1] != text:
                    raise self.fail(
                        key,
                        f"the same value as {_quoted(pairs[lowered][0])} with another code "
                        "(values are compared without case and surrounding spaces)",
                    )
                pairs[lowered] = (value, text)
            out[column] = tuple((k, text) for k, (_, text) in pairs.items())
        return out


def date_format_problem(fmt: object) -> str | None:
    """Why ``fmt`` is not a date format a mapping may give, or None when it is one."""
    usage = 'a date format needs a day (%d), a month (%m, %b or %B) and a year (%Y or %y), e.g. "%d/%m/%Y"'
    if not isinstance(fmt, str) or not fmt or _CONTROL.search(fmt) or len(fmt) > 50:
        return usage
    seen: dict[str, str] = {}
    for directive in re.findall(r"%(.?)", fmt):
        if directive == "%":
            continue
        if directive in DATE_DIRECTIVES:
            part = DATE_DIRECTIVES[directive]
            if part in seen:
                return f"'{escape_line(fmt)}' gives the {part} twice (%{seen[part]} and %{directive})"
            seen[part] = directive
        elif directive not in TIME_DIRECTIVES:
            return f"'{escape_line(fmt)}' uses %{escape_line(directive)}; {usage}"
    if set(seen) != {"day", "month", "year"}:
        return f"'{escape_line(fmt)}' is not a date format: {usage}"
    if "%I" in fmt and "%p" not in fmt:
        return f"'{escape_line(fmt)}' uses %I (12-hour clock) without %p (AM/PM)"
    return None
