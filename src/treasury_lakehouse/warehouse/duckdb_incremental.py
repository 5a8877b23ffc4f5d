"""Incremental loads of the embedded DuckDB warehouse: rewrite only what changed, on a copy.

The file records in ``load_manifest`` the lake commit it holds. When that commit's chain up to the
commit being published says what changed (:func:`~treasury_lakehouse.lake.commit.changes_between`),
a load copies the live file beside itself (:func:`copy_file`: a reflink where the file system
offers one), and inside one transaction on the copy

1. makes each changed silver table's rows of the changed record years equal to the lake's
   ``record_year=<Y>/`` partitions: deletes the rows the lake no longer has, inserts the new ones
   (most rows of a changed year are as they were, and every row written costs index upkeep),
2. replaces every row of the gold tables and ``revisions`` whose lake version changed; a row
   history appended to right on the version the file holds gets the rows of the record years it
   rewrote made equal to the lake's, like silver (any other changed history is replaced whole),
3. adds the dimension rows that the new silver rows bring (dimension rows never change in place:
   their keys are hashes of their values, ``dim_date`` rows are days of the calendar),
4. makes the facts of the changed record years equal to what the new silver gives, the same way,
5. checks that no dimension row went unused (a full rebuild would not have it, and DuckDB cannot
   delete a dimension row that facts referenced earlier in the same transaction: then the load
   becomes a full rebuild);

then records the load, checkpoints and is swapped in by rename like a full rebuild. Readers see the
old file or the new one, never a mix; a crash leaves the old file published. Anything the plan
cannot vouch for (no file yet, no recorded commit, a broken commit chain, tables the file holds
for another commit, changed definitions or comments, most of the data changed) means a full
rebuild, whose result the incremental one equals row for row.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
from pathlib import Path

import duckdb

from treasury_lakehouse.lake.commit import LakeCommit
from treasury_lakehouse.models.registry import Column
from treasury_lakehouse.paths import parquet_list_sql
from treasury_lakehouse.sql_quote import quote_ident as _q
from treasury_lakehouse.warehouse.base import WarehouseTable
from treasury_lakehouse.warehouse.changes import (
    FULL_REBUILD_SHARE,
    IncrementalPlan,
    NotIncremental,
    date_column,
    plan_changes,
    single_commit,
    year_files,
    year_filter,
    years_of,
)
from treasury_lakehouse.warehouse.duckdb_ddl import definitions, expected_definitions
from treasury_lakehouse.warehouse.star import (
    CALENDAR,
    DIM_DATE,
    StarTable,
    calendar_for,
    sql_over_rows,
    star_tables_for,
)

__all__ = ["FULL_REBUILD_SHARE", "IncrementalPlan", "NotIncremental", "apply_incremental",
           "copy_file", "plan_incremental"]  # fmt: skip

log = logging.getLogger(__name__)

#: Linux ``FICLONE`` ioctl: share the source's blocks (btrfs, XFS), ``cp --reflink`` does the same
_FICLONE = 0x40049409


# ---------------------------------------------------------------- planning


def plan_incremental(
    path: Path, tables: list[WarehouseTable], commit: LakeCommit, max_share: float
) -> IncrementalPlan:
    """The incremental load of ``commit`` into the file ``path``; :class:`NotIncremental` if
    only a full rebuild is safe or cheaper."""
    if not path.exists():
        raise NotIncremental("no warehouse file yet")
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            since, recorded = _last_load(con)
            if definitions(con) != expected_definitions(tables):
                raise NotIncremental("the table definitions (or comments) changed")
    except duckdb.Error as error:
        raise NotIncremental(f"the file cannot be read ({' '.join(str(error).split())})") from None
    return plan_changes(tables, commit, since, recorded, max_share)


def _last_load(con: duckdb.DuckDBPyConnection) -> tuple[int, dict[str, str]]:
    """The lake commit of the file's latest load and the lake version of each table it loaded."""
    try:
        rows = con.execute(
            "SELECT table_name, lake_version, lake_commit FROM load_manifest "
            "WHERE loaded_at = (SELECT MAX(loaded_at) FROM load_manifest)"
        ).fetchall()
    except duckdb.CatalogException:  # no load_manifest, or one written before lake_commit
        raise NotIncremental("the file records no lake commit") from None
    return single_commit(rows)


# ---------------------------------------------------------------- applying


def apply_incremental(
    con: duckdb.DuckDBPyConnection, tables: list[WarehouseTable], plan: IncrementalPlan
) -> None:
    """Rewrite the plan's rows inside the caller's open transaction on a copy of the file.

    Within the changed years only the rows that differ are deleted and inserted: every row
    written costs index maintenance, and most rows of a changed year are as they were.
    """
    by_name = {t.name: t for t in tables}
    touched = [s for s in star_tables_for(set(by_name)) if set(s.sources) & plan.years.keys()]
    facts = [s for s in touched if s.foreign_keys]
    dimensions = [s for s in touched if not s.foreign_keys]
    for name, years in plan.years.items():
        table = by_name[name]
        where = year_filter(date_column(name), years)
        files = year_files(table, years)
        _apply_difference(con, name, table.columns, _parquet_sql(table, files, where), where)
    for name, history_years in plan.history.items():
        table = by_name[name]
        where = year_filter(date_column(name), history_years)
        files = year_files(table, history_years)
        _apply_difference(con, name, table.columns, _parquet_sql(table, files, where), where)
    for name in plan.gold:
        table = by_name[name]
        con.execute(f"DELETE FROM {_q(name)}")
        if table.files:
            _insert(con, name, table.columns, _parquet_sql(table, table.files, "true"))
    # the star rows that the rewritten silver rows give
    changed = {name: year_filter(date_column(name), years) for name, years in plan.years.items()}
    con.register(CALENDAR, calendar_for(con, set(by_name)))
    try:
        for dimension in dimensions:  # before the facts that reference them
            names = _names(dimension.columns)
            given = f"SELECT {names} FROM ({sql_over_rows(dimension, changed)}) AS given"
            _insert(con, dimension.name, dimension.columns, given, except_present="true")
        for fact in facts:
            # a fact row of day d reads its sources' rows of day d alone: every source is read
            # over the years any of them changed (fact_debt_limit joins two silver tables)
            years = years_of(fact, plan)
            over = {s: year_filter(date_column(s), years) for s in fact.sources}
            given = f"SELECT {_names(fact.columns)} FROM ({sql_over_rows(fact, over)}) AS given"
            _apply_difference(
                con, fact.name, fact.columns, given, year_filter("record_date", years)
            )
        for dimension in dimensions:
            _require_no_stale_rows(con, dimension, facts)
    finally:
        con.unregister(CALENDAR)


def _names(columns: tuple[Column, ...]) -> str:
    return ", ".join(_q(c.name) for c in columns)


def _parquet_sql(table: WarehouseTable, files: tuple[Path, ...], where: str) -> str:
    """The rows of those Parquet files of ``table`` that meet ``where`` (none without files)."""
    if not files:
        return f"SELECT * FROM {_q(table.name)} WHERE false"
    listed = parquet_list_sql(files)
    return (
        f"SELECT {_names(table.columns)} FROM read_parquet({listed}, hive_partitioning = true, "
        f"union_by_name = true) WHERE {where}"
    )


def _insert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: tuple[Column, ...],
    rows: str,
    except_present: str | None = None,
) -> None:
    """Insert ``rows``; with ``except_present``, only those not among the table's rows that
    meet that condition."""
    names = _names(columns)
    if except_present is not None:
        rows = f"{rows} EXCEPT SELECT {names} FROM {_q(table)} WHERE {except_present}"
    con.execute(f"INSERT INTO {_q(table)} ({names}) {rows}")


def _apply_difference(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: tuple[Column, ...],
    wanted: str,
    where: str,
) -> None:
    """Make the rows of ``table`` that meet ``where`` equal to ``wanted``: delete those it no
    longer has, insert those that are new (rows are unique: every table has a key)."""
    # typed like the table, so values compare as a full load would have stored them
    con.execute(f"CREATE TEMP TABLE wanted AS SELECT * FROM {_q(table)} WHERE false")
    _insert(con, "wanted", columns, wanted)
    same = " AND ".join(
        f"w.{_q(c.name)} IS NOT DISTINCT FROM {_q(table)}.{_q(c.name)}" for c in columns
    )
    con.execute(
        f"DELETE FROM {_q(table)} WHERE {where} "
        f"AND NOT EXISTS (SELECT 1 FROM wanted AS w WHERE {same})"
    )
    _insert(con, table, columns, f"SELECT {_names(columns)} FROM wanted", where)
    con.execute("DROP TABLE wanted")  # (a failed statement aborts the transaction, and it with it)


def _require_no_stale_rows(
    con: duckdb.DuckDBPyConnection, dimension: StarTable, facts: list[StarTable]
) -> None:
    """Raise :class:`NotIncremental` if a full rebuild would not have some row of ``dimension``
    (DuckDB cannot delete a row that facts referenced earlier in the same transaction)."""
    if dimension.name == DIM_DATE.name:  # every day from the first to the last record date
        names = ", ".join(_q(c.name) for c in dimension.columns)
        stale_sql = f"SELECT {names} FROM {_q(dimension.name)} EXCEPT {DIM_DATE.sql}"
    else:  # exactly the keys its facts reference (the facts have one row per silver row)
        referencing = [
            f"SELECT {_q(fk.column)} FROM {_q(fact.name)}"
            for fact in facts
            for fk in fact.foreign_keys
            if fk.table == dimension.name
        ]
        stale_sql = (
            f"SELECT {_q(dimension.primary_key[0])} FROM {_q(dimension.name)} "
            f"EXCEPT ({' UNION ALL '.join(referencing)})"
        )
    stale = con.execute(f"SELECT COUNT(*) FROM ({stale_sql})").fetchall()[0][0]
    if stale:
        raise NotIncremental(f"{dimension.name} loses {stale} rows")


# ---------------------------------------------------------------- copying the file


def copy_file(source: Path, target: Path) -> str:
    """Copy ``source`` to the new file ``target``: a reflink (shared blocks) where the file system
    can, else ``copy_file_range`` (copied inside the kernel), else a plain copy. Returns which."""
    with open(source, "rb") as src, open(target, "xb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
            return "reflink"
        except OSError:
            pass
        size, copied = os.fstat(src.fileno()).st_size, 0
        try:
            while copied < size:
                done = os.copy_file_range(src.fileno(), dst.fileno(), size - copied)
                if done == 0:
                    break
                copied += done
            if copied == size:
                return "copy_file_range"
        except OSError as error:
            if error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
        src.seek(0)
        dst.seek(0)
        dst.truncate()
        shutil.copyfileobj(src, dst, 16 * 2**20)
        return "copy"
