"""The whole pipeline on a standalone Spark cluster (a master and one worker on 127.0.0.1).

``spark_cluster.start`` launches both from the installed pyspark on free ports; ``pipeline.run``
with ``spark://...`` ingests from the fake API, transforms on the cluster's executors (separate
JVMs reading and writing the lake by absolute path) and loads the embedded DuckDB warehouse, which
must then hold the same gold as a run of the DuckDB engine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import make_settings
from treasury_lakehouse import pipeline
from treasury_lakehouse.engines import spark_cluster
from treasury_lakehouse.errors import EngineError
from treasury_lakehouse.lake.lock import pid_alive
from treasury_lakehouse.models.registry import GOLD_MODELS
from treasury_lakehouse.testing import FakeFiscalDataApi
from treasury_lakehouse.warehouse.duckdb import DuckDBWarehouse

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_start_refuses_a_second_cluster_in_the_same_folder(
    cluster: spark_cluster.Cluster,
) -> None:
    assert spark_cluster.status(Path(cluster.work_dir)) == cluster
    with pytest.raises(EngineError, match="already running"):
        spark_cluster.start(Path(cluster.work_dir), master_port=spark_cluster.free_port())


def test_pipeline_on_the_cluster_loads_the_same_gold_as_duckdb(
    cluster: spark_cluster.Cluster, fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    on_spark = make_settings(
        tmp_path / "spark", fake_api, engine="spark", spark_master=cluster.master_url
    )
    on_duckdb = make_settings(tmp_path / "duckdb", fake_api)
    spark_run = pipeline.run(on_spark)
    duckdb_run = pipeline.run(on_duckdb)

    assert spark_run.transform.silver == duckdb_run.transform.silver
    assert spark_run.transform.gold == duckdb_run.transform.gold
    assert set(spark_run.transform.gold) == {m.name for m in GOLD_MODELS}
    assert pipeline.status(on_spark)["gold"] == pipeline.status(on_duckdb)["gold"]
    spark_wh = DuckDBWarehouse(on_spark.duckdb_warehouse_path)
    duckdb_wh = DuckDBWarehouse(on_duckdb.duckdb_warehouse_path)
    for model in GOLD_MODELS:
        rows = spark_wh.table_rows(model.name)
        assert rows, model.name
        assert rows == duckdb_wh.table_rows(model.name), model.name
    executors = Path(cluster.work_dir) / "worker"
    assert any(executors.glob("app-*/*/stderr")), "the transform ran on the worker's executors"


def test_stop_ends_master_and_worker(tmp_path: Path) -> None:
    started = spark_cluster.start(
        tmp_path / "work",
        master_port=spark_cluster.free_port(),
        master_webui_port=spark_cluster.free_port(),
        worker_cores=1,
        worker_memory="512m",
    )
    assert spark_cluster.stop(tmp_path / "work")
    assert spark_cluster.status(tmp_path / "work") is None
    for pid in (started.master_pid, started.worker_pid):
        assert not pid_alive(pid)
    assert not spark_cluster.stop(tmp_path / "work")
