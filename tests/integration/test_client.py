"""The HTTP client against the fake API (real HTTP on 127.0.0.1) with injected faults."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from treasury_lakehouse.catalog import OPERATING_CASH_BALANCE, PUBLIC_DEBT_TRANSACTIONS
from treasury_lakehouse.errors import ApiError, IncompleteResponseError, TransientApiError
from treasury_lakehouse.ingest.client import FiscalDataClient
from treasury_lakehouse.ingest.paging import Window
from treasury_lakehouse.testing import FakeFiscalDataApi, Fault

WINDOW = Window(date(2022, 1, 3), date(2022, 1, 31))


def _client(api: FakeFiscalDataApi, **kwargs: object) -> tuple[FiscalDataClient, list[float]]:
    slept: list[float] = []
    options: dict[str, object] = {"timeout_s": 2.0, "sleep": slept.append}
    options.update(kwargs)
    return FiscalDataClient(api.base_url, **options), slept  # type: ignore[arg-type]


def test_reads_every_page_in_order_and_checks_the_total(fake_api: FakeFiscalDataApi) -> None:
    client, _ = _client(fake_api, page_size=100)
    pages = list(client.pages(PUBLIC_DEBT_TRANSACTIONS, WINDOW))
    assert [p.number for p in pages] == list(range(1, pages[0].total_pages + 1))
    rows = [r for p in pages for r in p.rows]
    assert (
        len(rows) == pages[0].total_count == 20 * 25
    )  # 20 business days (MLK day off), 25 rows (Hope Bonds)
    keys = [(r["record_date"], r["transaction_type"]) for r in rows]
    assert keys == sorted(keys)


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=503, retry_after="1"),
        Fault(status=429, retry_after="2"),
        Fault(status=500),
        Fault(html_200=True),
        Fault(truncate=True),
        Fault(drop_connection=True),
    ],
    ids=["503-retry-after", "429", "500", "html-200", "truncated", "dropped"],
)
def test_transient_faults_are_retried(fake_api: FakeFiscalDataApi, fault: Fault) -> None:
    fake_api.inject_faults([replace(fault, times=2)])
    client, slept = _client(fake_api)
    pages = list(client.pages(OPERATING_CASH_BALANCE, WINDOW))
    assert sum(len(p.rows) for p in pages) == pages[0].total_count > 0
    assert len(slept) == 2
    if fault.retry_after:
        assert slept == [float(fault.retry_after)] * 2
    assert len(fake_api.requests) == 3


def test_retries_are_bounded(fake_api: FakeFiscalDataApi) -> None:
    fake_api.inject_faults([Fault(status=503, times=10)])
    client, slept = _client(fake_api, max_retries=3)
    with pytest.raises(TransientApiError, match=r"HTTP 503.*gave up after 4 attempts"):
        list(client.pages(OPERATING_CASH_BALANCE, WINDOW))
    assert len(slept) == 3


def test_total_wait_is_bounded(fake_api: FakeFiscalDataApi) -> None:
    fake_api.inject_faults([Fault(status=429, retry_after="50", times=10)])
    client, slept = _client(fake_api, retry_budget_s=120.0)
    with pytest.raises(TransientApiError, match="gave up"):
        list(client.pages(OPERATING_CASH_BALANCE, WINDOW))
    assert sum(slept) <= 120.0


def test_other_4xx_fail_at_once_with_the_api_message(fake_api: FakeFiscalDataApi) -> None:
    bogus = replace(OPERATING_CASH_BALANCE, natural_key=("record_date", "no_such_field"))
    client, slept = _client(fake_api)
    with pytest.raises(ApiError, match=r"HTTP 400.*no_such_field") as error:
        list(client.pages(bogus, WINDOW))
    assert not error.value.transient and slept == []


def test_unknown_endpoint_html_404_fails_at_once(fake_api: FakeFiscalDataApi) -> None:
    missing = replace(OPERATING_CASH_BALANCE, endpoint="v1/accounting/dts/no_such_table")
    client, slept = _client(fake_api)
    with pytest.raises(ApiError, match="HTTP 404") as error:
        list(client.pages(missing, WINDOW))
    assert not error.value.transient and slept == []


def test_rows_moving_while_paging_are_detected(fake_api: FakeFiscalDataApi) -> None:
    fake_api.today = date(2022, 1, 20)
    client, _ = _client(fake_api, page_size=50)
    pages = client.pages(PUBLIC_DEBT_TRANSACTIONS, WINDOW)
    next(pages)
    fake_api.today = date(2022, 1, 31)  # new statements published mid-read
    with pytest.raises(IncompleteResponseError, match="total-count changed"):
        list(pages)
