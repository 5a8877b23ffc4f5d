"""HTTP failure behaviour over real sockets: bounded time per page, no retry of what cannot
succeed, a hint for offline use, and credentials kept out of bronze and the logs."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from conftest import make_settings
from treasury_lakehouse import pipeline
from treasury_lakehouse.catalog import OPERATING_CASH_BALANCE
from treasury_lakehouse.cli import main
from treasury_lakehouse.errors import ApiError, TransientApiError
from treasury_lakehouse.ingest.bronze import BronzeStore
from treasury_lakehouse.ingest.client import FiscalDataClient
from treasury_lakehouse.ingest.paging import Window
from treasury_lakehouse.testing import FakeFiscalDataApi, Fault

WINDOW = Window(date(2022, 1, 3), date(2022, 1, 31))


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts every connection and never answers; yields its base URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(connection)  # held open, never read from or written to

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/services/api/fiscal_service/"
    finally:
        stop.set()
        thread.join(timeout=2)
        for connection in accepted:
            connection.close()
        listener.close()


def test_an_api_that_never_answers_fails_within_timeout_plus_budget(silent_server: str) -> None:
    timeout, budget = 0.5, 1.5
    client = FiscalDataClient(silent_server, timeout_s=timeout, retry_budget_s=budget)
    started = time.monotonic()
    with pytest.raises(TransientApiError) as error:
        client.page(OPERATING_CASH_BALANCE, WINDOW, 1)
    elapsed = time.monotonic() - started
    assert timeout + 0.2 < elapsed <= timeout + budget + 0.5, elapsed
    assert "gave up after" in str(error.value)
    assert "`treasury demo` (`make demo`)" in str(error.value)


def test_the_cli_takes_http_timeout_and_retry_budget_and_suggests_the_demo(
    silent_server: str, tmp_path: Path
) -> None:
    args = ["ingest", "--home", str(tmp_path / "h"), "--api-url", silent_server]
    started = time.monotonic()
    result = CliRunner().invoke(main, [*args, "--http-timeout", "0.4", "--retry-budget", "1"])
    elapsed = time.monotonic() - started
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: GET "), result.output
    assert "treasury demo" in lines[0] and "make demo" in lines[0]
    assert elapsed <= 0.4 + 1 + 1.0, elapsed  # the pipeline's own start-up included
    env = {"TREASURY_HTTP_TIMEOUT": "0.4", "TREASURY_RETRY_BUDGET": "0.5"}
    started = time.monotonic()
    assert CliRunner(env=env).invoke(main, args).exit_code == 1
    assert time.monotonic() - started <= 0.4 + 0.5 + 1.0


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/api/", "http:///no-host/"])
def test_unsupported_schemes_fail_at_once_in_the_client(url: str) -> None:
    slept: list[float] = []
    client = FiscalDataClient(url, sleep=slept.append)
    started = time.monotonic()
    with pytest.raises(ApiError, match="cannot be sent") as error:
        client.page(OPERATING_CASH_BALANCE, WINDOW, 1)
    assert not error.value.transient and slept == []
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/services/api/", "http://exa mple.com/api/", "http://[::1/api/", "api.gov"],
)
def test_invalid_api_urls_are_one_line_at_once_from_the_cli(url: str, tmp_path: Path) -> None:
    started = time.monotonic()
    result = CliRunner().invoke(main, ["run", "--home", str(tmp_path / "h"), "--api-url", url])
    assert time.monotonic() - started < 2.0
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: API URL {url!r} is not an http:// or https:// URL with a host"
    ]
    assert not (tmp_path / "h").exists()


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_4xx_fail_at_once_without_retry(fake_api: FakeFiscalDataApi, status: int) -> None:
    fake_api.inject_faults([Fault(status=status, times=5)])
    client = FiscalDataClient(fake_api.base_url)
    started = time.monotonic()
    with pytest.raises(ApiError, match=f"HTTP {status}") as error:
        client.page(OPERATING_CASH_BALANCE, WINDOW, 1)
    assert time.monotonic() - started < 1.0
    assert not error.value.transient and len(fake_api.requests) == 1


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_408_425_429_and_5xx_are_retried(fake_api: FakeFiscalDataApi, status: int) -> None:
    fake_api.inject_faults([Fault(status=status, times=2)])
    slept: list[float] = []
    client = FiscalDataClient(fake_api.base_url, sleep=slept.append)
    page = client.page(OPERATING_CASH_BALANCE, WINDOW, 1)
    assert page.rows and len(fake_api.requests) == 3 and len(slept) == 2


def test_the_retry_budget_counts_attempts_as_well_as_waits(fake_api: FakeFiscalDataApi) -> None:
    fake_api.inject_faults([Fault(status=503, latency_s=0.4, times=20)])
    client = FiscalDataClient(fake_api.base_url, retry_budget_s=1.0, max_retries=50)
    started = time.monotonic()
    with pytest.raises(TransientApiError, match=r"HTTP 503.*gave up"):
        client.page(OPERATING_CASH_BALANCE, WINDOW, 1)
    assert time.monotonic() - started <= 1.0 + 0.4 + 0.5  # budget + one slow attempt
    assert 2 <= len(fake_api.requests) <= 3


def test_credentials_in_the_api_url_reach_neither_bronze_nor_the_logs(
    fake_api: FakeFiscalDataApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake_api.today = date(2022, 1, 14)
    password = "s3cr3t-pw"
    with_credentials = fake_api.base_url.replace("http://", f"http://alice:{password}@")
    fake_api.inject_faults([Fault(status=503, retry_after="0")])  # a retry is logged
    settings = replace(
        make_settings(tmp_path, fake_api, start=date(2022, 1, 3)), api_url=with_credentials
    )
    with caplog.at_level(logging.DEBUG):
        results = pipeline.ingest(settings)
    # every dataset with a span in the window (inter-agency transfers start on 2023-02-14)
    assert all(r.rows > 0 for r in results if r.dataset != "inter_agency_tax_transfers")
    assert "retry 1" in caplog.text and password not in caplog.text
    bronze = BronzeStore(tmp_path / "lake")
    urls: set[str] = set()
    for name in settings.datasets:
        for path in bronze.files(name):
            urls |= set(pq.read_table(path, columns=["request_url"]).column(0).to_pylist())
    assert urls and all(u.startswith(fake_api.base_url) for u in urls), urls
    stored = [p.read_text() for p in (tmp_path / "lake").rglob("*.json")]
    assert stored and not any(password in text or "alice" in text for text in stored)


def test_a_refused_connection_suggests_the_demo_within_the_budget(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        url = f"http://127.0.0.1:{port}/services/api/fiscal_service/"
        started = time.monotonic()
        result = CliRunner().invoke(
            main, ["ingest", "--home", str(tmp_path), "--api-url", url, "--retry-budget", "1"]
        )
    assert time.monotonic() - started < 1 + 10 + 1.0  # budget + the connect timeout cap
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"Error: GET {url}") and "ConnectError" in line
    assert "`treasury demo` (`make demo`) to try the pipeline offline" in line
