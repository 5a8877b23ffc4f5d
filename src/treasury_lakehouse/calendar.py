"""The U.S. federal calendar the Daily Treasury Statement follows (pure, no I/O).

Two holiday notions matter and they differ on one point:

* :func:`federal_holidays` is the OPM calendar of federal employees: a holiday falling on a
  Saturday is observed the Friday before, one falling on a Sunday the Monday after.
* :func:`dts_holidays` is the calendar of the Daily Treasury Statement, which follows the Federal
  Reserve: Sunday holidays move to Monday, but **Saturday holidays are not moved** (the Fed is open
  on that Friday, and so is the statement). The real records confirm it: there is a statement for
  Friday 2021-06-18 (Juneteenth on a Saturday), 2021-12-31 and 2020-07-03.

Business days (:func:`is_business_day` and friends) are the days a statement is published: weekdays
that are not DTS holidays. Fiscal years start on October 1 (``fiscal_year(2023-10-02) == 2024``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from functools import lru_cache

JUNETEENTH_FIRST_YEAR = 2021

_MONDAY, _THURSDAY, _FRIDAY, _SATURDAY, _SUNDAY = 0, 3, 4, 5, 6


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th (1-based) given weekday of a month."""
    first = date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    return first + timedelta(days=offset + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    """The last given weekday of a month."""
    next_month = date(year + month // 12, month % 12 + 1, 1)
    last = next_month - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _actual_holidays(year: int) -> dict[date, str]:
    """The legal dates of the federal holidays of a year, before any weekend observance."""
    holidays = {
        date(year, 1, 1): "New Year's Day",
        _nth_weekday(year, 1, _MONDAY, 3): "Birthday of Martin Luther King, Jr.",
        _nth_weekday(year, 2, _MONDAY, 3): "Washington's Birthday",
        _last_weekday(year, 5, _MONDAY): "Memorial Day",
        date(year, 7, 4): "Independence Day",
        _nth_weekday(year, 9, _MONDAY, 1): "Labor Day",
        _nth_weekday(year, 10, _MONDAY, 2): "Columbus Day",
        date(year, 11, 11): "Veterans Day",
        _nth_weekday(year, 11, _THURSDAY, 4): "Thanksgiving Day",
        date(year, 12, 25): "Christmas Day",
    }
    if year >= JUNETEENTH_FIRST_YEAR:
        holidays[date(year, 6, 19)] = "Juneteenth National Independence Day"
    return holidays


def _observed(day: date, *, saturday_to_friday: bool) -> date | None:
    """The day a holiday is observed on, or None when it is not observed on a weekday."""
    if day.weekday() == _SUNDAY:
        return day + timedelta(days=1)
    if day.weekday() == _SATURDAY:
        return day - timedelta(days=1) if saturday_to_friday else None
    return day


def _observed_holidays(year: int, *, saturday_to_friday: bool) -> dict[date, str]:
    result: dict[date, str] = {}
    for source_year in (year, year + 1):  # Jan 1 on a Saturday is observed on Dec 31
        for day, name in _actual_holidays(source_year).items():
            observed = _observed(day, saturday_to_friday=saturday_to_friday)
            if observed is None or observed.year != year:
                continue
            result[observed] = name if observed == day else f"{name} (observed)"
    return dict(sorted(result.items()))


@lru_cache(maxsize=256)
def _federal_cached(year: int) -> tuple[tuple[date, str], ...]:
    return tuple(_observed_holidays(year, saturday_to_friday=True).items())


@lru_cache(maxsize=256)
def _dts_cached(year: int) -> tuple[tuple[date, str], ...]:
    return tuple(_observed_holidays(year, saturday_to_friday=False).items())


def federal_holidays(year: int) -> dict[date, str]:
    """Federal holidays observed in ``year`` (OPM rule: Saturday → Friday, Sunday → Monday).

    Keys are the observed dates falling in ``year`` (so New Year's Day 2022, a Saturday, appears in
    2021 as Friday 2021-12-31); values are names, suffixed ``(observed)`` when moved.
    """
    return dict(_federal_cached(year))


def dts_holidays(year: int) -> dict[date, str]:
    """Weekdays of ``year`` without a Daily Treasury Statement (Federal Reserve rule).

    Like :func:`federal_holidays` except that a holiday on a Saturday is not moved to Friday.
    """
    return dict(_dts_cached(year))


def is_business_day(day: date) -> bool:
    """True when a Daily Treasury Statement is published for ``day``."""
    return day.weekday() < _SATURDAY and all(day != h for h, _ in _dts_cached(day.year))


def business_days(start: date, end: date) -> list[date]:
    """Business days from ``start`` to ``end``, both included, in order."""
    return list(iter_business_days(start, end))


def iter_business_days(start: date, end: date) -> Iterator[date]:
    """Lazily yield the business days from ``start`` to ``end``, both included."""
    day = start
    while day <= end:
        if is_business_day(day):
            yield day
        day += timedelta(days=1)


def next_business_day(day: date) -> date:
    """The first business day strictly after ``day``."""
    candidate = day + timedelta(days=1)
    while not is_business_day(candidate):
        candidate += timedelta(days=1)
    return candidate


def previous_business_day(day: date) -> date:
    """The last business day strictly before ``day``."""
    candidate = day - timedelta(days=1)
    while not is_business_day(candidate):
        candidate -= timedelta(days=1)
    return candidate


def fiscal_year(day: date) -> int:
    """The federal fiscal year of ``day`` (it starts on October 1 of the previous calendar year)."""
    return day.year + 1 if day.month >= 10 else day.year


def fiscal_quarter(day: date) -> int:
    """The federal fiscal quarter of ``day``: Oct–Dec is 1, Jan–Mar 2, Apr–Jun 3, Jul–Sep 4."""
    return (day.month - 10) % 12 // 3 + 1


def fiscal_year_start(day: date) -> date:
    """October 1 that opens the fiscal year of ``day``."""
    return date(fiscal_year(day) - 1, 10, 1)


def calendar_quarter(day: date) -> int:
    """The calendar quarter (1–4) of ``day``."""
    return (day.month - 1) // 3 + 1
