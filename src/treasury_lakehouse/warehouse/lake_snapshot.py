"""The lake side of a load: every table to publish as a DuckDB relation over the lake's Parquet.

Silver and gold tables are views over their Parquet files (cast to the declared types, whatever
engine wrote them); star tables are computed from those views once and kept in memory. For each
table this module gives its rows as Arrow record batches (what the loader copies) and its
per-slice statistics: row count, the sum of every amount column and a checksum (what the audit
compares and what incremental loads diff). A slice is a calendar month of the table's date (or a
fiscal year, or the whole table); :func:`slice_sql` is written to run on DuckDB and PostgreSQL.

The checksum sums DuckDB's ``hash`` of every row: fast (0.2 s per million rows) and
order-independent. It is stable for a given DuckDB version; an upgrade that changed it would only
make the next load rewrite every slice once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from treasury_lakehouse.paths import parquet_list_sql
from treasury_lakehouse.sql_quote import quote_ident as _q
from treasury_lakehouse.warehouse.base import WarehouseTable, is_silver_table
from treasury_lakehouse.warehouse.changes import (
    IncrementalPlan,
    changed_years,
    year_files,
    year_filter,
    years_of,
)
from treasury_lakehouse.warehouse.changes import (
    date_column as table_date_column,
)
from treasury_lakehouse.warehouse.star import (
    CALENDAR,
    DIM_DATE,
    StarTable,
    calendar_for,
    sql_over_rows,
    star_tables_for,
)

_AMOUNT_TYPES = ("BIGINT", "DECIMAL", "NUMERIC", "HUGEINT")


def amount_columns(table: WarehouseTable) -> list[str]:
    """Money columns (exact integers or decimals), whose sums the audit compares."""
    return [
        c.name
        for c in table.columns
        if c.sql_type.upper().startswith(_AMOUNT_TYPES) and not c.name.endswith("_key")
    ]


def slice_sql(table: WarehouseTable) -> str:
    """The slice a row belongs to, as an integer (``YYYYMM``, a fiscal year, or 0)."""
    names = [c.name for c in table.columns]
    for date_column in ("record_date", "calendar_date"):
        if date_column in names:
            c = _q(date_column)
            return (
                f"COALESCE(CAST(EXTRACT(YEAR FROM {c}) * 100 + EXTRACT(MONTH FROM {c}) "
                "AS INTEGER), 0)"
            )
    if "year" in names and "month" in names:
        return 'COALESCE(CAST("year" * 100 + "month" AS INTEGER), 0)'
    if "fiscal_year" in names:
        return 'COALESCE(CAST("fiscal_year" AS INTEGER), 0)'
    return "0"


def slice_filter_sql(table: WarehouseTable, slices: Iterable[int]) -> str:
    """A condition true exactly for the rows of ``slices`` (:func:`slice_sql`), written so an
    index on the date column serves it: one half-open date range per month, never an expression
    over every row (a 10M-row table is not scanned to rewrite one month). DuckDB and PostgreSQL.
    """
    wanted = sorted({int(s) for s in slices})
    if not wanted:
        return "false"
    names = [c.name for c in table.columns]
    if "date_key" in names and "record_date" in names:  # a fact: its keys lead with date_key
        parts = ['"record_date" IS NULL' for s in wanted if s == 0]
        parts += [
            f'("date_key" >= {s * 100} AND "date_key" < {(s + 1) * 100})' for s in wanted if s
        ]
        return "(" + " OR ".join(parts) + ")"
    for date_column in ("record_date", "calendar_date"):
        if date_column in names:
            c = _q(date_column)
            parts = [f"{c} IS NULL" for s in wanted if s == 0]
            for value in (s for s in wanted if s != 0):
                year, month = divmod(value, 100)
                first = date(year, month, 1)
                after = date(year + month // 12, month % 12 + 1, 1)
                parts.append(
                    f"({c} >= DATE '{first.isoformat()}' AND {c} < DATE '{after.isoformat()}')"
                )
            return "(" + " OR ".join(parts) + ")"
    return f"{slice_sql(table)} IN ({', '.join(str(s) for s in wanted)})"


@dataclass(frozen=True)
class SliceStats:
    """Row count, amount sums (in :func:`amount_columns` order) and checksum of one slice."""

    rows: int
    sums: tuple[Decimal, ...]
    checksum: str


#: marks a table checksum of :func:`table_checksum`'s kind (a sum of slice terms)
CHECKSUM_PREFIX = "s:"
_MODULUS = 2**128


def _slice_term(key: int, rows: int, checksum: str) -> int:
    digest = hashlib.sha256(f"{key}:{rows}:{checksum}".encode()).digest()
    return int.from_bytes(digest[:16], "big")


def table_checksum(slices: dict[int, SliceStats]) -> str:
    """One checksum of a whole table from its slices': a sum of one term per slice, so that a
    load which rewrote a few slices can update it without reading the others
    (:func:`adjust_checksum`)."""
    total = sum(_slice_term(k, v.rows, v.checksum) for k, v in slices.items()) % _MODULUS
    return f"{CHECKSUM_PREFIX}{total:032x}"


def adjust_checksum(
    checksum: str, removed: dict[int, tuple[int, str]], added: dict[int, SliceStats]
) -> str:
    """``checksum`` (of :func:`table_checksum`) without the ``removed`` slices' terms (slice →
    rows, checksum) and with the ``added`` ones'."""
    total = int(checksum.removeprefix(CHECKSUM_PREFIX), 16)
    total -= sum(_slice_term(k, rows, c) for k, (rows, c) in removed.items())
    total += sum(_slice_term(k, v.rows, v.checksum) for k, v in added.items())
    return f"{CHECKSUM_PREFIX}{total % _MODULUS:032x}"


def _relation_sql(table: WarehouseTable, files: tuple[Path, ...], where: str = "true") -> str:
    """The rows of ``files`` (of ``table``) cast to its declared types, those meeting ``where``."""
    if not files:
        casts = ", ".join(f"CAST(NULL AS {c.sql_type}) AS {_q(c.name)}" for c in table.columns)
        return f"SELECT {casts} WHERE false"
    casts = ", ".join(f"CAST({_q(c.name)} AS {c.sql_type}) AS {_q(c.name)}" for c in table.columns)
    listed = parquet_list_sql(files)
    return (
        f"SELECT * FROM (SELECT {casts} FROM read_parquet({listed}, hive_partitioning = true, "
        f"union_by_name = true)) AS typed WHERE {where}"
    )


class LakeSnapshot:
    """The tables of one load (lake tables plus the star tables derived from them), in DuckDB.

    With ``changes`` (an :class:`~treasury_lakehouse.warehouse.changes.IncrementalPlan` whose
    silver years are all known) it holds only what changed: the silver rows of the changed record
    years, the appended history years, the replaced gold tables, and the star rows those silver
    rows give; ``calendar`` is then the ``dim_date`` rows to hold (else every day from the first
    to the last record date). Other tables are empty here.
    """

    def __init__(
        self,
        tables: list[WarehouseTable],
        changes: IncrementalPlan | None = None,
        calendar: pa.Table | None = None,
    ) -> None:
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self.changes = changes
        for table in tables:
            files, where = self._scope(table)
            self.con.execute(
                f"CREATE VIEW {_q(table.name)} AS {_relation_sql(table, files, where)}"
            )
        lake = {t.name: t for t in tables}
        star = star_tables_for(set(lake))
        if star:
            if calendar is None:
                calendar = calendar_for(self.con, set(lake))
            self.con.register(CALENDAR, calendar)
        for star_table in star:
            self.con.execute(
                f"CREATE TEMP TABLE {_q(star_table.name)} AS {self._star_sql(star_table)}"
            )
        self.tables = [*tables, *(s.warehouse_table(lake) for s in star)]

    def _scope(self, table: WarehouseTable) -> tuple[tuple[Path, ...], str]:
        """The files of ``table`` this snapshot reads, and the condition on their rows."""
        changes = self.changes
        if changes is None:
            return table.files, "true"
        if is_silver_table(table.name):  # every changed year: a star row may join two tables
            years = changed_years(changes)
        elif table.name in changes.history:
            years = changes.history[table.name]
        elif table.name in changes.gold:
            return table.files, "true"
        else:
            return (), "false"
        return year_files(table, years), year_filter(table_date_column(table.name), years)

    def _star_sql(self, table: StarTable) -> str:
        if self.changes is None or table.name == DIM_DATE.name:
            return table.sql
        years = years_of(table, self.changes)
        return sql_over_rows(
            table, {s: year_filter(table_date_column(s), years) for s in table.sources}
        )

    def close(self) -> None:
        self.con.close()

    def slice_stats(self, table: WarehouseTable, where: str = "true") -> dict[int, SliceStats]:
        """Per slice: rows, amount sums and checksum of the lake's version of ``table`` (of its
        rows that meet ``where``)."""
        sums = "".join(f", SUM({_q(c)})" for c in amount_columns(table))
        columns = ", ".join(_q(c.name) for c in table.columns)
        rows = self.con.execute(
            f"SELECT {slice_sql(table)} AS slice, COUNT(*){sums}, "
            f"CAST(SUM(hash({columns})) AS VARCHAR) FROM {_q(table.name)} WHERE {where} "
            "GROUP BY slice"
        ).fetchall()
        return {
            int(r[0]): SliceStats(
                rows=int(r[1]),
                sums=tuple(Decimal(0 if v is None else v) for v in r[2:-1]),
                checksum=str(r[-1]),
            )
            for r in rows
        }

    def batches(
        self, table: WarehouseTable, slices: list[int] | None, rows_per_batch: int
    ) -> Iterator[pa.RecordBatch]:
        """The rows of ``table`` (only those ``slices`` if given) as Arrow record batches."""
        names = ", ".join(_q(c.name) for c in table.columns)
        where = ""
        if slices is not None:
            where = f" WHERE {slice_filter_sql(table, slices)}"
            if not slices:
                where = " WHERE false"
        query = f"SELECT {names} FROM {_q(table.name)}{where}"
        yield from self.con.sql(query).to_arrow_reader(rows_per_batch)
