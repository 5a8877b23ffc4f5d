"""The Spark engine: the same silver and gold SQL as DuckDB, transpiled to Spark SQL by SQLGlot.

This is the only module (with :mod:`.spark_cluster`) that imports pyspark. It reads and writes the
lake layout of :mod:`.duckdb`: silver as Hive-style ``record_year=<year>/`` directories of plain
Parquet files, quarantine as one ``quarantine.parquet``, each gold table as ``<name>.parquet``.
Spark's directory outputs (``part-*`` files, ``_SUCCESS``, ``.crc``) are turned into those plain
files before the version is published, so the loaders cannot tell which engine wrote the lake.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import pyarrow.parquet as pq
import sqlglot
from py4j.protocol import Py4JError  # type: ignore[import-untyped]
from pyspark import StorageLevel
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from treasury_lakehouse.catalog import Dataset, get_dataset
from treasury_lakehouse.engines.base import (
    PARTITION_COLUMN,
    QUARANTINE_FILE,
    BronzeBatch,
    SilverCounts,
    batches_to_read,
    bronze_files,
    check_batches,
    partition_name,
)
from treasury_lakehouse.engines.gold import incremental_inputs, partitions_to_read
from treasury_lakehouse.engines.spark_connectors import (  # its own module: this one is long
    require_connector as require_connector,
)
from treasury_lakehouse.engines.spark_lake import SharedLake, glob_escaped
from treasury_lakehouse.errors import EngineError
from treasury_lakehouse.models.incremental import (
    PREVIOUS_GOLD,
    incremental_gold_sql,
    partitions_needed,
)
from treasury_lakehouse.models.registry import GoldModel
from treasury_lakehouse.models.silver import (
    SilverScope,
    carried_quarantine_sql,
    quarantine_columns,
    silver_columns,
    silver_sql,
    year_of,
)
from treasury_lakehouse.sql_quote import quote_spark_ident as _q

JAVA_HINT = (
    "the spark engine needs Java 17 (a JRE on PATH or JAVA_HOME set): install it with "
    "`apt-get install openjdk-17-jre-headless` (or your system's OpenJDK 17 package), "
    "or use --engine duckdb"
)

#: settings of every session; small shuffles for a laptop, exact Parquet types like DuckDB's
SPARK_CONF: Mapping[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.memory": "4g",
    "spark.executor.memory": "2g",
    "spark.sql.shuffle.partitions": "8",
    # the silver plan is wide: HotSpot never JIT-compiles a method over 8,000 bytes of bytecode,
    # so a bigger whole-stage-codegen method would run interpreted; let Spark split those stages
    "spark.sql.codegen.hugeMethodLimit": "8000",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.compression.codec": "zstd",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "true",
    "spark.pyspark.python": sys.executable,
}

_SPARK_FAILURES = (PySparkException, Py4JError)

#: the driver logs errors only (Spark's default prints its profile and INFO/WARN lines to stderr);
#: a PySpark driver counts as a shell, and a shell whose Spark loggers have no level of their own
#: prints "Setting default log level to WARN" and lets WARN through: hence the ``spark`` logger
LOG4J2_PROPERTIES = """\
rootLogger.level = error
logger.spark.name = org.apache.spark
logger.spark.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
"""


#: the ``batches`` relation the silver model joins (:data:`.base.BATCH_COLUMNS`)
BATCHES_SCHEMA = "batch_id STRING, seq BIGINT, window_start DATE, window_end DATE"


def _quiet_driver_logging(private_dir: Path) -> dict[str, str]:
    """Driver JVM options pointing log4j2 at :data:`LOG4J2_PROPERTIES`.

    The file goes in the engine's private directory (mode 0700, from :func:`tempfile.mkdtemp`):
    a file at a fixed name in the shared /tmp could be planted or swapped by another user.
    """
    path = private_dir / "log4j2.properties"
    path.write_text(LOG4J2_PROPERTIES)
    return {"spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{path}"}


def require_java() -> None:
    """Fail with install advice before pyspark tries (and fails obscurely) to start a JVM."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return
    if shutil.which("java") is None:
        raise EngineError(JAVA_HINT)


# --- SQL: one model, two dialects ------------------------------------------------------------


def _regex_end_of_text(tree: exp.Expr) -> exp.Expr:
    """Override: a pattern's final ``$`` becomes ``\\z`` on Spark.

    DuckDB (RE2) reads ``$`` as the end of the text; Java's regex also lets ``$`` match before a
    final line break, so ``'12\\n'`` would pass the ``CURRENCY0`` guard on Spark (whose casts
    then trim the line break) while DuckDB quarantines it. ``\\z`` is Java's end of the text.
    """
    for node in tree.find_all(exp.RegexpLike):
        pattern = node.expression
        if isinstance(pattern, exp.Literal) and pattern.is_string:
            text = pattern.this
            if text.endswith("$") and not text.endswith("\\$"):
                node.set("expression", exp.Literal.string(text[:-1] + "\\z"))
    return tree


@lru_cache(maxsize=64)
def to_spark_sql(duckdb_sql: str) -> str:
    """A DuckDB-dialect model as Spark SQL: SQLGlot's transpiler plus the overrides above."""
    try:
        tree = sqlglot.parse_one(duckdb_sql, read="duckdb")
        return _regex_end_of_text(tree).sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
    except SqlglotError as error:
        raise EngineError(f"spark: cannot transpile a model to Spark SQL: {error}") from error


# --- files: Spark's output directories as the lake's plain files ------------------------------


def _uri(path: Path) -> str:
    """An absolute ``file:`` path for Spark, unescaped (Hadoop reads ``%3D`` literally).

    Writers take it literally; a reader needs :func:`_read_uri`.
    """
    return f"file://{path.resolve()}"


def _read_uri(path: Path) -> str:
    """:func:`_uri` for ``DataFrameReader.parquet``, which expands every path as a Hadoop glob.

    Each glob character gets a backslash (Hadoop's escape), so a home named ``we[i]rd*?`` is read
    as itself, never as a pattern that matches nothing or another folder.
    """
    return glob_escaped(_uri(path))


def _remove_spark_markers(directory: Path) -> None:
    """Drop ``_SUCCESS`` and the ``.crc`` checksum files Spark writes beside its output."""
    for path in list(directory.rglob("*")):
        if path.is_file() and (path.name.startswith("_SUCCESS") or path.name.endswith(".crc")):
            path.unlink()


def _write_single_file(frame: DataFrame, target: Path) -> None:
    """Write ``frame`` (already one partition) as the single Parquet file ``target``."""
    staging = target.parent / f"_spark-{target.stem}"
    frame.write.mode("overwrite").parquet(_uri(staging))
    parts = sorted(staging.glob("part-*.parquet"))
    if len(parts) != 1:
        raise EngineError(f"spark: expected one output file in {staging}, found {len(parts)}")
    os.rename(parts[0], target)
    shutil.rmtree(staging)


def _write_partitioned(frame: DataFrame, directory: Path) -> None:
    """Write ``frame`` as ``directory/record_year=<year>/part-*.parquet`` plain files."""
    frame.write.mode("append").partitionBy(PARTITION_COLUMN).parquet(_uri(directory))
    _remove_spark_markers(directory)


#: the ``row_status`` values counted, in :class:`SilverCounts` order after ``rows_in``
_STATUSES = ("current", "superseded", "deleted", "quarantined")


def _first_line(error: BaseException) -> str:
    """Spark's messages carry a JVM stack trace after the first line."""
    text = str(error).strip()
    return text.splitlines()[0] if text else repr(error)


def _rows_in(file: Path) -> int:
    return int(pq.read_metadata(file).num_rows)


class SparkEngine:
    """Runs the models on Apache Spark: ``local[*]`` or a ``spark://host:port`` cluster.

    One session per engine, started on first use and stopped by :meth:`close`. A session this
    process already runs on the same master (the one ``spark-submit`` configured, see
    :mod:`treasury_lakehouse.jobs.spark_transform`) is used instead and left to its owner to stop;
    only runtime SQL settings of :data:`SPARK_CONF` apply to it.
    """

    name = "spark"

    def __init__(
        self,
        master: str = "local[*]",
        conf: Mapping[str, str] | None = None,
        shared: SharedLake | None = None,
    ) -> None:
        require_java()
        self.master = master
        #: a lake in a bucket whose URIs the executors get (:mod:`.spark_lake`); ``None``: the
        #: executors read and write the driver's files (local mode, or a lake in a folder)
        self.shared = shared
        self.private_dir = Path(tempfile.mkdtemp(prefix="treasury-spark-"))  # mode 0700
        # removed by close(), or when the engine is collected or the interpreter exits
        self._remove_private_dir = weakref.finalize(
            self, shutil.rmtree, self.private_dir, ignore_errors=True
        )
        self.conf = {**SPARK_CONF, **_quiet_driver_logging(self.private_dir), **(conf or {})}
        self._session: SparkSession | None = None
        self._owns_session = True

    @property
    def session(self) -> SparkSession:
        if self._session is None:
            self._session = self._start()
        return self._session

    def _start(self) -> SparkSession:
        active = SparkSession.getActiveSession()
        if active is not None and active.sparkContext.master != self.master:
            raise EngineError(
                f"spark: this process already runs a Spark session on "
                f"{active.sparkContext.master}; stop it before using {self.master}"
            )
        self._owns_session = active is None
        # the JVM pyspark launches inherits this: bind Spark's services to loopback only
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = SparkSession.builder.appName("treasury-lakehouse").master(self.master)
        for key, value in self.conf.items():
            builder = builder.config(key, value)
        try:
            session = builder.getOrCreate()
        except (*_SPARK_FAILURES, RuntimeError) as error:
            reason = _first_line(error)
            if "JAVA_GATEWAY_EXITED" in reason or "Java gateway" in reason:
                reason += f" (is the Java on PATH version 17 or later?); {JAVA_HINT}"
            raise EngineError(
                f"spark: cannot start a session on {self.master}: {reason}"
            ) from error
        session.sparkContext.setLogLevel("ERROR")
        if self.shared is not None:  # one line naming the missing jar, not a Java stack
            try:
                require_connector(session, self.shared.uri)
            except EngineError:
                if self._owns_session:  # never handed out, so close() would not stop it
                    session.stop()
                raise
        return session

    def close(self) -> None:
        try:
            if self.shared is not None and self._session is not None:
                self.shared.close()  # this run's staging objects in the bucket
        finally:
            try:
                if self._session is not None and self._owns_session:
                    self._session.stop()
                self._session = None
            finally:
                self._remove_private_dir()

    # --- where the executors read and write ----------------------------------------------

    def _read(self, path: Path) -> str:
        return self.shared.read_uri(path) if self.shared is not None else _read_uri(path)

    def _base(self, path: Path) -> str:
        return self.shared.base_uri(path) if self.shared is not None else _uri(path)

    def _write_file(self, frame: DataFrame, target: Path) -> None:
        if self.shared is not None:
            self.shared.write_single_file(frame, target)
        else:
            _write_single_file(frame, target)

    def _write_years(self, frame: DataFrame, directory: Path) -> None:
        if self.shared is not None:
            self.shared.write_partitioned(frame, directory, PARTITION_COLUMN)
        else:
            _write_partitioned(frame, directory)

    @contextmanager
    def _failures(self, what: str) -> Iterator[None]:
        try:
            yield
        except _SPARK_FAILURES as error:
            raise EngineError(f"spark: {what} failed: {_first_line(error)}") from error

    # --- silver ---------------------------------------------------------------------------

    def build_silver(
        self,
        dataset: Dataset,
        batches: list[BronzeBatch],
        silver_dir: Path,
        quarantine_dir: Path,
        scope: SilverScope | None = None,
    ) -> SilverCounts:
        check_batches(batches, dataset.name)
        with self._failures(f"silver model of {dataset.name}"):
            bronze = self.session.read.option("mergeSchema", "true").parquet(
                *(self._read(f) for f in bronze_files(batches_to_read(batches, scope)))
            )
            bronze.createOrReplaceTempView("bronze")
            rows = [b.row() for b in batches]
            self.session.createDataFrame(rows, BATCHES_SCHEMA).createOrReplaceTempView("batches")
            staged = self.session.sql(to_spark_sql(silver_sql(dataset, scope)))
            staged = staged.persist(StorageLevel.MEMORY_AND_DISK)
            try:
                counts = self._counts(dataset, staged)
                self._write_silver(dataset, staged, silver_dir, counts.silver)
                self._write_quarantine(dataset, staged, quarantine_dir, scope)
            finally:
                staged.unpersist()
                for view in ("bronze", "batches", "previous_quarantine"):
                    self.session.catalog.dropTempView(view)
        return counts

    def _counts(self, dataset: Dataset, staged: DataFrame) -> SilverCounts:
        rows = (
            staged.selectExpr(
                "batch_id", f"{year_of(_q(dataset.date_column))} AS year", "row_status", "batch_seq"
            )
            .groupBy("batch_id", "year")
            .agg(
                F.count(F.lit(1)),
                *(F.count_if(F.col("row_status") == status) for status in _STATUSES),
                F.max(F.col("batch_seq").isNull()),
            )
            .collect()
        )
        return SilverCounts.from_rows(dataset.name, rows)

    def _write_silver(
        self, dataset: Dataset, staged: DataFrame, silver_dir: Path, rows: int
    ) -> None:
        columns = [_q(c) for c in silver_columns(dataset)]
        kept = staged.where("row_status = 'current'")
        if rows:
            year = (
                f"CAST(EXTRACT(YEAR FROM {_q(dataset.date_column)}) AS INT) AS {PARTITION_COLUMN}"
            )
            by_year = kept.selectExpr(*columns, year).repartition(PARTITION_COLUMN)
            self._write_years(by_year, silver_dir)  # one file per year, like DuckDB's
        else:  # an empty table still has a schema readers can open (as DuckDB writes it)
            empty = silver_dir / partition_name(0)
            empty.mkdir()
            self._write_file(kept.selectExpr(*columns).repartition(1), empty / "empty.parquet")

    def _write_quarantine(
        self,
        dataset: Dataset,
        staged: DataFrame,
        quarantine_dir: Path,
        scope: SilverScope | None,
    ) -> None:
        raw = {c: f"{_q('raw_' + c)} AS {_q(c)}" for c in dataset.columns}
        built = staged.where("row_status = 'quarantined'").selectExpr(
            *(raw.get(c, _q(c)) for c in quarantine_columns(dataset)), "batch_seq"
        )
        if scope is not None and scope.previous_quarantine is not None:
            previous = self.session.read.parquet(self._read(scope.previous_quarantine))
            previous.createOrReplaceTempView("previous_quarantine")
            carried = self.session.sql(to_spark_sql(carried_quarantine_sql(dataset, scope)))
            built = built.unionByName(carried)
        quarantined = (
            built.repartition(1)
            .sortWithinPartitions("batch_seq", "page_number", "row_index")
            .drop("batch_seq")
        )
        self._write_file(quarantined, quarantine_dir / QUARANTINE_FILE)

    # --- gold -----------------------------------------------------------------------------

    def build_gold(
        self,
        model: GoldModel,
        silver_dirs: dict[str, Path],
        out_dir: Path,
        *,
        years: frozenset[int] | None = None,
        previous: Path | None = None,
    ) -> int:
        target = out_dir / f"{model.name}.parquet"
        incremental = incremental_inputs(years, previous)
        with self._failures(f"gold model {model.name}"):
            for table, directory in silver_dirs.items():
                if incremental:
                    self._register_silver_years(
                        table, directory, partitions_needed(model, incremental[0])
                    )
                else:
                    self._register_silver(table, directory)
            sql = model.sql
            if incremental:
                previous_file = self._read(incremental[1] / f"{model.name}.parquet")
                self.session.read.parquet(previous_file).createOrReplaceTempView(PREVIOUS_GOLD)
                sql = incremental_gold_sql(model, incremental[0])
            try:
                result = self.session.sql(to_spark_sql(sql))
                ordered = (
                    result.selectExpr(*(_q(c) for c in model.column_names))
                    .repartition(1)
                    .sortWithinPartitions(*model.primary_key)
                )
                self._write_file(ordered, target)
            finally:
                self.session.catalog.dropTempView(PREVIOUS_GOLD)
        return _rows_in(target)

    def _register_silver(self, table: str, directory: Path) -> None:
        dataset = get_dataset(table.removeprefix("silver_"))
        frame = self.session.read.parquet(self._read(directory))
        frame.selectExpr(*(_q(c) for c in silver_columns(dataset))).createOrReplaceTempView(table)

    def _register_silver_years(self, table: str, directory: Path, years: frozenset[int]) -> None:
        """:meth:`_register_silver` over the partitions of ``years`` only (others not read)."""
        dataset = get_dataset(table.removeprefix("silver_"))
        directories, has_rows = partitions_to_read(directory, years)
        reader = self.session.read.option("basePath", self._base(directory))
        frame = reader.parquet(*(self._read(d) for d in directories))
        if not has_rows:
            frame = frame.where("false")
        frame.selectExpr(*(_q(c) for c in silver_columns(dataset))).createOrReplaceTempView(table)
