"""The engines the product runs on beyond its warehouse: DuckDB (one machine) and Spark (a cluster).

Both take the product's SQL in DuckDB's dialect (Spark's through :mod:`derma.lake.transpile`) and offer
the same few operations: register a lake table, define a view, materialise a temporary table, return a
small result as a frame, write a result as hive-partitioned Parquet. Everything the lake's marts and the
aggregate model fits do goes through these, so one code path serves both engines.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from derma.lake.layout import LakeError, LakeTable, quoted

ENGINES = ("duckdb", "spark")
#: Spark's defaults for one machine: its cores, a small heap, few shuffle partitions.
SPARK_MASTER = "local[2]"
SPARK_MEMORY = "1g"
#: The most Parquet one scan task reads. Spark's default (128 MB) put the 10M lake's 137 MB of sessions
#: into about five partitions; a cached table's partition is one block, and reading a block of about two
#: million coded sessions back from disk into the 1 GB heap failed (``OutOfMemoryError`` in
#: ``maybeCacheDiskBytesInMemory``). Smaller scans keep the blocks of tables read from the lake small; a
#: group-by's output is still one block per shuffle partition, hence :meth:`SparkEngine.materialise`
#: caching on disk only (``bench/README.md``).
SPARK_SPLIT = "16m"
#: Rows per Arrow batch when a result is streamed into Python (``batches``): about 10-50 MB a batch.
BATCH_ROWS = 1_000_000
INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER"}
INTEGER_TYPES |= {"UBIGINT", "UHUGEINT"}
FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}
#: Types Parquet cannot hold as integers (DuckDB would write DOUBLE): written as BIGINT, as the export does.
NARROWED = {"HUGEINT": "BIGINT", "UHUGEINT": "UBIGINT"}


class EngineError(RuntimeError):
    """An engine cannot start or run a statement; the message says which engine and why, in one line."""


def open_engine(
    name: str, master: str | None = None, memory_limit: str | None = None, result_dir: Path | None = None
):
    """A :class:`DuckDBEngine` or :class:`SparkEngine` (``master``: a Spark master URL, default ``local[2]``).

    ``result_dir`` is the folder in which Spark's executors write, in a hidden folder of their own that is
    removed afterwards, the results Python reads back: on a cluster, storage the driver shares with them
    (the lake's models use the folder the lake is in); the driver's temporary folder by default.
    """
    if name == "duckdb":
        if master:
            raise EngineError("--master names a Spark cluster; DuckDB runs in this process")
        return DuckDBEngine(memory_limit=memory_limit)
    if name == "spark":
        return SparkEngine(master or SPARK_MASTER, result_dir=result_dir)
    raise EngineError(f"unknown engine '{name}' (engines: {', '.join(ENGINES)})")


def macro_statements() -> list[str]:
    """The ``create macro`` statements of ``etl/schema.sql`` (the warehouse's shared SQL definitions)."""
    ddl = resources.files("etl").joinpath("schema.sql").read_text(encoding="utf-8")
    return [s.query for s in duckdb.extract_statements(ddl) if " macro " in s.query.lower()]


class DuckDBEngine:
    """A DuckDB with the warehouse's macros, over lake Parquet or an attached warehouse snapshot.

    Its database is a file in a private folder (mode 0700) of the engine's own, removed by :meth:`close`
    with everything in it. The tables a fit reads at every step (:meth:`materialise`) are stored there,
    compressed: DuckDB drops their pages from memory when it needs the room and reads them back, where a
    table held in memory is written to a spill file again each time it is evicted (a 10M refresh wrote
    0.6× as much this way, ``bench/README.md``). What does not fit in ``memory_limit`` spills into the same
    folder (DuckDB's default would be ``.tmp`` in the working directory, readable by everyone);
    ``temp_directory`` names another folder for the spill.
    """

    name = "duckdb"

    def __init__(
        self, memory_limit: str | None = None, threads: int | None = None, temp_directory: str | None = None
    ) -> None:
        config = {"memory_limit": memory_limit} if memory_limit else {}
        if threads:
            config["threads"] = threads
        self._folder = tempfile.mkdtemp(prefix="derma-engine-")
        config["temp_directory"] = temp_directory or self._folder
        self.con = duckdb.connect(str(Path(self._folder) / "engine.duckdb"), config=config)
        self.made: list[str] = []
        self.con.execute("set enable_progress_bar = false")
        for statement in macro_statements():
            self.con.execute(statement)

    @classmethod
    def over_snapshot(
        cls, path: Path, memory_limit: str | None = None, temp_directory: str | None = None
    ) -> DuckDBEngine:
        """An engine whose ``sessions`` is a published warehouse snapshot's, attached read-only."""
        engine = cls(memory_limit=memory_limit, temp_directory=temp_directory)
        engine.con.execute(f"attach {quoted(path)} as wh (read_only)")
        engine.con.execute("create view sessions as select * from wh.sessions")
        return engine

    def register(self, name: str, table: LakeTable) -> None:
        if not table.files:
            columns = ", ".join(f'cast(null as {t}) as "{c}"' for c, t in table.columns)
            self.con.execute(f'create or replace view "{name}" as select {columns} where false')
            return
        files = "[" + ", ".join(quoted(f) for f in table.files) + "]"
        options = ""
        if table.partition_by:
            types = ", ".join(f"{quoted(c)}: 'VARCHAR'" for c in table.partition_by)
            options = f", hive_partitioning = true, hive_types = {{{types}}}"
        self.con.execute(f'create or replace view "{name}" as select * from read_parquet({files}{options})')

    def view(self, name: str, sql: str) -> None:
        self.con.execute(f'create or replace view "{name}" as\n{sql}')

    def materialise(self, name: str, sql: str, *, scratch: bool = False) -> None:
        """The result of ``sql`` as a table, stored in the engine's file; with ``scratch`` (a small table,
        or a step's staging that is read once or twice and dropped) held in memory as a temporary table."""
        self.con.execute(f'create or replace {"temp " if scratch else ""}table "{name}" as\n{sql}')
        self.made.append(name)

    def put(self, name: str, frame: pd.DataFrame) -> None:
        """A small frame from Python as a temporary table (a Newton step's coefficient per cell)."""
        self.con.register("_put_frame", frame)
        try:
            self.con.execute(f'create or replace temp table "{name}" as select * from _put_frame')
        finally:
            self.con.unregister("_put_frame")
        self.made.append(name)

    def drop(self, name: str) -> None:
        self.con.execute(f'drop table if exists "{name}"')

    def frame(self, sql: str) -> pd.DataFrame:
        try:
            return self.con.sql(sql).to_arrow_table().to_pandas()
        except duckdb.Error as exc:
            raise EngineError(f"duckdb: {str(exc).splitlines()[0]}") from None

    def batches(self, sql: str, rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """The result as Arrow record batches, streamed: only one batch of it is in Python at a time."""
        try:
            reader = self.con.sql(sql).to_arrow_reader(rows)
            yield from reader
        except duckdb.Error as exc:
            raise EngineError(f"duckdb: {str(exc).splitlines()[0]}") from None

    def types(self, sql: str) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.con.execute(f"describe {sql}").fetchall()]

    def columns(self, sql: str) -> list[str]:
        return [name for name, _ in self.types(sql)]

    def write(self, sql: str, folder: Path, partition_by: tuple[str, ...]) -> None:
        columns = self.types(sql)
        select = ", ".join(
            f'cast("{n}" as {NARROWED[t]}) as "{n}"' if t in NARROWED else f'"{n}"' for n, t in columns
        )
        source = f"select {select} from ({sql})"
        if partition_by:
            keys = ", ".join(f'"{c}"' for c in partition_by)
            self.con.execute(
                f"copy ({source}) to {quoted(folder)} (format parquet, compression zstd, partition_by ({keys}))"
            )
            folder.mkdir(exist_ok=True)  # an empty result writes no partition
        else:
            folder.mkdir()
            self.con.execute(
                f"copy ({source}) to {quoted(folder / 'data_0.parquet')} (format parquet, compression zstd)"
            )

    def close(self) -> None:
        self.con.close()
        shutil.rmtree(self._folder, ignore_errors=True)


class SparkEngine:
    """A Spark session (local or a cluster's master URL); SQL is transpiled from DuckDB's dialect.

    Reuses a running session of the process (the test suite's) and stops only one it started.
    """

    name = "spark"

    def __init__(self, master: str = SPARK_MASTER, result_dir: Path | None = None) -> None:
        self._result_dir = result_dir
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise EngineError("the Spark engine needs PySpark: pip install 'pyspark>=4.0,<4.4'") from None
        self._started = SparkSession.getActiveSession() is None
        try:
            self.spark = spark_session(master)
        except Exception as exc:  # noqa: BLE001 - Java missing, a master that does not answer: one line
            raise EngineError(f"cannot start Spark ({master}): {str(exc).strip().splitlines()[0]}") from None
        self._cached: dict[str, object] = {}
        self.made: list[str] = []

    def _sql(self, sql: str):
        from derma.lake.transpile import to_spark

        try:
            return self.spark.sql(to_spark(sql))
        except Exception as exc:  # noqa: BLE001 - Spark's analysis errors: one line naming the problem
            raise EngineError(f"spark: {str(exc).strip().splitlines()[0]}") from None

    def register(self, name: str, table: LakeTable) -> None:
        if table.files:
            frame = self.spark.read.option("basePath", str(table.path)).parquet(
                *[str(f) for f in table.files]
            )
        else:
            frame = self.spark.createDataFrame([], spark_schema(table.columns))
        frame.createOrReplaceTempView(name)

    def view(self, name: str, sql: str) -> None:
        self._sql(sql).createOrReplaceTempView(name)

    def columns(self, sql: str) -> list[str]:
        return list(self._sql(sql).columns)

    def materialise(self, name: str, sql: str, *, scratch: bool = False) -> None:  # noqa: ARG002 - the same call as DuckDB
        """The result of ``sql`` cached on the executors' disks (``scratch`` or not).

        On disk only, read back as a stream: with memory as well, a block that had gone to disk was read
        back into the heap whole to be cached there again, and at 10M sessions (the patterns' table in
        eight blocks of 1M rows) that ran the 1 GB heap out (``bench/README.md``). The operating
        system's page cache keeps the blocks a Newton step reads again close at hand.
        """
        from pyspark import StorageLevel

        self.drop(name)
        frame = self._sql(sql).persist(StorageLevel.DISK_ONLY)
        frame.count()
        frame.createOrReplaceTempView(name)
        self._cached[name] = frame
        self.made.append(name)

    def put(self, name: str, frame: pd.DataFrame) -> None:
        """A small frame from Python as a temporary view (Spark broadcasts it in a join)."""
        self.drop(name)
        self.spark.createDataFrame(frame).createOrReplaceTempView(name)
        self.made.append(name)

    def drop(self, name: str) -> None:
        frame = self._cached.pop(name, None)
        if frame is not None:
            frame.unpersist()
        self.spark.catalog.dropTempView(name)

    def frame(self, sql: str) -> pd.DataFrame:
        frame = self._sql(sql)
        try:
            return frame.toArrow().to_pandas()
        except Exception as exc:  # noqa: BLE001
            raise EngineError(f"spark: {str(exc).strip().splitlines()[0]}") from None

    def batches(self, sql: str, rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """The result as Arrow record batches, handed over through Parquet rather than collected.

        The executors write the result into a private folder under ``result_dir`` and Python reads
        it back a batch at a time, so neither the driver's heap nor Python holds it whole (collecting
        the funnels' columns of 10M sessions with ``toArrow`` ran the 1 GB driver out of heap). The part
        files are read in their partitions' order, the order ``toArrow`` gives.
        """
        import pyarrow.dataset as ds

        folder = Path(tempfile.mkdtemp(prefix=".derma-result-", dir=self._result_dir))
        try:
            self._write_parquet(self._sql(sql), folder / "result", (), "a result for Python", one_file=False)
            parts = sorted((folder / "result").glob("part-*.parquet"))
            if parts:
                yield from ds.dataset([str(p) for p in parts], format="parquet").to_batches(batch_size=rows)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def write(self, sql: str, folder: Path, partition_by: tuple[str, ...]) -> None:
        self._write_parquet(self._sql(sql), folder, partition_by, folder.name, one_file=not partition_by)
        folder.mkdir(exist_ok=True)

    @staticmethod
    def _write_parquet(
        frame, folder: Path, partition_by: tuple[str, ...], what: str, *, one_file: bool
    ) -> None:
        from pyspark.sql import functions as F
        from pyspark.sql.types import TimestampType

        # Timestamps are written without a time zone, as the warehouse holds them (the session is in UTC).
        for field in frame.schema.fields:
            if isinstance(field.dataType, TimestampType):
                frame = frame.withColumn(field.name, F.col(field.name).cast("timestamp_ntz"))
        writer = (frame.coalesce(1) if one_file else frame).write.option("compression", "zstd")
        try:
            writer.partitionBy(*partition_by).parquet(str(folder))
        except Exception as exc:  # noqa: BLE001
            raise EngineError(f"spark cannot write {what}: {str(exc).strip().splitlines()[0]}") from None

    def close(self) -> None:
        for name in list(self._cached):
            self.drop(name)
        if self._started:
            self.spark.stop()


def spark_session(master: str):
    """The process's Spark session, started quiet and small when there is none."""
    from pyspark.sql import SparkSession

    # PySpark warns about pandas 3 on import; it hands us Arrow tables, which pandas then reads itself.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    log4j = resources.files("derma.lake").joinpath("log4j2.properties")
    builder = (
        SparkSession.builder.master(master)
        .appName("derma-outcomes")
        .config("spark.driver.memory", SPARK_MEMORY)
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log4j}")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.files.maxPartitionBytes", SPARK_SPLIT)
        .config("spark.sql.session.timeZone", "UTC")
        # clinic ids such as "01" stay text: the lake's partition values are strings.
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
    )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


SPARK_TYPES = {
    "VARCHAR": "string",
    "BIGINT": "bigint",
    "INTEGER": "int",
    "DOUBLE": "double",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp_ntz",
    "VARCHAR[]": "array<string>",
}


def spark_schema(columns: tuple[tuple[str, str], ...]) -> str:
    """A DDL schema for an empty lake table from its manifest's DuckDB types."""
    try:
        return ", ".join(f"`{name}` {SPARK_TYPES[kind]}" for name, kind in columns)
    except KeyError as exc:
        raise LakeError(f"no Spark type for the lake's column type {exc}") from None


@contextlib.contextmanager
def scratch(engine):
    """Drop the temporary tables materialised inside the block when it ends."""
    start = len(engine.made)
    try:
        yield engine
    finally:
        for name in engine.made[start:]:
            engine.drop(name)
        del engine.made[start:]
