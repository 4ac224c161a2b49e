"""Every mart of ``queries/marts/`` built from a lake's sessions on an engine, and written back into the lake."""

from __future__ import annotations

import decimal
import shutil
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp

from derma.lake.engines import FLOAT_TYPES, INTEGER_TYPES, open_engine
from derma.lake.layout import (
    READ_AS,
    Lake,
    LakeTable,
    clear_leftovers,
    describe_table,
    locked,
    replace_tables,
    staging_folder,
    tidy,
)
from etl.batch import software_version
from etl.export import EXTRA_TABLES, PARTITION_COLUMN
from etl.marts import marts_fingerprint
from queries import list_queries


@dataclass(frozen=True)
class MartSummary:
    """A built mart: its rows and the sum of every numeric column (integers exact), computed by the engine."""

    name: str
    rows: int
    sums: dict

    def to_dict(self) -> dict:
        return {"name": self.name, "rows": self.rows, "sums": self.sums}


@dataclass(frozen=True)
class LakeMarts:
    engine: str
    lake: Path
    marts: tuple[MartSummary, ...]

    def to_dict(self) -> dict:
        return {"engine": self.engine, "lake": str(self.lake), "marts": [m.to_dict() for m in self.marts]}


def referenced_tables(sql: str) -> set[str]:
    """The tables and views a query reads (its own CTEs left out)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    return {t.name for t in tree.find_all(exp.Table) if t.name and t.name not in ctes}


def register_inputs(engine, lake: Lake) -> None:
    """The lake's input tables in the engine, under the names the marts read, and the staging views on them."""
    names = set()
    for name in EXTRA_TABLES:
        if name in lake.manifest["tables"]:
            engine.register(READ_AS.get(name, name), lake.table(name))
            names.add(READ_AS.get(name, name))
    for query in list_queries("staging"):
        if referenced_tables(query.sql) <= names:  # stg_model_runs reads model results, not in a lake
            engine.view(query.name, query.sql)


def build_lake_marts(
    lake_path: Path | str, engine_name: str, master: str | None = None, memory_limit: str | None = None
) -> LakeMarts:
    """Build every mart from the lake's sessions on ``engine_name`` and put them into the lake.

    The marts are written beside the lake and swapped in whole when all are built; the manifest then
    says which engine built them. Each mart's rows and column sums are computed by the same engine
    from the files it wrote.
    """
    lake = Lake.open(lake_path)
    with locked(lake):
        clear_leftovers(lake)
        engine = open_engine(engine_name, master, memory_limit)
        staged = staging_folder(lake)
        try:
            register_inputs(engine, lake)
            entries, summaries = {}, []
            for query in list_queries("marts"):
                folder = staged / query.name
                columns = engine.columns(query.sql)
                partition = (PARTITION_COLUMN,) if PARTITION_COLUMN in columns else ()
                engine.write(query.sql, folder, partition)
                tidy(folder)
                entry = describe_table(folder, staged, partition)
                entries[query.name] = entry
                summaries.append(summarise(engine, query.name, folder, entry))
            built_by = {
                "engine": engine.name,
                "marts_fingerprint": marts_fingerprint(),
                "software_version": software_version(),
            }
            replace_tables(lake, staged, entries, built_by)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        finally:
            engine.close()
    return LakeMarts(engine.name, lake.path, tuple(summaries))


def summarise(engine, name: str, folder: Path, entry: dict) -> MartSummary:
    """Rows and numeric column sums of a written mart, read back from its files by the engine."""
    columns = tuple((c["name"], c["type"]) for c in entry["columns"])
    files = tuple(sorted(folder.rglob("*.parquet")))
    view = f"_built_{name}"
    engine.register(view, LakeTable(view, folder, columns, tuple(entry["partition_by"]), files))
    sums = []
    for column, kind in columns:
        if kind in INTEGER_TYPES:
            sums.append((column, f'sum(cast("{column}" as decimal(38, 0)))'))
        elif kind in FLOAT_TYPES or kind.startswith("DECIMAL"):
            sums.append((column, f'sum(cast("{column}" as double))'))
    select = ", ".join(["count(*) as n_rows", *(f'{e} as "s_{i}"' for i, (_, e) in enumerate(sums))])
    row = engine.frame(f'select {select} from "{view}"').iloc[0]
    values = {column: _plain(row[f"s_{i}"]) for i, (column, _) in enumerate(sums)}
    return MartSummary(name, int(row["n_rows"]), values)


def _plain(value):
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, decimal.Decimal):
        return int(value)
    if hasattr(value, "item"):
        value = value.item()
    return float(value) if isinstance(value, float) else int(value) if isinstance(value, int) else value
