"""Synthetic Daily Treasury Statement records, realistic in shape and internally consistent.

:func:`generate_records` writes a records folder (``records/<dataset>.jsonl.gz`` +
``meta/<dataset>.json``, the layout of the shared real data) for ``public_debt_transactions``
(Table III-A) and ``operating_cash_balance`` (Table I, in its three historical layouts), and,
through :mod:`~treasury_lakehouse.testing.statement_tables`, every other catalog dataset.

Every amount is an integer number of millions of USD. Daily amounts come from a random generator
seeded by ``(seed, dataset, date)``, and running totals and balances are simulated from a fixed
epoch (or the start of the fiscal year of ``start``, if earlier), so a day's rows do not depend on
the ``start``/``end`` asked for: a short run is an exact slice of a longer one.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from treasury_lakehouse.calendar import (
    fiscal_year,
    fiscal_year_start,
    iter_business_days,
)
from treasury_lakehouse.catalog import DATASETS
from treasury_lakehouse.testing import statement_tables
from treasury_lakehouse.testing.statement_tables import calendar_fields, day_rng

Record = dict[str, str]

#: simulations of balances start here (or earlier, when asked for earlier dates)
EPOCH = date(2000, 10, 2)

#: Hope Bonds lines existed in Table III-A from HOPE_BONDS_FIRST through HOPE_BONDS_LAST. The last
#: day is from the real data; the first is an approximation (the HOPE for Homeowners program began
#: on 2008-10-01; the real 2005 statements have no Hope Bonds lines).
HOPE_BONDS_FIRST = date(2008, 10, 1)
HOPE_BONDS_LAST = date(2022, 9, 9)
#: Table III-A was renumbered "IIIA" on this day
TABLE_IIIA_FIRST = date(2022, 9, 12)
#: operating_cash_balance layouts: "Federal Reserve Account" through FRA_LAST, then
#: "Treasury General Account (TGA)" through TGA_LAST, then the four "Cash Balance Details" rows
FRA_LAST = date(2021, 9, 30)
TGA_LAST = date(2022, 4, 15)

#: TGA balance walk: mean-reverting around TGA_TARGET, never below TGA_FLOOR (millions of USD)
TGA_TARGET = 600_000
TGA_FLOOR = 25_000
TGA_START = 400_000

_CALENDAR_LABELS = {
    "record_fiscal_year": "Fiscal Year",
    "record_fiscal_quarter": "Fiscal Quarter Number",
    "record_calendar_year": "Calendar Year",
    "record_calendar_quarter": "Calendar Quarter Number",
    "record_calendar_month": "Calendar Month Number",
    "record_calendar_day": "Calendar Day Number",
}
_CALENDAR_TYPES = {
    "record_fiscal_year": "YEAR",
    "record_fiscal_quarter": "QUARTER",
    "record_calendar_year": "YEAR",
    "record_calendar_quarter": "QUARTER",
    "record_calendar_month": "MONTH",
    "record_calendar_day": "DAY",
}
_CALENDAR_FORMATS = {
    "record_fiscal_year": "YYYY",
    "record_fiscal_quarter": "Q",
    "record_calendar_year": "YYYY",
    "record_calendar_quarter": "Q",
    "record_calendar_month": "MM",
    "record_calendar_day": "DD",
}

OPERATING_CASH_BALANCE_META: dict[str, Any] = {
    "endpoint": "v1/accounting/dts/operating_cash_balance",
    "labels": {
        "record_date": "Record Date",
        "account_type": "Type of Account",
        "close_today_bal": "Closing Balance Today",
        "open_today_bal": "Opening Balance Today",
        "open_month_bal": "Opening Balance This Month",
        "open_fiscal_year_bal": "Opening Balance This Fiscal Year",
        "table_nbr": "Table Number",
        "table_nm": "Table Name",
        "sub_table_name": "Sub Table Name",
        "src_line_nbr": "Source Line Number",
        **_CALENDAR_LABELS,
    },
    "dataTypes": {
        "record_date": "DATE",
        "account_type": "STRING",
        "close_today_bal": "CURRENCY0",
        "open_today_bal": "CURRENCY0",
        "open_month_bal": "CURRENCY0",
        "open_fiscal_year_bal": "CURRENCY0",
        "table_nbr": "STRING",
        "table_nm": "STRING",
        "sub_table_name": "STRING",
        "src_line_nbr": "INTEGER",
        **_CALENDAR_TYPES,
    },
    "dataFormats": {
        "record_date": "YYYY-MM-DD",
        "account_type": "String",
        "close_today_bal": "$1,000,000",
        "open_today_bal": "$1,000,000",
        "open_month_bal": "$1,000,000",
        "open_fiscal_year_bal": "$1,000,000",
        "table_nbr": "String",
        "table_nm": "String",
        "sub_table_name": "String",
        "src_line_nbr": "10",
        **_CALENDAR_FORMATS,
    },
}

PUBLIC_DEBT_TRANSACTIONS_META: dict[str, Any] = {
    "endpoint": "v1/accounting/dts/public_debt_transactions",
    "labels": {
        "record_date": "Record Date",
        "transaction_type": "Transaction Type",
        "security_market": "Security Marketability",
        "security_type": "Security Type",
        "security_type_desc": "Security Type Description",
        "transaction_today_amt": "Transactions Today",
        "transaction_mtd_amt": "Transactions Month to Date",
        "transaction_fytd_amt": "Transactions Fiscal Year to Date",
        "table_nbr": "Table Number",
        "table_nm": "Table Name",
        "src_line_nbr": "Source Line Number",
        **_CALENDAR_LABELS,
    },
    "dataTypes": {
        "record_date": "DATE",
        "transaction_type": "STRING",
        "security_market": "STRING",
        "security_type": "STRING",
        "security_type_desc": "STRING",
        "transaction_today_amt": "CURRENCY0",
        "transaction_mtd_amt": "CURRENCY0",
        "transaction_fytd_amt": "CURRENCY0",
        "table_nbr": "STRING",
        "table_nm": "STRING",
        "src_line_nbr": "INTEGER",
        **_CALENDAR_TYPES,
    },
    "dataFormats": {
        "record_date": "YYYY-MM-DD",
        "transaction_type": "String",
        "security_market": "String",
        "security_type": "String",
        "security_type_desc": "String",
        "transaction_today_amt": "$1,000,000",
        "transaction_mtd_amt": "$1,000,000",
        "transaction_fytd_amt": "$1,000,000",
        "table_nbr": "String",
        "table_nm": "String",
        "src_line_nbr": "10",
        **_CALENDAR_FORMATS,
    },
}

DATASET_META: dict[str, dict[str, Any]] = {
    "operating_cash_balance": OPERATING_CASH_BALANCE_META,
    "public_debt_transactions": PUBLIC_DEBT_TRANSACTIONS_META,
}


# --------------------------------------------------------------------------- amounts


@dataclass(frozen=True)
class Amount:
    """A daily amount: with ``p_big`` a draw in ``big``, else with ``p_small`` one in ``small``."""

    p_big: float = 0.0
    big: tuple[int, int] = (0, 0)
    p_small: float = 0.0
    small: tuple[int, int] = (0, 0)

    def draw(self, rng: random.Random) -> int:
        """One day's amount, in millions of USD."""
        if rng.random() < self.p_big:
            return rng.randint(*self.big)
        if rng.random() < self.p_small:
            return rng.randint(*self.small)
        return 0


@dataclass(frozen=True)
class DebtLine:
    """One row of Table III-A: its identity and how its daily amount is drawn."""

    transaction_type: str
    security_market: str
    security_type: str
    security_type_desc: str
    amount: Amount
    hope_bonds: bool = False

    @property
    def key(self) -> tuple[str, str, str, str]:
        """The natural key of the row within a day."""
        return (
            self.transaction_type,
            self.security_market,
            self.security_type,
            self.security_type_desc,
        )


_ISS, _RED, _MKT, _NON, _NULL = (
    "Issues",
    "Redemptions",
    "Marketable",
    "Nonmarketable",
    "null",
)
_SAVINGS = "United States Savings Securities"

#: Table III-A as published each business day; distributions imitate the real 2023–2026 data
DEBT_LINES: tuple[DebtLine, ...] = (
    DebtLine(_ISS, _MKT, "Bills", "Regular Series", Amount(0.42, (80_000, 325_000), 1, (-39, 0))),
    DebtLine(_ISS, _MKT, "Bills", "Cash Management Series", Amount(0.13, (20_000, 150_000))),
    DebtLine(_ISS, _MKT, "Notes", _NULL, Amount(0.25, (20_000, 270_000), 0.17, (-22, -1))),
    DebtLine(_ISS, _MKT, "Bonds", _NULL, Amount(0.14, (10_000, 34_000), 0.05, (-10, -1))),
    DebtLine(_ISS, _MKT, "Inflation-Protected Securities Increment", _NULL,
             Amount(0, (0, 0), 1, (-400, 900))),
    DebtLine(_ISS, _MKT, "Federal Financing Bank", _NULL, Amount(0.01, (1, 1_875))),
    DebtLine(_ISS, _NON, _SAVINGS, "Cash Issue Price", Amount(0, (0, 0), 1, (2, 25))),
    DebtLine(_ISS, _NON, _SAVINGS, "Interest Increment", Amount(0, (0, 0), 0.97, (1, 5))),
    DebtLine(_ISS, _NON, "Government Account Series", _NULL, Amount(1, (300_000, 900_000))),
    DebtLine(_ISS, _NON, "Hope Bonds", _NULL, Amount(), hope_bonds=True),
    DebtLine(_ISS, _NON, "Domestic Series", _NULL, Amount(0, (0, 0), 0.5, (1, 3))),
    DebtLine(_ISS, _NON, "Foreign Series", _NULL, Amount()),
    DebtLine(_ISS, _NON, "State and Local Series", _NULL,
             Amount(0.05, (2_000, 18_000), 0.95, (1, 800))),
    DebtLine(_ISS, _NON, "Other", _NULL, Amount(0, (0, 0), 1, (1_250, 6_500))),
    DebtLine(_RED, _MKT, "Bills", _NULL, Amount(0.42, (80_000, 335_000))),
    DebtLine(_RED, _MKT, "Notes", _NULL, Amount(0.2, (20_000, 262_000))),
    DebtLine(_RED, _MKT, "Bonds", _NULL, Amount(0.09, (5_000, 47_000))),
    DebtLine(_RED, _MKT, "Federal Financing Bank", _NULL, Amount(0.004, (1, 1_230))),
    DebtLine(_RED, _NON, _SAVINGS, _NULL, Amount(0, (0, 0), 1, (25, 120))),
    DebtLine(_RED, _NON, "Government Account Series", _NULL, Amount(1, (300_000, 900_000))),
    DebtLine(_RED, _NON, "Hope Bonds", _NULL, Amount(), hope_bonds=True),
    DebtLine(_RED, _NON, "Domestic Series", _NULL, Amount(0.02, (1, 2_626))),
    DebtLine(_RED, _NON, "Foreign Series", _NULL, Amount(0.001, (1, 264))),
    DebtLine(_RED, _NON, "State and Local Series", _NULL,
             Amount(0.04, (1_000, 18_000), 0.9, (1, 600))),
    DebtLine(_RED, _NON, "Other", _NULL, Amount(0, (0, 0), 1, (1_250, 6_500))),
)  # fmt: skip


# --------------------------------------------------------------------------- Table III-A


def debt_lines_on(day: date) -> list[DebtLine]:
    """The lines of Table III-A published on ``day`` (25 while Hope Bonds existed, else 23)."""
    with_hope = HOPE_BONDS_FIRST <= day <= HOPE_BONDS_LAST
    return [line for line in DEBT_LINES if with_hope or not line.hope_bonds]


def _src_line_numbers(lines: list[DebtLine]) -> list[int]:
    """Line numbers as printed: issues from 1, one skipped (their total), then redemptions."""
    numbers: list[int] = []
    number = 0
    previous_type = None
    for line in lines:
        number += 2 if previous_type == _ISS and line.transaction_type == _RED else 1
        previous_type = line.transaction_type
        numbers.append(number)
    return numbers


def day_amounts(day: date, seed: int = 0) -> list[tuple[DebtLine, int]]:
    """The lines of Table III-A on ``day`` with their amounts (millions of USD)."""
    rng = day_rng(seed, "public_debt_transactions", day)
    return [(line, line.amount.draw(rng)) for line in debt_lines_on(day)]


def net_issuance(day: date, seed: int = 0) -> int:
    """Issues − redemptions of ``day``: the change of total public debt outstanding that
    Table III-C shows (:func:`~treasury_lakehouse.testing.statement_tables.debt_outstanding`)."""
    return sum(a if line.transaction_type == _ISS else -a for line, a in day_amounts(day, seed))


def public_debt_transactions(start: date, end: date, seed: int = 0) -> Iterator[Record]:
    """Rows of Table III-A for the business days from ``start`` to ``end``."""
    mtd: dict[tuple[str, ...], int] = {}
    fytd: dict[tuple[str, ...], int] = {}
    previous: date | None = None
    for day in iter_business_days(fiscal_year_start(start), end):
        if previous is None or fiscal_year(previous) != fiscal_year(day):
            fytd.clear()
        if previous is None or (previous.year, previous.month) != (day.year, day.month):
            mtd.clear()
        previous = day
        amounts = day_amounts(day, seed)
        table_nbr = "IIIA" if day >= TABLE_IIIA_FIRST else "III-A"
        numbers = _src_line_numbers([line for line, _ in amounts])
        for (line, today), src_line in zip(amounts, numbers, strict=True):
            mtd[line.key] = mtd.get(line.key, 0) + today
            fytd[line.key] = fytd.get(line.key, 0) + today
            if day >= start:
                yield _debt_row(
                    day, line, today, mtd[line.key], fytd[line.key], table_nbr, src_line
                )


def _debt_row(
    day: date,
    line: DebtLine,
    today: int,
    mtd: int,
    fytd: int,
    table_nbr: str,
    src_line: int,
) -> Record:
    return {
        "record_date": day.isoformat(),
        "transaction_type": line.transaction_type,
        "security_market": line.security_market,
        "security_type": line.security_type,
        "security_type_desc": line.security_type_desc,
        "transaction_today_amt": str(today),
        "transaction_mtd_amt": str(mtd),
        "transaction_fytd_amt": str(fytd),
        "table_nbr": table_nbr,
        "table_nm": "Public Debt Transactions",
        "src_line_nbr": str(src_line),
        **calendar_fields(day),
    }


# --------------------------------------------------------------------------- Table I


@dataclass(frozen=True)
class CashDay:
    """One day of the Treasury General Account, in millions of USD."""

    day: date
    opening: int
    deposits: int
    withdrawals: int
    open_month: int
    open_fiscal_year: int
    deposits_mtd: int
    deposits_fytd: int
    withdrawals_mtd: int
    withdrawals_fytd: int

    @property
    def closing(self) -> int:
        """Opening plus deposits minus withdrawals."""
        return self.opening + self.deposits - self.withdrawals


def _flows(rng: random.Random, opening: int) -> tuple[int, int]:
    """Deposits and withdrawals of a day, pulling the balance towards the target."""
    deposits = rng.randint(30_000, 180_000)
    net_outflow = (opening - TGA_TARGET) // 20 + rng.randint(-40_000, 40_000)
    withdrawals = max(1_000, deposits + net_outflow)
    withdrawals = min(withdrawals, opening + deposits - TGA_FLOOR)
    return deposits, withdrawals


def cash_days(start: date, end: date, seed: int = 0) -> Iterator[CashDay]:
    """The TGA day by day, simulated from the epoch; yields the days from ``start`` to ``end``."""
    balance = TGA_START
    previous: date | None = None
    open_month = open_fy = 0
    dep_mtd = dep_fytd = wd_mtd = wd_fytd = 0
    for day in iter_business_days(min(EPOCH, fiscal_year_start(start)), end):
        if previous is None or fiscal_year(previous) != fiscal_year(day):
            open_fy, dep_fytd, wd_fytd = balance, 0, 0
        if previous is None or (previous.year, previous.month) != (day.year, day.month):
            open_month, dep_mtd, wd_mtd = balance, 0, 0
        previous = day
        deposits, withdrawals = _flows(day_rng(seed, "operating_cash_balance", day), balance)
        dep_mtd, dep_fytd = dep_mtd + deposits, dep_fytd + deposits
        wd_mtd, wd_fytd = wd_mtd + withdrawals, wd_fytd + withdrawals
        cash = CashDay(
            day, balance, deposits, withdrawals, open_month, open_fy,
            dep_mtd, dep_fytd, wd_mtd, wd_fytd,
        )  # fmt: skip
        balance = cash.closing
        if day >= start:
            yield cash


def operating_cash_balance(start: date, end: date, seed: int = 0) -> Iterator[Record]:
    """Rows of Table I for the business days from ``start`` to ``end``, each day in its layout."""
    for cash in cash_days(start, end, seed):
        yield from _cash_rows(cash)


def _cash_rows(cash: CashDay) -> list[Record]:
    if cash.day <= TGA_LAST:
        main = (
            "Federal Reserve Account" if cash.day <= FRA_LAST else "Treasury General Account (TGA)"
        )
        balances = [
            (main, cash.closing, cash.opening, cash.open_month, cash.open_fiscal_year),
            ("Supplementary Financing Program Account", 0, 0, 0, 0),
            ("Short-Term Cash Investments (Table V)", 0, 0, 0, 0),
        ]
        return [
            _cash_row(cash.day, name, str(close), today, month, year, "Type of account", line)
            for line, (name, close, today, month, year) in enumerate(balances, start=1)
        ]
    details = [
        ("Treasury General Account (TGA) Opening Balance",
         cash.opening, cash.open_month, cash.open_fiscal_year),
        ("Total TGA Deposits (Table II)", cash.deposits, cash.deposits_mtd, cash.deposits_fytd),
        ("Total TGA Withdrawals (Table II) (-)",
         cash.withdrawals, cash.withdrawals_mtd, cash.withdrawals_fytd),
        ("Treasury General Account (TGA) Closing Balance",
         cash.closing, cash.closing, cash.closing),
    ]  # fmt: skip
    return [
        _cash_row(cash.day, name, "null", today, month, year, "Cash Balance Details", line)
        for line, (name, today, month, year) in enumerate(details, start=1)
    ]


def _cash_row(
    day: date,
    account_type: str,
    close_today: str,
    open_today: int,
    open_month: int,
    open_fiscal_year: int,
    sub_table_name: str,
    src_line: int,
) -> Record:
    return {
        "record_date": day.isoformat(),
        "account_type": account_type,
        "close_today_bal": close_today,
        "open_today_bal": str(open_today),
        "open_month_bal": str(open_month),
        "open_fiscal_year_bal": str(open_fiscal_year),
        "table_nbr": "I",
        "table_nm": "Operating Cash Balance",
        "sub_table_name": sub_table_name,
        "src_line_nbr": str(src_line),
        **calendar_fields(day),
    }


# --------------------------------------------------------------------------- writing

_GENERATORS: dict[str, Callable[[date, date, int], Iterator[Record]]] = {
    "operating_cash_balance": operating_cash_balance,
    "public_debt_transactions": public_debt_transactions,
}


def generate_records(
    out_dir: Path | str,
    start: date,
    end: date,
    seed: int = 0,
    datasets: Iterable[str] | None = None,
) -> dict[str, int]:
    """Write a synthetic records folder for ``start``..``end``; returns rows written per dataset.

    Layout: ``<out_dir>/records/<dataset>.jsonl.gz`` and ``<out_dir>/meta/<dataset>.json``, for
    every catalog dataset (or those named in ``datasets``): Table III-A and Table I here, the
    statement's other tables and Debt to the Penny in
    :mod:`~treasury_lakehouse.testing.statement_tables` (each within its span, so a table may have
    no rows). The output is byte-for-byte deterministic for given arguments.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    root = Path(out_dir)
    (root / "records").mkdir(parents=True, exist_ok=True)
    (root / "meta").mkdir(parents=True, exist_ok=True)
    wanted = set(datasets) if datasets is not None else None
    written: dict[str, int] = {}
    for name, generate in _GENERATORS.items():
        if wanted is None or name in wanted:
            written[name] = write_jsonl_gz(
                root / "records" / f"{name}.jsonl.gz", generate(start, end, seed)
            )
            write_meta(root / "meta" / f"{name}.json", DATASET_META[name])
    for name in statement_tables.other_tables():
        if wanted is None or name in wanted:
            rows = statement_tables.generate(name, start, end, seed)
            written[name] = write_jsonl_gz(root / "records" / f"{name}.jsonl.gz", rows)
            meta = statement_tables.meta_of(DATASETS[name])
            write_meta(root / "meta" / f"{name}.json", meta)
    return written


def write_jsonl_gz(path: Path, rows: Iterator[Record]) -> int:
    """Write rows as gzip-compressed JSON lines (deterministic bytes); returns the row count."""
    count = 0
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as handle,
    ):
        for row in rows:
            handle.write(json.dumps(row).encode("utf-8") + b"\n")
            count += 1
    return count


def write_meta(path: Path, meta: dict[str, Any]) -> None:
    """Write a ``meta/<dataset>.json`` file marked as synthetic."""
    document = {
        "endpoint": meta["endpoint"],
        "recorded": False,
        "note": "synthetic records from treasury_lakehouse.testing.generator",
        "labels": meta["labels"],
        "dataTypes": meta["dataTypes"],
        "dataFormats": meta["dataFormats"],
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
