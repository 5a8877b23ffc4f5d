"""Building the star tables inside a DuckDB database that holds the silver tables.

The embedded DuckDB warehouse runs the star SELECTs inside its new file; the PostgreSQL warehouse
runs them in DuckDB over the lake's Parquet and copies the result
(:mod:`treasury_lakehouse.warehouse.lake_snapshot`), so both warehouses hold the same rows.
"""

from __future__ import annotations

import duckdb

from treasury_lakehouse.sql_quote import quote_ident as _q
from treasury_lakehouse.warehouse.star.calendar_rows import calendar_for
from treasury_lakehouse.warehouse.star.ddl import duckdb_define_sql
from treasury_lakehouse.warehouse.star.sql import CALENDAR
from treasury_lakehouse.warehouse.star.tables import star_tables_for


def create_star(con: duckdb.DuckDBPyConnection, available: set[str]) -> dict[str, int]:
    """Build the star tables inside a DuckDB database that already holds the silver tables.

    Returns the row count of each star table built. Secondary indexes are left out: DuckDB
    answers range scans from its zone maps, and ART indexes would only slow the load.
    """
    counts: dict[str, int] = {}
    con.register(CALENDAR, calendar_for(con, available))
    try:
        for table in star_tables_for(available):
            for statement in duckdb_define_sql(table):
                con.execute(statement)
            names = ", ".join(_q(c.name) for c in table.columns)
            con.execute(f"INSERT INTO {_q(table.name)} ({names}) SELECT {names} FROM ({table.sql})")
            rows = con.execute(f"SELECT COUNT(*) FROM {_q(table.name)}").fetchall()
            counts[table.name] = int(rows[0][0])
    finally:
        con.unregister(CALENDAR)
    return counts
