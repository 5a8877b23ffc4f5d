"""The federal / DTS calendar."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import pytest

from treasury_lakehouse.calendar import (
    business_days,
    dts_holidays,
    federal_holidays,
    fiscal_quarter,
    fiscal_year,
    is_business_day,
    next_business_day,
    previous_business_day,
)


def test_federal_holidays_2024() -> None:
    assert set(federal_holidays(2024)) == {
        date(2024, 1, 1),
        date(2024, 1, 15),
        date(2024, 2, 19),
        date(2024, 5, 27),
        date(2024, 6, 19),
        date(2024, 7, 4),
        date(2024, 9, 2),
        date(2024, 10, 14),
        date(2024, 11, 11),
        date(2024, 11, 28),
        date(2024, 12, 25),
    }
    assert federal_holidays(2024)[date(2024, 11, 28)] == "Thanksgiving Day"


def test_weekend_observance() -> None:
    h2021 = federal_holidays(2021)
    assert h2021[date(2021, 6, 18)] == "Juneteenth National Independence Day (observed)"
    assert date(2021, 12, 31) in h2021  # New Year's Day 2022 fell on a Saturday
    assert date(2022, 12, 26) in federal_holidays(2022)  # Christmas on a Sunday → Monday
    assert date(2023, 1, 2) in federal_holidays(2023)
    assert not any(d.month == 1 and d.day == 1 for d in federal_holidays(2022))
    assert not any(d.month == 6 for d in federal_holidays(2020))  # no Juneteenth before 2021


def test_dts_does_not_move_saturday_holidays() -> None:
    # the statement is published on the Friday before a Saturday holiday (Federal Reserve rule)
    assert date(2021, 6, 18) not in dts_holidays(2021)
    assert is_business_day(date(2021, 6, 18))
    assert is_business_day(date(2021, 12, 31))
    assert is_business_day(date(2020, 7, 3))
    assert not is_business_day(date(2022, 12, 26))  # Sunday holidays do move to Monday
    assert not is_business_day(date(2022, 6, 20))


def test_business_days_and_neighbours() -> None:
    days = business_days(date(2024, 11, 25), date(2024, 12, 2))
    assert days == [date(2024, 11, d) for d in (25, 26, 27, 29)] + [date(2024, 12, 2)]
    assert next_business_day(date(2024, 11, 27)) == date(2024, 11, 29)
    assert next_business_day(date(2024, 12, 24)) == date(2024, 12, 26)
    assert previous_business_day(date(2024, 1, 2)) == date(2023, 12, 29)
    assert previous_business_day(date(2024, 1, 16)) == date(2024, 1, 12)
    assert not is_business_day(date(2024, 3, 30))


@pytest.mark.parametrize(
    ("day", "year", "quarter"),
    [
        (date(2023, 9, 29), 2023, 4),
        (date(2023, 10, 2), 2024, 1),
        (date(2023, 12, 31), 2024, 1),
        (date(2024, 1, 2), 2024, 2),
        (date(2024, 4, 1), 2024, 3),
        (date(2024, 7, 1), 2024, 4),
    ],
)
def test_fiscal_year_and_quarter(day: date, year: int, quarter: int) -> None:
    assert fiscal_year(day) == year
    assert fiscal_quarter(day) == quarter


@pytest.mark.shared_data
def test_business_days_match_real_statement_dates(shared_records: Path) -> None:
    path = shared_records / "records" / "operating_cash_balance.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        real = {date.fromisoformat(json.loads(line)["record_date"]) for line in handle}
    assert set(business_days(min(real), max(real))) == real
