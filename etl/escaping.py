"""Text made safe where it is shown: control characters escaped, spreadsheet formulas neutralised.

Values from clinic files (clinician ids, device models, file names) end up in terminals, logs, CSV
downloads and workbooks. Three rules keep them data there:

- a control character (C0 but tab/newline/CR in free text, DEL, C1, bidirectional overrides, the
  XML non-characters) is written as a visible escape (``\\x00``, ``\\u202e``), never as itself;
- a file name is shown with *every* control character escaped, newlines included, and with ``\\``
  doubled, so the shown name is unambiguous and cannot fake a line of output;
- text that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or
  carriage return: OWASP's rule) gets a leading ``'`` in CSV; workbooks store it as a text cell.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas only where a frame is made safe: a load never imports it (0.3 s a run)
    import pandas as pd

#: Characters a spreadsheet treats as the start of a formula (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

#: Characters refused in clinic data and escaped wherever text is shown: C0 controls but tab, newline and
#: carriage return, DEL and the C1 controls, bidirectional embeddings/overrides/isolates (they reorder
#: what a reader sees) and U+FFFE/U+FFFF (not characters; illegal in XML, so in a workbook).
CONTROL_CLASS = (
    "\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F-\\x{9F}\\x{202A}-\\x{202E}\\x{2066}-\\x{2069}\\x{FFFE}\\x{FFFF}"
)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff]")
_NAME_UNSAFE = re.compile("[\\\\\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufffe\uffff]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape(match: re.Match) -> str:
    char = match.group(0)
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with refused control characters written as escapes (tab, newline and CR kept)."""
    return _CONTROL.sub(_escape, text)


def shown_name(name: object) -> str:
    """A file name (or path) as shown in output and logs: one line, every control character escaped.

    Backslashes are doubled, so two different names never show the same way.
    """
    return _NAME_UNSAFE.sub(_escape, str(name))


_LINE_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufffe\uffff]")


def escape_line(text: object) -> str:
    """``text`` for one cell of a terminal table or one log line: every control character escaped.

    Unlike :func:`shown_name` a backslash stays as it is, so a name escaped once shows the same.
    """
    return _LINE_UNSAFE.sub(_escape, str(text))


def is_formula_like(value: object) -> bool:
    """Whether a spreadsheet would read ``value`` (text) as a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def neutralise_cell(value: object) -> object:
    """A CSV cell that no spreadsheet runs: formula-like text gets a leading ``'``; numbers stay numbers."""
    if isinstance(value, str):
        formula = value.startswith(FORMULA_STARTS)
        # A bare CR is not quoted by the CSV writer (its line end is LF) and splits rows in a spreadsheet.
        value = escape_controls(value).replace("\r", "\\r")
        return "'" + value if formula else value
    return value


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are neutralised for CSV (column names too)."""
    import pandas as pd

    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_string_dtype(series) or series.dtype == object:
            out[column] = series.map(neutralise_cell, na_action="ignore")
    out.columns = [neutralise_cell(str(c)) for c in out.columns]
    return out


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` as CSV text that a spreadsheet opens as data only (see :func:`csv_safe`)."""
    return csv_safe(frame).to_csv(index=False)
