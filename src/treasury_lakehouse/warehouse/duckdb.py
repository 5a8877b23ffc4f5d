"""The embedded warehouse: a DuckDB file built beside the old one and swapped in by rename.

A reader that opens the file sees the previous complete warehouse or the new one, never a mix.
The new file is either a full rebuild from the lake or, when the lake commits since the one the
file holds say what changed, a copy of the old file with only that rewritten
(:mod:`treasury_lakehouse.warehouse.duckdb_incremental`); both give the same rows.
The star schema (:mod:`treasury_lakehouse.warehouse.star`) is built inside the new file from the
silver tables just loaded, with the same SELECTs the PostgreSQL warehouse uses.
Tables the pipeline does not rebuild (run history such as ``quality_results``) are carried over,
and the quality reports kept in the lake that the old file lacks are added to the new file before
the swap. The temporary files of a load that crashed are removed by the next one (under the
warehouse lock: :func:`remove_leftovers`).
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb

from treasury_lakehouse.errors import WarehouseError
from treasury_lakehouse.lake.commit import LakeCommit
from treasury_lakehouse.lake.files import TMP_MARK, temporary_sibling
from treasury_lakehouse.paths import parquet_list_sql
from treasury_lakehouse.sql_quote import quote_ident as _q
from treasury_lakehouse.sql_quote import quote_literal as _lit
from treasury_lakehouse.warehouse.base import LoadResult, WarehouseTable
from treasury_lakehouse.warehouse.duckdb_ddl import (
    HISTORY_TABLES,
    define_table_sql,
    ensure_manifest,
)
from treasury_lakehouse.warehouse.duckdb_incremental import (
    FULL_REBUILD_SHARE,
    NotIncremental,
    apply_incremental,
    copy_file,
    plan_incremental,
)
from treasury_lakehouse.warehouse.quality_store import insert_missing_duckdb
from treasury_lakehouse.warehouse.star import create_star, star_tables_for

log = logging.getLogger(__name__)

#: history tables kept across loads (created by other parts of the pipeline)
CARRIED_OVER = HISTORY_TABLES


def remove_leftovers(path: Path) -> list[Path]:
    """Delete the ``<file>.tmp-*`` files (and their ``.wal``) of loads that crashed.

    Call only under the warehouse lock: a running load's temporary file looks the same.
    """
    removed = sorted(path.parent.glob(f"{path.name}{TMP_MARK}*")) if path.parent.is_dir() else []
    for leftover in removed:
        leftover.unlink(missing_ok=True)
    return removed


def _remove(database: Path) -> None:
    """Remove a database file that was not swapped in, and its WAL."""
    for leftover in (database, Path(f"{database}.wal")):
        leftover.unlink(missing_ok=True)


def _row_counts(con: duckdb.DuckDBPyConnection, tables: list[WarehouseTable]) -> dict[str, int]:
    """Rows of each lake table and star table in the file."""
    names = [t.name for t in tables] + [s.name for s in star_tables_for({t.name for t in tables})]
    return {
        name: int(con.execute(f"SELECT COUNT(*) FROM {_q(name)}").fetchall()[0][0])
        for name in names
    }


def _settle_wal(path: Path) -> None:
    """Write into ``path`` what its ``.wal`` holds (transactions committed by a process killed
    before its checkpoint, e.g. a quality sync), so the WAL goes with it: left beside the new file
    that replaces ``path``, it would make that file unopenable ("WAL does not match")."""
    if path.exists() and Path(f"{path}.wal").exists():
        with duckdb.connect(str(path)) as con:
            con.execute("CHECKPOINT")


class DuckDBWarehouse:
    kind = "duckdb"

    def __init__(
        self,
        path: Path,
        quality_lake: Path | None = None,
        full_rebuild_share: float = FULL_REBUILD_SHARE,
        incremental: bool = True,
    ) -> None:
        self.path = path
        #: the lake whose kept quality reports go into each new file (``None``: only carried over)
        self.quality_lake = quality_lake
        #: rebuild the whole file when more than this share of the silver data changed
        self.full_rebuild_share = full_rebuild_share
        #: False: always rebuild the whole file (loading another lake than the file's last one)
        self.incremental = incremental

    def publish(
        self, tables: list[WarehouseTable], run_id: str, commit: LakeCommit | None = None
    ) -> LoadResult:
        started = time.monotonic()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_sibling(self.path)
        try:
            _settle_wal(self.path)
            counts = self._incremental(tmp, tables, run_id, commit)
            incremental = counts is not None
            if counts is None:
                counts = self._full(tmp, tables, run_id, commit)
            log.debug("stage load swap")
            os.replace(tmp, self.path)
        except (duckdb.Error, OSError) as error:  # OSError: copying the file, the disk full
            raise WarehouseError(
                f"loading {self.path} failed, the published warehouse is unchanged: {error}"
            ) from error
        finally:
            _remove(tmp)
        return LoadResult(
            str(self.path), counts, time.monotonic() - started, incremental=incremental
        )

    def _full(
        self, tmp: Path, tables: list[WarehouseTable], run_id: str, commit: LakeCommit | None
    ) -> dict[str, int]:
        """Build every table from the lake into the new file ``tmp``."""
        log.debug("stage load build")
        with duckdb.connect(str(tmp)) as con:
            counts = {t.name: self._load_table(con, t) for t in tables}
            counts.update(create_star(con, set(counts)))
            self._carry_over(con)
            if self.quality_lake is not None:
                insert_missing_duckdb(con, self.quality_lake)
            self._record_load(con, tables, counts, run_id, commit, "full")
            con.execute("CHECKPOINT")
        return counts

    def _incremental(
        self, tmp: Path, tables: list[WarehouseTable], run_id: str, commit: LakeCommit | None
    ) -> dict[str, int] | None:
        """Copy the live file to ``tmp`` and rewrite there only what changed since the lake
        commit it holds; ``None`` (and no ``tmp``) when a full rebuild must be done instead."""
        if commit is None or not self.incremental:
            return None
        log.debug("stage load plan")
        try:
            plan = plan_incremental(self.path, tables, commit, self.full_rebuild_share)
        except NotIncremental as why:
            log.info("warehouse %s: full rebuild, %s", self.path, why.reason)
            return None
        log.info("warehouse %s: incremental load %s", self.path, plan.describe())
        log.debug("stage load copy")
        how = copy_file(self.path, tmp)
        log.debug("stage load apply (%s copy)", how)
        with duckdb.connect(str(tmp)) as con:
            con.execute("BEGIN")
            try:
                apply_incremental(con, tables, plan)
            except NotIncremental as why:
                con.execute("ROLLBACK")
                log.info("warehouse %s: full rebuild after all, %s", self.path, why.reason)
                con.close()
                _remove(tmp)
                return None
            if self.quality_lake is not None:
                insert_missing_duckdb(con, self.quality_lake)
            counts = _row_counts(con, tables)
            self._record_load(con, tables, counts, run_id, commit, "incremental")
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
        return counts

    def _load_table(self, con: duckdb.DuckDBPyConnection, table: WarehouseTable) -> int:
        for statement in define_table_sql(table):
            con.execute(statement)
        if table.files:
            files = parquet_list_sql(table.files)
            names = ", ".join(_q(c.name) for c in table.columns)
            con.execute(
                f"INSERT INTO {_q(table.name)} ({names}) SELECT {names} "
                f"FROM read_parquet({files}, hive_partitioning = true, union_by_name = true)"
            )
        row = con.execute(f"SELECT COUNT(*) FROM {_q(table.name)}").fetchone()
        return int(row[0]) if row else 0

    def _carry_over(self, con: duckdb.DuckDBPyConnection) -> None:
        if not self.path.exists():
            return
        try:
            con.execute(f"ATTACH {_lit(self.path)} AS previous (READ_ONLY)")
        except duckdb.Error as error:
            raise WarehouseError(
                f"the warehouse file {self.path} does not open ({' '.join(str(error).split())}); "
                "it can be rebuilt from the lake: `treasury repair` moves it aside, then "
                "`treasury load` (or `treasury run`) builds a new one"
            ) from error
        existing = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'previous'"
            ).fetchall()
        }
        for name in CARRIED_OVER:
            if name in existing:
                con.execute(f"CREATE TABLE {_q(name)} AS SELECT * FROM previous.{_q(name)}")
        con.execute("DETACH previous")

    def _record_load(
        self,
        con: duckdb.DuckDBPyConnection,
        tables: list[WarehouseTable],
        counts: dict[str, int],
        run_id: str,
        commit: LakeCommit | None,
        mode: Literal["full", "incremental"],
    ) -> None:
        ensure_manifest(con)
        now, seq = datetime.now(UTC), None if commit is None else commit.seq
        for table in tables:
            batches = list(table.build.get("bronze_batches", []))
            version = str(table.build.get("version", ""))
            written = None if mode == "incremental" else counts[table.name]
            con.execute(
                "INSERT INTO load_manifest (run_id, table_name, mode, row_count, rows_written, "
                "lake_version, bronze_batches, loaded_at, lake_commit) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, table.name, mode, counts[table.name], written, version, batches, now, seq],
            )

    def table_rows(self, name: str) -> list[tuple[Any, ...]]:
        if not self.path.exists():
            raise WarehouseError(f"no warehouse at {self.path}; run `treasury load` first")
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.execute(f"SELECT * FROM {_q(name)} ORDER BY ALL").fetchall()
