"""DuckDB DDL of the star tables: CREATE TABLE with their keys, and COMMENT statements.

(The PostgreSQL DDL of every warehouse table, star tables included, is
:mod:`treasury_lakehouse.warehouse.pg_ddl`.)
"""

from __future__ import annotations

from treasury_lakehouse.sql_quote import quote_ident as _q
from treasury_lakehouse.sql_quote import quote_literal as _lit
from treasury_lakehouse.warehouse.star.tables import StarTable


def duckdb_create_sql(table: StarTable) -> str:
    """CREATE TABLE of a star table in DuckDB, with its primary, unique and foreign keys."""
    parts = [f"{_q(c.name)} {c.sql_type}" for c in table.columns]
    parts.append(f"PRIMARY KEY ({', '.join(_q(c) for c in table.primary_key)})")
    parts += [f"UNIQUE ({', '.join(_q(c) for c in u)})" for u in table.unique]
    parts += [
        f"FOREIGN KEY ({_q(fk.column)}) REFERENCES {_q(fk.table)} ({_q(fk.ref_column)})"
        for fk in table.foreign_keys
    ]
    return f"CREATE TABLE {_q(table.name)} (\n  " + ",\n  ".join(parts) + "\n)"


def duckdb_define_sql(table: StarTable) -> list[str]:
    """CREATE TABLE and COMMENT statements of a star table in DuckDB (no rows)."""
    statements = [
        duckdb_create_sql(table),
        f"COMMENT ON TABLE {_q(table.name)} IS {_lit(table.comment)}",
    ]
    statements += [
        f"COMMENT ON COLUMN {_q(table.name)}.{_q(column.name)} IS {_lit(column.description)}"
        for column in table.columns
    ]
    return statements
