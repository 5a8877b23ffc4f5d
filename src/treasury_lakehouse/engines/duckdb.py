"""The default engine: DuckDB in-process."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from treasury_lakehouse.catalog import Dataset
from treasury_lakehouse.config import Settings
from treasury_lakehouse.duckdb_connect import connect_duckdb, remove_spill_directory
from treasury_lakehouse.engines.base import (
    PARTITION_COLUMN,
    QUARANTINE_FILE,
    BronzeBatch,
    SilverCounts,
    batches_to_read,
    bronze_files,
    check_batches,
    partition_name,
    quarantine_scope,
)
from treasury_lakehouse.engines.gold import incremental_inputs, partitions_to_read
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
from treasury_lakehouse.paths import glob_escape, parquet_list_sql
from treasury_lakehouse.sql_quote import quote_ident as _q
from treasury_lakehouse.sql_quote import quote_literal as _lit

#: a build's scratch directory inside the new silver version, removed before it is published
ROWS_DIR = ".rows"


def rows_sql(dataset: Dataset, scope: SilverScope | None) -> str:
    """Every row of one silver build, partitioned by ``row_status`` and record year: a current
    row with the silver columns, any other row with only its ``batch_id`` (the rest NULL, so
    that it costs next to nothing to write) for the row accounting."""
    current = "CASE WHEN row_status = 'current' THEN {0} END AS {0}"
    columns = ", ".join(
        _q(c) if c == "batch_id" else current.format(_q(c)) for c in silver_columns(dataset)
    )
    return (
        f"SELECT {columns}, row_status, {year_of(_q(dataset.date_column))} AS {PARTITION_COLUMN} "
        f"FROM ({silver_sql(dataset, scope)}) AS built"
    )


def silver_view_sql(dataset: Dataset, silver_dir: Path) -> str:
    """A SELECT of a published silver table (the partition column left out)."""
    columns = ", ".join(_q(c) for c in silver_columns(dataset))
    glob = _lit(glob_escape(silver_dir) + "/**/*.parquet")
    return f"SELECT {columns} FROM read_parquet({glob}, hive_partitioning = true)"


def _failure(what: str, error: duckdb.Error) -> str:
    """One line: DuckDB's out-of-memory message spans several lines of tuning advice."""
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
    if isinstance(error, duckdb.OutOfMemoryException):
        return (
            f"duckdb: {what} ran out of memory ({first_line}); raise TREASURY_MEMORY_LIMIT "
            "(--memory-limit) or leave it unset"
        )
    return f"duckdb: {what} failed: {first_line}"


class DuckDBEngine:
    """Runs the models with an in-memory DuckDB connection over the lake's Parquet files.

    The connection honours the settings' memory limit and spills into a private folder under
    ``<home>/tmp``, removed by :meth:`close`. Without settings it keeps DuckDB's defaults.
    """

    name = "duckdb"

    def __init__(self, settings: Settings | None = None) -> None:
        self.spill_dir: Path | None = None
        if settings is None:
            self.con = duckdb.connect()
        else:
            self.con, self.spill_dir = connect_duckdb(settings)
        self.con.execute("SET preserve_insertion_order = false")

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            if self.spill_dir is not None:
                remove_spill_directory(self.spill_dir)

    def build_silver(
        self,
        dataset: Dataset,
        batches: list[BronzeBatch],
        silver_dir: Path,
        quarantine_dir: Path,
        scope: SilverScope | None = None,
    ) -> SilverCounts:
        """One streaming pass from bronze to silver (no table holds the build's rows), then the
        row accounting from what it wrote and quarantine from its own narrow query."""
        check_batches(batches, dataset.name)
        con = self.con
        rows_dir = silver_dir / ROWS_DIR
        try:
            self._bronze_view(batches_to_read(batches, scope))
            con.execute(
                "CREATE OR REPLACE TEMP TABLE batches "
                "(batch_id VARCHAR, seq BIGINT, window_start DATE, window_end DATE)"
            )
            con.executemany("INSERT INTO batches VALUES (?, ?, ?, ?)", [b.row() for b in batches])
            con.execute(
                f"COPY ({rows_sql(dataset, scope)}) TO {_lit(rows_dir)} (FORMAT PARQUET, "
                f"PARTITION_BY (row_status, {PARTITION_COLUMN}), COMPRESSION zstd)"
            )
            counts = self._counts(dataset, rows_dir, batches)
            self._publish_current(dataset, rows_dir, silver_dir, scope)
            self._write_quarantine(dataset, batches, quarantine_dir, scope, counts)
        except duckdb.Error as error:
            raise EngineError(_failure(f"silver model of {dataset.name}", error)) from error
        finally:
            shutil.rmtree(rows_dir, ignore_errors=True)
            con.execute("DROP VIEW IF EXISTS bronze")
            con.execute("DROP TABLE IF EXISTS batches")
        return counts

    def _bronze_view(self, batches: list[BronzeBatch]) -> None:
        files = parquet_list_sql(bronze_files(batches))
        self.con.execute(
            f"CREATE OR REPLACE TEMP VIEW bronze AS SELECT * FROM "
            f"read_parquet({files}, union_by_name = true)"
        )

    def _counts(self, dataset: Dataset, rows_dir: Path, batches: list[BronzeBatch]) -> SilverCounts:
        """The accounting per (batch, record year, status), read from the build's files (only
        their ``batch_id`` column and partition names)."""
        known = [b.batch_id for b in batches]
        if not any(rows_dir.glob("*/*/*.parquet")):
            return SilverCounts.from_status_rows(dataset.name, [], known)
        files = _lit(glob_escape(rows_dir) + "/*/*/*.parquet")
        rows = self.con.execute(
            f"SELECT batch_id, {PARTITION_COLUMN}, row_status, COUNT(*) FROM read_parquet("
            f"{files}, hive_partitioning = true, hive_types = "
            f"{{'row_status': VARCHAR, '{PARTITION_COLUMN}': INTEGER}}) GROUP BY ALL"
        ).fetchall()
        return SilverCounts.from_status_rows(dataset.name, rows, known)

    def _publish_current(
        self, dataset: Dataset, rows_dir: Path, silver_dir: Path, scope: SilverScope | None
    ) -> None:
        """Move the current rows' year directories into the version (no byte is rewritten)."""
        current = rows_dir / "row_status=current"
        years = sorted(current.glob(f"{PARTITION_COLUMN}=*")) if current.is_dir() else []
        for partition in years:
            partition.rename(silver_dir / partition.name)
        if not years:  # an empty table still has a schema readers can open
            columns = ", ".join(_q(c) for c in silver_columns(dataset))
            empty = silver_dir / partition_name(0)
            empty.mkdir()
            self.con.execute(
                f"COPY (SELECT {columns} FROM ({silver_sql(dataset, scope)}) AS built "
                f"WHERE false) TO {_lit(empty / 'empty.parquet')} (FORMAT PARQUET)"
            )

    def _write_quarantine(
        self,
        dataset: Dataset,
        batches: list[BronzeBatch],
        quarantine_dir: Path,
        scope: SilverScope | None,
        counts: SilverCounts,
    ) -> None:
        """Quarantine from its own query over only the years (and batches) that hold quarantined
        rows, plus, for an incremental build, the previous quarantine outside its years."""
        raw = {c: f"{_q('raw_' + c)} AS {_q(c)}" for c in dataset.columns}
        names = quarantine_columns(dataset)
        narrow = quarantine_scope(counts, scope)
        if narrow is not None:
            self._bronze_view(batches_to_read(batches, narrow))
        built = (
            f"SELECT {', '.join(raw.get(c, _q(c)) for c in names)}, batch_seq "
            f"FROM ({silver_sql(dataset, narrow)}) AS built "
            f"WHERE row_status = 'quarantined'{'' if narrow is not None else ' AND false'}"
        )
        if scope is not None and scope.previous_quarantine is not None:
            previous = _lit(glob_escape(scope.previous_quarantine))
            self.con.execute(
                f"CREATE OR REPLACE TEMP VIEW previous_quarantine AS "
                f"SELECT * FROM read_parquet({previous})"
            )
            built += f" UNION ALL ({carried_quarantine_sql(dataset, scope)})"
        self.con.execute(
            f"COPY (SELECT {', '.join(_q(c) for c in names)} FROM ({built}) "
            f"ORDER BY batch_seq, page_number, row_index) "
            f"TO {_lit(quarantine_dir / QUARANTINE_FILE)} (FORMAT PARQUET)"
        )

    def build_gold(
        self,
        model: GoldModel,
        silver_dirs: dict[str, Path],
        out_dir: Path,
        *,
        years: frozenset[int] | None = None,
        previous: Path | None = None,
    ) -> int:
        from treasury_lakehouse.catalog import get_dataset

        incremental = incremental_inputs(years, previous)
        try:
            for table, directory in silver_dirs.items():
                dataset = get_dataset(table.removeprefix("silver_"))
                source = (
                    _silver_years_sql(dataset, directory, partitions_needed(model, incremental[0]))
                    if incremental
                    else silver_view_sql(dataset, directory)
                )
                self.con.execute(f"CREATE OR REPLACE TEMP VIEW {_q(table)} AS {source}")
            sql = model.sql
            if incremental:
                previous_file = _lit(glob_escape(incremental[1] / f"{model.name}.parquet"))
                self.con.execute(
                    f"CREATE OR REPLACE TEMP VIEW {PREVIOUS_GOLD} AS "
                    f"SELECT * FROM read_parquet({previous_file})"
                )
                sql = incremental_gold_sql(model, incremental[0])
            columns = ", ".join(_q(c) for c in model.column_names)
            key = ", ".join(_q(c) for c in model.primary_key)
            target = _lit(out_dir / f"{model.name}.parquet")
            self.con.execute(
                f"COPY (SELECT {columns} FROM ({sql}) AS model ORDER BY {key}) "
                f"TO {target} (FORMAT PARQUET)"
            )
            written = _lit(glob_escape(out_dir / f"{model.name}.parquet"))
            row = self.con.execute(f"SELECT COUNT(*) FROM read_parquet({written})").fetchone()
        except duckdb.Error as error:
            raise EngineError(_failure(f"gold model {model.name}", error)) from error
        finally:
            self.con.execute(f"DROP VIEW IF EXISTS {PREVIOUS_GOLD}")
        return int(row[0]) if row else 0


def _silver_years_sql(dataset: Dataset, silver_dir: Path, years: frozenset[int]) -> str:
    """:func:`silver_view_sql` over the partitions of ``years`` only (the others are not read)."""
    directories, has_rows = partitions_to_read(silver_dir, years)
    columns = ", ".join(_q(c) for c in silver_columns(dataset))
    files = "[" + ", ".join(_lit(glob_escape(d) + "/*.parquet") for d in directories) + "]"
    where = "" if has_rows else " WHERE false"
    return f"SELECT {columns} FROM read_parquet({files}, hive_partitioning = true){where}"
