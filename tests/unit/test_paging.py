"""Pure paging, filter, retry and drift logic (no HTTP)."""

from __future__ import annotations

import random
from datetime import date

import pytest

from treasury_lakehouse.catalog import OPERATING_CASH_BALANCE, PUBLIC_DEBT_TRANSACTIONS
from treasury_lakehouse.config import Settings
from treasury_lakehouse.errors import TransientApiError
from treasury_lakehouse.ingest.paging import (
    Window,
    drift,
    parse_page,
    parse_retry_after,
    query_params,
    retry_delay,
)
from treasury_lakehouse.pipeline import ingest_window


def test_query_params_sort_on_the_natural_key_and_filter_the_window() -> None:
    params = query_params(
        PUBLIC_DEBT_TRANSACTIONS, Window(date(2024, 1, 2), date(2024, 3, 29)), 3, 10000
    )
    assert params == {
        "sort": "record_date,transaction_type,security_market,security_type,security_type_desc",
        "filter": "record_date:gte:2024-01-02,record_date:lte:2024-03-29",
        "page[number]": "3",
        "page[size]": "10000",
    }
    assert "fields" not in params  # a partial field list makes the API aggregate rows


def test_open_window_sends_no_filter_and_page_size_is_bounded() -> None:
    assert "filter" not in query_params(OPERATING_CASH_BALANCE, Window(None, None), 1, 100)
    with pytest.raises(ValueError, match="10001"):
        query_params(OPERATING_CASH_BALANCE, Window(None, None), 1, 10001)


def test_retry_delay_honours_retry_after_then_backs_off_with_jitter() -> None:
    assert retry_delay(1, "7") == 7.0
    rng = random.Random(1)
    delays = [retry_delay(n, None, base_s=1.0, cap_s=8.0, rng=rng) for n in range(1, 7)]
    for attempt, delay in enumerate(delays, start=1):
        ceiling = min(8.0, 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None


def test_parse_page_rejects_bodies_without_data_or_totals() -> None:
    with pytest.raises(TransientApiError, match="no 'data'"):
        parse_page({"meta": {}}, 1, "u")
    with pytest.raises(TransientApiError, match="totals"):
        parse_page({"data": [], "meta": {"count": 0}}, 1, "u")
    page = parse_page({"data": [], "meta": {"total-count": "0", "total-pages": "0"}}, 1, "u")
    assert page.total_count == 0


def test_drift_lists_new_missing_and_retyped_fields() -> None:
    types = dict(OPERATING_CASH_BALANCE.columns)
    assert drift(OPERATING_CASH_BALANCE, types) == []
    types["close_today_bal"] = "CURRENCY"
    del types["table_nm"]
    types["new_field"] = "STRING"
    lines = drift(OPERATING_CASH_BALANCE, types)
    assert "~ close_today_bal: catalog CURRENCY0, API CURRENCY" in lines
    assert "- table_nm: STRING (in the catalog, missing from the API)" in lines
    assert "+ new_field: STRING (new field, not in the catalog)" in lines


def test_ingest_window_backfill_watermark_lookback_and_initial_start() -> None:
    base = Settings(initial_start=date(2020, 1, 1), lookback_days=7)
    assert ingest_window(base, None) == Window(date(2020, 1, 1), None)
    assert ingest_window(base, date(2024, 2, 15)) == Window(date(2024, 2, 8), None)
    backfill = Settings(start=date(2024, 1, 2), end=date(2024, 1, 31))
    assert ingest_window(backfill, date(2024, 2, 15)) == Window(date(2024, 1, 2), date(2024, 1, 31))
