"""Transform engines. The registry imports an engine only when it is chosen (pyspark is heavy)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from treasury_lakehouse.errors import ConfigError

if TYPE_CHECKING:
    from treasury_lakehouse.config import Settings
    from treasury_lakehouse.engines.base import Engine


def open_engine(settings: Settings) -> Engine:
    """The engine the settings name (``duckdb`` or ``spark``)."""
    if settings.engine == "duckdb":
        from treasury_lakehouse.engines.duckdb import DuckDBEngine

        return DuckDBEngine()
    if settings.engine == "spark":
        from treasury_lakehouse.engines.spark import SparkEngine  # type: ignore[import-not-found,unused-ignore]

        return SparkEngine(master=settings.spark_master)  # type: ignore[no-any-return,unused-ignore]
    raise ConfigError(f"unknown engine {settings.engine!r}")
