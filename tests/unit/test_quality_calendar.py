"""Completeness and freshness know the DTS business-day calendar and the publication time."""

from __future__ import annotations

from datetime import UTC, date, datetime

from treasury_lakehouse.catalog import PUBLIC_DEBT_TRANSACTIONS
from treasury_lakehouse.quality.completeness import (
    EASTERN,
    MAX_MISSING_RUN,
    completeness,
    freshness,
    latest_published_day,
    missing_runs,
)
from treasury_lakehouse.quality.spec import CheckContext

COMPLETE = completeness(PUBLIC_DEBT_TRANSACTIONS)
FRESH = freshness(PUBLIC_DEBT_TRANSACTIONS)


def rows(*days: date) -> list[dict[str, date]]:
    return [{"record_date": d} for d in days]


def eastern(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=EASTERN)


def test_holidays_and_weekends_are_not_missing() -> None:
    # 2024-02-16 Friday, 02-19 Washington's Birthday, 02-20 Tuesday
    ctx = CheckContext(datetime(2024, 3, 1, tzinfo=UTC))
    assert COMPLETE(rows(date(2024, 2, 16), date(2024, 2, 20)), ctx) == []
    # Juneteenth from 2021 on; 2021-06-18 (Juneteenth on a Saturday) is a statement day
    assert COMPLETE(rows(date(2023, 6, 16), date(2023, 6, 20)), ctx) == []
    assert missing_runs({date(2021, 6, 17), date(2021, 6, 21)}) == [[date(2021, 6, 18)]]


def test_a_missing_business_day_is_an_error_naming_the_day() -> None:
    ctx = CheckContext(datetime(2024, 3, 1, tzinfo=UTC))
    [finding] = COMPLETE(rows(date(2024, 2, 12), date(2024, 2, 14)), ctx)
    assert finding.severity == "error" and finding.day == date(2024, 2, 13)
    assert finding.row == "record_date=2024-02-13"


def test_a_long_hole_is_a_source_gap_warning_not_thousands_of_errors() -> None:
    ctx = CheckContext(datetime(2024, 3, 1, tzinfo=UTC))
    [finding] = COMPLETE(rows(date(2005, 10, 6), date(2021, 6, 24)), ctx)
    assert finding.severity == "warn" and finding.day == date(2005, 10, 7)
    assert "business days without rows" in finding.message
    assert MAX_MISSING_RUN < 10


def test_rows_on_a_non_business_day_are_flagged() -> None:
    ctx = CheckContext(datetime(2024, 3, 1, tzinfo=UTC))
    [finding] = COMPLETE(rows(date(2024, 2, 16), date(2024, 2, 19), date(2024, 2, 20)), ctx)
    assert finding.severity == "warn" and finding.day == date(2024, 2, 19)


def test_the_statement_is_due_the_next_business_day_afternoon() -> None:
    # Monday 2024-02-12's statement is due Tuesday ~4 pm Eastern (+ grace)
    assert latest_published_day(eastern(2024, 2, 13, 15, 0)) == date(2024, 2, 9)
    assert latest_published_day(eastern(2024, 2, 13, 19, 0)) == date(2024, 2, 12)
    # Friday 02-16's is due Tuesday 02-20 (Monday 02-19 is a holiday)
    assert latest_published_day(eastern(2024, 2, 19, 20, 0)) == date(2024, 2, 15)
    assert latest_published_day(eastern(2024, 2, 20, 19, 0)) == date(2024, 2, 16)
    assert latest_published_day(eastern(2024, 2, 20, 19, 0), end=date(2024, 2, 11)) == date(
        2024, 2, 9
    )


def test_not_yet_published_is_never_missing_and_late_days_warn() -> None:
    lake = rows(date(2024, 2, 8), date(2024, 2, 9))
    assert FRESH(lake, CheckContext(eastern(2024, 2, 13, 15, 0))) == []
    [late] = FRESH(lake, CheckContext(eastern(2024, 2, 14, 19, 0)))
    assert late.severity == "warn" and late.day == date(2024, 2, 12)
    assert "2 published business days not in the lake" in late.message
    assert FRESH(lake, CheckContext(eastern(2024, 2, 14, 19, 0), end=date(2024, 2, 9))) == []
