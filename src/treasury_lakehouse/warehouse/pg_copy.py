"""COPY of Arrow record batches into PostgreSQL, the one bulk path of the loader and the bench."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql

from treasury_lakehouse.warehouse.base import WarehouseTable
from treasury_lakehouse.warehouse.pg_ddl import column_list


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
