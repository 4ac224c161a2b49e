"""The SQL of the aggregate model fits: coding sessions as covariates, design columns, and the sums of a step.

Everything here builds SQL text in DuckDB's dialect from the product's own names and numbers (values
from the data, such as clinic ids, go in as quoted literals); :mod:`derma.lake.fitting` runs it.

A design (patsy's ``DesignInfo``) splits into *numeric* columns (intercept, settings, spline terms),
*dummies* of the small categoricals and the dummies of the *unit* (clinic, or clinician in the check).
A Newton step needs ``Σ a xxᵀ`` and ``Σ b x`` over covariate patterns for pattern weights ``a`` and
``b``; :mod:`derma.lake.sums` gets them from two aggregations (overall and per cell).
"""

from __future__ import annotations

import re

import numpy as np

from analysis.design import CLINIC, DIAMOND, SKIN_GROUPS, SPLINE_COLUMN

NUMERIC_SOURCES = ("vacuum_10kpa", "passes", "flow_10pct", "session_number")
FACTORS = ("skin_type", "indication", "treatment_area", "crystal_type", "pre_care", "side_effect")
DUMMY = re.compile(r"^(\w+)\[T\.(.*)\]$")


def lit(value) -> str:
    """A value as a DuckDB literal: text quoted (quotes doubled), numbers exactly (17 digits, as a double)."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    number = float(value)
    if not np.isfinite(number):
        raise ValueError(f"not a finite number: {number}")
    return f"{number:.17e}"


def coded_sessions(outcome: str, unit: str, direct: bool, where: str) -> str:
    """Sessions coded as ``analysis.design.code_covariates`` codes them, with the outcome, unit and patient.

    ``outcome`` is ``side_effects`` (y = any side effect, 0/1) or ``satisfaction`` (y = the rating);
    ``unit`` the SQL of the fixed-effect unit (clinic id, or clinic / clinician); ``direct`` adds the
    session's side-effect status; ``where`` restricts the sessions (scope). Rows whose covariates cannot
    be coded come out with a NULL covariate (the caller counts and leaves them out).
    """
    skin = " ".join(f"when {k} then {lit(v)}" for k, v in SKIN_GROUPS.items())
    y = "cast(any_side_effect as integer)" if outcome == "side_effects" else "cast(satisfaction as integer)"
    known = "any_side_effect is not null" if outcome == "side_effects" else "satisfaction is not null"
    status = (
        ", case when any_side_effect is null then 'not known' when any_side_effect then 'some' else 'none' end"
        " as side_effect"
        if direct
        else ""
    )
    return f"""
        select
            cast(vacuum_kpa as double) / cast(10 as double) as vacuum_10kpa,
            cast(passes as double) as passes,
            case when crystal_type = {lit(DIAMOND)} then cast(0 as double) else cast(particle_flow as double) end
                / cast(10 as double) as flow_10pct,
            cast(session_number as double) as session_number,
            case fitzpatrick {skin} end as skin_type,
            indication, treatment_area, crystal_type,
            case when pre_care_followed is null then 'not recorded' when pre_care_followed then 'followed'
                else 'skipped' end as pre_care,
            {unit} as {CLINIC}{status},
            {y} as y,
            patient_number(patient_key) as patient
        from sessions
        where {known} and ({where})"""


def usable(columns: list[str]) -> str:
    """The predicate of rows with every covariate coded (as ``code_covariates`` keeps them)."""
    return " and ".join(f"{c} is not null" for c in columns)


def mapped(column: str, merges: dict[str, str]) -> str:
    """A categorical column with merged levels renamed (``merges``: level -> merged name)."""
    if not merges:
        return column
    cases = " ".join(f"when {lit(a)} then {lit(b)}" for a, b in merges.items())
    return f"case {column} {cases} else {column} end"


class Design:
    """A fit's design columns as SQL: numeric expressions, dummies per factor, and the unit's dummies."""

    def __init__(self, info, env: dict, intercept: bool = True) -> None:
        names = list(info.column_names)
        self.names = names if intercept else names[1:]
        self.numeric: list[tuple[int, str]] = []  # (column index, SQL)
        self.dummies: dict[str, list[tuple[int, str]]] = {}  # factor -> [(column index, level)]
        self.units: dict[str, int] = {}  # unit level -> column index
        for i, name in enumerate(self.names):
            if name == "Intercept":
                self.numeric.append((i, "cast(1 as double)"))
            elif name in NUMERIC_SOURCES:
                self.numeric.append((i, name))
            elif match := SPLINE_COLUMN.match(name):
                variable, knots_name, j = match.group(1), match.group(2), int(match.group(3))
                self.numeric.append((i, spline_sql(variable, env[knots_name], j)))
            elif (match := DUMMY.match(name)) and match.group(1) == CLINIC:
                self.units[match.group(2)] = i
            elif match := DUMMY.match(name):
                self.dummies.setdefault(match.group(1), []).append((i, match.group(2)))
            else:
                raise ValueError(f"no SQL for the design column {name!r}")
        self.p = len(self.names)

    @property
    def factors(self) -> list[str]:
        return list(self.dummies)

    def eta(self, beta: np.ndarray, unit_term: str = "b_unit") -> str:
        """The linear predictor ``xβ`` of a row (the unit's part is the joined ``unit_term``)."""
        parts = [f"{lit(beta[i])} * ({sql})" for i, sql in self.numeric]
        for factor, columns in self.dummies.items():
            cases = " ".join(f"when {lit(level)} then {lit(beta[i])}" for i, level in columns)
            parts.append(f"(case {factor} {cases} else cast(0 as double) end)")
        if self.units:
            parts.append(unit_term)
        return " + ".join(parts) if parts else "cast(0 as double)"

    def unit_values(self, beta: np.ndarray) -> str:
        """A VALUES relation of each unit's coefficient (the reference unit has none: 0)."""
        rows = ", ".join(f"({lit(level)}, {lit(beta[i])})" for level, i in self.units.items())
        return f"select * from (values {rows}) as u(unit_level, b_unit)" if rows else ""

    def with_eta(self, source: str, beta: np.ndarray) -> str:
        """``source`` with its design's numeric columns (``n0``…) and ``eta``."""
        numeric = ", ".join(f"{sql} as n{k}" for k, (_, sql) in enumerate(self.numeric))
        numeric = f", {numeric}" if numeric else ""
        if self.units:
            join = f"left join ({self.unit_values(beta)}) as u on u.unit_level = s.{CLINIC}"
            return (
                f"select s.*{numeric}, {self.eta(beta, 'coalesce(u.b_unit, cast(0 as double))')} as eta "
                f"from {source} as s {join}"
            )
        return f"select s.*{numeric}, {self.eta(beta)} as eta from {source} as s"


def spline_sql(variable: str, knots, j: int) -> str:
    """Column ``j`` of Harrell's restricted cubic spline basis (``analysis.design.restricted_cubic_spline``)."""
    if j == 0:
        return variable
    t = [float(k) for k in knots]
    scale = (t[-1] - t[0]) ** 2
    i = j - 1

    def pos3(knot: float) -> str:
        return f"pow(greatest({variable} - {lit(knot)}, cast(0 as double)), 3)"

    return (
        f"(({pos3(t[i])} - {pos3(t[-2])} * {lit(t[-1] - t[i])} / {lit(t[-1] - t[-2])}"
        f" + {pos3(t[-1])} * {lit(t[-2] - t[i])} / {lit(t[-1] - t[-2])}) / {lit(scale)})"
    )
