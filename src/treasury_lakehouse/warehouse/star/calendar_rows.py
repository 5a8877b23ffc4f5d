"""The rows of ``dim_date``, made in Python from :mod:`treasury_lakehouse.calendar` (the federal
fiscal calendar, federal holidays and the Daily Treasury Statement's business days)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from treasury_lakehouse.calendar import (
    calendar_quarter,
    dts_holidays,
    federal_holidays,
    fiscal_quarter,
    fiscal_year,
)
from treasury_lakehouse.warehouse.star.sql import record_date_range_sql
from treasury_lakehouse.warehouse.star.tables import DIM_DATE

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def calendar_row(day: date) -> dict[str, Any]:
    """One ``dim_date`` row (pure)."""
    holiday = federal_holidays(day.year).get(day)
    is_business = day.weekday() < 5 and day not in dts_holidays(day.year)
    return {
        "date_key": day.year * 10000 + day.month * 100 + day.day,
        "calendar_date": day,
        "calendar_year": day.year,
        "calendar_quarter": calendar_quarter(day),
        "calendar_month": day.month,
        "month_name": _MONTHS[day.month - 1],
        "day_of_month": day.day,
        "iso_day_of_week": day.isoweekday(),
        "day_name": _DAYS[day.weekday()],
        "is_weekend": day.weekday() >= 5,
        "fiscal_year": fiscal_year(day),
        "fiscal_quarter": fiscal_quarter(day),
        "is_business_day": is_business,
        "federal_holiday_name": holiday,
        "is_federal_holiday": holiday is not None,
    }


_ARROW_TYPES = {"INTEGER": pa.int32(), "DATE": pa.date32(), "VARCHAR": pa.string(),
                "BOOLEAN": pa.bool_()}  # fmt: skip


def calendar_days(first: date | None, last: date | None) -> pa.Table:
    """Every day from ``first`` to ``last`` (both included) as ``dim_date`` rows."""
    rows = []
    day = first
    while day is not None and last is not None and day <= last:
        rows.append(calendar_row(day))
        day += timedelta(days=1)
    schema = pa.schema([(c.name, _ARROW_TYPES[c.sql_type]) for c in DIM_DATE.columns])
    return pa.Table.from_pylist(rows, schema=schema)


def calendar_for(con: duckdb.DuckDBPyConnection, available: set[str]) -> pa.Table:
    """``dim_date`` rows spanning the record dates of the silver relations ``con`` can see."""
    first, last = con.execute(record_date_range_sql(available)).fetchall()[0]
    return calendar_days(first, last)
