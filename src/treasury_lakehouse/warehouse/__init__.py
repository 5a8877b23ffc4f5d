"""Warehouses: the embedded DuckDB file (default) and PostgreSQL. Imported only when chosen."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from treasury_lakehouse.config import Settings
    from treasury_lakehouse.warehouse.base import Warehouse


def open_warehouse(settings: Settings, incremental: bool = True) -> Warehouse:
    """The warehouse named by ``settings.warehouse`` (``duckdb:///path`` or ``postgresql://``).

    ``incremental=False``: the embedded file is rebuilt whole, never from what it held, and
    PostgreSQL plans from every row of the lake, not from the lake commit's changes (a load from
    another lake than its last one: ``--as-of``)."""
    if settings.warehouse_kind == "duckdb":
        from treasury_lakehouse.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse(
            settings.duckdb_warehouse_path,
            quality_lake=settings.lake,
            incremental=incremental,
        )
    from treasury_lakehouse.warehouse.postgres import PostgresWarehouse  # type: ignore[import-not-found,unused-ignore]

    return PostgresWarehouse(settings.warehouse, plan_from_changes=incremental)  # type: ignore[no-any-return,unused-ignore]
