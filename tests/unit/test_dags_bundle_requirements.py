"""The DAG bundle's requirements: pins from constraints.txt, the closure walked with markers."""

from __future__ import annotations

import pytest

from treasury_lakehouse.errors import ConfigError
from treasury_lakehouse.orchestration.bundle import (
    pinned_requirements,
    project_requirements,
    read_pins,
    runtime_closure,
)

METADATA = {
    "httpx": ["anyio", "certifi", "brotli; extra == 'brotli'"],
    "anyio": ["idna>=2.8", "exceptiongroup>=1.0.2; python_version < '3.11'"],
    "certifi": [],
    "idna": [],
    "psycopg": ["typing-extensions>=4.6", "psycopg-binary==3.3.9; extra == 'binary'"],
    "psycopg-binary": [],
    "typing-extensions": [],
    "apache-airflow": ["sqlalchemy"],
}


def test_read_pins_keys_by_canonical_name_and_keeps_the_spelling() -> None:
    pins = read_pins("# pins\ntyping_extensions==4.16.0\n\nPyYAML==6.0.4  # yaml\n")
    assert pins == {"typing-extensions": "typing_extensions==4.16.0", "pyyaml": "PyYAML==6.0.4"}
    with pytest.raises(ConfigError, match="line 1: 'duckdb>=1' is not name==version"):
        read_pins("duckdb>=1")


def test_project_requirements_add_the_extras_asked_for() -> None:
    pyproject = {
        "project": {"dependencies": ["httpx>=0.27"], "optional-dependencies": {"pg": ["psycopg"]}}
    }
    assert project_requirements(pyproject, ["pg"]) == ["httpx>=0.27", "psycopg"]
    with pytest.raises(ConfigError, match="no extra 'spark' \\(known: pg\\)"):
        project_requirements(pyproject, ["spark"])


def test_closure_follows_extras_and_markers_and_leaves_airflow_out() -> None:
    names = runtime_closure(
        ["httpx>=0.27", "psycopg[binary]>=3.2", "apache-airflow>=3.3"], METADATA.__getitem__
    )
    # no brotli (extra not asked for), no exceptiongroup (Python 3.11+), no Airflow closure
    assert names == [
        "anyio",
        "certifi",
        "httpx",
        "idna",
        "psycopg",
        "psycopg-binary",
        "typing-extensions",
    ]


def test_every_name_needs_a_pin() -> None:
    pins = {"httpx": "httpx==0.28.1"}
    assert pinned_requirements(["httpx"], pins) == ["httpx==0.28.1"]
    with pytest.raises(ConfigError, match="pins no version of anyio"):
        pinned_requirements(["httpx", "anyio"], pins)
