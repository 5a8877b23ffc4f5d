"""The plan of a PostgreSQL load made from what the lake says changed, reading only that.

A database whose latest load published lake commit ``since`` holds, per table, the slices that
commit gave (``treasury_load.published_slices``). When the commit chain from ``since`` says
what changed (:func:`~treasury_lakehouse.warehouse.changes.plan_changes`), only these can
differ, and only they are read from the lake and summarised:

- a changed silver table's rows of the record years it rewrote (its ``record_year=<Y>/`` files),
- an appended row history's rewritten years, and every row of a replaced gold table,
- the fact rows those silver rows give (a fact row of day *d* reads its sources' rows of day *d*),
- ``dim_date``'s months whose days change (the calendar spans the first to the last record date,
  found in the first and last year partitions),
- ``dim_security`` and ``dim_account``: the published rows and the ones the new silver rows bring.
  A dimension row that only rows of the changed years used, and that they no longer use, would
  leave it: then the plan is not made (:class:`NotIncremental`) and the caller plans from every
  row of the lake, as it does when anything else cannot be vouched for (a table new or redefined,
  a pruned or unknown commit, a silver table rebuilt whole).

The slices found are compared with the published ones of the same range; the table's row count
and checksum follow from the published ones (:func:`adjust_checksum`). A 10M-row history with one
new day reads thousands of rows instead of every row of the lake (docs/performance.md).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
from psycopg import sql

from treasury_lakehouse.engines.base import PARTITION_COLUMN
from treasury_lakehouse.lake.commit import LakeCommit
from treasury_lakehouse.paths import parquet_list_sql
from treasury_lakehouse.sql_quote import quote_ident as _q
from treasury_lakehouse.warehouse import pg_ddl
from treasury_lakehouse.warehouse.base import WarehouseTable, is_silver_table
from treasury_lakehouse.warehouse.changes import (
    IncrementalPlan,
    NotIncremental,
    changed_years,
    date_column,
    plan_changes,
    single_commit,
    year_filter,
    years_of,
)
from treasury_lakehouse.warehouse.lake_snapshot import (
    CHECKSUM_PREFIX,
    LakeSnapshot,
    adjust_checksum,
    slice_filter_sql,
)
from treasury_lakehouse.warehouse.pg_ddl import LOAD_STATE, PUBLIC, ident
from treasury_lakehouse.warehouse.pg_state import TablePlan
from treasury_lakehouse.warehouse.star import DIM_DATE, STAR, calendar_days, star_tables_for
from treasury_lakehouse.warehouse.star.sql import DSL, OCB, PDT

log = logging.getLogger(__name__)

#: the silver tables whose record dates the calendar (``dim_date``) spans
_CALENDAR_SOURCES = (PDT, OCB, DSL)


def plan_from_changes(
    con: psycopg.Connection[Any],
    tables: list[WarehouseTable],
    commit: LakeCommit,
    full_reload_ratio: float,
) -> tuple[LakeSnapshot, list[TablePlan]]:
    """The snapshot of what changed since the database's latest load, and one plan per table;
    :class:`NotIncremental` when only a plan from every row of the lake is safe."""
    since, recorded = _last_load(con)
    # however much changed, reading only that is never more than reading every row
    changes = plan_changes(tables, commit, since, recorded, max_share=1.0)
    changed_years(changes)  # every rewritten year known
    lake = {t.name: t for t in tables}
    star = star_tables_for(set(lake))
    published = _published(con)
    for table in [*tables, *(s.warehouse_table(lake) for s in star)]:
        prior = published.get(table.name)
        if prior is None or prior[0] != pg_ddl.definition_hash(table):
            raise NotIncremental(f"{table.name} is new to the database or redefined")
        if not prior[1].startswith(CHECKSUM_PREFIX):
            raise NotIncremental(f"{table.name} was published by an earlier release")
    calendar, months = None, frozenset[int]()
    if any(s.name == DIM_DATE.name for s in star):
        calendar, months = _calendar(con, tables)
    snapshot = LakeSnapshot(tables, changes, calendar)
    try:
        _complete_dimensions(con, snapshot, changes)
        plans = [
            _table_plan(
                con, snapshot, table, _domain(table, changes, months), published, full_reload_ratio
            )
            for table in snapshot.tables
        ]
    except BaseException:
        snapshot.close()
        raise
    log.info("PostgreSQL load planned from the lake's changes: %s", changes.describe())
    return snapshot, plans


def _last_load(con: psycopg.Connection[Any]) -> tuple[int, dict[str, str]]:
    try:
        rows = con.execute(
            sql.SQL(
                "SELECT table_name, lake_version, lake_commit FROM {0} "
                "WHERE loaded_at = (SELECT MAX(loaded_at) FROM {0})"
            ).format(ident(PUBLIC, "load_manifest"))
        ).fetchall()
    except psycopg.Error as error:
        raise NotIncremental(f"load_manifest cannot be read ({error})") from None
    return single_commit(rows)


def _published(con: psycopg.Connection[Any]) -> dict[str, tuple[str, str, int]]:
    """Table → (definition hash, checksum, rows) of what is published in ``public``."""
    rows = con.execute(
        sql.SQL(
            "SELECT p.table_name, p.definition_hash, p.checksum, "
            "(SELECT COALESCE(SUM(s.row_count), 0) FROM {} AS s "
            " WHERE s.table_name = p.table_name) "
            "FROM {} AS p JOIN pg_tables AS t ON t.tablename = p.table_name "
            "AND t.schemaname = %s"
        ).format(ident(LOAD_STATE, "published_slices"), ident(LOAD_STATE, "published_tables")),
        (PUBLIC,),
    ).fetchall()
    return {str(r[0]): (str(r[1]), str(r[2]), int(r[3])) for r in rows}


# ---------------------------------------------------------------- what each table can change in

#: a domain: ``None`` every slice; a frozenset of record years; or ("months", slices)
Domain = None | frozenset[int] | tuple[str, frozenset[int]]
_UNCHANGED: Domain = frozenset()


def _domain(table: WarehouseTable, changes: IncrementalPlan, months: frozenset[int]) -> Domain:
    """The slices of ``table`` that can differ from what is published."""
    name = table.name
    if is_silver_table(name):
        return changes.years.get(name) or _UNCHANGED
    if name in changes.history:
        return changes.history[name]
    if name in changes.gold:
        return None
    star = STAR.get(name)
    if star is None or not table.build.get("star"):
        return _UNCHANGED
    if star.name == DIM_DATE.name:
        return ("months", months) if months else _UNCHANGED
    years = years_of(star, changes)
    if not years:
        return _UNCHANGED
    return years if star.foreign_keys else None  # a fact by year, a dimension whole


def _published_condition(domain: Domain) -> tuple[str, list[Any]]:
    if domain is None:
        return "true", []
    if isinstance(domain, tuple):
        return "slice = ANY(%s)", [sorted(domain[1])]
    ranges = " OR ".join(
        f"(slice >= {y * 100} AND slice < {y * 100 + 100})" for y in sorted(domain)
    )
    return f"({ranges})", []


def _table_plan(
    con: psycopg.Connection[Any],
    snapshot: LakeSnapshot,
    table: WarehouseTable,
    domain: Domain,
    published: dict[str, tuple[str, str, int]],
    full_reload_ratio: float,
) -> TablePlan:
    definition, checksum, rows = published[table.name]
    if domain == _UNCHANGED:
        return TablePlan(table, {}, "unchanged", definition, checksum, rows_elsewhere=rows)
    where = "true"
    if is_silver_table(table.name) and isinstance(domain, frozenset):
        where = year_filter(date_column(table.name), domain)
    new = snapshot.slice_stats(table, where)
    condition, params = _published_condition(domain)
    old = {
        int(r[0]): (int(r[1]), str(r[2]))
        for r in con.execute(
            sql.SQL(
                "SELECT slice, row_count, checksum FROM {} WHERE table_name = %s AND " + condition
            ).format(ident(LOAD_STATE, "published_slices")),
            [table.name, *params],
        ).fetchall()
    }
    changed = sorted(
        s
        for s in old.keys() | new.keys()
        if old.get(s) != ((new[s].rows, new[s].checksum) if s in new else None)
    )
    plan = TablePlan(
        table,
        new,
        "incremental" if changed else "unchanged",
        definition,
        adjust_checksum(
            checksum,
            {s: old[s] for s in changed if s in old},
            {s: new[s] for s in changed if s in new},
        ),
        changed,
        rows_elsewhere=rows - sum(r for r, _ in old.values()),
    )
    cost = sum(new[s].rows for s in changed if s in new) + sum(
        old[s][0] for s in changed if s in old
    )
    if cost > full_reload_ratio * max(plan.rows + rows, 1):
        if domain is not None:
            raise NotIncremental(f"most of {table.name} changed")
        plan.mode = "full"
    return plan


# ---------------------------------------------------------------- the calendar


def _calendar(
    con: psycopg.Connection[Any], tables: list[WarehouseTable]
) -> tuple[pa.Table, frozenset[int]]:
    """The ``dim_date`` rows of the months whose days change, and those months (``YYYYMM``)."""
    row = con.execute(
        sql.SQL("SELECT MIN(calendar_date), MAX(calendar_date) FROM {}").format(
            ident(PUBLIC, DIM_DATE.name)
        )
    ).fetchone()
    new_first, new_last = _record_date_range(tables)
    if row is None or row[0] is None or new_first is None or new_last is None:
        raise NotIncremental("the calendar was or becomes empty")
    months = changed_months((row[0], row[1]), (new_first, new_last))
    pieces = []
    for key in sorted(months):
        first = date(key // 100, key % 100, 1)
        last = date(first.year + first.month // 12, first.month % 12 + 1, 1) - timedelta(days=1)
        span = _clip(first, last, new_first, new_last)
        if span is not None:
            pieces.append(calendar_days(*span))
    rows = pa.concat_tables(pieces) if pieces else calendar_days(None, None)
    return rows, months


def changed_months(old: tuple[date, date], new: tuple[date, date]) -> frozenset[int]:
    """The months (``YYYYMM``) whose days within ``old`` (first, last) differ from those within
    ``new``: only months at the ends of either range can."""
    months: set[int] = set()
    for lo, hi in ((old[0], new[0]), (old[1], new[1])):
        month = date(min(lo, hi).year, min(lo, hi).month, 1)
        while month <= max(lo, hi):
            after = date(month.year + month.month // 12, month.month % 12 + 1, 1)
            last = after - timedelta(days=1)
            if _clip(month, last, *old) != _clip(month, last, *new):
                months.add(month.year * 100 + month.month)
            month = after
    return frozenset(months)


def _clip(first: date, last: date, lo: date, hi: date) -> tuple[date, date] | None:
    a, b = max(first, lo), min(last, hi)
    return (a, b) if a <= b else None


def _record_date_range(tables: list[WarehouseTable]) -> tuple[date | None, date | None]:
    """The first and last record date of the calendar's silver tables, read from their first
    and last year partitions only."""
    firsts: list[date] = []
    lasts: list[date] = []
    with duckdb.connect() as duck:
        for table in tables:
            if table.name not in _CALENDAR_SOURCES or not table.files:
                continue
            by_year: dict[int, list[Path]] = defaultdict(list)
            for file in table.files:
                part = file.parent.name
                if not part.startswith(f"{PARTITION_COLUMN}="):
                    raise NotIncremental(f"{table.name} is not partitioned by record year")
                by_year[int(part.split("=", 1)[1])].append(file)
            for years, pick, found in ((min(by_year), "MIN", firsts), (max(by_year), "MAX", lasts)):
                listed = parquet_list_sql(by_year[years])
                value = duck.execute(
                    f"SELECT {pick}(CAST(record_date AS DATE)) FROM read_parquet({listed}, "
                    "hive_partitioning = true, union_by_name = true)"
                ).fetchall()[0][0]
                if value is not None:
                    found.append(value)
    return (min(firsts) if firsts else None, max(lasts) if lasts else None)


# ---------------------------------------------------------------- dimensions


def _complete_dimensions(
    con: psycopg.Connection[Any], snapshot: LakeSnapshot, changes: IncrementalPlan
) -> None:
    """Make each changed dimension's snapshot table its whole new content: the published rows
    and those the new silver rows bring (rows never change in place: keys hash the values)."""
    present = {t.name for t in snapshot.tables}
    star = [STAR[n] for n in present if n in STAR]
    for dimension in star:
        if dimension.foreign_keys or dimension.name == DIM_DATE.name:
            continue
        if not years_of(dimension, changes):
            continue
        _require_no_lost_rows(con, snapshot, dimension.name, star, changes)
        columns = [c.name for c in dimension.columns]
        rows = con.execute(
            sql.SQL("SELECT {} FROM {}").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                ident(PUBLIC, dimension.name),
            )
        ).fetchall()
        if not rows:
            continue
        published = pa.Table.from_pylist([dict(zip(columns, r, strict=True)) for r in rows])
        snapshot.con.register("published_rows", published)
        names = ", ".join(_q(c) for c in columns)
        snapshot.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_q(dimension.name)} AS "
            f"SELECT {names} FROM {_q(dimension.name)} UNION "
            f"SELECT {names} FROM published_rows"
        )
        snapshot.con.unregister("published_rows")


def _require_no_lost_rows(
    con: psycopg.Connection[Any],
    snapshot: LakeSnapshot,
    dimension: str,
    star: list[Any],
    changes: IncrementalPlan,
) -> None:
    """:class:`NotIncremental` if a key of ``dimension`` that facts of the changed years used is
    used by no fact any more (a load from every row would not have that dimension row)."""
    lost: set[Any] = set()
    elsewhere: list[tuple[Any, str, str]] = []
    by_name = {t.name: t for t in snapshot.tables}
    for fact in star:
        for fk in fact.foreign_keys:
            if fk.table != dimension:
                continue
            years = years_of(fact, changes) or frozenset()
            months = [y * 100 + m for y in sorted(years) for m in range(1, 13)]
            condition = slice_filter_sql(by_name[fact.name], months)
            old = con.execute(
                sql.SQL("SELECT DISTINCT {} FROM {} WHERE " + condition).format(
                    sql.Identifier(fk.column), ident(PUBLIC, fact.name)
                )
            ).fetchall()
            new = snapshot.con.execute(
                f"SELECT DISTINCT {_q(fk.column)} FROM {_q(fact.name)}"
            ).fetchall()
            lost |= {r[0] for r in old} - {r[0] for r in new}
            elsewhere.append((fact.name, fk.column, condition))
    if not lost:
        return
    used: set[Any] = set()
    for fact_name, column, condition in elsewhere:
        used |= {
            r[0]
            for r in con.execute(
                sql.SQL(
                    "SELECT DISTINCT {0} FROM {1} WHERE {0} = ANY(%s) AND NOT " + condition
                ).format(sql.Identifier(column), ident(PUBLIC, fact_name)),
                (sorted(lost),),
            ).fetchall()
        }
    if lost - used:
        raise NotIncremental(f"{dimension} loses {len(lost - used)} rows")
