"""Small-cell suppression for reports: which cells of a table to hide so that no count below N can be read or derived.

The rule (``derma report --min-cell N``, documented in ``dashboard/REPORTS.md``):

1. *Primary*: every count below N (zero included) is hidden and shown as ``<N``. A count whose
   complement within its rate is below N (``denominator - numerator < N``) is hidden too, since
   subtracting it from the shown denominator would give a small count.
2. *Derived values*: a rate (with its interval) is hidden with its numerator, because rate × denominator
   would give the count back; a change against another month is hidden when either month is.
3. *Complementary*: counts that add up to a total a reader can know are a group: the cells of one
   count column within a group of rows (``group_by``), and the parts of a row that add up to another
   column of that row (``row_groups``). A group never has exactly one hidden cell: the next-smallest
   visible cell is hidden with it, repeated until no group has a lone hidden cell. Subtracting the
   visible cells from a total then leaves a sum of at least two hidden cells, never one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pandas as pd


@dataclass(frozen=True)
class Rate:
    """A rate column computed from a numerator (and an optional denominator) count column of the same row."""

    rate: str
    numerator: str
    denominator: str | None = None
    linked: tuple[str, ...] = ()  # columns derived from the rate (interval ends, changes) hidden with it


@dataclass(frozen=True)
class Table:
    """One report table: typed values, how each column reads, and which of its cells are hidden."""

    key: str
    title: str
    frame: pd.DataFrame
    formats: dict[str, str]  # column -> int | pct | pp | num | ratio | date | month | datetime | text
    counts: tuple[str, ...] = ()
    rates: tuple[Rate, ...] = ()
    group_by: tuple[str, ...] = ()
    row_groups: tuple[tuple[str, ...], ...] = ()
    hidden: pd.DataFrame | None = field(default=None, compare=False)

    def hidden_mask(self) -> pd.DataFrame:
        if self.hidden is not None:
            return self.hidden
        return pd.DataFrame(False, index=self.frame.index, columns=self.frame.columns)

    def visible_rows(self, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
        """Rows with no hidden cell among ``columns`` (all by default): what a chart may draw."""
        mask = self.hidden_mask()
        cols = [c for c in (columns or tuple(mask.columns)) if c in mask]
        return self.frame[~mask[cols].any(axis=1)] if cols else self.frame


def _small(values: pd.Series, n: int) -> pd.Series:
    return values.notna() & (pd.to_numeric(values, errors="coerce") < n)


def _lone_hidden(mask: pd.DataFrame, frame: pd.DataFrame, cells: list[tuple[object, str]]) -> bool:
    """Hide the next-smallest visible cell of a group holding exactly one hidden cell; True when it did."""
    hidden = [c for c in cells if mask.at[c]]
    visible = [c for c in cells if not mask.at[c] and pd.notna(frame.at[c])]
    if len(hidden) != 1 or not visible:
        return False
    smallest = min(visible, key=lambda c: (float(frame.at[c]), str(c)))
    mask.at[smallest] = True
    return True


def suppress(table: Table, n: int | None) -> Table:
    """The table with ``hidden`` set by the rule above (nothing hidden when ``n`` is None)."""
    frame = table.frame
    mask = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    if not n or frame.empty:
        return replace(table, hidden=mask)
    for column in table.counts:
        mask[column] |= _small(frame[column], n)
    for rate in table.rates:
        if rate.denominator:
            complement = frame[rate.denominator] - frame[rate.numerator]
            mask[rate.numerator] |= _small(complement, n)
    groups: list[list[tuple[object, str]]] = []
    by = list(table.group_by) if len(table.group_by) > 1 else (table.group_by[0] if table.group_by else None)
    parts = (
        [frame.index[i] for i in frame.groupby(by, sort=False, dropna=False).indices.values()]
        if by
        else [frame.index]
    )
    for column in table.counts:
        groups.extend([(i, column) for i in idx] for idx in parts)
    for row_group in table.row_groups:
        groups.extend([(i, c) for c in row_group] for i in frame.index)
    changed = True
    while changed:
        changed = any([_lone_hidden(mask, frame, cells) for cells in groups])
    for rate in table.rates:
        dependent = mask[rate.numerator] | (mask[rate.denominator] if rate.denominator else False)
        for column in (rate.rate, *rate.linked):
            if column in mask:
                mask[column] |= dependent
    return replace(table, hidden=mask)
