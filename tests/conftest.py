"""Shared fixtures: the fake Fiscal Data API (real HTTP on 127.0.0.1), records folders, settings.

Every test that needs an outside service (PostgreSQL, Java, the real records) goes through
:func:`require_or_skip` when the service is missing: a skip on a developer's machine, a failure
under ``TREASURY_REQUIRE_SERVICES=1`` (set by ``.ci/run``), so a green CI means the whole suite ran.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import pytest

from treasury_lakehouse.config import Settings
from treasury_lakehouse.engines import open_engine
from treasury_lakehouse.engines.base import Engine
from treasury_lakehouse.testing import FakeFiscalDataApi, generate_records
from treasury_lakehouse.testing.browser import find_chromium
from treasury_lakehouse.testing.object_servers import (
    TEST_BUCKET,
    LocalServer,
    ServerUnavailable,
    create_bucket,
    start_gcs_server,
    start_s3_server,
)

REPO = Path(__file__).resolve().parents[1]
SHARED_RECORDS = Path(os.environ.get("TREASURY_SHARED_DATA", REPO.parent / "shared" / "fiscaldata"))
REQUIRE_SERVICES_VARIABLE = "TREASURY_REQUIRE_SERVICES"


def services_required() -> bool:
    """True when a missing service must fail the test instead of skipping it."""
    return os.environ.get(REQUIRE_SERVICES_VARIABLE, "").strip() == "1"


def require_or_skip(reason: str) -> NoReturn:
    """Skip the test for a missing service, or fail it under ``TREASURY_REQUIRE_SERVICES=1``."""
    if services_required():
        pytest.fail(f"{reason} ({REQUIRE_SERVICES_VARIABLE}=1: every service must be there)")
    pytest.skip(reason)


def java_found() -> bool:
    """A ``java`` on the PATH or under ``JAVA_HOME`` (what the Spark engine checks first)."""
    home = os.environ.get("JAVA_HOME")
    return shutil.which("java") is not None or bool(home and (Path(home) / "bin" / "java").exists())


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Spark tests need Java 17, browser tests Chromium: without them they skip (fail under
    TREASURY_REQUIRE_SERVICES=1)."""
    if item.get_closest_marker("spark") and not java_found():
        require_or_skip(
            "Spark needs Java 17 and none was found (apt install openjdk-17-jre-headless)"
        )
    if item.get_closest_marker("chromium") and find_chromium() is None:
        require_or_skip("headless Chromium not found on the PATH (apt-get install chromium)")


@pytest.fixture(scope="session")
def shared_records() -> Path:
    """The real Fiscal Data records of ../shared/fiscaldata; tests using it skip when absent
    (fail under ``TREASURY_REQUIRE_SERVICES=1``)."""
    if not (SHARED_RECORDS / "records").is_dir():
        require_or_skip(f"real records not found at {SHARED_RECORDS} (set TREASURY_SHARED_DATA)")
    return SHARED_RECORDS


@pytest.fixture(scope="session")
def synthetic_records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated records folder 2021-09-01..2022-05-31 (all three cash-balance layouts)."""
    out = tmp_path_factory.mktemp("synthetic") / "records"
    generate_records(out, date(2021, 9, 1), date(2022, 5, 31), seed=7)
    return out


@pytest.fixture
def fake_api(synthetic_records: Path) -> Iterator[FakeFiscalDataApi]:
    with FakeFiscalDataApi(synthetic_records) as api:
        yield api


@pytest.fixture
def real_api(shared_records: Path) -> Iterator[FakeFiscalDataApi]:
    with FakeFiscalDataApi(shared_records) as api:
        yield api


#: ``TREASURY_TEST_LAKE=s3`` (or ``gs``): every lake :func:`make_settings` makes is in a bucket of
#: the local S3 (GCS) server, under a prefix of its own (``make test-lakes``); unset: a folder
TEST_LAKE_VARIABLE = "TREASURY_TEST_LAKE"


def make_settings(home: Path, api: FakeFiscalDataApi, **overrides: object) -> Settings:
    """Settings for a test home against a fake API (fast retries); under ``TREASURY_TEST_LAKE``
    its lake is in the local server's bucket unless the test names one."""
    values: dict[str, object] = {
        "home": home,
        "api_url": api.base_url,
        "retry_budget_s": 10.0,
        "timeout_s": 10.0,
    }
    kind = os.environ.get(TEST_LAKE_VARIABLE, "")
    if kind:
        prefix = hashlib.sha256(str(Path(home).absolute()).encode()).hexdigest()[:16]
        values["lake_uri"] = f"{kind}://{TEST_BUCKET}/suite-{prefix}"
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session", autouse=True)
def _suite_lake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Under ``TREASURY_TEST_LAKE``: its server for the whole session, in the environment."""
    kind = os.environ.get(TEST_LAKE_VARIABLE, "")
    if not kind:
        yield
        return
    if kind not in ("s3", "gs"):
        raise pytest.UsageError(f"{TEST_LAKE_VARIABLE} must be s3 or gs, not {kind!r}")
    servers = _object_server(kind, tmp_path_factory.mktemp(f"suite-{kind}"))
    server = next(servers)
    saved = {k: os.environ.get(k) for k in server.env()}
    os.environ.update(server.env())
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    servers.close()


#: every transform engine; Spark's runs are marked ``spark`` and ``slow``
ENGINES = [
    pytest.param("duckdb", id="duckdb"),
    pytest.param("spark", id="spark", marks=(pytest.mark.spark, pytest.mark.slow)),
]


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """One engine (one Spark session) per engine name for a whole test module."""
    engine = open_engine(Settings(engine=request.param))
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A standalone Spark master and one worker (2 cores, 2g) on 127.0.0.1, free ports, for one
    test module (``spark_cluster.Cluster``); stopped afterwards."""
    from treasury_lakehouse.engines import spark_cluster  # pyspark only where it is used

    work_dir = tmp_path_factory.mktemp("spark-work")
    started = spark_cluster.start(
        work_dir,
        master_port=spark_cluster.free_port(),
        master_webui_port=spark_cluster.free_port(),
        worker_cores=2,
        worker_memory="2g",
    )
    try:
        yield started
    finally:
        spark_cluster.stop(work_dir)


# ---------------------------------------------------------------- local object-store servers


def _object_server(kind: str, work_dir: Path) -> Iterator[LocalServer]:
    start = start_s3_server if kind == "s3" else start_gcs_server
    try:
        server = start(work_dir)
    except ServerUnavailable as error:
        require_or_skip(str(error))
    try:
        create_bucket(server, TEST_BUCKET)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """moto's S3 on 127.0.0.1 (one request at a time), with the bucket :data:`TEST_BUCKET`;
    the environment is not touched (use :func:`s3_env`)."""
    yield from _object_server("s3", tmp_path_factory.mktemp("s3-server"))


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """fake-gcs-server on 127.0.0.1, with the bucket :data:`TEST_BUCKET`."""
    yield from _object_server("gs", tmp_path_factory.mktemp("gcs-server"))


#: provider variables a developer's shell may hold that would point a test elsewhere
_PROVIDER_VARIABLES = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ALLOW_HTTP",
    "GOOGLE_APPLICATION_CREDENTIALS",
)


@pytest.fixture
def s3_env(s3_server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> LocalServer:
    """The standard ``AWS_*`` chain pointed at the local S3 server, for one test."""
    for variable in _PROVIDER_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    for variable, value in s3_server.env().items():
        monkeypatch.setenv(variable, value)
    return s3_server


@pytest.fixture
def gcs_env(gcs_server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> LocalServer:
    """``STORAGE_EMULATOR_HOST`` pointed at the local GCS server, for one test."""
    for variable in _PROVIDER_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    for variable, value in gcs_server.env().items():
        monkeypatch.setenv(variable, value)
    return gcs_server


#: every kind of lake: a folder, the local S3 server, the local GCS server
LAKE_KINDS = ["local", "s3", "gs"]


@pytest.fixture(params=LAKE_KINDS)
def lake_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty lake of each kind: a folder, or a new prefix of :data:`TEST_BUCKET` on the
    local S3 or GCS server (the provider's variables set for this test only)."""
    if request.param == "local":
        return str(tmp_path / "lake")
    request.getfixturevalue("s3_env" if request.param == "s3" else "gcs_env")
    return f"{request.param}://{TEST_BUCKET}/{tmp_path.name}"
