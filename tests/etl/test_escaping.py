"""The escaping rules every output shares: OWASP's formula starts, control characters, file names."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from etl.escaping import csv_text, escape_controls, escape_line, shown_name


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_text_starting_like_a_formula_gets_a_quote_in_csv(start):
    frame = pd.DataFrame({"text": [f"{start}1+1", "plain"], "number": [-3, 2]})
    rows = list(csv.reader(io.StringIO(csv_text(frame))))
    shown = {"\r": "\\r"}.get(start, start)  # a CR is written as an escape: it would split the row
    assert rows[1] == [f"'{shown}1+1", "-3"] and rows[2] == ["plain", "2"]


def test_column_names_empty_values_and_non_text_cells_are_handled():
    frame = pd.DataFrame({"=name": [None, "x"], "when": pd.to_datetime(["2026-01-01", None])})
    rows = list(csv.reader(io.StringIO(csv_text(frame))))
    assert rows[0] == ["'=name", "when"] and rows[1] == ["", "2026-01-01"]


def test_control_characters_are_escaped_but_line_breaks_in_free_text_kept():
    assert escape_controls("a\x00b\x1b[2J\u202ec\nd\te") == "a\\x00b\\x1b[2J\\u202ec\nd\te"


def test_a_shown_file_name_is_one_line_and_unambiguous():
    assert shown_name("a\nb.csv") == "a\\nb.csv"
    assert shown_name("a\\nb.csv") == "a\\\\nb.csv"  # a real backslash cannot fake an escape
    assert shown_name("Zürich_2026-10.csv") == "Zürich_2026-10.csv"
    assert escape_line(shown_name("a\nb.csv")) == "a\\nb.csv"  # escaping for display does not double
