"""``load_manifest``: one row per table and warehouse load, defined once for both warehouses.

Its columns, types (DuckDB's, mapped to PostgreSQL's by :func:`~.pg_ddl.pg_type`) and comments are
this one :class:`~.base.WarehouseTable`; :func:`~.duckdb_ddl.manifest_sql` and
:func:`~.pg_ddl.manifest_sql` render it. Both create it if missing and add any column an older
database lacks, so a database loaded by an earlier release keeps its rows.
"""

from __future__ import annotations

from treasury_lakehouse.models.registry import Column
from treasury_lakehouse.warehouse.base import WarehouseTable

LOAD_MANIFEST = WarehouseTable(
    name="load_manifest",
    comment="One row per table and warehouse load: run id, lake version and bronze batches "
    "loaded, rows, checksum, how it was written (full, incremental or unchanged) and when",
    columns=(
        Column("run_id", "VARCHAR", "pipeline run that loaded the table"),
        Column("table_name", "VARCHAR", "warehouse table (schema public)"),
        Column(
            "mode",
            "VARCHAR",
            "create (table swapped in), full (every row rewritten, or the embedded warehouse's "
            "file rebuilt), incremental (changed slices rewritten) or unchanged",
        ),
        Column("row_count", "BIGINT", "rows of the table after the load (rows)"),
        Column(
            "rows_written",
            "BIGINT",
            "rows copied and written by this load (rows); NULL for an incremental load of the "
            "embedded warehouse",
        ),
        Column(
            "checksum",
            "VARCHAR",
            "checksum of the table's content, equal to the lake's; NULL in the embedded "
            "warehouse, which computes none",
        ),
        Column(
            "lake_version", "VARCHAR", "lake version (silver/gold build) the table was loaded from"
        ),
        Column("bronze_batches", "VARCHAR[]", "bronze batch ids the lake version was built from"),
        Column("loaded_at", "TIMESTAMPTZ", "when the load committed (UTC)"),
        Column(
            "lake_commit",
            "BIGINT",
            "sequence number of the lake commit loaded (<lake>/_commits/<seq>.json)",
        ),
    ),
    primary_key=("run_id", "table_name"),
)

#: columns every load fills (the others may be NULL, see their comments)
NOT_NULL = frozenset({"run_id", "table_name", "mode", "row_count", "bronze_batches", "loaded_at"})
