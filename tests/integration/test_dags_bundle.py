"""The DAG bundle for MWAA / Cloud Composer (``make dags-bundle``), loaded by a clean Airflow.

The bundle is built into a temporary folder, then a new interpreter with a fresh AIRFLOW_HOME
(sqlite, no examples) parses the bundle's ``dags/`` folder with ``DagBag``, as the managed
environment's DAG processor would after installing ``requirements.txt``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from treasury_lakehouse.orchestration.bundle import build_bundle

pytestmark = pytest.mark.airflow

REPO = Path(__file__).resolve().parents[2]
PARSE_BUNDLE = """\
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "import_errors": {path: str(error) for path, error in bag.import_errors.items()},
    "dag_ids": sorted(bag.dag_ids),
    "files": sorted({dag.fileloc for dag in bag.dags.values()}),
}))
"""


def test_the_bundle_loads_into_a_clean_dagbag_with_pinned_requirements(tmp_path: Path) -> None:
    bundle = build_bundle(REPO, tmp_path / "dags-bundle")
    dags = bundle.directory / "dags"
    assert sorted(p.name for p in dags.iterdir()) == ["treasury_medallion.py"]

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TREASURY_"))}
    env.update(AIRFLOW_HOME=str(tmp_path / "airflow"), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    parsed = subprocess.run(
        [sys.executable, "-c", PARSE_BUNDLE, str(dags)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert parsed.returncode == 0, parsed.stderr[-3000:]
    result = json.loads(parsed.stdout.strip().splitlines()[-1])
    assert result["import_errors"] == {}
    assert result["dag_ids"] == ["treasury_medallion"]
    assert result["files"] == [str(dags / "treasury_medallion.py")]

    lines = (bundle.directory / "requirements.txt").read_text().splitlines()
    requirements = [line for line in lines if line and not line.startswith("#")]
    assert requirements == list(bundle.requirements)
    assert requirements[0] == "treasury-lakehouse==0.1.0"
    assert all(r.count("==") == 1 and r.split("==")[1] for r in requirements), requirements
    names = {r.split("==")[0].lower().replace("_", "-") for r in requirements}
    assert {"duckdb", "pyarrow", "httpx", "click", "psycopg", "adbc-driver-postgresql"} <= names
    assert not any(n.startswith("apache-airflow") for n in names)  # the environment's own


def test_a_folder_that_is_not_a_bundle_is_never_replaced(tmp_path: Path) -> None:
    from treasury_lakehouse.errors import ConfigError

    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="is not a DAG bundle"):
        build_bundle(REPO, tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"
    bundle = build_bundle(REPO, tmp_path / "out")
    assert build_bundle(REPO, bundle.directory).requirements == bundle.requirements  # rebuilt
