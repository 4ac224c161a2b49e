"""The SQL that applies a mapping to a whole file at once, inside the projection that reads it.

Every value a mapping brings (constants, value tables, the date format, the list separator) is a bound
parameter; the SQL text holds only the contract's own column names. A transformed column keeps its
cell as the export wrote it in ``_orig_<column>``, so a value that is still invalid after the mapping
is quarantined with the original cell (``etl/checks.py``). Row numbers are untouched: the step is a
projection, one output row per input row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from etl.contract import HeaderPlan
from etl.mapping import Mapping

#: Separator of list items in the export format.
FORMAT_SEPARATOR = ";"


def _lookup(column: str, value: str) -> str:
    """SQL: the code ``[values.column]`` gives ``value`` ('' = empty), NULL when the table does not list it."""
    keys, codes = f"$m_keys_{column}", f"$m_codes_{column}"
    lowered = f"lower(trim({value}))"
    return f"(case when list_contains({keys}, {lowered}) then {codes}[list_position({keys}, {lowered})] end)"


@dataclass
class MappedStep:
    """The mapping's part of a reader's projection, for the columns ``plan`` found in the file."""

    mapping: Mapping | None
    plan: HeaderPlan
    params: dict[str, object] = field(default_factory=dict)
    originals: list[str] = field(default_factory=list)

    def constants(self) -> list[str]:
        """Select-list items giving each constant column (after the file's own columns)."""
        items = []
        for column in self.plan.constants:
            self.params[f"m_const_{column}"] = self.mapping.constants[column]
            items.append(f"nullif(trim($m_const_{column}), '') as {column}")
        return items

    def select(self, names: list[str]) -> str:
        """The select list that maps the columns ``names`` (as read) to the format's terms."""
        items = []
        for name in names:
            expression = self._expression(name)
            if expression is None:
                items.append(name)
            else:
                items.append(f"{expression} as {name}")
                items.append(f"{name} as _orig_{name}")
                self.originals.append(name)
        return ", ".join(items)

    def _expression(self, name: str) -> str | None:
        m = self.mapping
        if m is None or name in self.plan.constants:
            return None
        values = m.values.get(name)
        if values:
            self.params[f"m_keys_{name}"] = [k for k, _ in values]
            self.params[f"m_codes_{name}"] = [code for _, code in values]
        if name == "session_date" and m.date_format:
            self.params["m_date"] = m.date_format
            # A text date is read by the format; one that does not fit it is kept as it is, so an Excel
            # date cell (already ISO) still reads and anything else is quarantined as bad_date.
            return (
                f"case when {name} is null then null "
                f"else coalesce(strftime(try_strptime({name}, $m_date), '%Y-%m-%d'), {name}) end"
            )
        if name == "side_effects" and (values or (m.separator and m.separator != FORMAT_SEPARATOR)):
            self.params["m_sep"] = m.separator or FORMAT_SEPARATOR
            item = f"coalesce({_lookup(name, 'i')}, trim(i))" if values else "trim(i)"
            return (
                f"nullif(array_to_string(list_filter(list_transform(string_split({name}, $m_sep), "
                f"lambda i: {item}), lambda i: i <> ''), '{FORMAT_SEPARATOR}'), '')"
            )
        if values:
            keys, codes, lowered = f"$m_keys_{name}", f"$m_codes_{name}", f"lower({name})"
            return (
                f"case when list_contains({keys}, {lowered}) "
                f"then nullif({codes}[list_position({keys}, {lowered})], '') else {name} end"
            )
        return None
