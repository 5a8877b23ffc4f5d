"""TREASURY_MEMORY_LIMIT / --memory-limit: parsing, one-line errors, what the engines get."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from treasury_lakehouse.cli import main
from treasury_lakehouse.config import Settings, parse_memory_limit, settings_from_env
from treasury_lakehouse.duckdb_connect import remove_spill_leftovers
from treasury_lakehouse.engines import spark_driver_conf, spark_memory_conf
from treasury_lakehouse.engines.duckdb import DuckDBEngine
from treasury_lakehouse.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512MB", 512 * 10**6),
        ("2GB", 2 * 10**9),
        (" 2 gb ", 2 * 10**9),
        ("1.5GiB", int(1.5 * 2**30)),
        ("64MiB", 64 * 2**20),
        ("1TB", 10**12),
    ],
)
def test_memory_limit_units(text: str, size: int) -> None:
    assert parse_memory_limit(text) == size
    assert settings_from_env({"TREASURY_MEMORY_LIMIT": text}).memory_limit_bytes == size


@pytest.mark.parametrize("bad", ["lots", "512", "2XB", "-1GB", "1MB", "GB"])
def test_bad_variable_is_one_line_naming_it(bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_env({"TREASURY_MEMORY_LIMIT": bad})
    message = str(caught.value)
    assert message.startswith("TREASURY_MEMORY_LIMIT: ")
    assert "\n" not in message


def test_bad_flag_names_the_flag(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["transform", "--home", str(tmp_path), "--memory-limit", "2XB"]
    )
    assert result.exit_code == 2
    assert "--memory-limit" in result.output
    assert "'2XB' is not a memory size" in result.output
    assert not any(tmp_path.iterdir())  # nothing written on bad input


def _setting(con: duckdb.DuckDBPyConnection, name: str) -> str:
    row = con.execute(f"SELECT current_setting('{name}')").fetchone()
    assert row is not None
    return str(row[0])


def test_duckdb_engine_gets_the_limit_and_spills_under_home_tmp(tmp_path: Path) -> None:
    engine = DuckDBEngine(Settings(home=tmp_path, memory_limit="64MB"))
    reference = duckdb.connect()
    reference.execute("SET memory_limit = '64MB'")
    try:
        assert _setting(engine.con, "memory_limit") == _setting(reference, "memory_limit")
        spill = Path(_setting(engine.con, "temp_directory"))
        assert spill.parent == tmp_path / "tmp"
        assert spill.is_dir()
    finally:
        engine.close()
        reference.close()
    assert not spill.exists()  # removed on close


def test_no_limit_keeps_duckdb_default(tmp_path: Path) -> None:
    engine = DuckDBEngine(Settings(home=tmp_path))
    reference = duckdb.connect()
    try:
        assert _setting(engine.con, "memory_limit") == _setting(reference, "memory_limit")
    finally:
        engine.close()
        reference.close()


def test_leftovers_of_a_dead_process_are_removed(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    dead = tmp_path / "tmp" / "duckdb-999999999-abc"
    dead.mkdir(parents=True)
    (dead / "duckdb_temp_block-1.block").write_bytes(b"x")
    live = tmp_path / "tmp" / f"duckdb-{os.getpid()}-def"
    live.mkdir()
    assert remove_spill_leftovers(settings) == [dead]
    assert not dead.exists()
    assert live.is_dir()


def test_spark_driver_memory_only_when_set() -> None:
    assert spark_memory_conf(Settings()) == {}
    assert spark_memory_conf(Settings(memory_limit="2GiB")) == {"spark.driver.memory": "2048m"}


@pytest.mark.spark
def test_spark_session_gets_driver_memory() -> None:
    from treasury_lakehouse.engines import open_engine

    engine = open_engine(Settings(engine="spark", memory_limit="1GiB"))
    try:
        conf = engine.session.sparkContext.getConf()  # type: ignore[attr-defined]
        assert conf.get("spark.driver.memory") == "1024m"
    finally:
        engine.close()


def test_out_of_memory_is_one_line_naming_the_setting() -> None:
    from treasury_lakehouse.engines.duckdb import _failure

    # DuckDB's own message (seen on a 300k-row transform under 64MB), tuning advice and all
    oom = duckdb.OutOfMemoryException(
        "Out of Memory Error: could not allocate block of size 256.0 KiB (61.1 MiB/61.0 MiB used)"
        "\n\nPossible solutions:\n* Increasing the memory limit (SET memory_limit='...GB')"
    )
    message = _failure("silver model of x", oom)
    assert "\n" not in message
    assert "ran out of memory (Out of Memory Error: could not allocate" in message
    assert "TREASURY_MEMORY_LIMIT" in message


def test_spark_driver_stays_on_loopback_unless_a_driver_host_is_given() -> None:
    """In containers, executors reach the driver by its host name (TREASURY_SPARK_DRIVER_HOST)."""
    assert spark_driver_conf(Settings()) == {}
    settings = settings_from_env({"TREASURY_SPARK_DRIVER_HOST": "airflow-scheduler"})
    assert settings.spark_driver_host == "airflow-scheduler"
    assert spark_driver_conf(settings) == {
        "spark.driver.host": "airflow-scheduler",
        "spark.driver.bindAddress": "0.0.0.0",
    }
