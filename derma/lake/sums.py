"""The fitters' questions answered by the engine: a Newton step's sums, and the sandwich's meat.

A step is two statements: the covariate patterns summed into cells (per unit and level of each
categorical in the design) with the products of the numeric columns, then the cells summed overall,
by each categorical and by each pair (:func:`derma.lake.model_sql.level_two`); Python assembles the
p × p matrix from those few hundred rows. The meat comes from per-patient sums of the row scores,
computed in the engine at the estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.design import CLINIC
from derma.lake.fitting import skeleton, unique_name
from derma.lake.model_sql import Design, cell_sums, level_two, lit

TINY = "cast(1e-300 as double)"


@dataclass
class EngineFitRows:
    """A model's covariate patterns (a temporary table) and its rows, for :mod:`analysis.sufficient`."""

    engine: object
    patterns: str
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
        source = f"(select *, 1 / (1 + exp(-eta)) as mu from ({design.with_eta(self.patterns, beta)}) as e)"
        sums = self._step(design, source, weights)
        matrix, vector = self._assemble(design, sums, "a"), self._vector(design, sums, "b")
        return float(sums.iloc[0]["ll_"]), vector, -matrix

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
        total = sums.iloc[0]
        hess = np.zeros((k + m, k + m))
        hess[:k, :k] = self._assemble(design, sums, "a")
        for t in range(m):
            hess[:k, k + t] = hess[k + t, :k] = self._vector(design, sums, f"v{t}")
            hess[k + t, k + t] = total[f"h{t}_"]
        for t in range(1, m):
            hess[k + t, k + t - 1] = hess[k + t - 1, k + t] = total[f"o{t}_"]
        grad = np.concatenate([self._vector(design, sums, "b"), [total[f"g{t}_"] for t in range(m)]])
        return float(total["ll_"]), grad, hess

    def _ordinal_source(self, design: Design, beta, theta) -> str:
        """Patterns with each level's p, du, dl, gu, gl from the cumulative probabilities F_j.

        The F_j are materialised first: written as one nested expression, every use of a level's
        pieces would repeat the whole linear predictor, and the planners' cost grows with it.
        """
        m = len(theta)
        keys = [*design.factors, *([CLINIC] if design.units else [])]
        carried = ", ".join(
            [*keys, *(f"n{i}" for i in range(len(design.numeric))), *(f"c{j}" for j in range(m + 1))]
        )
        cum = ", ".join(f"1 / (1 + exp(-({lit(theta[j])} - eta))) as f{j + 1}" for j in range(m))
        stage = unique_name("cumulative")
        self.engine.materialise(
            stage, f"select {carried}, {cum} from ({design.with_eta(self.patterns, beta)}) as e"
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

    def _step(self, design: Design, source: str, weights: dict[str, str]) -> pd.DataFrame:
        keys = [*design.factors, *([CLINIC] if design.units else [])]
        numeric = [f"n{i}" for i in range(len(design.numeric))]
        carried = ", ".join([*keys, *numeric])
        weighted = ", ".join(f"{expr} as w_{name}" for name, expr in weights.items())
        rows = f"(select {carried}{', ' if carried else ''}{weighted} from {source} as s)"
        exprs, columns = cell_sums(len(numeric), {name: f"w_{name}" for name in weights})
        sums = ", ".join(f"{e} as {n}" for e, n in zip(exprs, columns, strict=True))
        cells = unique_name("cells")
        group = f" group by {', '.join(keys)}" if keys else ""
        head = f"{', '.join(keys)}, " if keys else ""
        self.engine.materialise(cells, f"select {head}{sums} from {rows} as w{group}")
        try:
            return self.engine.frame(level_two(design, cells, columns))
        finally:
            for name in [cells, *self._stages]:
                self.engine.drop(name)
            self._stages.clear()

    def _index(self, design: Design, group: int, key):
        """The design column of a factor's (or the unit's) level, None for a reference level."""
        keys = [*design.factors, *([CLINIC] if design.units else [])]
        factor = keys[group - 1]
        if factor == CLINIC:
            return design.units.get(str(key))
        return dict((level, i) for i, level in design.dummies[factor]).get(str(key))

    def _pair_groups(self, design: Design) -> dict[int, tuple[int, int]]:
        keys = [*design.factors, *([CLINIC] if design.units else [])]
        out, pair = {}, len(keys)
        for i in range(len(keys)):
            for j in range(i + 1, len(keys)):
                pair += 1
                out[pair] = (i + 1, j + 1)
        return out

    def _assemble(self, design: Design, sums: pd.DataFrame, w: str) -> np.ndarray:
        """``Σ w xxᵀ`` over the design columns from the level-two sums."""
        p = design.p
        numeric = [i for i, _ in design.numeric]
        out = np.zeros((p, p))
        overall = sums[sums["grp"] == 0].iloc[0]
        for a, i in enumerate(numeric):
            for b in range(a, len(numeric)):
                out[i, numeric[b]] = out[numeric[b], i] = overall[f"{w}_{a}_{b}"]
        pairs = self._pair_groups(design)
        for row in sums[sums["grp"] > 0].itertuples(index=False):
            row = row._asdict()
            group = int(row["grp"])
            if group in pairs:
                g, h = pairs[group]
                ci, cj = self._index(design, g, row["k1"]), self._index(design, h, row["k2"])
                if ci is not None and cj is not None:
                    out[ci, cj] = out[cj, ci] = row[f"{w}_"]
                continue
            ci = self._index(design, group, row["k1"])
            if ci is None:
                continue
            out[ci, ci] = row[f"{w}_"]
            for a, i in enumerate(numeric):
                out[ci, i] = out[i, ci] = row[f"{w}_{a}"]
        return out

    def _vector(self, design: Design, sums: pd.DataFrame, w: str) -> np.ndarray:
        """``Σ w x`` over the design columns from the level-two sums."""
        out = np.zeros(design.p)
        overall = sums[sums["grp"] == 0].iloc[0]
        for a, (i, _) in enumerate(design.numeric):
            out[i] = overall[f"{w}_{a}"]
        pairs = self._pair_groups(design)
        for row in sums[(sums["grp"] > 0) & ~sums["grp"].isin(list(pairs))].itertuples(index=False):
            row = row._asdict()
            ci = self._index(design, int(row["grp"]), row["k1"])
            if ci is not None:
                out[ci] = row[f"{w}_"]
        return out

    # ------------------------------------------------------------------------------------- the meat
    def logit_meat(self, info, env, beta) -> np.ndarray:
        design = Design(info, env.namespace)
        score = "(y - 1 / (1 + exp(-eta)))"
        return self._meat(design, design.with_eta(f"{self.rows}", beta), score, {})

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
            f"select *, {upper} as up, {lower} as lo from (select *, {cum} from ({design.with_eta(self.rows, params[:k])}) as e) as q",
        )
        self._stages.append(stage)
        rows = f"select *, greatest(up - lo, {TINY}) as pr, up * (1 - up) as du, lo * (1 - lo) as dl from {stage}"
        level = "case " + " ".join(f"when y = {lv} then {j}" for j, lv in enumerate(levels)) + " end"
        thetas = {
            f"t{t}": f"(case when {level} = {t} then du / pr else 0 end - case when {level} = {t + 1} then dl / pr else 0 end)"
            for t in range(m)
        }
        return self._meat(design, rows, "(-(du - dl) / pr)", thetas)

    def _meat(self, design: Design, rows: str, score: str, extra: dict[str, str]) -> np.ndarray:
        """``Σ_g s_g s_gᵀ`` over patients g, from per-patient (and per patient × unit) score sums."""
        dense = [(i, f"{score} * ({sql})") for i, sql in design.numeric]
        for factor, columns in design.dummies.items():
            dense += [
                (i, f"case when {factor} = {lit(level)} then {score} else 0 end") for i, level in columns
            ]
        dense_names = [f"s{j}" for j in range(len(dense))] + list(extra)
        exprs = [e for _, e in dense] + list(extra.values())
        per_unit = unique_name("scores")
        select = ", ".join(f"sum({e}) as {n}" for n, e in zip(dense_names, exprs, strict=True))
        self.engine.materialise(
            per_unit,
            f"select patient, {CLINIC}, sum({score}) as su, {select} from ({rows}) as r group by patient, {CLINIC}",
        )
        try:
            patient = f"(select patient, {', '.join(f'sum({n}) as {n}' for n in dense_names)} from {per_unit} group by patient)"
            pairs = [(a, b) for a in range(len(dense_names)) for b in range(a, len(dense_names))]
            outer = self.engine.frame(
                "select "
                + ", ".join(f"sum({dense_names[a]} * {dense_names[b]}) as m_{a}_{b}" for a, b in pairs)
                + f" from {patient} as g"
            ).iloc[0]
            size = design.p + len(extra)
            index = [i for i, _ in dense] + list(range(design.p, size))
            meat = np.zeros((size, size))
            for a, b in pairs:
                meat[index[a], index[b]] = meat[index[b], index[a]] = outer[f"m_{a}_{b}"]
            if design.units:
                cross = self.engine.frame(
                    f"select u.{CLINIC} as unit, "
                    + ", ".join(f"sum(u.su * g.{n}) as x_{a}" for a, n in enumerate(dense_names))
                    + f" from {per_unit} as u join {patient} as g on g.patient = u.patient group by u.{CLINIC}"
                )
                for row in cross.itertuples(index=False):
                    row = row._asdict()
                    ci = design.units.get(str(row["unit"]))
                    if ci is None:
                        continue
                    for a in range(len(dense_names)):
                        meat[ci, index[a]] = meat[index[a], ci] = row[f"x_{a}"]
                units = self.engine.frame(
                    f"select a.{CLINIC} as ua, b.{CLINIC} as ub, sum(a.su * b.su) as m from {per_unit} as a "
                    f"join {per_unit} as b on a.patient = b.patient group by a.{CLINIC}, b.{CLINIC}"
                )
                for row in units.itertuples(index=False):
                    ci, cj = design.units.get(str(row.ua)), design.units.get(str(row.ub))
                    if ci is not None and cj is not None:
                        meat[ci, cj] = row.m
            return meat
        finally:
            for name in [per_unit, *self._stages]:
                self.engine.drop(name)
            self._stages.clear()
