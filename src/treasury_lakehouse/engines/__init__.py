"""Transform engines. The registry imports an engine only when it is chosen (pyspark is heavy)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from treasury_lakehouse.errors import ConfigError, EngineError

if TYPE_CHECKING:
    from treasury_lakehouse.config import Settings
    from treasury_lakehouse.engines.base import Engine
    from treasury_lakehouse.engines.spark_lake import SharedLake


def spark_memory_conf(settings: Settings) -> dict[str, str]:
    """``spark.driver.memory`` from the memory limit, when one is set (in local mode the driver
    holds the executors, so it bounds the whole engine)."""
    limit = settings.memory_limit_bytes
    if limit is None:
        return {}
    return {"spark.driver.memory": f"{max(1, limit // 2**20)}m"}


def spark_driver_conf(settings: Settings) -> dict[str, str]:
    """Where a cluster's executors reach the driver: ``TREASURY_SPARK_DRIVER_HOST`` (e.g. the
    container's host name in Docker Compose), the driver then listening on every interface; by
    default nothing, and the driver stays on 127.0.0.1."""
    if not settings.spark_driver_host:
        return {}
    return {
        "spark.driver.host": settings.spark_driver_host,
        "spark.driver.bindAddress": "0.0.0.0",
    }


def shared_lake(settings: Settings) -> SharedLake | None:
    """For a Spark cluster and a lake in a bucket: the bucket, whose URIs the executors get
    (:mod:`.spark_lake`). ``None`` in local mode, whose executors read the driver's cache, and
    for a lake in a folder."""
    if settings.remote_lake is None or settings.spark_master.startswith("local"):
        return None
    from treasury_lakehouse.engines.spark_lake import SharedLake, spark_lake_uri
    from treasury_lakehouse.lake.remote import attach

    mirror = attach(settings, pull=False)
    if mirror is None:
        return None
    return SharedLake(spark_lake_uri(mirror.uri), mirror.store, mirror.root)


def open_engine(settings: Settings) -> Engine:
    """The engine the settings name (``duckdb`` or ``spark``)."""
    if settings.engine == "duckdb":
        from treasury_lakehouse.engines.duckdb import DuckDBEngine

        return DuckDBEngine(settings)
    if settings.engine == "spark":
        try:
            from treasury_lakehouse.engines.spark import SparkEngine
        except ImportError as error:
            raise EngineError(
                f"the spark engine needs pyspark and sqlglot ({error}): "
                "pip install 'treasury-lakehouse[spark]' (make setup installs it)"
            ) from error
        conf = {**spark_memory_conf(settings), **spark_driver_conf(settings)}
        return SparkEngine(master=settings.spark_master, conf=conf, shared=shared_lake(settings))
    raise ConfigError(f"unknown engine {settings.engine!r}")
