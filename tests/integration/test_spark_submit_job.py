"""The Spark job entry point under real ``spark-submit``, as EMR / Dataproc Serverless run it.

The project's wheel is built into a temporary folder (``pip wheel --no-deps``), the entry file is
taken out of that wheel, and ``spark-submit`` runs it on a standalone cluster on 127.0.0.1 with the
wheel on ``--py-files``. The lake was ingested from the fake API beforehand; the job's commit must
hold silver and gold, and gold must equal the DuckDB engine's on a copy of the same bronze.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import make_settings, require_or_skip
from treasury_lakehouse import pipeline
from treasury_lakehouse.engines import spark_cluster
from treasury_lakehouse.lake.layout import Lake, read_build_info
from treasury_lakehouse.models.registry import GOLD_MODELS
from treasury_lakehouse.testing import FakeFiscalDataApi

pytestmark = [pytest.mark.spark, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ENTRY = "treasury_lakehouse/jobs/spark_transform.py"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built from a copy of the sources (the repo gets no build/ folder)."""
    project = tmp_path_factory.mktemp("project")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, project / name)
    shutil.copytree(REPO / "src", project / "src", ignore=shutil.ignore_patterns("*.egg-info"))
    out = tmp_path_factory.mktemp("wheels")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(project)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if built.returncode != 0:
        last = (built.stderr.strip().splitlines() or ["no output"])[-1]
        require_or_skip(f"cannot build the project's wheel (pip wheel needs its backend): {last}")
    (found,) = out.glob("treasury_lakehouse-*.whl")
    return found


def spark_submit(cluster: spark_cluster.Cluster, wheel: Path, *job_args: str) -> list[str]:
    """The command line: the entry file out of the wheel, the wheel on --py-files."""
    entry = wheel.parent / "entry" / "spark_transform.py"
    entry.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        entry.write_bytes(archive.read(ENTRY))
    return [
        str(spark_cluster.spark_home() / "bin" / "spark-submit"),
        "--master",
        cluster.master_url,
        "--conf",
        "spark.driver.host=127.0.0.1",
        "--conf",
        "spark.driver.bindAddress=127.0.0.1",
        "--py-files",
        str(wheel),
        str(entry),
        *job_args,
    ]


def submit_env() -> dict[str, str]:
    """No TREASURY_* and no PYTHONPATH of the test run: the job sees only its arguments and the
    wheel (plus this interpreter's installed dependencies, as a job's Python environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TREASURY_", "PYSPARK_"))}
    env.pop("PYTHONPATH", None)
    env.update(PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1")
    return env


def gold_rows(lake: Path) -> dict[str, list[dict[str, object]]]:
    versions = Lake(lake).published_gold()
    return {t: pq.read_table(v / f"{t}.parquet").to_pylist() for t, v in versions.items()}


def test_spark_submit_of_the_wheel_publishes_the_same_gold_as_duckdb(
    cluster: spark_cluster.Cluster, wheel: Path, fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    """The lake is a folder of its own, given as ``--lake`` beside ``--home``."""
    home, lake = tmp_path / "spark", tmp_path / "lake-folder"
    pipeline.ingest(
        make_settings(home, fake_api, lake_uri=str(lake), initial_start=date(2022, 3, 1))
    )
    shutil.copytree(lake, tmp_path / "duckdb" / "lake", symlinks=True)
    pipeline.transform(make_settings(tmp_path / "duckdb", fake_api, lake_uri=""))

    command = spark_submit(cluster, wheel, "--home", str(home), "--lake", str(lake))
    job = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=submit_env(), cwd=tmp_path
    )
    assert job.returncode == 0, job.stderr[-4000:]
    summary = job.stdout.strip().splitlines()[-1]
    assert summary.startswith("lake commit 1: silver "), summary
    assert summary.endswith(f"from {wheel})"), "the package came from the wheel"

    assert not (home / "lake").exists(), "the job built the --lake folder, not <home>/lake"
    commit = Lake(lake).require_commit()
    assert (commit.purpose, commit.engine) == ("transform", "spark")
    assert set(commit.silver) == set(make_settings(home, fake_api).datasets)
    assert set(commit.gold) == {m.name for m in GOLD_MODELS}
    assert {read_build_info(v)["engine"] for v in commit.versions("gold").values()} == {"spark"}
    spark_gold, duckdb_gold = gold_rows(lake), gold_rows(tmp_path / "duckdb" / "lake")
    assert spark_gold.keys() == duckdb_gold.keys()
    for table, rows in spark_gold.items():
        assert rows, table
        assert rows == duckdb_gold[table], table
    executors = Path(cluster.work_dir) / "worker"
    assert any(executors.glob("app-*/*/stderr")), "the transform ran on the worker's executors"


def test_spark_submit_of_a_home_without_a_lake_fails_with_one_line(
    cluster: spark_cluster.Cluster, wheel: Path, tmp_path: Path
) -> None:
    output, error = _failed_job(cluster, wheel, tmp_path, "--home", str(tmp_path / "nothing-here"))
    assert error.startswith("Error: bronze has no committed batch of "), error
    assert "Traceback" not in output


def _failed_job(
    cluster: spark_cluster.Cluster, wheel: Path, tmp_path: Path, *args: str
) -> tuple[str, str]:
    """Submit the job with ``args``: it must exit 1 with one ``Error:`` line; the whole output
    and that line."""
    command = spark_submit(cluster, wheel, *args)
    job = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=submit_env(), cwd=tmp_path
    )
    assert job.returncode == 1, job.stderr[-4000:]
    # spark-submit passes the Python driver's stderr on through its own stdout
    output = job.stdout + job.stderr
    errors = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, output[-4000:]
    return output, errors[0]


def test_spark_submit_with_a_lake_on_s3a_names_the_missing_connector_in_one_line(
    cluster: spark_cluster.Cluster, wheel: Path, tmp_path: Path
) -> None:
    output, error = _failed_job(cluster, wheel, tmp_path, "--lake", "s3a://bucket/lake")
    errors = [error]
    assert errors[0].startswith("Error: spark: s3a:// needs the Hadoop FileSystem "), errors
    assert "org.apache.hadoop.fs.s3a.S3AFileSystem from hadoop-aws " in errors[0], errors
    assert "Traceback" not in output and "ClassNotFoundException" not in output
