"""The Spark engine reads the lake by its real paths: a home named with glob characters works.

Reproduction (issue #9, part 7): Spark's ``DataFrameReader.parquet`` expands every path as a
Hadoop glob, so ``treasury transform --engine spark`` in a home named ``we[i]rd*?`` stopped with
``[PATH_NOT_FOUND] Path does not exist: file:/.../we[i]rd*?/lake/bronze/...``. The commands run
through the real CLI (CliRunner) against the demo's fake API; the DuckDB warehouse lives outside
the home, because DuckDB cannot write a file whose path holds a ``?``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from treasury_lakehouse.cli import main
from treasury_lakehouse.models.registry import GOLD_MODELS
from treasury_lakehouse.warehouse.duckdb import DuckDBWarehouse

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _invoke(*args: str) -> Result:
    clean: dict[str, str | None] = {n: None for n in os.environ if n.startswith("TREASURY_")}
    return CliRunner(env=clean).invoke(main, list(args))


def test_spark_transform_in_a_home_with_glob_characters_builds_the_duckdb_gold(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "we[i]rd*?{a,b}"
    decoy = tmp_path / "weirdXY{a,b}"  # what the unescaped glob `we[i]rd*?` would also match
    decoy.mkdir()
    by_duckdb, by_spark = tmp_path / "duckdb.duckdb", tmp_path / "spark.duckdb"

    demo = _invoke("demo", "--home", str(home), "--warehouse", f"duckdb:///{by_duckdb}")
    assert demo.exit_code == 0, demo.output
    capfd.readouterr()
    warehouse = f"duckdb:///{by_spark}"
    transform = _invoke(
        "transform", "--engine", "spark", "--home", str(home), "--warehouse", warehouse
    )
    assert transform.exit_code == 0, transform.output
    stderr = capfd.readouterr().err
    assert "Setting default log level" not in stderr  # the driver logs errors only
    for command in ("check", "load"):
        result = _invoke(command, "--home", str(home), "--warehouse", warehouse)
        assert result.exit_code == 0, (command, result.output)

    spark_wh, duckdb_wh = DuckDBWarehouse(by_spark), DuckDBWarehouse(by_duckdb)
    for model in GOLD_MODELS:
        rows = spark_wh.table_rows(model.name)
        assert rows, model.name
        assert rows == duckdb_wh.table_rows(model.name), model.name
    assert not any(decoy.iterdir())
