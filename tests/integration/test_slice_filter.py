"""The month slices a warehouse load rewrites are found by date ranges (issue 15): the condition
selects exactly the rows of those slices on both warehouses, and PostgreSQL can answer it from the
date index, where the slice expression could only be evaluated on every row."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import duckdb
import psycopg
import pytest
from test_postgres_warehouse import fresh_database

from treasury_lakehouse.warehouse.base import Column, WarehouseTable
from treasury_lakehouse.warehouse.lake_snapshot import slice_filter_sql, slice_sql

TABLE = WarehouseTable(
    name="t",
    comment="",
    columns=(Column("record_date", "DATE", ""), Column("amount", "BIGINT", "")),
    primary_key=(),
)
FACT = WarehouseTable(
    name="t",
    comment="",
    columns=(
        Column("date_key", "INTEGER", ""),
        Column("record_date", "DATE", ""),
        Column("amount", "BIGINT", ""),
    ),
    primary_key=("date_key",),
)
MONTHLY = WarehouseTable(
    name="m",
    comment="",
    columns=(Column("year", "INTEGER", ""), Column("month", "INTEGER", "")),
    primary_key=(),
)
#: December and January (the year turns), a month's first and last day, a NULL date (slice 0)
SLICES = [[202312], [202401], [202312, 202401, 0], [202402], [0], []]


def _days() -> list[date | None]:
    first = date(2023, 11, 20)
    return [first + timedelta(days=i) for i in range(120)] + [None]


@pytest.mark.parametrize("table", [TABLE, FACT], ids=["silver", "fact"])
@pytest.mark.parametrize("slices", SLICES, ids=str)
def test_the_date_ranges_select_exactly_the_slices_rows_in_duckdb(
    slices: list[int], table: WarehouseTable
) -> None:
    with duckdb.connect() as con:
        con.execute("CREATE TABLE t (date_key INTEGER, record_date DATE, amount BIGINT)")
        con.executemany(
            "INSERT INTO t VALUES (CAST(strftime(?, '%Y%m%d') AS INTEGER), ?, 1)",
            [[d, d] for d in _days()],
        )
        by_expression = con.execute(
            f"SELECT record_date FROM t WHERE {slice_sql(table)} IN "
            f"({', '.join(map(str, slices)) or 'NULL'}) ORDER BY 1"
        ).fetchall()
        by_ranges = con.execute(
            f"SELECT record_date FROM t WHERE {slice_filter_sql(table, slices)} ORDER BY 1"
        ).fetchall()
    assert by_ranges == by_expression
    assert len(by_ranges) == sum(
        1 for d in _days() if (d.year * 100 + d.month if d else 0) in slices
    )


def test_a_table_without_a_date_keeps_the_slice_expression() -> None:
    assert slice_filter_sql(MONTHLY, [202401]) == f"{slice_sql(MONTHLY)} IN (202401)"


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database() as dsn:
        yield dsn


def _scans(plan: Any) -> set[str]:
    found = {plan["Node Type"]}
    for child in plan.get("Plans", []):
        found |= _scans(child)
    return found


@pytest.mark.postgres
def test_postgres_finds_a_months_rows_through_the_date_index(database: str) -> None:
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("CREATE TABLE t (record_date DATE, amount BIGINT)")
        con.execute(
            "INSERT INTO t SELECT DATE '2000-01-01' + i % 9000, i FROM generate_series(1, 200000) i"
        )
        con.execute("CREATE INDEX ON t (record_date)")
        con.execute("ANALYZE t")

        def plan(where: str) -> set[str]:
            [(text,)] = con.execute(f"EXPLAIN (FORMAT JSON) DELETE FROM t WHERE {where}").fetchall()
            return _scans((text if isinstance(text, list) else json.loads(text))[0]["Plan"])

        ranges = plan(slice_filter_sql(TABLE, [202312, 202401]))
        assert ranges & {"Index Scan", "Bitmap Index Scan", "Index Only Scan"}, ranges
        assert "Seq Scan" not in ranges
        # a fact is found through its primary key, which leads with date_key
        con.execute("ALTER TABLE t ADD COLUMN date_key INTEGER")
        con.execute("UPDATE t SET date_key = CAST(to_char(record_date, 'YYYYMMDD') AS INTEGER)")
        con.execute("CREATE INDEX ON t (date_key)")
        con.execute("DROP INDEX t_record_date_idx")
        con.execute("VACUUM ANALYZE t")
        by_key = plan(slice_filter_sql(FACT, [202312, 202401]))
        assert by_key & {"Index Scan", "Bitmap Index Scan", "Index Only Scan"}, by_key
        # the expression it replaces: every row is read
        assert "Seq Scan" in plan(f"{slice_sql(TABLE)} IN (202312, 202401)")
        [(january,)] = con.execute(
            f"SELECT COUNT(*) FROM t WHERE {slice_sql(TABLE)} = 202401"
        ).fetchall()
        assert january > 0
        deleted = con.execute(f"DELETE FROM t WHERE {slice_filter_sql(TABLE, [202401])}").rowcount
        assert deleted == january
        assert con.execute(
            f"SELECT COUNT(*) FROM t WHERE {slice_sql(TABLE)} = 202401"
        ).fetchall() == [(0,)]
