"""Loading PostgreSQL when the engine is Spark: Spark's JDBC writer vs the warehouse's COPY path.

``python -m bench.spark_jdbc [rows]`` (default 1,000,000) builds a DataFrame shaped like
``silver_public_debt_transactions`` and loads it into a scratch database on 127.0.0.1:5432
(created and dropped here) three ways, timing each:

- ``jdbc``: ``DataFrame.write.jdbc`` with the driver jar of Debian's ``libpostgresql-jdbc-java``
  (batched INSERTs, batch size 10,000);
- ``jdbc_rewrite``: the same with the driver's ``reWriteBatchedInserts=true`` (multi-row INSERTs);
- ``copy``: what the PostgreSQL warehouse does with any engine's lake: the Parquet the engine wrote,
  read as Arrow batches and sent by ``warehouse.postgres.copy_batches`` (COPY ... FORMAT csv).
  Writing that Parquet from Spark is timed apart (``spark_parquet_write_s``): the engine does it
  anyway when it publishes silver.

Needs Java, the jar and a PostgreSQL server that trusts ``postgres`` on 127.0.0.1; not part of
``make bench``. Results go to ``bench/results/spark_jdbc.json`` and docs/spark.md.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
from psycopg import sql

from treasury_lakehouse.engines.spark import SparkEngine
from treasury_lakehouse.models.registry import Column
from treasury_lakehouse.warehouse.base import WarehouseTable
from treasury_lakehouse.warehouse.postgres import copy_batches

JAR = Path("/usr/share/java/postgresql.jar")
DATABASE = "treasury_bench_spark_jdbc"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
COLUMNS = (
    ("record_date", "DATE", "CAST(DATE '2005-10-01' + CAST(id % 7300 AS INT) AS DATE)"),
    ("transaction_type", "TEXT", "IF(id % 2 = 0, 'Issues', 'Redemptions')"),
    ("security_market", "TEXT", "IF(id % 5 = 4, 'Nonmarketable', 'Marketable')"),
    (
        "security_type",
        "TEXT",
        "ELEMENT_AT(ARRAY('Bills', 'Notes', 'Bonds'), CAST(id % 3 AS INT) + 1)",
    ),
    ("security_type_desc", "TEXT", "CONCAT('Series ', CAST(id % 97 AS STRING))"),
    ("transaction_today_amt", "BIGINT", "id % 50000"),
    ("transaction_mtd_amt", "BIGINT", "id % 900000"),
    ("transaction_fytd_amt", "BIGINT", "id % 9000000"),
    ("table_nbr", "TEXT", "'IIIA'"),
    ("table_nm", "TEXT", "'Public Debt Transactions'"),
    ("src_line_nbr", "INTEGER", "CAST(id % 25 AS INT)"),
    ("record_fiscal_year", "INTEGER", "CAST(2006 + id % 20 AS INT)"),
    ("record_fiscal_quarter", "INTEGER", "CAST(1 + id % 4 AS INT)"),
    ("record_calendar_year", "INTEGER", "CAST(2005 + id % 20 AS INT)"),
    ("record_calendar_quarter", "INTEGER", "CAST(1 + id % 4 AS INT)"),
    ("record_calendar_month", "INTEGER", "CAST(1 + id % 12 AS INT)"),
    ("record_calendar_day", "INTEGER", "CAST(1 + id % 28 AS INT)"),
    ("batch_id", "TEXT", "'20261126T000000Z-bench000'"),
    ("ingestion_timestamp", "TIMESTAMPTZ", "TIMESTAMP '2026-11-26 00:00:00'"),
)


def _dsn(database: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{database}"


def _create_table(name: str) -> None:
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t, _ in COLUMNS
    )
    with psycopg.connect(_dsn(DATABASE), autocommit=True) as con:
        con.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(name), columns))


def _count(name: str) -> int:
    with psycopg.connect(_dsn(DATABASE)) as con:
        row = con.execute(sql.SQL("SELECT COUNT(*) FROM {}").format(sql.Identifier(name)))
        return int(row.fetchone()[0])  # type: ignore[index]


def _timed(name: str, load: Any) -> dict[str, Any]:
    _create_table(name)
    started = time.monotonic()
    load(name)
    seconds = time.monotonic() - started
    rows = _count(name)
    return {"seconds": round(seconds, 1), "rows": rows, "rows_per_s": round(rows / seconds)}


def measure(rows: int) -> dict[str, Any]:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(DATABASE)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    work = Path(tempfile.mkdtemp(prefix="bench-jdbc-"))
    engine = SparkEngine(conf={"spark.jars": str(JAR)})
    try:
        frame = engine.session.range(rows).selectExpr(*(f"{e} AS {c}" for c, _, e in COLUMNS))
        frame = frame.cache()
        frame.count()
        url = f"jdbc:postgresql://127.0.0.1:5432/{DATABASE}"
        options = {"user": "postgres", "driver": "org.postgresql.Driver", "batchsize": "10000"}

        def jdbc(target: str, jdbc_url: str = url) -> None:
            frame.write.jdbc(jdbc_url, target, mode="append", properties=options)

        lake = work / "silver"
        started = time.monotonic()
        frame.write.parquet(f"file://{lake}")  # the engine writes silver anyway
        parquet_s = round(time.monotonic() - started, 1)

        def copy(target: str) -> None:
            table = WarehouseTable(target, "", tuple(Column(c, t, "") for c, t, _ in COLUMNS), ())
            with psycopg.connect(_dsn(DATABASE)) as con:
                for part in sorted(lake.glob("part-*.parquet")):
                    batches = pq.ParquetFile(part).iter_batches(batch_size=100_000)
                    copy_batches(con, sql.Identifier(target), table, batches)

        return {
            "rows": rows,
            "jdbc": _timed("pdt_jdbc", jdbc),
            "jdbc_rewrite": _timed(
                "pdt_jdbc_rewrite", lambda t: jdbc(t, url + "?reWriteBatchedInserts=true")
            ),
            "copy": _timed("pdt_copy", copy),
            "spark_parquet_write_s": parquet_s,
        }
    finally:
        engine.close()
        shutil.rmtree(work, ignore_errors=True)
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(DATABASE)))


if __name__ == "__main__":
    result = measure(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "spark_jdbc.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
