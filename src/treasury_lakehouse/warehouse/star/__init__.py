"""The star schema beside the gold tables, written once (DuckDB dialect) and used by every
warehouse, in five modules (SQL text, table definitions, DDL, calendar rows, execution):

- :mod:`.sql` — the SELECT that fills each star table, over the silver tables;
- :mod:`.tables` — the tables' documented columns, keys and indexes (:data:`STAR_TABLES`);
- :mod:`.ddl` — their DuckDB DDL (PostgreSQL's is :mod:`treasury_lakehouse.warehouse.pg_ddl`);
- :mod:`.calendar_rows` — the ``dim_date`` rows, made in Python;
- :mod:`.build` — running it all inside a DuckDB database (:func:`create_star`).
"""

from treasury_lakehouse.warehouse.star.build import create_star
from treasury_lakehouse.warehouse.star.calendar_rows import (
    calendar_days,
    calendar_for,
    calendar_row,
)
from treasury_lakehouse.warehouse.star.ddl import duckdb_create_sql, duckdb_define_sql
from treasury_lakehouse.warehouse.star.sql import (
    CALENDAR,
    DEBT_LIMIT,
    DSL,
    OCB,
    PDT,
    date_key_sql,
    record_date_range_sql,
)
from treasury_lakehouse.warehouse.star.tables import (
    DIM_ACCOUNT,
    DIM_DATE,
    DIM_SECURITY,
    FACT_DEBT_LIMIT,
    FACT_OPERATING_CASH_BALANCE,
    FACT_PUBLIC_DEBT_TRANSACTIONS,
    STAR,
    STAR_TABLES,
    ForeignKey,
    StarTable,
    sql_over_rows,
    star_tables_for,
)

__all__ = [
    "CALENDAR",
    "DEBT_LIMIT",
    "DIM_ACCOUNT",
    "DIM_DATE",
    "DIM_SECURITY",
    "DSL",
    "FACT_DEBT_LIMIT",
    "FACT_OPERATING_CASH_BALANCE",
    "FACT_PUBLIC_DEBT_TRANSACTIONS",
    "OCB",
    "PDT",
    "STAR",
    "STAR_TABLES",
    "ForeignKey",
    "StarTable",
    "calendar_days",
    "calendar_for",
    "calendar_row",
    "create_star",
    "date_key_sql",
    "duckdb_create_sql",
    "duckdb_define_sql",
    "record_date_range_sql",
    "sql_over_rows",
    "star_tables_for",
]
