"""Synthetic records of the statement's other tables and of Debt to the Penny.

The rows of a day follow the layout era the catalog gives that day (the row names measured on the
real records); a table is generated only within its span (``first_date``..``last_date``). Amounts
are integers (millions of USD) drawn per ``(seed, dataset, day)``; Debt to the Penny is in
dollars and cents. Balances are a function of the day and opening = the previous business day's
closing, and month/fiscal-year totals are summed from the start of the fiscal year, so a short
run is an exact slice of a longer one (as in :mod:`~treasury_lakehouse.testing.generator`).

The tables agree with each other as the real ones do (the cross-dataset checks of
:mod:`~treasury_lakehouse.quality.debt`): total public debt outstanding (Table III-C's two
holdings) moves each day by exactly the net issuance of Table III-A, from a fixed start on the
first statement day; the statutory limit of a calendar year lies above that year's debt; and Debt
to the Penny's parts round to the statement's holdings (only its total before the statement).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

from treasury_lakehouse.calendar import (
    calendar_quarter,
    fiscal_quarter,
    fiscal_year,
    fiscal_year_start,
    iter_business_days,
    previous_business_day,
)
from treasury_lakehouse.catalog import DATASETS, STATEMENT_FIRST_DATE, Dataset, era_of

Record = dict[str, str]
_NULL = "null"

#: each table's rows of a day in each era: (row name, description); "null" as the API sends it
LAYOUTS: Mapping[str, Mapping[str, tuple[tuple[str, str], ...]]] = {
    "debt_subject_to_limit": {
        "less_plus_rows": (
            ("Debt Held by the Public", _NULL),
            ("Intragovernmental Holdings", _NULL),
            ("Less Debt Not Subject to Limit", "Other Debt"),
            ("Less Debt Not Subject to Limit", "Unamortized Discount"),
            ("Less Debt Not Subject to Limit", "Federal Financing Bank"),
            ("Less Debt Not Subject to Limit", "Hope Bonds"),
            ("Plus Other Debt Subject to Limit", "Guaranteed Debt of Government Agencies"),
            ("Statutory Debt Limit", _NULL),
        ),
        "not_subject_rows": (
            ("Debt Held by the Public", _NULL),
            ("Intragovernmental Holdings", _NULL),
            ("Debt Not Subject to Limit", "Other Debt (-)"),
            ("Debt Not Subject to Limit", "Unamortized Discount (-)"),
            ("Debt Not Subject to Limit", "Federal Financing Bank (-)"),
            ("Other Debt Subject to Limit", "Guaranteed Debt of Government Agencies"),
            ("Statutory Debt Limit", _NULL),
        ),
    },
    "federal_tax_deposits": {
        "tax_deposits": (
            ("Withheld Income and Employment Taxes", _NULL),
            ("Individual Income Taxes", _NULL),
            ("Railroad Retirement Taxes", _NULL),
            ("Excise Taxes", _NULL),
            ("Corporation Income Taxes", _NULL),
            ("Federal Unemployment Taxes", _NULL),
            ("Estate and Gift Taxes & Misc IRS Rcpts.", _NULL),
            ("Cash Federal Tax Deposits", "Direct"),
            ("Cash Federal Tax Deposits", "Through Depositaries"),
            ("Inter-agency Transfers", _NULL),
        ),
    },
    "income_tax_refunds_issued": {
        "irs_refunds": (
            ("IRS Tax Refunds Business", "Checks"),
            ("IRS Tax Refunds Business", "EFT"),
            ("IRS Tax Refunds Individual", "Checks"),
            ("IRS Tax Refunds Individual", "EFT"),
        ),
        "tax_refunds": (
            ("Taxes - Business Tax Refunds (Checks)", _NULL),
            ("Taxes - Business Tax Refunds (EFT)", _NULL),
            ("Taxes - Individual Tax Refunds (Checks)", _NULL),
            ("Taxes - Individual Tax Refunds (EFT)", _NULL),
        ),
    },
    "inter_agency_tax_transfers": {
        "inter_agency_transfers": (
            ("Taxes - Corporate Income", ""),
            ("Taxes - Miscellaneous Excise", ""),
            ("Taxes - Railroad Retirement", ""),
            ("Taxes - Withheld Individual/FICA", ""),
        ),
    },
    "short_term_cash_investments": {
        "short_term_investments": (
            ("Opening Balance Today", _NULL),
            ("Deposits", "Transfers to Depositaries"),
            ("Deposits", "Special Direct Investment"),
            ("Deposits", "Term Investment"),
            ("Deposits", "Repo Investment"),
            ("Withdrawals", "Treasury Initiated"),
            ("Withdrawals", "Depositary Initiated"),
            ("Withdrawals", "Special Direct Investment"),
            ("Withdrawals", "Term Investment"),
            ("Withdrawals", "Repo Investment"),
            ("Closing Balance Today", _NULL),
        ),
    },
}

#: Debt to the Penny gives only the total before this day (the real 1993 records do)
PENNY_PARTS_FIRST = date(2001, 10, 1)
#: intragovernmental holdings at the close of the business day before the first statement
INTRAGOVERNMENTAL_START = 8_000_000
#: the statutory limit of a year: its highest total public debt outstanding plus this margin
LIMIT_MARGIN = 1_000_000
HOLDINGS = ("Debt Held by the Public", "Intragovernmental Holdings")

_TABLES = {  # table_nbr, table_nm, sub_table_name by era
    "less_plus_rows": ("III-C", "Debt Subject to Limit", "Balance Transactions"),
    "not_subject_rows": ("IIIC", "Debt Subject to Limit", "Balance Transactions"),
    "tax_deposits": ("IV", "Federal Tax Deposits", "Classification"),
    "irs_refunds": ("VI", "Income Tax Refunds Issued", "Classification"),
    "tax_refunds": ("V", "Income Tax Refunds Issued", "Classification"),
    "inter_agency_transfers": ("IV", "Inter-agency Tax Transfers", "Classification"),
    "short_term_investments": ("V", "Short-Term Cash Investments", "Balance Transactions"),
}

_FORMATS = {
    "DATE": "YYYY-MM-DD",
    "STRING": "String",
    "CURRENCY0": "$1,000,000",
    "CURRENCY": "$10.20",
    "INTEGER": "10",
    "YEAR": "YYYY",
    "QUARTER": "Q",
    "MONTH": "MM",
    "DAY": "DD",
}


def meta_of(dataset: Dataset) -> dict[str, Any]:
    """The ``meta/<dataset>.json`` content of a catalog dataset."""
    return {
        "endpoint": dataset.endpoint,
        "labels": dict(dataset.labels),
        "dataTypes": dict(dataset.columns),
        "dataFormats": {c: _FORMATS[t] for c, t in dataset.columns.items()},
    }


def day_rng(seed: int, dataset: str, day: date) -> random.Random:
    """The random generator of one dataset's day (independent of the range generated)."""
    return random.Random(f"{seed}/{dataset}/{day.isoformat()}")


def calendar_fields(day: date) -> Record:
    """The ``record_*`` calendar fields of a day, as the API writes them."""
    return {
        "record_fiscal_year": str(fiscal_year(day)),
        "record_fiscal_quarter": str(fiscal_quarter(day)),
        "record_calendar_year": str(day.year),
        "record_calendar_quarter": str(calendar_quarter(day)),
        "record_calendar_month": f"{day.month:02d}",
        "record_calendar_day": f"{day.day:02d}",
    }


def _balance(seed: int, name: str, line: int, day: date) -> int:
    """A balance of one line on one day: a trend plus noise, a function of the day alone."""
    trend = 18_000_000 if line < 2 else 20_000 + 1_000 * line
    growth = (day.toordinal() - date(2016, 1, 1).toordinal()) * (900 if line < 2 else 1)
    noise = day_rng(seed, f"{name}/{line}", day).randint(0, 5_000 if line < 2 else 50)
    return max(0, trend // (1 if line < 2 else 10) + growth + noise)


def _days(dataset: Dataset, start: date, end: date) -> Iterator[tuple[date, bool]]:
    """Business days from the fiscal year of ``start`` (for running totals) to ``end``, within
    the dataset's span, each with whether it is to be written."""
    first = max(fiscal_year_start(start), dataset.first_date)
    last = min(end, dataset.last_date or end)
    for day in iter_business_days(first, last):
        yield day, day >= start


def _row(dataset: Dataset, day: date, era: str, line: int, values: Mapping[str, str]) -> Record:
    name_column = dataset.row_name_column or ""
    key = [c for c in dataset.natural_key if c not in ("record_date", name_column)]
    name, description = LAYOUTS[dataset.name][era][line]
    table_nbr, table_nm, sub_table = _TABLES[era]
    row = {"record_date": day.isoformat(), name_column: name}
    row |= {c: description for c in key}
    row |= dict(values)
    row |= {"table_nbr": table_nbr, "table_nm": table_nm, "sub_table_name": sub_table}
    row |= {"src_line_nbr": str(line + 1), **calendar_fields(day)}
    return {c: row[c] for c in dataset.columns}


def flow_table(dataset: Dataset, start: date, end: date, seed: int = 0) -> Iterator[Record]:
    """A table of daily flows with month- and fiscal-year-to-date totals."""
    today_col, mtd_col, fytd_col = (c for c in dataset.columns if dataset.columns[c] == "CURRENCY0")
    mtd: dict[tuple[str, int], int] = {}
    fytd: dict[tuple[str, int], int] = {}
    previous: date | None = None
    for day, written in _days(dataset, start, end):
        if previous is None or fiscal_year(previous) != fiscal_year(day):
            fytd.clear()
        if previous is None or (previous.year, previous.month) != (day.year, day.month):
            mtd.clear()
        previous = day
        era = era_of(dataset, day)
        if era is None:
            continue
        rng = day_rng(seed, dataset.name, day)
        for line in range(len(LAYOUTS[dataset.name][era.name])):
            today = rng.randint(0, 12_000) if rng.random() < 0.8 else 0
            key = (era.name, line)
            mtd[key], fytd[key] = mtd.get(key, 0) + today, fytd.get(key, 0) + today
            if written:
                values = {today_col: str(today), mtd_col: str(mtd[key]), fytd_col: str(fytd[key])}
                yield _row(dataset, day, era.name, line, values)


def _net_issuance(day: date, seed: int) -> int:
    # generator imports this module for the other tables: import it when first needed
    from treasury_lakehouse.testing.generator import net_issuance

    return net_issuance(day, seed)


#: one walk of the debt serves every day through the end of this year (or of a later day's)
WALK_THROUGH_YEAR = 2026


@lru_cache(maxsize=4)
def _debt_outstanding_through(seed: int, year: int) -> Mapping[date, int]:
    """The walk of total public debt outstanding from the business day before the first
    statement (a start of its own) through the end of ``year``."""
    start = previous_business_day(STATEMENT_FIRST_DATE)
    total = _balance(seed, "debt_subject_to_limit", 0, start) + INTRAGOVERNMENTAL_START
    walk = {start: total}
    for day in iter_business_days(STATEMENT_FIRST_DATE, date(year, 12, 31)):
        total += _net_issuance(day, seed)
        walk[day] = total
    return walk


def debt_outstanding(day: date, seed: int = 0) -> int:
    """Total public debt outstanding at the close of business day ``day`` (from the day before
    the first statement): the close of the day before plus the day's net issuance of Table
    III-A."""
    return _debt_outstanding_through(seed, max(day.year, WALK_THROUGH_YEAR))[day]


def statutory_limit(year: int, seed: int = 0) -> int:
    """The limit of a calendar year: above the year's highest debt by :data:`LIMIT_MARGIN`."""
    walk = _debt_outstanding_through(seed, max(year, WALK_THROUGH_YEAR))
    highest = max(total for day, total in walk.items() if day.year == year)
    return highest + LIMIT_MARGIN


def _holdings(day: date, seed: int) -> tuple[int, int]:
    """(held by the public, intragovernmental) at the close of ``day``: the first a function of
    the day, the second what the total leaves."""
    public = _balance(seed, "debt_subject_to_limit", 0, day)
    return public, debt_outstanding(day, seed) - public


def _line_balance(seed: int, name: str, line: int, day: date) -> int:
    if line < len(HOLDINGS):
        return _holdings(day, seed)[line]
    if name == "Statutory Debt Limit":
        return statutory_limit(day.year, seed)
    return _balance(seed, "debt_subject_to_limit", line, day)


def balance_table(dataset: Dataset, start: date, end: date, seed: int = 0) -> Iterator[Record]:
    """Debt subject to limit: per line, close today; opening = previous business day's close
    (the statutory limit opens at its own close: a new limit takes effect in the morning)."""
    for day in iter_business_days(max(start, dataset.first_date), end):
        era = era_of(dataset, day)
        if era is None:
            continue
        before = previous_business_day(day)
        for line, (name, _) in enumerate(LAYOUTS[dataset.name][era.name]):
            close = _line_balance(seed, name, line, day)
            limit = name == "Statutory Debt Limit"
            opening = close if limit else _line_balance(seed, name, line, before)
            values = {
                "close_today_bal": str(close),
                "open_today_bal": str(opening),
                "open_month_bal": str(close),
                "open_fiscal_year_bal": str(close),
            }
            yield _row(dataset, day, era.name, line, values)


def short_term_investments(
    dataset: Dataset, start: date, end: date, seed: int = 0
) -> Iterator[Record]:
    """Table V: opening, four deposit lines, five withdrawal lines, closing (depositary types A, B
    and C; the total their sum), all zero but for small term investments."""
    last = min(end, dataset.last_date or end)
    for day in iter_business_days(max(start, dataset.first_date), last):
        era = era_of(dataset, day)
        if era is None:
            continue
        rng = day_rng(seed, dataset.name, day)
        for line in range(len(LAYOUTS[dataset.name][era.name])):
            parts = [0, rng.randint(0, 50) if 0 < line < 10 else 0, 0]
            values = {f"depositary_type_{k}_amt": str(v) for k, v in zip("abc", parts, strict=True)}
            values["total_amt"] = str(sum(parts))
            yield _row(dataset, day, era.name, line, values)


def _penny_cents(rng: random.Random, millions: int) -> Decimal:
    """Dollars and cents that round to ``millions`` (the statement's figure)."""
    return Decimal(millions * 10**6) + Decimal(rng.randint(-49_999_999, 49_999_999)) / 100


def debt_to_penny(dataset: Dataset, start: date, end: date, seed: int = 0) -> Iterator[Record]:
    """One row a business day: held by the public + intragovernmental = total, to the cent (only
    the total before :data:`PENNY_PARTS_FIRST`); from the first statement each part rounds to the
    statement's holding of the day, so the total is the statement's within ±1 million."""
    for day in iter_business_days(max(start, dataset.first_date), end):
        rng = day_rng(seed, dataset.name, day)
        if day >= STATEMENT_FIRST_DATE:
            held, intragovernmental = _holdings(day, seed)
            public, intragov = _penny_cents(rng, held), _penny_cents(rng, intragovernmental)
        else:
            years = (day.toordinal() - date(1993, 1, 1).toordinal()) / 365.25
            public = (
                Decimal(int(3_000_000_000_000 * (1.05**years)))
                + Decimal(rng.randint(0, 10**8)) / 100
            )
            intragov = (
                Decimal(int(1_200_000_000_000 * (1.04**years)))
                + Decimal(rng.randint(0, 10**8)) / 100
            )
        parts = day >= PENNY_PARTS_FIRST
        yield {
            "record_date": day.isoformat(),
            "debt_held_public_amt": f"{public:.2f}" if parts else _NULL,
            "intragov_hold_amt": f"{intragov:.2f}" if parts else _NULL,
            "tot_pub_debt_out_amt": f"{public + intragov:.2f}",
            "src_line_nbr": "1",
            **calendar_fields(day),
        }


_BY_DATASET = {
    "debt_subject_to_limit": balance_table,
    "federal_tax_deposits": flow_table,
    "income_tax_refunds_issued": flow_table,
    "inter_agency_tax_transfers": flow_table,
    "short_term_cash_investments": short_term_investments,
    "debt_to_penny": debt_to_penny,
}


def other_tables() -> tuple[str, ...]:
    """The datasets this module generates, in catalog order."""
    return tuple(name for name in DATASETS if name in _BY_DATASET)


def generate(name: str, start: date, end: date, seed: int = 0) -> Iterator[Record]:
    """The rows of dataset ``name`` for the business days from ``start`` to ``end``."""
    return _BY_DATASET[name](DATASETS[name], start, end, seed)
