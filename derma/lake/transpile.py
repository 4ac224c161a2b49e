"""The product's DuckDB SQL for other engines: one place for macros, parameters and DuckDB-isms.

Every query of the product is written once, in DuckDB's dialect (``queries/``, the warehouse macros of
``etl/schema.sql``). Another engine gets it through sqlglot's syntax tree:

1. ``$params`` become literals (values from ``queries.bind_params``; sqlglot quotes them for the target);
2. the warehouse's macros are inlined, scalar and table macros alike, until none is left; a macro an
   engine computes differently has a per-engine definition (:data:`SPARK_MACROS`);
3. the few DuckDB-isms sqlglot cannot know the meaning of are rewritten for Spark
   (:func:`_spark_rewrites`): ``list(x order by x)``, 1-based list indexing with a computed index,
   ``mode(x order by x)`` and ``arg_max`` over a row of values.

Anything sqlglot cannot express raises instead of being dropped silently.
"""

from __future__ import annotations

import datetime as dt
import functools
from importlib import resources

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import ErrorLevel
from sqlglot.generator import Generator as BaseGenerator
from sqlglot.generators.postgres import PostgresGenerator

Macros = dict[str, tuple[list[str], exp.Expr]]

#: Macros Spark computes with its own functions (the warehouse's definition reads a hex string as an
#: integer, which Spark's cast does not): the same number, written the way Spark can compute it.
SPARK_MACROS = {
    "patient_number": (["patient_key"], "cast(conv(left(md5(patient_key), 15), 16, 10) as bigint)"),
}


class TranspileError(ValueError):
    """A query uses something the target engine cannot run; the message names it."""


@functools.cache
def warehouse_macros() -> Macros:
    """The macros of ``etl/schema.sql`` (wilson_low, filtered_rows, patient_number, ...), parsed."""
    con = duckdb.connect()
    try:
        con.execute(resources.files("etl").joinpath("schema.sql").read_text(encoding="utf-8"))
        return duckdb_macros(con)
    finally:
        con.close()


def duckdb_macros(con: duckdb.DuckDBPyConnection) -> Macros:
    """The SQL macros defined in a DuckDB connection's current database: parameter names and parsed body."""
    rows = con.execute(
        "select function_name, parameters, macro_definition from duckdb_functions() "
        "where function_type in ('macro', 'table_macro') and database_name = current_database()"
    ).fetchall()
    return {name: (list(params), sqlglot.parse_one(body, read="duckdb")) for name, params, body in rows}


def literal(value: object) -> exp.Expr:
    """A Python value as a SQL literal on the syntax tree (quoted by the target dialect's generator)."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), "date")
    return exp.Literal.string(str(value))


def inline(sql: str, macros: Macros | None = None, params: dict | None = None) -> exp.Expr:
    """DuckDB SQL as a syntax tree with ``$params`` bound as literals and every macro call inlined."""
    macros = macros or {}
    params = params or {}

    def rewrite(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Placeholder):
            if node.name not in params:
                raise TranspileError(f"no value for the parameter ${node.name}")
            return literal(params[node.name])
        if (
            isinstance(node, exp.Table)
            and isinstance(node.this, exp.Anonymous)
            and node.this.name.lower() in macros
        ):
            return _table_macro(node, *macros[node.this.name.lower()])
        if isinstance(node, exp.Anonymous) and node.name.lower() in macros:
            names, body = macros[node.name.lower()]
            args = dict(zip(names, node.expressions, strict=True))
            return exp.paren(
                body.copy().transform(
                    lambda c: (
                        exp.paren(args[c.name].copy())
                        if isinstance(c, exp.Column) and not c.table and c.name in args
                        else c
                    )
                ),
                copy=False,
            )
        return node

    # Until nothing is left to inline: a macro's body may call other macros (cluster_wilson_low calls
    # design_effect and t975) and carries the call's $parameters with it.
    tree = sqlglot.parse_one(sql, read="duckdb")
    for _ in range(10):
        before = tree.sql()
        tree = tree.transform(rewrite)
        if tree.sql() == before:
            break
    return tree


def _table_macro(node: exp.Table, names: list[str], body: exp.Expr) -> exp.Expr:
    """A table macro call (``filtered_rows('monthly_outcomes', clinic_id := ...)``) as the subquery it stands for.

    Arguments are positional, then ``name := value``; a named argument left out is NULL (the macros'
    defaults). ``query_table(source)`` in the body becomes the table the call names.
    """
    call = node.this
    args: dict[str, exp.Expr] = {}
    for i, arg in enumerate(call.expressions):
        if isinstance(arg, exp.PropertyEQ):
            args[arg.this.name] = arg.expression
        else:
            args[names[i]] = arg
    args = {name: args.get(name, exp.Null()) for name in names}

    def inline_arg(child: exp.Expr) -> exp.Expr:
        if (
            isinstance(child, exp.Table)
            and isinstance(child.this, exp.Anonymous)
            and child.this.name == "query_table"
        ):
            source = args[child.this.expressions[0].name]
            return exp.Table(this=exp.to_identifier(source.name), alias=child.args.get("alias"))
        if isinstance(child, exp.Column) and not child.table and child.name in args:
            return exp.paren(args[child.name].copy())
        return child

    return exp.Subquery(this=body.copy().transform(inline_arg), alias=node.args.get("alias"))


def spark_macros(macros: Macros | None = None) -> Macros:
    """``macros`` (default: the warehouse's) with Spark's own definitions of :data:`SPARK_MACROS`."""
    out = dict(warehouse_macros() if macros is None else macros)
    for name, (names, body) in SPARK_MACROS.items():
        out[name] = (names, sqlglot.parse_one(body, read="spark"))
    return out


def to_spark(sql: str, macros: Macros | None = None, params: dict | None = None) -> str:
    """DuckDB SQL as Spark SQL: parameters bound, macros inlined, DuckDB-isms rewritten."""
    tree = inline(sql, spark_macros(macros), params)
    tree = tree.transform(_spark_rewrites)
    try:
        return tree.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
    except sqlglot.errors.UnsupportedError as exc:
        raise TranspileError(f"Spark cannot run this query: {exc}") from None


def _same(a: exp.Expr, b: exp.Expr) -> bool:
    return a.sql(dialect="duckdb") == b.sql(dialect="duckdb")


def _spark_rewrites(node: exp.Expr) -> exp.Expr:
    """What sqlglot writes wrong for Spark because it cannot know DuckDB's meaning."""
    # list(x order by x): Spark's collect_list takes no order; sorting the list by its values is the same.
    if isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Order):
        value, keys = node.this.this, node.this.expressions
        if len(keys) != 1 or not _same(keys[0].this, value) or keys[0].args.get("desc"):
            raise TranspileError(f"Spark has no ordered list(): {node.sql(dialect='duckdb')}")
        return exp.func("array_sort", exp.ArrayAgg(this=value.copy()), dialect="spark")
    # mode(x order by x): the smallest of the most frequent values, as Spark's deterministic mode().
    if isinstance(node, exp.Mode) and isinstance(node.this, exp.Order):
        value, keys = node.this.this, node.this.expressions
        if len(keys) != 1 or not _same(keys[0].this, value) or keys[0].args.get("desc"):
            raise TranspileError(f"Spark's mode() breaks ties by value only: {node.sql(dialect='duckdb')}")
        return exp.Anonymous(this="mode", expressions=[value.copy(), exp.true()])
    # arg_max(x, (a, b)): DuckDB compares the row of values; Spark compares a struct the same way.
    if isinstance(node, exp.ArgMax | exp.ArgMin) and isinstance(node.expression, exp.Tuple):
        node = node.copy()
        node.set("expression", exp.Struct(expressions=[e.copy() for e in node.expression.expressions]))
        return node
    # list[i]: DuckDB counts from 1; sqlglot shifts literal indexes only, element_at counts from 1.
    if isinstance(node, exp.Bracket) and len(node.expressions) == 1:
        index = node.expressions[0]
        if not isinstance(index, exp.Slice) and not (isinstance(index, exp.Literal) and index.is_string):
            return exp.Anonymous(this="element_at", expressions=[node.this.copy(), index.copy()])
    return node


class DataFusion(Postgres):
    """sqlglot's Postgres output with what DataFusion 55 accepts where Postgres has nothing.

    DuckDB's ``any_value`` skips NULLs, which sqlglot models as ``IGNORE NULLS``; Postgres has no such
    clause, so sqlglot drops it with a warning. DataFusion's ``any_value`` skips NULLs by itself (and
    refuses the clause), while its ``first_value``/``last_value``/``lag`` take the clause as DuckDB does.
    """

    class Generator(PostgresGenerator):
        def ignorenulls_sql(self, expression: exp.IgnoreNulls) -> str:
            if isinstance(expression.this, exp.AnyValue):
                return self.sql(expression.this)
            return BaseGenerator.ignorenulls_sql(self, expression)


def to_datafusion(sql: str, macros: Macros | None = None, params: dict | None = None) -> str:
    """DuckDB SQL as DataFusion runs it: parameters bound, macros inlined, sqlglot to :class:`DataFusion`.

    There is no DataFusion dialect in sqlglot 30: Postgres, plus the fix in :class:`DataFusion`.
    """
    tree = inline(sql, macros, params)
    return tree.sql(dialect=DataFusion, unsupported_level=ErrorLevel.RAISE)
