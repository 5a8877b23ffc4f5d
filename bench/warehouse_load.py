"""PostgreSQL load benchmark: COPY against row-by-row INSERT, and full against incremental reloads.

On one generated silver table of 1,000,000 Public Debt Transactions rows (20 years of weekdays x
192 securities, written to Parquet by DuckDB):

* **copy** — the loader's path (:func:`copy_batches`: Arrow batches from the lake written as CSV
  into ``COPY ... FROM STDIN``) into an empty table;
* **insert** — the baseline: the same Arrow batches turned into Python tuples and sent with
  psycopg's ``executemany`` of a one-row ``INSERT ... VALUES`` (one statement per row, pipelined);
* **publish** — the whole write-audit-publish load of that table and the star schema built from it
  (``dim_date``, ``dim_security``, ``fact_public_debt_transactions``): first load, the same lake
  again (skipped), the last month changed reloaded in full, and the same change incrementally.

Needs the PostgreSQL server of ``TREASURY_BENCH_POSTGRES`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``); creates and drops its own database.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import psycopg
from psycopg import sql

from bench.postgres import Unreachable, bench_database
from treasury_lakehouse.warehouse.base import WarehouseTable, silver_table
from treasury_lakehouse.warehouse.lake_snapshot import LakeSnapshot
from treasury_lakehouse.warehouse.pg_copy import copy_batches
from treasury_lakehouse.warehouse.pg_ddl import create_table
from treasury_lakehouse.warehouse.postgres import PostgresWarehouse

ROWS = 1_000_000
BATCH_ROWS = 100_000

_GENERATE = """
COPY (
  WITH days AS (
    SELECT CAST(d AS DATE) AS record_date
    FROM generate_series(TIMESTAMP '2000-01-03', TIMESTAMP '2019-12-31', INTERVAL 1 DAY) AS t(d)
    WHERE dayofweek(d) BETWEEN 1 AND 5
  ),
  securities AS (
    SELECT tt AS transaction_type, m AS security_market, st AS security_type,
      CASE WHEN v = 0 THEN NULL ELSE st || ' series ' || v END AS security_type_desc,
      row_number() OVER () AS line
    FROM (VALUES ('Issues'), ('Redemptions')) AS a(tt),
      (VALUES ('Marketable'), ('Nonmarketable')) AS b(m),
      (VALUES ('Bills'), ('Notes'), ('Bonds'), ('TIPS'), ('FRN'), ('Savings'), ('Other'),
              ('Government Account Series')) AS c(st),
      range(6) AS r(v)
  )
  SELECT
    record_date, transaction_type, security_market, security_type, security_type_desc,
    CAST(hash(record_date, line) % 50000 AS BIGINT)
      + CASE WHEN record_date >= DATE '2019-12-01' THEN {delta} ELSE 0 END AS transaction_today_amt,
    CAST(hash(line, record_date) % 900000 AS BIGINT) AS transaction_mtd_amt,
    CAST(hash(record_date, line, 1) % 9000000 AS BIGINT) AS transaction_fytd_amt,
    'IIIA' AS table_nbr, 'Public Debt Transactions' AS table_nm,
    CAST(line AS INTEGER) AS src_line_nbr,
    CAST(year(record_date) + CASE WHEN month(record_date) >= 10 THEN 1 ELSE 0 END AS INTEGER)
      AS record_fiscal_year,
    CAST((month(record_date) + 2) % 12 // 3 + 1 AS INTEGER) AS record_fiscal_quarter,
    CAST(year(record_date) AS INTEGER) AS record_calendar_year,
    CAST(quarter(record_date) AS INTEGER) AS record_calendar_quarter,
    CAST(month(record_date) AS INTEGER) AS record_calendar_month,
    CAST(day(record_date) AS INTEGER) AS record_calendar_day,
    CASE WHEN record_date >= DATE '2019-12-01' THEN '{batch}' ELSE 'bench-batch-0' END AS batch_id,
    TIMESTAMPTZ '2024-01-01 00:00:00+00' AS ingestion_timestamp
  FROM days CROSS JOIN securities
  ORDER BY record_date, line
  LIMIT {rows}
) TO '{path}' (FORMAT PARQUET)
"""


def generate(version_dir: Path, *, last_month_delta: int, batch: str) -> WarehouseTable:
    """A silver ``public_debt_transactions`` version of ROWS rows; the last month varies."""
    version_dir.mkdir(parents=True)
    path = version_dir / "data.parquet"
    duckdb.sql(
        _GENERATE.format(delta=last_month_delta, batch=batch, rows=ROWS, path=path)
    ).fetchall()
    table = silver_table("public_debt_transactions", version_dir)
    return WarehouseTable(
        name=table.name,
        comment=table.comment,
        columns=table.columns,
        primary_key=table.primary_key,
        unique_key=table.unique_key,
        files=table.files,
        build={"version": version_dir.name, "bronze_batches": ["bench-batch-0", batch]},
    )


def copy_vs_insert(dsn: str, table: WarehouseTable) -> dict[str, Any]:
    """Rows/s of the COPY path and of executemany INSERT, each into an empty table."""
    snapshot = LakeSnapshot([table])
    results: dict[str, Any] = {"rows": ROWS}
    try:
        with psycopg.connect(dsn, autocommit=True) as con:
            for schema in ("bench_copy", "bench_insert"):
                con.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
                con.execute(create_table(schema, table))
            target = sql.SQL("{}.{}").format(
                sql.Identifier("bench_copy"), sql.Identifier(table.name)
            )
            started = time.perf_counter()
            copied = copy_batches(con, target, table, snapshot.batches(table, None, BATCH_ROWS))
            results["copy_seconds"] = round(time.perf_counter() - started, 2)
            results["insert_seconds"] = _insert_rows(con, table, snapshot)
    finally:
        snapshot.close()
    assert copied == ROWS
    results["copy_rows_per_s"] = round(ROWS / results["copy_seconds"])
    results["insert_rows_per_s"] = round(ROWS / results["insert_seconds"])
    results["insert_method"] = (
        "psycopg 3 cursor.executemany of INSERT ... VALUES (one row per statement, pipelined)"
    )
    results["copy_speedup"] = round(results["insert_seconds"] / results["copy_seconds"], 1)
    return results


def _insert_rows(
    con: psycopg.Connection[Any], table: WarehouseTable, snapshot: LakeSnapshot
) -> float:
    names = [c.name for c in table.columns]
    statement = sql.SQL("INSERT INTO {}.{} ({}) VALUES ({})").format(
        sql.Identifier("bench_insert"),
        sql.Identifier(table.name),
        sql.SQL(", ").join(sql.Identifier(n) for n in names),
        sql.SQL(", ").join(sql.Placeholder() for _ in names),
    )
    started = time.perf_counter()
    with con.cursor() as cursor, con.transaction():
        for batch in snapshot.batches(table, None, BATCH_ROWS):
            columns = [batch.column(n).to_pylist() for n in names]
            cursor.executemany(statement, list(zip(*columns, strict=True)))
    return round(time.perf_counter() - started, 2)


def full_vs_incremental(dsn: str, base: WarehouseTable, changed: WarehouseTable) -> dict[str, Any]:
    """Seconds and rows written of whole publishes: first load, skip, full and incremental."""
    results: dict[str, Any] = {}

    def publish(label: str, table: WarehouseTable, ratio: float) -> None:
        warehouse = PostgresWarehouse(dsn, full_reload_ratio=ratio)
        started = time.perf_counter()
        result = warehouse.publish([table], f"bench-{label}")
        seconds = round(time.perf_counter() - started, 2)
        with psycopg.connect(dsn) as con:
            written = con.execute(
                "SELECT COALESCE(SUM(rows_written), 0) FROM load_manifest WHERE run_id = %s",
                (f"bench-{label}",),
            ).fetchone()
        results[label] = {
            "seconds": seconds,
            "skipped": result.skipped,
            "rows_written_all_tables": int(written[0]) if written else 0,
        }

    publish("first_load", base, 1.0)
    publish("same_lake_again", base, 1.0)
    publish("last_month_changed_full", changed, 0.0)
    publish("back_to_base_full", base, 0.0)
    publish("last_month_changed_incremental", changed, 1.0)
    return results


def main(results_dir: Path) -> dict[str, Any]:
    report: dict[str, Any] = {}
    try:
        with bench_database() as dsn, tempfile.TemporaryDirectory() as tmp:
            base = generate(Path(tmp) / "v1", last_month_delta=0, batch="bench-batch-1")
            changed = generate(Path(tmp) / "v2", last_month_delta=7, batch="bench-batch-2")
            report["copy_vs_insert"] = copy_vs_insert(dsn, base)
            report["publish"] = full_vs_incremental(dsn, base, changed)
    except Unreachable as why:
        return {"skipped": str(why)}
    (results_dir / "warehouse_load.json").write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    print(json.dumps(main(out), indent=2))
