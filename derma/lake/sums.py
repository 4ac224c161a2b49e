"""The fitters' questions answered by the engine: a Newton step's sums, and the sandwich's meat.

The covariate patterns carry their *cell*: the combination of categorical levels (and unit) they
belong to. A step is two aggregations over the patterns: the products of the numeric design columns
overall, and per cell each weight and its products with the numeric columns. The dummies' part of the
linear predictor is added per cell in Python and joined; Python assembles the p × p matrix from the
cells (a few thousand rows). The meat comes from per-patient sums of the row scores, computed in the
engine at the estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.design import CLINIC
from derma.lake.fitting import skeleton, unique_name
from derma.lake.model_sql import Design, lit

TINY = "cast(1e-300 as double)"


@dataclass(frozen=True)
class StepSums:
    """A Newton step's sums: per cell (rows aligned with ``cell``) and the overall numeric pairs."""

    cells: pd.DataFrame
    products: pd.Series
    cell: np.ndarray

    def total(self, weight: str) -> float:
        return float(self.cells[f"{weight}_"].sum())


@dataclass
class EngineFitRows:
    """A model's covariate patterns (a temporary table) and its rows, for :mod:`analysis.sufficient`."""

    engine: object
    patterns: str  # the numeric columns, the cell and the outcome counts of each covariate pattern
    cells: pd.DataFrame  # the categorical levels of each cell (row = cell number)
    cell_table: str  # the same in the engine (cell, then the categorical columns)
    rows: str
    kind: str
    columns: tuple[str, ...]
    categories: dict
    y_levels: tuple
    level_counts: tuple
    n: int
    events: int
    n_patterns: int
    n_clusters: int
    warm_start: dict = field(default_factory=dict)
    _stages: list = field(default_factory=list)
    _numeric: tuple = (None, None)  # (the numeric columns' SQL, the table holding them)
    _codes_cache: dict = field(default_factory=dict)

    def skeleton(self) -> pd.DataFrame:
        return skeleton(self.columns, self.categories)

    def remember(self, names, params) -> None:
        """Keep an estimate: the next fit of these rows starts from it (fewer steps, the same optimum)."""
        self.warm_start.update(zip(names, (float(v) for v in params), strict=True))

    # ------------------------------------------------------------------------------------- a step
    def logit_sums(self, info, env, beta):
        design = Design(info, env.namespace)
        weights = {
            "a": "n * mu * (1 - mu)",
            "b": "events - n * mu",
            "ll": "events * ln(mu) + (n - events) * ln(1 - mu)",
        }
        source = f"(select *, 1 / (1 + exp(-eta)) as mu from ({self._with_eta(design, beta)}) as e)"
        sums = self._step(design, source, weights)
        return sums.total("ll"), self._vector(design, sums, "b"), -self._matrix(design, sums, "a")

    def ordinal_sums(self, info, env, params):
        design = Design(info, env.namespace, intercept=False)
        k, m = design.p, len(self.y_levels) - 1
        theta = params[k:]
        source = self._ordinal_source(design, params[:k], theta)
        c = [f"c{j}" for j in range(m + 1)]

        def d(j):
            return f"(du{j} - dl{j})"

        weights = {
            "a": " + ".join(
                f"{c[j]} * ((gu{j} - gl{j}) / p{j} - pow({d(j)} / p{j}, 2))" for j in range(m + 1)
            ),
            "b": " + ".join(f"{c[j]} * (-{d(j)} / p{j})" for j in range(m + 1)),
            "ll": " + ".join(f"{c[j]} * ln(p{j})" for j in range(m + 1)),
        }
        for t in range(m):
            u = t + 1
            weights[f"v{t}"] = (
                f"{c[t]} * (-gu{t} / p{t} + {d(t)} * du{t} / pow(p{t}, 2))"
                f" + {c[u]} * (gl{u} / p{u} - {d(u)} * dl{u} / pow(p{u}, 2))"
            )
            weights[f"g{t}"] = f"{c[t]} * du{t} / p{t} - {c[u]} * dl{u} / p{u}"
            weights[f"h{t}"] = (
                f"{c[t]} * (gu{t} / p{t} - pow(du{t} / p{t}, 2)) + {c[u]} * (-gl{u} / p{u} - pow(dl{u} / p{u}, 2))"
            )
        for t in range(1, m):
            weights[f"o{t}"] = f"{c[t]} * du{t} * dl{t} / pow(p{t}, 2)"
        sums = self._step(design, source, weights)
        hess = np.zeros((k + m, k + m))
        hess[:k, :k] = self._matrix(design, sums, "a")
        for t in range(m):
            hess[:k, k + t] = hess[k + t, :k] = self._vector(design, sums, f"v{t}")
            hess[k + t, k + t] = sums.total(f"h{t}")
        for t in range(1, m):
            hess[k + t, k + t - 1] = hess[k + t - 1, k + t] = sums.total(f"o{t}")
        grad = np.concatenate([self._vector(design, sums, "b"), [sums.total(f"g{t}") for t in range(m)]])
        return sums.total("ll"), grad, hess

    def _with_eta(self, design: Design, beta) -> str:
        """The patterns with the design's numeric columns ``n0``… and the linear predictor ``eta``.

        The dummies' part of ``eta`` is the same for every pattern of a cell: Python adds it up per
        cell and the engine joins it (``off``), so no statement carries a CASE per level.
        """
        name = self._offsets(design, beta)
        return (
            f"select *, {_eta(design, beta)} as eta from (select s.*, o.off from {self._numeric_table(design)} as s "
            f"join {name} as o on o.cell = s.cell) as d"
        )

    def _offsets(self, design: Design, beta) -> str:
        """A table of each cell's dummies' part of ``eta`` (``cell``, ``off``), summed in Python."""
        codes = self._codes(design)
        padded = np.append(np.asarray(beta, dtype=float), 0.0)  # a reference level (-1) adds 0
        offsets = padded[codes].sum(axis=1) if codes.shape[1] else np.zeros(len(codes))
        name = unique_name("offsets")
        self.engine.put(name, pd.DataFrame({"cell": np.arange(len(codes), dtype=np.int64), "off": offsets}))
        self._stages.append(name)
        return name

    def _numeric_table(self, design: Design) -> str:
        """The patterns with the design's numeric columns (splines evaluated) as a table, made once per design.

        Every step of a fit reads it; evaluating the spline terms in each step's statement made the
        engine plan them again each time (at small sizes planning was most of a step).
        """
        key = tuple(sql for _, sql in design.numeric)
        if self._numeric[0] != key:
            if self._numeric[1]:
                self.engine.drop(self._numeric[1])
            name = unique_name("numeric")
            numeric = "".join(f", {sql} as n{j}" for j, (_, sql) in enumerate(design.numeric))
            # only what a step reads: the settings' own columns would make the table a third wider
            counts = ["events"] if self.kind == "logit" else [f"c{j}" for j in range(len(self.y_levels))]
            kept = ", ".join(["cell", "n", *counts])
            self.engine.materialise(name, f"select {kept}{numeric} from {self.patterns}")
            self._numeric = (key, name)
        return self._numeric[1]

    def _codes(self, design: Design) -> np.ndarray:
        """Per cell (row) and design factor (column): the design column of the cell's level, -1 for the reference."""
        key = tuple(design.names)
        if key not in self._codes_cache:
            columns = []
            for factor in design.factors:
                lookup = {level: i for i, level in design.dummies[factor]}
                columns.append(self.cells[factor].map(lookup).fillna(-1).to_numpy(np.int64))
            if design.units:
                columns.append(self.cells[CLINIC].map(design.units).fillna(-1).to_numpy(np.int64))
            self._codes_cache[key] = (
                np.column_stack(columns) if columns else np.zeros((len(self.cells), 0), dtype=np.int64)
            )
        return self._codes_cache[key]

    def _ordinal_source(self, design: Design, beta, theta) -> str:
        """Patterns with each level's p, du, dl, gu, gl from the cumulative probabilities F_j.

        The F_j are materialised first: written as one nested expression, every use of a level's
        pieces would repeat the whole linear predictor, and the planners' cost grows with it.
        """
        m = len(theta)
        carried = ", ".join(
            ["cell", *(f"n{i}" for i in range(len(design.numeric))), *(f"c{j}" for j in range(m + 1))]
        )
        cum = ", ".join(f"1 / (1 + exp(-({lit(theta[j])} - eta))) as f{j + 1}" for j in range(m))
        stage = unique_name("cumulative")
        self.engine.materialise(
            stage, f"select {carried}, {cum} from ({self._with_eta(design, beta)}) as e", scratch=True
        )
        self._stages.append(stage)
        f = ["cast(0 as double)", *[f"f{j + 1}" for j in range(m)], "cast(1 as double)"]
        parts = []
        for j in range(m + 1):
            up, lo = f[j + 1], f[j]
            parts += [
                f"greatest({up} - {lo}, {TINY}) as p{j}",
                f"{up} * (1 - {up}) as du{j}",
                f"{lo} * (1 - {lo}) as dl{j}",
                f"{up} * (1 - {up}) * (1 - 2 * {up}) as gu{j}",
                f"{lo} * (1 - {lo}) * (1 - 2 * {lo}) as gl{j}",
            ]
        return f"(select *, {', '.join(parts)} from {stage})"

    def _step(self, design: Design, source: str, weights: dict[str, str]) -> StepSums:
        """A step's sums in two aggregations: the numeric pairs overall, and the rest per cell.

        Overall: ``Σ a·n_i·n_j`` (the numeric block of ``XᵀAX``). Per cell: each weight, and ``a``,
        ``b`` and the ``v*`` times each numeric column; the dummies' rows and columns of the matrix and
        vectors are sums of those cells (:meth:`_matrix`, :meth:`_vector`), done in Python on a few
        thousand rows.
        """
        q = len(design.numeric)
        numeric = [f"n{i}" for i in range(q)]
        weighted = ", ".join(f"{expr} as w_{name}" for name, expr in weights.items())
        rows = f"(select {', '.join(['cell', *numeric])}, {weighted} from {source} as s)"
        per_cell = []
        for name in weights:
            per_cell.append(f"sum(w_{name}) as {name}_")
            if name in ("a", "b") or name.startswith("v"):
                per_cell += [f"sum(w_{name} * n{i}) as {name}_{i}" for i in range(q)]
        try:
            cells = self.engine.frame(f"select cell, {', '.join(per_cell)} from {rows} as w group by cell")
            pairs = [(i, j) for i in range(q) for j in range(i, q)]
            products = (
                self.engine.frame(
                    "select "
                    + ", ".join(f"sum(w_a * n{i} * n{j}) as a_{i}_{j}" for i, j in pairs)
                    + f" from {rows} as w"
                ).iloc[0]
                if pairs
                else pd.Series(dtype=float)
            )
        finally:
            for name in self._stages:
                self.engine.drop(name)
            self._stages.clear()
        cell = cells["cell"].to_numpy(np.int64)
        return StepSums(cells.drop(columns="cell").astype(float), products.astype(float), cell)

    def _matrix(self, design: Design, sums: StepSums, w: str) -> np.ndarray:
        """``Σ w xxᵀ`` over the design columns, from the overall numeric pairs and the per-cell sums."""
        p = design.p
        numeric = np.array([i for i, _ in design.numeric], dtype=np.int64)
        q = len(numeric)
        out = np.zeros((p, p))
        for a in range(q):
            for b in range(a, q):
                out[numeric[a], numeric[b]] = out[numeric[b], numeric[a]] = sums.products[f"{w}_{a}_{b}"]
        codes = self._codes(design)[sums.cell]
        total = sums.cells[f"{w}_"].to_numpy()
        by_numeric = sums.cells[[f"{w}_{a}" for a in range(q)]].to_numpy()
        for f in range(codes.shape[1]):
            idx = codes[:, f]
            keep = idx >= 0
            block = np.zeros((p, q))
            np.add.at(block, idx[keep], by_numeric[keep])
            out[:, numeric] += block
            out[numeric, :] += block.T
            np.add.at(out, (idx[keep], idx[keep]), total[keep])
            for g in range(f + 1, codes.shape[1]):
                other = codes[:, g]
                both = keep & (other >= 0)
                np.add.at(out, (idx[both], other[both]), total[both])
                np.add.at(out, (other[both], idx[both]), total[both])
        return out

    def _vector(self, design: Design, sums: StepSums, w: str) -> np.ndarray:
        """``Σ w x`` over the design columns, from the per-cell sums."""
        out = np.zeros(design.p)
        numeric = [i for i, _ in design.numeric]
        if numeric:
            out[numeric] = sums.cells[[f"{w}_{a}" for a in range(len(numeric))]].to_numpy().sum(axis=0)
        codes = self._codes(design)[sums.cell]
        total = sums.cells[f"{w}_"].to_numpy()
        for f in range(codes.shape[1]):
            keep = codes[:, f] >= 0
            np.add.at(out, codes[keep, f], total[keep])
        return out

    # ------------------------------------------------------------------------------------- the meat
    def logit_meat(self, info, env, beta) -> np.ndarray:
        design = Design(info, env.namespace)
        rows = f"select *, y - 1 / (1 + exp(-eta)) as r from ({self._sessions_with_eta(design, beta)}) as e"
        return self._meat(design, rows, "r", {})

    def ordinal_meat(self, info, env, params) -> np.ndarray:
        design = Design(info, env.namespace, intercept=False)
        k = design.p
        theta = params[k:]
        m = len(theta)
        levels = list(self.y_levels)
        cum = ", ".join(f"1 / (1 + exp(-({lit(theta[j])} - eta))) as f{j + 1}" for j in range(m))
        upper = (
            "case "
            + " ".join(
                f"when y = {lv} then {'f' + str(j + 1) if j < m else 'cast(1 as double)'}"
                for j, lv in enumerate(levels)
            )
            + " end"
        )
        lower = (
            "case "
            + " ".join(
                f"when y = {lv} then {'f' + str(j) if j > 0 else 'cast(0 as double)'}"
                for j, lv in enumerate(levels)
            )
            + " end"
        )
        stage = unique_name("bounds")
        self.engine.materialise(
            stage,
            f"select *, {upper} as up, {lower} as lo from (select *, {cum} "
            f"from ({self._sessions_with_eta(design, params[:k])}) as e) as q",
            scratch=True,
        )
        self._stages.append(stage)
        rows = (
            f"select *, greatest(up - lo, {TINY}) as pr, up * (1 - up) as du, lo * (1 - lo) as dl, "
            f"case {' '.join(f'when y = {lv} then {j}' for j, lv in enumerate(levels))} end as y_level from {stage}"
        )
        thetas = {
            f"t{t}": f"(case when y_level = {t} then du / pr else 0 end - case when y_level = {t + 1} then dl / pr else 0 end)"
            for t in range(m)
        }
        return self._meat(design, rows, "(-(du - dl) / pr)", thetas)

    def _sessions_with_eta(self, design: Design, beta) -> str:
        """Each session's patient, outcome, cell, numeric design columns and ``eta`` (for the meat)."""
        name = self._offsets(design, beta)
        numeric = "".join(f", {sql} as n{j}" for j, (_, sql) in enumerate(design.numeric))
        joined = " and ".join(f"c.{col} = r.{col}" for col in self.columns)
        sessions = (
            f"select r.patient, r.y, c.cell, o.off{numeric} from {self.rows} as r "
            f"join {self.cell_table} as c on {joined} join {name} as o on o.cell = c.cell"
        )
        return f"select *, {_eta(design, beta)} as eta from ({sessions}) as s"

    def _meat(self, design: Design, rows: str, score: str, extra: dict[str, str]) -> np.ndarray:
        """``Σ_g s_g s_gᵀ`` over patients g, from per-patient and per patient × cell score sums.

        A patient's score is ``Σ score·x`` over her sessions. Its numeric entries (and ``extra``, the
        thresholds' scores) are per-patient sums; a dummy's entry is the sum of ``score`` over her
        sessions in cells with that level. So three aggregations give every entry: the products of
        the per-patient sums, each cell's ``score`` sum times its patients' sums, and the products of
        ``score`` sums of two cells of one patient. Python maps cells to design columns.
        """
        q = len(design.numeric)
        dense = [f"{score} * n{j}" for j in range(q)] + list(extra.values())
        names = [f"s{j}" for j in range(len(dense))]
        size = design.p + len(extra)
        index = np.array([i for i, _ in design.numeric] + list(range(design.p, size)), dtype=np.int64)
        per_cell = unique_name("scores")
        sums = ", ".join(f"sum({e}) as {n}" for n, e in zip(names, dense, strict=True))
        self.engine.materialise(
            per_cell,
            f"select patient, cell, sum({score}) as su, {sums} from ({rows}) as r group by patient, cell",
            scratch=True,
        )
        try:
            patient = f"(select patient, {', '.join(f'sum({n}) as {n}' for n in names)} from {per_cell} group by patient)"
            pairs = [(a, b) for a in range(len(names)) for b in range(a, len(names))]
            outer = self.engine.frame(
                "select "
                + ", ".join(f"sum({names[a]} * {names[b]}) as m_{a}_{b}" for a, b in pairs)
                + f" from {patient} as g"
            ).iloc[0]
            meat = np.zeros((size, size))
            for a, b in pairs:
                meat[index[a], index[b]] = meat[index[b], index[a]] = outer[f"m_{a}_{b}"]
            codes = self._codes(design)
            if codes.shape[1]:
                cross = self.engine.frame(
                    "select u.cell, "
                    + ", ".join(f"sum(u.su * g.{n}) as x_{a}" for a, n in enumerate(names))
                    + f" from {per_cell} as u join {patient} as g on g.patient = u.patient group by u.cell"
                )
                by_cell = cross[[f"x_{a}" for a in range(len(names))]].to_numpy(float)
                cell_codes = codes[cross["cell"].to_numpy(np.int64)]
                pair = self.engine.frame(
                    f"select a.cell as ca, b.cell as cb, sum(a.su * b.su) as m from {per_cell} as a "
                    f"join {per_cell} as b on a.patient = b.patient group by a.cell, b.cell"
                )
                first, second = (codes[pair[c].to_numpy(np.int64)] for c in ("ca", "cb"))
                products = pair["m"].to_numpy(float)
                for f in range(codes.shape[1]):
                    idx = cell_codes[:, f]
                    keep = idx >= 0
                    block = np.zeros((size, len(names)))
                    np.add.at(block, idx[keep], by_cell[keep])
                    meat[:, index] += block
                    meat[index, :] += block.T
                    for g in range(codes.shape[1]):
                        both = (first[:, f] >= 0) & (second[:, g] >= 0)
                        np.add.at(meat, (first[both, f], second[both, g]), products[both])
            return meat
        finally:
            for name in [per_cell, *self._stages]:
                self.engine.drop(name)
            self._stages.clear()


def _eta(design: Design, beta) -> str:
    """The linear predictor over a row with the numeric columns ``n0``… and the cell's offset ``off``."""
    return " + ".join([*(f"{lit(beta[i])} * n{j}" for j, (i, _) in enumerate(design.numeric)), "off"])
