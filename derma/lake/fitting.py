"""A model's rows on an engine: the guards' counts and the fitters' sums as aggregation queries.

:class:`EngineRows` answers what :func:`analysis.guards.fit_guarded` asks of a model's rows (clinic
counts, the level cube, value counts) with ``group by`` queries; :class:`EngineFitRows` answers what
:mod:`analysis.sufficient` asks at each Newton step (the log-likelihood, ``Xᵀ(y − μ)``, ``XᵀWX``) and
at the estimate (the per-patient score sums of the sandwich). The sessions never leave the engine; the
results are p-vectors and p × p matrices. The same code runs on DuckDB and Spark.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from analysis.design import CATEGORICALS, CLINIC, DIAMOND, NUMERICS
from analysis.ordinal import SATISFIED_FROM
from analysis.summary import RowsSummary
from derma.lake.model_sql import Design, lit, mapped

_names = itertools.count()


def unique_name(prefix: str) -> str:
    return f"_{prefix}_{next(_names)}"


@dataclass(frozen=True)
class EngineRows:
    """A model's coded rows in an engine table, with the guards' operations applied as SQL.

    ``kind`` is ``logit`` (y is 0/1) or ``ordinal`` (y is the rating; binary: rated 4–5).
    """

    engine: object
    table: str
    kind: str
    columns: tuple[str, ...]  # the categorical columns present (clinic included)
    merges: dict = field(default_factory=dict)  # column -> {level: merged name}
    excluded: tuple[str, ...] = ()  # SQL predicates of rows left out
    categories: dict | None = None
    #: Estimates of earlier fits of the same outcome, shared with the fit rows (``remember``) as starts.
    starts: dict = field(default_factory=dict, compare=False)

    # ---------------------------------------------------------------------------------- relations
    def relation(self) -> str:
        """The rows as a SELECT with the merges applied and the excluded rows left out."""
        cats = ", ".join(f"{mapped(c, self.merges.get(c, {}))} as {c}" for c in self.columns)
        where = " and ".join(f"not ({e})" for e in self.excluded) or "true"
        return (
            f"(select vacuum_10kpa, passes, flow_10pct, session_number, {cats}, y, patient "
            f"from {self.table} where {where})"
        )

    @property
    def binary(self) -> str:
        return "y" if self.kind == "logit" else f"case when y >= {SATISFIED_FROM} then 1 else 0 end"

    @functools.cached_property
    def _counts(self) -> pd.Series:
        return self.engine.frame(
            f"select count(*) as n, sum({self.binary}) as events, count(distinct patient) as patients "
            f"from {self.relation()}"
        ).iloc[0]

    @property
    def n(self) -> int:
        return int(self._counts["n"])

    @property
    def binary_events(self) -> int:
        return int(self._counts["events"] or 0)

    @property
    def n_patients(self) -> int:
        return int(self._counts["patients"])

    # ---------------------------------------------------------------------------------- the guards
    def clinic_counts(self) -> pd.DataFrame:
        frame = self.engine.frame(
            f"select {CLINIC}, count(*) as size, count(distinct y) as nunique from {self.relation()} "
            f"group by {CLINIC}"
        )
        return frame.set_index(CLINIC)[["size", "nunique"]]

    def without_clinics(self, clinics: list) -> EngineRows:
        listed = ", ".join(lit(str(c)) for c in clinics)
        return replace(self, excluded=(*self.excluded, f"{CLINIC} in ({listed})"))

    def level_cube(self) -> pd.DataFrame:
        columns = [c for c in self.columns if c != CLINIC]
        keys = ", ".join(columns)
        frame = self.engine.frame(
            f"select {keys}, {self.binary} = 1 as y, count(*) as n from {self.relation()} "
            f"group by {keys}, {self.binary}"
        )
        return frame.astype({c: object for c in columns})

    def with_operations(self, ops) -> EngineRows:
        merges = {c: dict(m) for c, m in self.merges.items()}
        excluded = list(self.excluded)
        for kind, col, levels, *merged in ops:
            current = mapped(col, merges.get(col, {}))
            if kind == "drop":
                excluded.append(f"{current} = {lit(levels)}")
                continue
            column = merges.setdefault(col, {})
            for raw in self._levels(col):
                if column.get(raw, raw) in levels:
                    column[raw] = merged[0]
        return replace(self, merges=merges, excluded=tuple(excluded))

    def _levels(self, column: str) -> list[str]:
        frame = self.engine.frame(f"select distinct {column} as level from {self.table}")
        return [str(v) for v in frame["level"]]

    def summary(self) -> RowsSummary:
        rel = self.relation()
        numeric = " union all ".join(
            f"select {lit(c)} as col, {c} as v, count(*) as n from {rel} group by {c}" for c in NUMERICS
        )
        numeric += (
            f" union all select 'crystal_flow' as col, flow_10pct as v, count(*) as n from {rel} "
            f"where crystal_type <> {lit(DIAMOND)} group by flow_10pct"
        )
        values = self.engine.frame(numeric).sort_values(["col", "v"])
        levels = self.engine.frame(
            " union all ".join(
                f"select {lit(c)} as col, cast({c} as varchar) as level, count(*) as n from {rel} group by {c}"
                for c in self.columns
            )
        )
        y = self.engine.frame(f"select y, count(*) as n from {rel} group by y").sort_values("y")
        gram = self.engine.frame(
            "select count(*) as g00, sum(v) as g01, sum(p) as g02, sum(f) as g03, sum(v * v) as g11, "
            "sum(v * p) as g12, sum(v * f) as g13, sum(p * p) as g22, sum(p * f) as g23, sum(f * f) as g33 "
            f"from (select distinct vacuum_10kpa as v, passes as p, flow_10pct as f from {rel}) as s"
        ).iloc[0]
        g = np.zeros((4, 4))
        for i in range(4):
            for j in range(i, 4):
                g[i, j] = g[j, i] = float(gram[f"g{i}{j}"] or 0.0)

        def counts(col):
            part = values[values["col"] == col]
            return part["v"].to_numpy(float), part["n"].to_numpy(np.int64)

        return RowsSummary(
            n=int(y["n"].sum()),
            values={c: counts(c) for c in NUMERICS},
            crystal_flow=counts("crystal_flow"),
            levels={
                c: {str(r.level): int(r.n) for r in levels[levels["col"] == c].itertuples()}
                for c in self.columns
            },
            y_counts={int(r.y): int(r.n) for r in y.itertuples()},
            settings_gram=g,
        )

    def categorised(self, categories: dict[str, list[str]]) -> EngineRows:
        return replace(self, categories=categories)

    def collapsed(self):
        """The rows summed to covariate patterns in a table of the engine, each with its cell, for the fitters.

        A cell is one combination of the categorical levels (unit included), numbered in a second
        small table; the patterns keep the numeric columns, the cell number and the outcome counts.
        """
        rel = self.relation()
        # Counts as 4-byte integers: a SUM of integers is a 16-byte HUGEINT in DuckDB, and every
        # step carries these columns (the proportional-odds steps' staged table five of them).
        if self.kind == "logit":
            counts, levels = "cast(count(*) as integer) as n, cast(sum(y) as integer) as events", [0, 1]
        else:
            levels = sorted(self.summary().y_counts)
            counts = "cast(count(*) as integer) as n, " + ", ".join(
                f"cast(sum(case when y = {lv} then 1 else 0 end) as integer) as c{j}"
                for j, lv in enumerate(levels)
            )
        categorical = ", ".join(self.columns)
        cells = unique_name("cells")
        self.engine.materialise(
            cells,
            f"select cast(row_number() over (order by {categorical}) - 1 as bigint) as cell, {categorical} "
            f"from (select distinct {categorical} from {rel} as r) as d",
            scratch=True,
        )
        numeric = ", ".join(f"r.{c}" for c in NUMERICS)
        joined = " and ".join(f"c.{col} = r.{col}" for col in self.columns)
        patterns = unique_name("patterns")
        self.engine.materialise(
            patterns,
            f"select {numeric}, c.cell, {counts} from {rel} as r join {cells} as c on {joined} "
            f"group by {numeric}, c.cell",
        )
        cell_levels = self.engine.frame(f"select * from {cells} order by cell")
        totals = self.engine.frame(
            "select count(*) as patterns, sum(n) as n"
            + ("" if self.kind == "ordinal" else ", sum(events) as events")
            + "".join(f", sum(c{j}) as c{j}" for j in range(len(levels)) if self.kind == "ordinal")
            + f" from {patterns}"
        ).iloc[0]
        patients = int(self.engine.frame(f"select count(distinct patient) as g from {rel}").iloc[0]["g"])
        from derma.lake.sums import EngineFitRows

        return EngineFitRows(
            engine=self.engine,
            patterns=patterns,
            cells=cell_levels.drop(columns="cell").astype(str).astype(object).reset_index(drop=True),
            cell_table=cells,
            rows=rel,
            kind=self.kind,
            columns=self.columns,
            categories=self.categories or {},
            y_levels=tuple(levels) if self.kind == "ordinal" else (False, True),
            level_counts=tuple(int(totals[f"c{j}"]) for j in range(len(levels)))
            if self.kind == "ordinal"
            else (),
            n=int(totals["n"]),
            events=int(totals["events"]) if self.kind == "logit" else 0,
            n_patterns=int(totals["patterns"]),
            n_clusters=patients,
            warm_start=self.starts,
        )

    @staticmethod
    def fitter(kind: str):
        from analysis.sufficient import fit_cumulative_sums, fit_logit_sums

        return {"logit": fit_logit_sums, "ordinal": fit_cumulative_sums}[kind]


def present_categoricals(direct: bool) -> tuple[str, ...]:
    return tuple(c for c in CATEGORICALS if c != "side_effect" or direct)


def skeleton(columns, categories: dict[str, list[str]]) -> pd.DataFrame:
    """A few rows holding every level of every categorical (in the fit's order) for patsy to code from."""
    width = max([len(v) for v in categories.values()] + [2])
    frame = pd.DataFrame({c: np.linspace(1.0, 2.0, width) for c in NUMERICS})
    for col in columns:
        levels = categories[col]
        frame[col] = pd.Categorical([levels[i % len(levels)] for i in range(width)], categories=levels)
    return frame


__all__ = ["Design", "EngineRows", "present_categoricals", "skeleton", "unique_name"]
