"""A PostgreSQL database of its own for a benchmark: created, yielded as a DSN, dropped."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from treasury_lakehouse.config import mask_dsn

#: the server the benchmarks use (a database on it is created and dropped per run)
ADMIN_DSN = os.environ.get(
    "TREASURY_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


class Unreachable(Exception):
    """The benchmark server cannot be reached (the benchmark reports itself skipped)."""


@contextmanager
def bench_database(prefix: str = "treasury_bench") -> Iterator[str]:
    """A fresh database on :data:`ADMIN_DSN`, dropped afterwards; its DSN."""
    try:
        admin = psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        raise Unreachable(f"PostgreSQL unreachable at {mask_dsn(ADMIN_DSN)}: {error}") from None
    database = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        try:
            yield ADMIN_DSN.rsplit("/", 1)[0] + "/" + database
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
