"""``load_manifest`` is one definition: both warehouses render the same columns, types and
comments, and a DuckDB file of an earlier release is upgraded in place."""

from __future__ import annotations

import duckdb

from treasury_lakehouse.warehouse import pg_ddl
from treasury_lakehouse.warehouse.duckdb_ddl import ensure_manifest
from treasury_lakehouse.warehouse.manifest import LOAD_MANIFEST, NOT_NULL

#: how DuckDB's catalog spells the definition's types
SPELLED = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}


def spelled(sql_type: str) -> str:
    return SPELLED.get(sql_type, sql_type)


def duckdb_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str | None]]:
    return con.execute(
        "SELECT column_name, data_type, comment FROM duckdb_columns() "
        "WHERE table_name = 'load_manifest' ORDER BY column_index"
    ).fetchall()


def test_a_new_duckdb_manifest_has_the_definitions_columns_types_and_comments() -> None:
    with duckdb.connect() as con:
        ensure_manifest(con)
        ensure_manifest(con)  # idempotent: every load runs it
        want = [(c.name, spelled(c.sql_type), c.description) for c in LOAD_MANIFEST.columns]
        assert duckdb_columns(con) == want
        nullable = con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'load_manifest' "
            "AND NOT is_nullable"
        ).fetchall()
        assert {r[0] for r in nullable} == NOT_NULL


def test_an_old_duckdb_manifest_is_upgraded_keeping_its_rows() -> None:
    with duckdb.connect() as con:
        con.execute(
            "CREATE TABLE load_manifest (run_id VARCHAR, table_name VARCHAR, row_count BIGINT, "
            "lake_version VARCHAR, bronze_batches VARCHAR, loaded_at TIMESTAMPTZ)"
        )
        con.execute(
            "INSERT INTO load_manifest VALUES ('old', 't', 3, 'v1', 'b1,b2', now()), "
            "('old', 'u', 0, 'v1', '', now())"
        )
        ensure_manifest(con)
        rows = con.execute(
            "SELECT table_name, bronze_batches, lake_commit FROM load_manifest ORDER BY 1"
        ).fetchall()
        assert rows == [("t", ["b1", "b2"], None), ("u", [], None)]
        types = {c[0]: c[1] for c in duckdb_columns(con)}
        assert types == {c.name: spelled(c.sql_type) for c in LOAD_MANIFEST.columns}


def test_postgres_renders_the_same_definition() -> None:
    statements = [s.as_string() for s in pg_ddl.manifest_sql()]
    create = statements[0]
    for column in LOAD_MANIFEST.columns:
        rendered = f'"{column.name}" {pg_ddl.pg_type(column.sql_type)}'
        assert rendered + (" NOT NULL" if column.name in NOT_NULL else "") in create
        assert any(
            s.startswith('COMMENT ON COLUMN "public"."load_manifest"."' + column.name + '"')
            and column.description.replace("'", "''") in s
            for s in statements
        ), column.name
    assert pg_ddl.pg_type("VARCHAR[]") == "text[]"
    assert 'PRIMARY KEY ("run_id", "table_name")' in create
