"""The Spark engine's SQL: SQLGlot's DuckDB → Spark transpiling, its one override, and Java.

No JVM is started here: these check the SQL text and the up-front Java check. That the transpiled
models give DuckDB's results on Spark is tests/integration/test_engine_parity.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlglot
from click.testing import CliRunner
from sqlglot import expressions as exp

from treasury_lakehouse.catalog import DATASETS, PUBLIC_DEBT_TRANSACTIONS
from treasury_lakehouse.cli import main
from treasury_lakehouse.engines.spark import SparkEngine, to_spark_sql
from treasury_lakehouse.errors import EngineError
from treasury_lakehouse.models.registry import GOLD_MODELS
from treasury_lakehouse.models.silver import PATTERNS, silver_sql


def test_silver_model_constructs_translate_to_spark_sql() -> None:
    spark = to_spark_sql(silver_sql(PUBLIC_DEBT_TRANSACTIONS))
    assert "REGEXP_MATCHES" not in spark
    date_pattern = PATTERNS["DATE"][:-1].replace("\\", "\\\\") + "\\\\z"
    assert f"`clean_record_date` RLIKE '{date_pattern}'" in spark
    assert "TRY_CAST(`clean_record_date` AS DATE)" in spark  # NULL for 2024-02-30, as DuckDB
    assert "CAST(`clean_transaction_today_amt` AS BIGINT)" in spark
    assert "CAST(`clean_src_line_nbr` AS INT)" in spark
    # DuckDB's CONCAT skips NULLs; Spark's returns NULL, so SQLGlot wraps each part
    assert "CONCAT('transaction_today_amt: not a CURRENCY0: ', COALESCE(" in spark
    assert "CONCAT_WS('; ', CASE WHEN" in spark
    # versions match on the key (a window partition groups NULLs together, in both engines)
    assert "ROW_NUMBER() OVER (PARTITION BY v.`record_date`, v.`transaction_type`" in spark
    assert "key_seq IS DISTINCT FROM authority_seq" in spark  # a deleted key


def test_currency_becomes_an_exact_decimal_on_spark() -> None:
    for dataset in DATASETS.values():
        assert "DOUBLE" not in to_spark_sql(silver_sql(dataset)).upper()
    sql = "SELECT CAST(x AS DECIMAL(20, 2)) AS amount FROM t"
    assert to_spark_sql(sql) == "SELECT CAST(x AS DECIMAL(20, 2)) AS amount FROM t"


def test_gold_models_transpile_without_loss() -> None:
    for model in GOLD_MODELS:
        spark = to_spark_sql(model.sql)
        assert "DOUBLE" not in spark.upper() and "FLOAT" not in spark.upper()
        # the Spark SQL parses back and selects exactly the registry's columns, in order
        selected = sqlglot.parse_one(spark, read="spark")
        assert isinstance(selected, exp.Query), model.name
        assert selected.named_selects == model.column_names, model.name
    growth = to_spark_sql(next(m.sql for m in GOLD_MODELS if m.name.endswith("debt_growth")))
    # DuckDB sorts NULLs last by default, Spark first: SQLGlot makes the order explicit
    assert "ORDER BY year NULLS LAST, month NULLS LAST" in growth
    assert "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW" in growth


@pytest.mark.parametrize("api_type", sorted(PATTERNS))
def test_override_anchors_patterns_at_the_end_of_the_text(api_type: str) -> None:
    """Why the Spark override exists.

    DuckDB's regular expressions (RE2) read a final ``$`` as the end of the text. Java's, which
    Spark's RLIKE uses, also let ``$`` match just before a final line break, like Python's ``re``
    below; Spark's casts then trim that line break, so ``'12\\n'`` would become 12 on Spark and a
    quarantined row on DuckDB. The override ends each pattern with ``\\z`` (end of text) instead.
    """
    pattern = PATTERNS[api_type]
    samples = {"DATE": "2024-01-02", "CURRENCY": "12.50", "YEAR": "2024"}
    sample = samples.get(api_type, "1")
    assert re.search(pattern, sample + "\n"), "Java and Python: $ matches before a final \\n"
    spark = to_spark_sql(f"SELECT REGEXP_MATCHES(x, '{pattern}') FROM t")
    [written] = re.findall(r"RLIKE '(.*)' FROM t$", spark)
    spark_pattern = written.replace("\\\\", "\\")  # the Spark string literal's escapes undone
    assert spark_pattern == pattern[:-1] + r"\z"
    as_python = spark_pattern.replace(r"\z", r"\Z")  # Java's end of text is Python's \Z
    assert re.search(as_python, sample) and not re.search(as_python, sample + "\n")


def test_a_dollar_inside_a_pattern_is_left_alone() -> None:
    assert (
        to_spark_sql(r"SELECT REGEXP_MATCHES(x, '^\$') FROM t") == r"SELECT x RLIKE '^\\$' FROM t"
    )


def test_missing_java_is_reported_before_any_jvm_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(EngineError, match=r"needs Java 17.*openjdk-17-jre-headless"):
        SparkEngine()


def test_the_cli_says_java_is_missing_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    home = tmp_path / "home"
    result = CliRunner().invoke(main, ["transform", "--home", str(home), "--engine", "spark"])
    assert result.exit_code == 1
    assert "Error: " in result.output and "needs Java 17" in result.output


def test_a_java_that_cannot_run_spark_is_reported_with_the_requirement(tmp_path: Path) -> None:
    fake_java = tmp_path / "java"
    fake_java.write_text('#!/bin/sh\necho "Error: UnsupportedClassVersionError" >&2\nexit 1\n')
    fake_java.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "SPARK_HOME")}
    env["PATH"] = f"{tmp_path}{os.pathsep}{env.get('PATH', '')}"
    code = "from treasury_lakehouse.engines.spark import SparkEngine; SparkEngine().session"
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("treasury_lakehouse.errors.EngineError: spark: cannot start a session")
    assert "Java 17" in last


def test_without_the_spark_extra_the_registry_says_what_to_install(tmp_path: Path) -> None:
    hide = tmp_path / "pyspark"  # a package that fails to import, shadowing the real one
    hide.mkdir()
    (hide / "__init__.py").write_text("raise ImportError('No module named pyspark')\n")
    code = (
        "from treasury_lakehouse.config import Settings\n"
        "from treasury_lakehouse.engines import open_engine\n"
        "open_engine(Settings(engine='spark'))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("treasury_lakehouse.errors.EngineError: the spark engine needs pyspark")
    assert "treasury-lakehouse[spark]" in last
