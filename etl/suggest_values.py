"""What an export's values say: codes for its words, the date format, the vacuum unit, the decimal separator.

Pure functions over distinct values with their counts (``etl/suggest.py`` reads those from the file).
Each guess comes with how sure it is: ``sure`` (the value is a known word or the data decide it) or
a reason to check it. A date order that the data cannot decide (every day and month 12 or less) is
never guessed.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import unicodedata
from dataclasses import dataclass

from etl import contract as c
from etl.suggest_words import BOOLEAN_WORDS, CATEGORY_WORDS, SATISFACTION_WORDS, SIDE_EFFECT_WORDS

#: How alike two phrases must be (difflib's ratio) for a fuzzy guess.
FUZZY = 0.82
#: Vacuum ranges (the format's 5–80 kPa) in each unit a header may carry.
VACUUM_RANGES = {
    "vacuum_kpa": (5.0, 80.0),
    "vacuum_mmhg": (5.0 / c.MMHG_TO_KPA, 80.0 / c.MMHG_TO_KPA),
    "vacuum_inhg": (5.0 / c.INHG_TO_KPA, 80.0 / c.INHG_TO_KPA),
}
#: Share of a column's numbers that must fit a unit's range for the unit to be proposed.
FITS = 0.95


def words(text: str) -> str:
    """``text`` as a phrase: accents removed, lower case, runs of anything but letters and digits as ``_``."""
    plain = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return "_".join(re.findall(r"[a-z0-9]+", plain.lower()))


@dataclass(frozen=True)
class Guess:
    """A proposed value in the format's terms (``""`` = empty) and why it is not sure (``None``: sure)."""

    value: str
    check: str | None = None


def format_reads(column: str, value: str) -> bool:
    """Whether the export format already reads ``value`` for ``column`` (no mapping entry needed)."""
    key = re.sub(r"[\s\-]+", "_", value.lower())
    if column in c.CATEGORIES:
        return key in c.CATEGORIES[column] or key in c.SYNONYMS.get(column, {})
    if column in c.BOOLEANS:
        return value.lower() in (*c.TRUE_WORDS, *c.FALSE_WORDS)
    if column == "side_effects":
        return key.strip("_ ") in (*c.SIDE_EFFECTS, "none")
    number = _number(value)
    low, high = (1, 6) if column == "fitzpatrick" else (1, 5)
    if column == "fitzpatrick" and value.upper() in c.ROMAN:
        return True
    return number is not None and number == int(number) and low <= number <= high


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _phrases(column: str) -> dict[str, str]:
    """Every phrase known for ``column`` -> its value in the format's terms."""
    if column in c.CATEGORIES:
        known = {code: code for code in c.CATEGORIES[column]}
        known.update(c.SYNONYMS.get(column, {}))
        known.update(CATEGORY_WORDS.get(column, {}))
        return known
    if column == "side_effects":
        return {**{code: code for code in c.SIDE_EFFECTS}, **SIDE_EFFECT_WORDS}
    if column in c.BOOLEANS:
        return {k: "true" if v else "false" for k, v in BOOLEAN_WORDS.items()}
    if column == "satisfaction":
        return {k: str(v) for k, v in SATISFACTION_WORDS.items()}
    return {}


_ROMAN_WORD = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6}


def guess_value(column: str, value: str) -> Guess | None:
    """The format's value for an export value the format does not read itself, or None when nothing fits."""
    phrase = words(value)
    known = _phrases(column)
    if phrase in known:
        return Guess(known[phrase])
    tokens = phrase.split("_") if phrase else []
    if column in ("fitzpatrick", "satisfaction"):
        return _coded(column, value, tokens, known)
    inside = {code for p, code in known.items() if _contains(tokens, p.split("_"))}
    if len(inside) == 1:
        code = inside.pop()
        return Guess(code, f"the value contains a word for {_shown(column, code)}")
    close = difflib.get_close_matches(phrase, list(known), n=2, cutoff=FUZZY)
    if close and len({known[p] for p in close}) == 1:
        return Guess(known[close[0]], f"looks like {close[0].replace('_', ' ')!r}")
    return None


def _coded(column: str, value: str, tokens: list[str], known: dict[str, str]) -> Guess | None:
    """Fitzpatrick types (``Type II``, ``Fitzpatrick 3``) and ratings (``4/5``, ``4 stars``, words)."""
    low, high = (1, 6) if column == "fitzpatrick" else (1, 5)
    numbers = {int(t) for t in tokens if t.isdigit() and low <= int(t) <= high}
    if column == "fitzpatrick":
        numbers |= {_ROMAN_WORD[t] for t in tokens if t in _ROMAN_WORD}
        if len(numbers) == 1:
            return Guess(str(numbers.pop()))
        return None
    if tokens and tokens[0].isdigit() and len(tokens) <= 3 and low <= int(tokens[0]) <= high:
        return Guess(tokens[0], f"read as the rating {tokens[0]} of 5")
    stars = value.count("★")
    close = difflib.get_close_matches("_".join(tokens), list(known), n=1, cutoff=FUZZY)
    if close:
        return Guess(known[close[0]], f"looks like {close[0].replace('_', ' ')!r}")
    return Guess(str(stars), "counted stars") if low <= stars <= high else None


def _contains(tokens: list[str], phrase: list[str]) -> bool:
    n = len(phrase)
    return n > 0 and any(tokens[i : i + n] == phrase for i in range(len(tokens) - n + 1))


def _shown(column: str, code: str) -> str:
    if column in c.BOOLEANS:
        return code
    return repr(code) if code else "empty"


# --- Dates ------------------------------------------------------------------------------------------------

_NUMERIC = re.compile(r"^(\d{1,2})([./-])(\d{1,2})\2(\d{2}|\d{4})(?:[ T](.*))?$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ].*)?$")
_NAMED = (
    "%d %b %Y", "%d %B %Y", "%d-%b-%Y", "%d-%b-%y", "%b %d, %Y", "%B %d, %Y", "%d. %B %Y", "%d %b %y",
    "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d",
)  # fmt: skip
_TIMES = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p", "T%H:%M", "T%H:%M:%S")


@dataclass(frozen=True)
class DateGuess:
    """A date format (None: the format's own ISO dates need none) and a note; ``sure`` False = commented out."""

    format: str | None
    note: str
    sure: bool


def guess_date_format(values: list[str]) -> DateGuess:
    """The strptime format of a column of text dates, the day/month order decided by the data only."""
    values = [v for v in values if v]
    if not values or all(_ISO.match(v) for v in values):
        return DateGuess(
            None, "ISO dates (YYYY-MM-DD) or date cells: the format reads them as they are", True
        )
    numeric = [m for m in (_NUMERIC.match(v) for v in values) if m]
    if len(numeric) >= 0.9 * len(values):
        return _numeric_dates(values, numeric)
    for base in _NAMED:
        for time in _TIMES:
            fmt = base + time
            share = _fit(values, fmt)
            if share >= 0.9:
                return DateGuess(fmt, _fit_note(values, fmt, "the values"), share == 1.0)
    return DateGuess(None, "no date format fits the values; write [formats].session_date by hand", False)


def _numeric_dates(values: list[str], numeric: list[re.Match]) -> DateGuess:
    first = max(int(m.group(1)) for m in numeric)
    second = max(int(m.group(3)) for m in numeric)
    separator = numeric[0].group(2)
    year = "%Y" if all(len(m.group(4)) == 4 for m in numeric) else "%y"
    time = _time_part([m.group(5) for m in numeric if m.group(5)])
    day_first = f"%d{separator}%m{separator}{year}{time}"
    month_first = f"%m{separator}%d{separator}{year}{time}"
    if first > 12 and second > 12:
        return DateGuess(None, "both of the first two numbers go above 12: not day/month dates", False)
    if first > 12:
        why = f"the first number goes up to {first}, so it is the day"
        return DateGuess(day_first, _fit_note(values, day_first, why), True)
    if second > 12:
        why = f"the second number goes up to {second}, so it is the day"
        return DateGuess(month_first, _fit_note(values, month_first, why), True)
    note = (
        "every day and month in the data is 12 or less, so the order cannot be told from the data: "
        f'"{day_first}" if the day comes first, "{month_first}" if the month does; uncomment the right one'
    )
    return DateGuess(day_first, note, False)


def _time_part(times: list[str]) -> str:
    if not times:
        return ""
    for fmt in (" %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p"):
        if all(_parses(t, fmt.strip()) for t in times):
            return fmt
    return " %H:%M"


def _parses(value: str, fmt: str) -> bool:
    try:
        dt.datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


def _fit(values: list[str], fmt: str) -> float:
    return sum(_parses(v, fmt) for v in values) / len(values)


def _fit_note(values: list[str], fmt: str, why: str) -> str:
    misfits = sum(not _parses(v, fmt) for v in values)
    if misfits:
        return f"{why}; {misfits} distinct value(s) do not fit and would be quarantined as bad_date"
    return why


# --- Numbers ----------------------------------------------------------------------------------------------


def guess_decimal(values: list[str]) -> str | None:
    """``","`` when the numbers are written with a decimal comma (and never with a point), else None."""
    commas = sum(bool(re.fullmatch(r"[+-]?\d+,\d+", v)) for v in values)
    points = sum(bool(re.fullmatch(r"[+-]?\d+\.\d+", v)) for v in values)
    return "," if commas and not points else None


def vacuum_units(numbers: list[float]) -> list[str]:
    """The vacuum columns whose range holds at least :data:`FITS` of ``numbers``."""
    if not numbers:
        return []
    return [
        unit
        for unit, (low, high) in VACUUM_RANGES.items()
        if sum(low <= n <= high for n in numbers) >= FITS * len(numbers)
    ]
