"""PostgreSQL bulk paths for the same rows, in the same run: the loader against a raw COPY FROM.

On the generated silver table of :mod:`bench.warehouse_load` (1,000,000 Public Debt Transactions
rows, 19 columns), each path loads every row into its own empty table:

* **loader_binary_adbc** — the loader's path when ``adbc-driver-postgresql`` is installed
  (:func:`ingest_batches`: Arrow batches cast to the columns' types, binary COPY by the ADBC
  driver);
* **loader_csv** — the loader's path without it (:func:`copy_batches`: Arrow batches written as CSV
  by Arrow into psycopg's ``COPY ... FROM STDIN``);
* **loader_csv_two_connections** — the CSV path on two connections sharing the batches;
* **raw_copy_csv_file** — the ceiling: the same rows as one CSV file (written before the clock
  starts), read by the server itself, ``COPY ... FROM '<file>' (FORMAT csv)``;
* **psycopg_binary_write_row** — psycopg 3 binary COPY, ``Copy.write_row`` of each row's Python
  values (types set with ``set_types``).

Every table is compared with the CSV loader's (``EXCEPT ALL`` both ways): each path must give the
same rows. Needs the server of ``TREASURY_BENCH_POSTGRES`` on this host (the raw COPY reads a file
as the server's user); creates and drops its own database.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql

from bench.postgres import Unreachable, bench_database
from bench.warehouse_load import BATCH_ROWS, ROWS, generate
from treasury_lakehouse.warehouse.base import WarehouseTable
from treasury_lakehouse.warehouse.lake_snapshot import LakeSnapshot
from treasury_lakehouse.warehouse.pg_copy import (
    binary_copy_available,
    copy_batches,
    ingest_batches,
)
from treasury_lakehouse.warehouse.pg_ddl import column_list, create_table, pg_type

Path_ = Callable[[str, WarehouseTable, LakeSnapshot, Path], None]


def _target(schema: str, table: WarehouseTable) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table.name))


def loader_csv(dsn: str, table: WarehouseTable, snapshot: LakeSnapshot, _: Path) -> None:
    with psycopg.connect(dsn, autocommit=True) as con:
        batches = snapshot.batches(table, None, BATCH_ROWS)
        copy_batches(con, _target("loader_csv", table), table, batches)


def loader_csv_two_connections(
    dsn: str, table: WarehouseTable, snapshot: LakeSnapshot, _: Path
) -> None:
    """The loader's CSV path on two connections at once, sharing one stream of batches (two
    server backends parse CSV in parallel)."""
    lock = threading.Lock()
    batches = iter(snapshot.batches(table, None, BATCH_ROWS))

    def shared() -> Iterator[pa.RecordBatch]:
        while True:
            with lock:
                batch = next(batches, None)
            if batch is None:
                return
            yield batch

    def copy_share() -> None:
        with psycopg.connect(dsn, autocommit=True) as con:
            copy_batches(con, _target("loader_csv_two_connections", table), table, shared())

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(copy_share) for _ in range(2)]:
            future.result()


def raw_copy_csv_file(dsn: str, table: WarehouseTable, _: LakeSnapshot, csv_file: Path) -> None:
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(
            sql.SQL("COPY {} ({}) FROM {} (FORMAT csv)").format(
                _target("raw_copy_csv_file", table), column_list(table), sql.Literal(str(csv_file))
            )
        )


def psycopg_binary_write_row(
    dsn: str, table: WarehouseTable, snapshot: LakeSnapshot, _: Path
) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        _target("psycopg_binary_write_row", table), column_list(table)
    )
    types = [pg_type(c.sql_type) for c in table.columns]
    with (
        psycopg.connect(dsn, autocommit=True) as con,
        con.cursor() as cursor,
        cursor.copy(statement) as copy,
    ):
        copy.set_types(types)
        for batch in snapshot.batches(table, None, BATCH_ROWS):
            for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                copy.write_row(row)


def loader_binary_adbc(dsn: str, table: WarehouseTable, snapshot: LakeSnapshot, _: Path) -> None:
    batches = snapshot.batches(table, None, BATCH_ROWS)
    ingest_batches(dsn, "loader_binary_adbc", table, batches)


def _write_csv(table: WarehouseTable, snapshot: LakeSnapshot, path: Path) -> None:
    with pa_csv.CSVWriter(
        str(path),
        next(iter(snapshot.batches(table, None, 1))).schema,
        write_options=pa_csv.WriteOptions(include_header=False),
    ) as writer:
        for batch in snapshot.batches(table, None, BATCH_ROWS):
            writer.write_batch(batch)
    path.chmod(0o644)


def _differing_rows(dsn: str, table: WarehouseTable, schema: str) -> int:
    a, b = _target("loader_csv", table), _target(schema, table)
    with psycopg.connect(dsn, autocommit=True) as con:
        row = con.execute(
            sql.SQL(
                "SELECT (SELECT COUNT(*) FROM (SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b}) x)"
                " + (SELECT COUNT(*) FROM (SELECT * FROM {b} EXCEPT ALL SELECT * FROM {a}) y)"
            ).format(a=a, b=b)
        ).fetchone()
    return int(row[0]) if row else -1


def measure(dsn: str, table: WarehouseTable, work: Path, rounds: int = 2) -> dict[str, Any]:
    """Seconds and rows/s of each path (best of ``rounds``, tables emptied between rounds)."""
    paths: list[Path_] = [
        loader_csv,
        raw_copy_csv_file,
        psycopg_binary_write_row,
        loader_csv_two_connections,
    ]
    if binary_copy_available():
        paths.insert(0, loader_binary_adbc)
    only = os.environ.get("BENCH_COPY_PATHS")  # e.g. loader_csv,raw_copy_csv_file
    if only:
        paths = [p for p in paths if p.__name__ in only.split(",") or p is loader_csv]
    snapshot = LakeSnapshot([table])
    csv_file = work / "rows.csv"
    results: dict[str, Any] = {"rows": ROWS, "rounds": rounds}
    try:
        _write_csv(table, snapshot, csv_file)
        os.chmod(work, 0o755)
        with psycopg.connect(dsn, autocommit=True) as con:
            for path in paths:
                con.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(path.__name__)))
                con.execute(create_table(path.__name__, table))
        for round_ in range(rounds):
            for path in paths if round_ % 2 == 0 else reversed(paths):
                with psycopg.connect(dsn, autocommit=True) as con:
                    con.execute(sql.SQL("TRUNCATE {}").format(_target(path.__name__, table)))
                started = time.perf_counter()
                path(dsn, table, snapshot, csv_file)
                seconds = time.perf_counter() - started
                best = results.get(path.__name__, {}).get("seconds", float("inf"))
                results[path.__name__] = {"seconds": round(min(best, seconds), 2)}
    finally:
        snapshot.close()
    for path in paths:
        entry = results[path.__name__]
        entry["rows_per_s"] = round(ROWS / entry["seconds"])
        entry["share_of_raw_copy"] = round(
            results["raw_copy_csv_file"]["seconds"] / entry["seconds"], 2
        )
        entry["rows_differing_from_loader"] = _differing_rows(dsn, table, path.__name__)
    return results


def main(results_dir: Path) -> dict[str, Any]:
    try:
        with bench_database() as dsn, tempfile.TemporaryDirectory() as tmp:
            table = generate(Path(tmp) / "v1", last_month_delta=0, batch="bench-batch-1")
            report = measure(dsn, table, Path(tmp))
    except Unreachable as why:
        return {"skipped": str(why)}
    (results_dir / "copy_formats.json").write_text(json.dumps(report, indent=2))
    return report
