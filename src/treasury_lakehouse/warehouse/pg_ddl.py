"""PostgreSQL DDL of the warehouse, rendered from table descriptions (pure: no connection).

Every identifier goes through :class:`psycopg.sql.Identifier` and every comment through
:class:`psycopg.sql.Literal`. Column types are the DuckDB types of the models and the catalog,
mapped by :func:`pg_type`; money stays exact (``bigint`` or ``numeric``).
"""

from __future__ import annotations

import hashlib
import re

from psycopg import sql

from treasury_lakehouse.errors import WarehouseError
from treasury_lakehouse.warehouse.base import WarehouseTable
from treasury_lakehouse.warehouse.manifest import LOAD_MANIFEST
from treasury_lakehouse.warehouse.manifest import NOT_NULL as MANIFEST_NOT_NULL
from treasury_lakehouse.warehouse.star import STAR, ForeignKey

PUBLIC = "public"
STAGING = "treasury_staging"
LOAD_STATE = "treasury_load"
READER_ROLE = "treasury_reader"
#: PostgreSQL truncates identifiers longer than this
MAX_IDENTIFIER = 63

_SIMPLE_TYPES = {
    "VARCHAR": "text",
    "TEXT": "text",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "INT": "integer",
    "SMALLINT": "smallint",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMPTZ": "timestamptz",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "TIMESTAMP": "timestamp",
    "DOUBLE": "double precision",
    "HUGEINT": "numeric(38, 0)",
}
_DECIMAL = re.compile(r"^(?:DECIMAL|NUMERIC)\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


def pg_type(duckdb_type: str) -> str:
    """The PostgreSQL type of a DuckDB column type (``DECIMAL(20, 2)`` → ``numeric(20, 2)``,
    ``VARCHAR[]`` → ``text[]``)."""
    normalized = " ".join(duckdb_type.upper().split())
    if normalized.endswith("[]"):
        return pg_type(normalized[:-2]) + "[]"
    if normalized in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[normalized]
    match = _DECIMAL.match(normalized)
    if match:
        return f"numeric({match.group(1)}, {match.group(2)})"
    raise WarehouseError(f"no PostgreSQL type for the column type {duckdb_type!r}")


def _name(*parts: str, suffix: str) -> str:
    """A constraint or index name within PostgreSQL's 63 characters (hashed when longer)."""
    base = "_".join(parts)
    if len(base) + len(suffix) + 1 <= MAX_IDENTIFIER:
        return f"{base}_{suffix}"
    digest = hashlib.sha1(base.encode()).hexdigest()[:8]
    return f"{base[: MAX_IDENTIFIER - len(suffix) - 10]}_{digest}_{suffix}"


def ident(schema: str, name: str) -> sql.Composed:
    """``"schema"."name"``, both quoted."""
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def column_list(table: WarehouseTable) -> sql.Composed:
    """The table's columns, quoted, in order."""
    return sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns)


def _columns(names: tuple[str, ...]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def definition_hash(table: WarehouseTable) -> str:
    """Changes whenever the table's columns, types or keys change (then it is reloaded in full)."""
    text = repr(
        (
            [(c.name, pg_type(c.sql_type)) for c in table.columns],
            table.primary_key,
            table.unique_key,
            STAR.get(table.name),
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def create_table(schema: str, table: WarehouseTable) -> sql.Composed:
    """CREATE TABLE without constraints (they are added after COPY, which is faster)."""
    columns = sql.SQL(",\n  ").join(
        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(pg_type(c.sql_type)))
        for c in table.columns
    )
    return sql.SQL("CREATE TABLE {}.{} (\n  {}\n)").format(
        sql.Identifier(schema), sql.Identifier(table.name), columns
    )


def key_constraints(schema: str, table: WarehouseTable) -> list[sql.Composed]:
    """Primary key, natural unique key (NULLS NOT DISTINCT), star unique keys and indexes; each
    index commented with the constraint or question it serves."""
    target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table.name))
    statements = []

    def commented(name: str, serves: str) -> None:
        statements.append(
            sql.SQL("COMMENT ON INDEX {}.{} IS {}").format(
                sql.Identifier(schema), sql.Identifier(name), sql.Literal(f"serves {serves}")
            )
        )

    if table.primary_key:
        name = _name(table.name, suffix="pkey")
        statements.append(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
                target, sql.Identifier(name), _columns(table.primary_key)
            )
        )
        commented(name, "the primary key (the grain), and lookups and ranges on its columns")
    uniques = [table.unique_key] if table.unique_key else []
    star = STAR.get(table.name)
    uniques += list(star.unique) if star else []
    for columns in uniques:
        name = _name(table.name, *columns, suffix="key")
        statements.append(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} UNIQUE NULLS NOT DISTINCT ({})").format(
                target, sql.Identifier(name), _columns(columns)
            )
        )
        commented(name, "the natural key's uniqueness, and natural-key lookups")
    for index in star.indexes if star else ():
        name = _name(table.name, *index.columns, suffix="idx")
        statements.append(
            sql.SQL("CREATE INDEX {} ON {} ({})").format(
                sql.Identifier(name), target, _columns(index.columns)
            )
        )
        commented(name, index.serves)
    return statements


def comments(schema: str, table: WarehouseTable) -> list[sql.Composed]:
    """COMMENT ON the table and every column (meaning and unit)."""
    target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table.name))
    statements = [sql.SQL("COMMENT ON TABLE {} IS {}").format(target, sql.Literal(table.comment))]
    for column in table.columns:
        statements.append(
            sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(
                target, sql.Identifier(column.name), sql.Literal(column.description)
            )
        )
    return statements


def foreign_key_name(table: str, fk: ForeignKey) -> str:
    return _name(table, fk.column, suffix="fkey")


def add_foreign_key(table: str, fk: ForeignKey) -> sql.Composed:
    """A foreign key checked at commit, so a load can replace a dimension and its facts."""
    return sql.SQL(
        "ALTER TABLE {}.{} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {}.{} ({}) "
        "DEFERRABLE INITIALLY DEFERRED"
    ).format(
        sql.Identifier(PUBLIC),
        sql.Identifier(table),
        sql.Identifier(foreign_key_name(table, fk)),
        sql.Identifier(fk.column),
        sql.Identifier(PUBLIC),
        sql.Identifier(fk.table),
        sql.Identifier(fk.ref_column),
    )


BOOKKEEPING = [
    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(LOAD_STATE)),
    sql.SQL(
        "CREATE TABLE IF NOT EXISTS {}.published_tables (table_name text PRIMARY KEY, "
        "definition_hash text NOT NULL, checksum text NOT NULL, lake_version text)"
    ).format(sql.Identifier(LOAD_STATE)),
    sql.SQL(
        "CREATE TABLE IF NOT EXISTS {}.published_slices (table_name text, slice integer, "
        "row_count bigint NOT NULL, checksum text NOT NULL, PRIMARY KEY (table_name, slice))"
    ).format(sql.Identifier(LOAD_STATE)),
]


def manifest_sql() -> list[sql.Composed]:
    """``load_manifest`` (:data:`~.manifest.LOAD_MANIFEST`) created if missing, with any column
    an older database lacks, and its comments."""
    target = ident(PUBLIC, LOAD_MANIFEST.name)
    columns = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(c.name),
            sql.SQL(pg_type(c.sql_type)),
            sql.SQL(" NOT NULL" if c.name in MANIFEST_NOT_NULL else ""),
        )
        for c in LOAD_MANIFEST.columns
    ]
    columns.append(sql.SQL("PRIMARY KEY ({})").format(_columns(LOAD_MANIFEST.primary_key)))
    statements = [
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (\n  {}\n)").format(
            target, sql.SQL(",\n  ").join(columns)
        )
    ]
    statements += [
        sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
            target, sql.Identifier(c.name), sql.SQL(pg_type(c.sql_type))
        )
        for c in LOAD_MANIFEST.columns
    ]
    statements.append(
        sql.SQL("COMMENT ON INDEX {} IS {}").format(
            ident(PUBLIC, f"{LOAD_MANIFEST.name}_pkey"),
            sql.Literal("serves the primary key: one row per run and table loaded"),
        )
    )
    return statements + comments(PUBLIC, LOAD_MANIFEST)
