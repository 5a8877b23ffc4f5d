"""The one place SQL text is quoted: identifiers and string literals for DuckDB and PostgreSQL,
identifiers for Spark SQL.

Values reach SQL text only through these (paths, dates, batch ids, names from the catalog);
everything a user types goes through bind parameters instead.
"""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier (DuckDB, PostgreSQL)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: object) -> str:
    """A single-quoted SQL string literal of ``str(value)``; ``None`` is ``NULL``."""
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


def quote_spark_ident(name: str) -> str:
    """A back-quoted Spark SQL identifier."""
    return "`" + name.replace("`", "``") + "`"
