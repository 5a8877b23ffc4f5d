"""Every check that runs as SQL gives the same findings as its Python function over the whole
table: its query, run in DuckDB over hand-made rows (failing ones included), keeps exactly the
rows the findings need."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from treasury_lakehouse.calendar import iter_business_days, previous_business_day
from treasury_lakehouse.catalog import (
    DATASETS,
    DEBT_SUBJECT_TO_LIMIT,
    DEBT_TO_PENNY,
    OPERATING_CASH_BALANCE,
    PUBLIC_DEBT_TRANSACTIONS,
    Dataset,
)
from treasury_lakehouse.models.registry import GOLD_MODELS
from treasury_lakehouse.quality.checks import all_checks
from treasury_lakehouse.quality.debt import DEBT_DAYS, DEBT_LIMIT_GOLD, PENNY_DAYS, STATUTORY_LIMIT
from treasury_lakehouse.quality.results import Finding
from treasury_lakehouse.quality.spec import Check, CheckContext

DETAILS = OPERATING_CASH_BALANCE.eras[-1]
CTX = CheckContext(datetime(2024, 6, 1, tzinfo=UTC))
LINES = [(t, m, s, d) for t in ("Issues", "Redemptions") for m, s, d in (
    ("Marketable", "Bills", None), ("Marketable", "Notes", None), ("Marketable", "Bonds", None),
    ("Nonmarketable", "Domestic Series", None), ("Nonmarketable", "Foreign Series", "x"),
    ("Nonmarketable", "Government Account Series", "y"),
)] * 2  # fmt: skip


def debt_rows() -> list[dict[str, Any]]:
    """24 lines a day over March 2024 (a hole of three business days), then faults."""
    days = [d for d in iter_business_days(date(2024, 3, 1), date(2024, 3, 29))
            if not date(2024, 3, 12) <= d <= date(2024, 3, 14)]  # fmt: skip
    rows = [
        {"record_date": day, "transaction_type": t, "security_market": m, "security_type": s,
         "security_type_desc": f"{d}-{n // 12}" if d or n >= 12 else None,
         "transaction_today_amt": -5 if n == 3 else 10, "batch_id": "b1",
         "transaction_mtd_amt": (i + 1) * (-5 if n == 3 else 10) + (i == 5 and n == 0) * 70
         - (i == 8 and n == 1) + (i == 0 and n == 2) * 3,
         "transaction_fytd_amt": 900 + (i + 1) * (-5 if n == 3 else 10) + (i == 4 and n == 4) * 9}
        for i, day in enumerate(days) for n, (t, m, s, d) in enumerate(LINES)
    ]  # fmt: skip
    first = dict(rows[0])
    rows += [
        first,  # a duplicate key (the same row twice: silver never holds two versions)
        {**first, "transaction_type": None, "security_type_desc": "n"},  # a NULL key column
        {**first, "transaction_type": "Swaps", "security_type_desc": "v"},  # not accepted
        {**first, "security_market": "Semi", "security_type_desc": "m"},
        {**first, "security_type": "Moon Bonds", "security_type_desc": "k"},  # not known
        {**first, "record_date": date(2024, 3, 30), "security_type_desc": "w"},  # a Saturday
    ]
    rows += [  # 48 rows on a day
        {**r, "record_date": date(2024, 3, 29), "security_type_desc": f"c{k}"}
        for k, r in enumerate(rows[-27:-3])
    ]
    return rows


def as_text(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: None if v is None else str(v) for k, v in r.items()} for r in rows]


def cash_rows() -> list[dict[str, Any]]:
    names = list(dict.fromkeys(n for era in OPERATING_CASH_BALANCE.eras for n in era.row_names))
    rows = []
    days = [d for d in iter_business_days(date(2024, 3, 1), date(2024, 3, 15)) if d.day != 11]
    for n, day in enumerate(days):
        for i, name in enumerate(names[: 3 + n % 3]):
            balance = -7 if (n, i) in ((2, 0), (4, 1)) else 100 + i
            rows.append({"record_date": day, "account_type": name, "open_today_bal": balance,
                         "close_today_bal": balance if n != 5 else -1, "open_month_bal": 0,
                         "open_fiscal_year_bal": 1})  # fmt: skip
    for n, day in enumerate(iter_business_days(date(2024, 4, 1), date(2024, 4, 12))):
        figures = (100, 30, 20, 110 + (n == 2) * 9 - (n == 4))  # two days off, one a rounding
        for name, value in zip(DETAILS.row_names, figures, strict=True):
            if (n, name) != (6, DETAILS.row_names[1]):  # a day lacks its deposits
                rows.append({"record_date": day, "account_type": name, "open_today_bal": value,
                             "close_today_bal": None, "open_month_bal": 0,
                             "open_fiscal_year_bal": 1})  # fmt: skip
    rows += [{**r, "record_date": date(2022, 4, 15)} for r in rows[-4:]]  # before the layout
    return [*rows, rows[1], {**rows[0], "account_type": None},
            {**rows[0], "account_type": "Moon Account"}]  # fmt: skip


def gold_rows(key: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = [{c: f"{c}-{n % 5}" if c != key[0] else f"{n}" for c in key} for n in range(12)]
    return [*rows, rows[3], {**rows[4], key[-1]: None}]


def tga_days() -> list[dict[str, Any]]:
    """A statement day per business day of May 2024 (a hole on the 15th): closing = next opening
    but for a break on the 8th, a day without its opening and one without either balance."""
    days = [d for d in iter_business_days(date(2024, 5, 1), date(2024, 5, 31)) if d.day != 15]
    rows = [
        {"record_date": day, "tga_opening_balance_usd_mil": 100 * n + (day.day == 9) * 7,
         "tga_closing_balance_usd_mil": 100 * (n + 1)}
        for n, day in enumerate(days)
    ]  # fmt: skip
    rows[3]["tga_opening_balance_usd_mil"] = None
    rows[12] |= {"tga_opening_balance_usd_mil": None, "tga_closing_balance_usd_mil": None}
    return [*rows, {"record_date": date(2024, 6, 8), "tga_opening_balance_usd_mil": 1,
                    "tga_closing_balance_usd_mil": 1}]  # fmt: skip


def catalog_rows(dataset: Dataset) -> list[dict[str, Any]]:
    """A month of the dataset's newest layout from its catalog entry (row names, rows per day; a
    hole of three business days), then faults: a duplicate key, a NULL key column, an unknown row
    name, a Saturday, a day with one row too many."""
    era = dataset.eras[-1] if dataset.eras else None
    start = era.first_date if era else date(2024, 3, 1)
    low, high = era.rows_per_day if era and era.rows_per_day else dataset.rows_per_day or (1, 1)
    names = list(era.row_names) if era else []
    others = [c for c in dataset.natural_key if c not in ("record_date", dataset.row_name_column)]
    days = [d for n, d in enumerate(iter_business_days(start, start.replace(day=28)))
            if not 6 <= n <= 8]  # fmt: skip

    def row(day: date, i: int) -> dict[str, Any]:
        found: dict[str, Any] = {"record_date": day}
        if dataset.row_name_column:
            found[dataset.row_name_column] = names[i % len(names)]
        return found | {c: f"d{i}" for c in others}

    rows = [row(day, i) for day in days for i in range(low)]
    first, last = rows[0], days[-1]
    saturday = next(d for d in (last + timedelta(days=k) for k in range(1, 8)) if d.weekday() == 5)
    rows += [first, {**first, "record_date": saturday}]
    rows += [{**row(days[-2], i), **({} if others else {"record_date": days[-2]})}
             for i in range(low, high + 1)]  # fmt: skip
    if dataset.row_name_column:
        unknown = {**first, dataset.row_name_column: "Moon Row", **{c: "m" for c in others}}
        rows += [{**first, dataset.row_name_column: None}, unknown]
    else:
        rows += [{**first, "record_date": None}]
    return rows


def debt_limit_rows() -> list[dict[str, Any]]:
    """:func:`catalog_rows` of Table III-C with balances: each line opens at its close of the
    previous business day, but for one opening off by 5 (and the statutory limit, set by law)."""
    rows = catalog_rows(DEBT_SUBJECT_TO_LIMIT)
    for n, row in enumerate(rows):
        day, key = row["record_date"], n % 7
        if day is None:
            continue
        row["close_today_bal"] = day.toordinal() * 10 + key
        row["open_today_bal"] = previous_business_day(day).toordinal() * 10 + key
        if row.get("debt_catg") == STATUTORY_LIMIT:
            row["open_today_bal"] = 1
    rows[7 * 5 + 1]["open_today_bal"] += 5
    return rows


def penny_rows() -> list[dict[str, Any]]:
    """:func:`catalog_rows` of Debt to the Penny with amounts: parts adding up to the total but
    on one day (a cent), one day with the total only, one with parts and no total."""
    rows = catalog_rows(DEBT_TO_PENNY)
    for n, row in enumerate(rows):
        public, intragov = Decimal(f"{n}000000.25"), Decimal("7000.50")
        row |= {"debt_held_public_amt": public, "intragov_hold_amt": intragov,
                "tot_pub_debt_out_amt": public + intragov + (n == 5) * Decimal("0.01")}  # fmt: skip
    rows[3] |= {"debt_held_public_amt": None, "intragov_hold_amt": None}
    rows[8]["tot_pub_debt_out_amt"] = None
    return rows


def debt_days() -> list[dict[str, Any]]:
    """Days of both debt tables: exact, a rounding, off by 11, one lacking a holding."""
    days = list(iter_business_days(date(2024, 3, 1), date(2024, 3, 8)))
    rows = [{"record_date": d, "public_open": 10, "public_close": 20, "intragov_open": 5,
             "intragov_close": 5 + n, "issues": 30 + n, "redemptions": 20}
            for n, d in enumerate(days)]  # fmt: skip
    rows[1]["issues"] += 3
    rows[2]["redemptions"] -= 11
    rows[3]["intragov_open"] = None
    return rows


def penny_days() -> list[dict[str, Any]]:
    days = list(iter_business_days(date(2025, 1, 2), date(2025, 1, 10)))
    totals = ["35000000000000.00", "35000000700000.00", "35000005000000.00", "34999998999999.99",
              "35000000000000.00", None, "35000001000000.00"]  # fmt: skip
    rows = [{"record_date": d, "tot_pub_debt_out_amt": None if t is None else Decimal(t),
             "public_close": 28_000_000, "intragov_close": 7_000_000}
            for d, t in zip(days, totals, strict=True)]  # fmt: skip
    rows[4]["public_close"] = None
    return rows


def debt_limit_gold() -> list[dict[str, Any]]:
    """Days with headroom, at the limit, beyond it, suspended, mis-published; and, for the gold
    key checks, a duplicate day and one without a date."""
    figures = [(100, 90, 10), (100, 100, 0), (100, 101, -1), (None, 120, None), (100, 50, 40),
               (100, 99, 1), (100, None, None)]  # fmt: skip
    days = list(iter_business_days(date(2023, 6, 1), date(2023, 6, 9)))
    rows = [{"record_date": d, "statutory_debt_limit_usd_mil": limit,
             "debt_subject_to_limit_usd_mil": debt, "limit_suspended": limit is None,
             "headroom_usd_mil": room}
            for d, (limit, debt, room) in zip(days, figures, strict=True)]  # fmt: skip
    return [*rows, dict(rows[0]), {**rows[1], "record_date": None}]


#: the datasets :func:`catalog_rows` stands in for (the first two have hand-made tables above)
OTHER_DATASETS = [
    d for d in DATASETS.values() if d not in (OPERATING_CASH_BALANCE, PUBLIC_DEBT_TRANSACTIONS)
]


def tables() -> dict[str, list[dict[str, Any]]]:
    debt, cash = debt_rows(), cash_rows()
    found = {
        "silver_public_debt_transactions": debt,
        "bronze_public_debt_transactions": as_text(debt),
        "received_public_debt_transactions": [
            *as_text(debt),
            {"record_date": " 2024-03-13", "transaction_type": "Issues"},
        ],
        "silver_operating_cash_balance": cash,
        "bronze_operating_cash_balance": [{**r, "batch_id": "b1"} for r in as_text(cash)],
        "received_operating_cash_balance": as_text(cash),
        "tga_days": tga_days(),
    }
    for dataset in OTHER_DATASETS:
        rows = catalog_rows(dataset)
        found |= {
            f"silver_{dataset.name}": rows,
            f"bronze_{dataset.name}": [{**r, "batch_id": "b1"} for r in as_text(rows)],
            f"received_{dataset.name}": as_text(rows),
        }
    found |= {
        f"silver_{DEBT_SUBJECT_TO_LIMIT.name}": debt_limit_rows(),
        f"silver_{DEBT_TO_PENNY.name}": penny_rows(),
        DEBT_DAYS: debt_days(),
        PENNY_DAYS: penny_days(),
    }
    return (
        found
        | {m.name: gold_rows(m.primary_key) for m in GOLD_MODELS}
        | {DEBT_LIMIT_GOLD: debt_limit_gold()}
    )


def _type(values: list[Any]) -> str:
    kinds = {type(v) for v in values if v is not None}
    if len(kinds) != 1:
        return "VARCHAR"
    types = {date: "DATE", int: "BIGINT", bool: "BOOLEAN", Decimal: "DECIMAL(20, 2)"}
    return types.get(kinds.pop(), "VARCHAR")


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as connection:
        for name, rows in tables().items():
            columns = list(dict.fromkeys(c for r in rows for c in r))
            typed = ", ".join(f'"{c}" {_type([r.get(c) for r in rows])}' for c in columns)
            connection.execute(f'CREATE TABLE "{name}" ({typed})')
            marks = ", ".join("?" for _ in columns)
            values = [[r.get(c) for c in columns] for r in rows]
            connection.executemany(f'INSERT INTO "{name}" VALUES ({marks})', values)
        yield connection


def _order(finding: Finding) -> tuple[date, str, str]:
    return (finding.day or date.min, finding.row, finding.message)


SQL_CHECKS = [c for c in all_checks() if c.sql is not None]


@pytest.mark.parametrize("check", SQL_CHECKS, ids=lambda c: f"{c.name}@{c.source}")
def test_sql_check_finds_what_the_python_check_finds(
    check: Check, con: duckdb.DuckDBPyConnection
) -> None:
    assert check.sql is not None
    cursor = con.execute(f'SELECT * FROM "{check.source}"')
    names = [d[0] for d in cursor.description or ()]
    table = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    cursor = con.execute(check.sql(f'SELECT * FROM "{check.source}"'))
    names = [d[0] for d in cursor.description or ()]
    narrowed = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    expected = sorted(check.evaluate(table, CTX), key=_order)
    assert expected, f"the hand-made {check.source} should fail {check.name}"
    assert sorted(check.evaluate(narrowed, CTX), key=_order) == expected
    assert len(narrowed) < len(table)


def test_every_sql_check_is_covered() -> None:
    assert {c.source for c in SQL_CHECKS} <= set(tables())
    assert {c.name for c in SQL_CHECKS} >= {"not_null_key", "unique_key", "rows_per_day",
                                             "completeness", "freshness", "negative_balance",
                                             "tga_continuity", "debt_identity",
                                             "debt_continuity", "debt_to_penny_vs_statement",
                                             "debt_to_penny_parts", "headroom",
                                             "tax_refund_category"}  # fmt: skip
