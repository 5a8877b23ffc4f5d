"""COPY of Arrow record batches into PostgreSQL, the bulk path of the loader and the bench.

Two ways, the same rows: binary COPY by the ADBC PostgreSQL driver (:func:`ingest_batches`, used
when ``adbc-driver-postgresql`` is installed: the ``postgres`` extra) and CSV written by Arrow into
psycopg's ``COPY FROM STDIN`` (:func:`copy_batches`). ``bench/copy_formats.py`` measured the
binary path at 1.2-1.6 times the CSV path, and at 0.96 of a raw ``COPY FROM`` of a CSV file in the
final run (docs/performance.md).
"""

from __future__ import annotations

import importlib.util
import io
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql

from treasury_lakehouse.config import mask_dsn
from treasury_lakehouse.errors import WarehouseError
from treasury_lakehouse.warehouse.base import WarehouseTable
from treasury_lakehouse.warehouse.pg_ddl import column_list

_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "TEXT": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "INT": pa.int32(),
    "SMALLINT": pa.int16(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.date32(),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
    "TIMESTAMP WITH TIME ZONE": pa.timestamp("us", tz="UTC"),
    "TIMESTAMP": pa.timestamp("us"),
    "DOUBLE": pa.float64(),
    "HUGEINT": pa.decimal128(38, 0),
}
_DECIMAL = re.compile(r"^(?:DECIMAL|NUMERIC)\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


def binary_copy_available() -> bool:
    """The ADBC PostgreSQL driver is installed (the ``postgres`` extra)."""
    return importlib.util.find_spec("adbc_driver_postgresql") is not None


def arrow_schema(table: WarehouseTable) -> pa.Schema:
    """The Arrow types whose binary COPY PostgreSQL reads into the table's columns."""
    fields = []
    for column in table.columns:
        normalized = " ".join(column.sql_type.upper().split())
        match = _DECIMAL.match(normalized)
        if match:
            arrow = pa.decimal128(int(match.group(1)), int(match.group(2)))
        elif normalized in _ARROW_TYPES:
            arrow = _ARROW_TYPES[normalized]
        else:
            raise WarehouseError(f"no Arrow type for the column type {column.sql_type!r}")
        fields.append(pa.field(column.name, arrow))
    return pa.schema(fields)


def ingest_batches(
    dsn: str,
    schema: str,
    table: WarehouseTable,
    batches: Iterable[pa.RecordBatch],
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Binary COPY of Arrow record batches into the existing ``schema.table`` through the ADBC
    driver, on its own connection, committed before returning. Returns the rows copied.

    Binary COPY needs each value's exact type, so every batch is cast to :func:`arrow_schema`.
    """
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as adbc

    target = arrow_schema(table)
    rows = 0

    def cast() -> Iterator[pa.RecordBatch]:
        nonlocal rows
        for batch in batches:
            yield batch.select(target.names).cast(target)
            rows += batch.num_rows
            if on_batch is not None:
                on_batch(rows)

    try:
        with adbc.connect(dsn) as con, con.cursor() as cursor:
            stream = pa.RecordBatchReader.from_batches(target, cast())
            cursor.adbc_ingest(table.name, stream, mode="append", db_schema_name=schema)
            con.commit()
    except adbc_driver_manager.Error as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise WarehouseError(
            f"binary COPY into {schema}.{table.name} failed: {mask_dsn(first)}", table=table.name
        ) from None
    return rows


def copy_batches(
    con: psycopg.Connection[Any],
    target: sql.Composable,
    table: WarehouseTable,
    batches: Iterable[pa.RecordBatch],
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """COPY Arrow record batches into ``target`` as CSV (written by Arrow, parsed by the server).

    Arrow writes NULL as an empty field and an empty string as ``""``, which is exactly how
    PostgreSQL's CSV format tells them apart. Returns the number of rows copied.
    """
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(target, column_list(table))
    rows = 0
    with con.cursor() as cursor, cursor.copy(statement) as copy:
        for data, count in _csv_ahead(batches):
            copy.write(data)
            rows += count
            if on_batch is not None:
                on_batch(rows)
    return rows


def _csv(batch: pa.RecordBatch) -> tuple[memoryview, int]:
    buffer = io.BytesIO()
    pa_csv.write_csv(batch, buffer, pa_csv.WriteOptions(include_header=False))
    return buffer.getbuffer(), batch.num_rows


def _csv_ahead(batches: Iterable[pa.RecordBatch]) -> Iterator[tuple[memoryview, int]]:
    """Each batch as CSV, the next one encoded in a thread while this one is sent (Arrow
    releases the GIL), so the client's encoding overlaps the server's parsing."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv") as pool:
        pending: Future[tuple[memoryview, int]] | None = None
        for batch in batches:
            future = pool.submit(_csv, batch)
            if pending is not None:
                yield pending.result()
            pending = future
        if pending is not None:
            yield pending.result()
