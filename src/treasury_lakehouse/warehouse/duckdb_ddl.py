"""Table definitions of the embedded DuckDB warehouse, and how to compare a file's with them.

An incremental load rewrites rows in place, so it is only allowed on a file whose tables, columns,
types, keys, indexes and comments are exactly those a full load would create
(:func:`definitions` of the file equal :func:`expected_definitions`).
"""

from __future__ import annotations

import duckdb

from treasury_lakehouse.sql_quote import quote_ident as _q
from treasury_lakehouse.sql_quote import quote_literal as _lit
from treasury_lakehouse.warehouse.base import WarehouseTable
from treasury_lakehouse.warehouse.manifest import LOAD_MANIFEST
from treasury_lakehouse.warehouse.manifest import NOT_NULL as MANIFEST_NOT_NULL
from treasury_lakehouse.warehouse.star import duckdb_define_sql, star_tables_for

#: history tables kept across loads (created by other parts of the pipeline); not compared
HISTORY_TABLES = (LOAD_MANIFEST.name, "quality_results")


def create_table_sql(table: WarehouseTable) -> str:
    columns = [f"{_q(c.name)} {c.sql_type}" for c in table.columns]
    if table.primary_key:
        columns.append(f"PRIMARY KEY ({', '.join(_q(c) for c in table.primary_key)})")
    return f"CREATE TABLE {_q(table.name)} (\n  " + ",\n  ".join(columns) + "\n)"


def define_table_sql(table: WarehouseTable) -> list[str]:
    """The table, its unique index (a natural key with nullable parts) and its comments."""
    statements = [create_table_sql(table)]
    if table.unique_key:
        statements.append(
            f"CREATE UNIQUE INDEX {_q(table.name + '_natural_key')} ON {_q(table.name)} "
            f"({', '.join(_q(c) for c in table.unique_key)})"
        )
    return statements + comment_sql(table)


def comment_sql(table: WarehouseTable) -> list[str]:
    """COMMENT ON the table and each of its columns."""
    statements = [f"COMMENT ON TABLE {_q(table.name)} IS {_lit(table.comment)}"]
    statements += [
        f"COMMENT ON COLUMN {_q(table.name)}.{_q(c.name)} IS {_lit(c.description)}"
        for c in table.columns
    ]
    return statements


def definitions(con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    """Tables, columns, types, constraints, indexes and comments of the published tables."""
    history = ", ".join(_lit(t) for t in HISTORY_TABLES)
    where = f"database_name = current_database() AND table_name NOT IN ({history})"
    queries = (
        f"SELECT 'table', table_name, comment, NULL, NULL FROM duckdb_tables() WHERE {where}",
        "SELECT 'column', table_name, column_name, data_type || ' ' || is_nullable, comment "
        f"FROM duckdb_columns() WHERE {where}",
        "SELECT 'constraint', table_name, constraint_type, constraint_text, NULL "
        f"FROM duckdb_constraints() WHERE {where}",
        f"SELECT 'index', table_name, index_name, sql, NULL FROM duckdb_indexes() WHERE {where}",
    )
    rows: list[tuple[object, ...]] = []
    for query in queries:
        rows += con.execute(f"{query} ORDER BY ALL").fetchall()
    return rows


def expected_definitions(tables: list[WarehouseTable]) -> list[tuple[object, ...]]:
    """:func:`definitions` of a full load of ``tables`` (built empty in memory)."""
    with duckdb.connect() as con:
        for table in tables:
            for statement in define_table_sql(table):
                con.execute(statement)
        for star in star_tables_for({t.name for t in tables}):
            for statement in duckdb_define_sql(star):
                con.execute(statement)
        return definitions(con)


def manifest_sql() -> list[str]:
    """``load_manifest`` (:data:`~.manifest.LOAD_MANIFEST`) created if missing, with any column
    an older file lacks, and its comments.

    Unlike PostgreSQL's, it has no primary key: every load of the file records its tables (one
    PostgreSQL skips records nothing), so rerunning a run's load (an Airflow task cleared) records
    the same run id twice.
    """
    name = _q(LOAD_MANIFEST.name)
    columns = [
        f"{_q(c.name)} {c.sql_type}{' NOT NULL' if c.name in MANIFEST_NOT_NULL else ''}"
        for c in LOAD_MANIFEST.columns
    ]
    statements = [f"CREATE TABLE IF NOT EXISTS {name} (\n  " + ",\n  ".join(columns) + "\n)"]
    statements += [
        f"ALTER TABLE {name} ADD COLUMN IF NOT EXISTS {_q(c.name)} {c.sql_type}"
        for c in LOAD_MANIFEST.columns
    ]
    return statements + comment_sql(LOAD_MANIFEST)


def ensure_manifest(con: duckdb.DuckDBPyConnection) -> None:
    """Create or upgrade ``load_manifest`` in ``con``: files of earlier releases held
    ``bronze_batches`` as comma-joined text."""
    for statement in manifest_sql():
        con.execute(statement)
    row = con.execute(
        "SELECT data_type FROM duckdb_columns() WHERE database_name = current_database() "
        "AND table_name = 'load_manifest' AND column_name = 'bronze_batches'"
    ).fetchone()
    if row and row[0] == "VARCHAR":
        con.execute(
            "ALTER TABLE load_manifest ALTER bronze_batches SET DATA TYPE VARCHAR[] USING "
            "CASE WHEN bronze_batches = '' THEN [] ELSE string_split(bronze_batches, ',') END"
        )
