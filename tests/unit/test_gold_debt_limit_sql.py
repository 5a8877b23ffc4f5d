"""Given → expected rows of the two issue #10 gold models, run in DuckDB over hand-made silver.

Each case is one rule of ARCHITECTURE section 6b: rows chosen by ``debt_catg`` under both names of
the adjustment rows (renamed 2022-09-12), the three ways a suspended limit shows (no row, "null",
0), the TGA closing of the same day in each of Table I's three layouts, and every refund row name
of the catalog's two layouts in exactly one category. The real records are
tests/integration/test_debt_limit_real_records.py.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb
import pytest

from treasury_lakehouse.catalog import DEBT_SUBJECT_TO_LIMIT, INCOME_TAX_REFUNDS_ISSUED
from treasury_lakehouse.models.registry import get_gold

DEBT_LIMIT = get_gold("gold_daily_debt_limit")
TAX_REFUNDS = get_gold("gold_monthly_tax_refunds")
OLD, NEW = date(2019, 8, 5), date(2023, 6, 1)


def run_model(sql: str, tables: dict[str, tuple[str, list[tuple[Any, ...]]]]) -> list[Any]:
    """``sql`` over tables given as (column definitions, rows)."""
    with duckdb.connect() as con:
        for name, (columns, rows) in tables.items():
            con.execute(f"CREATE TABLE {name} ({columns})")
            if rows:
                marks = ", ".join("?" for _ in rows[0])
                con.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
        return con.execute(f"SELECT * FROM ({sql}) AS model ORDER BY ALL").fetchall()


DEBT_COLUMNS = "record_date DATE, debt_catg VARCHAR, debt_catg_desc VARCHAR, close_today_bal BIGINT"
CASH_COLUMNS = (
    "record_date DATE, account_type VARCHAR, open_today_bal BIGINT, close_today_bal BIGINT"
)


def debt_day(day: date, layout: str, limit: int | str | None) -> list[tuple[Any, ...]]:
    """One day of Table III-C; ``limit`` "missing" leaves out the Statutory Debt Limit row."""
    less, plus = (
        ("Less Debt Not Subject to Limit", "Plus Other Debt Subject to Limit")
        if layout == "old"
        else ("Debt Not Subject to Limit", "Other Debt Subject to Limit")
    )
    rows = [
        (day, "Debt Held by the Public", None, 1000),
        (day, "Intragovernmental Holdings", None, 500),
        (day, less, "Other Debt", 7),
        (day, less, "Unamortized Discount", 20),
        (day, plus, "Guaranteed Debt of Government Agencies", 2),
        # a total row, if the API sends one, is not a component: gold ignores it
        (day, "Total Public Debt Outstanding", None, 99_999),
    ]
    if limit != "missing":
        rows.append((day, "Statutory Debt Limit", None, limit))
    return rows


def test_the_catalog_debt_categories_are_the_ones_the_model_selects() -> None:
    for era in DEBT_SUBJECT_TO_LIMIT.eras:
        for name in era.row_names:
            assert f"'{name}'" in DEBT_LIMIT.sql, (era.name, name)


@pytest.mark.parametrize("layout", ["old", "new"])
def test_debt_subject_to_limit_headroom_and_tga_under_both_names(layout: str) -> None:
    day = OLD if layout == "old" else NEW
    tga = (
        (day, "Federal Reserve Account", 40, 41)
        if layout == "old"
        else (day, "Treasury General Account (TGA) Closing Balance", 88, None)
    )
    rows = run_model(
        DEBT_LIMIT.sql,
        {
            "silver_debt_subject_to_limit": (DEBT_COLUMNS, debt_day(day, layout, 1500)),
            "silver_operating_cash_balance": (CASH_COLUMNS, [tga]),
        },
    )
    # 1500 - 27 + 2 = 1475 subject to limit; headroom 25
    assert rows == [(day, 1000, 500, 1500, 1475, 1500, False, 25, 41 if layout == "old" else 88)]


@pytest.mark.parametrize("limit", [None, 0, "missing"])
def test_a_limit_row_missing_null_or_zero_means_suspended(limit: int | str | None) -> None:
    rows = run_model(
        DEBT_LIMIT.sql,
        {
            "silver_debt_subject_to_limit": (DEBT_COLUMNS, debt_day(NEW, "new", limit)),
            "silver_operating_cash_balance": (CASH_COLUMNS, []),
        },
    )
    # no TGA row that day: its balance is NULL, the day is still there
    assert rows == [(NEW, 1000, 500, 1500, 1475, None, True, None, None)]


def test_the_tga_closing_comes_from_each_layout_and_the_opening_row_is_not_it() -> None:
    days = [date(2021, 9, 30), date(2022, 1, 3), date(2022, 5, 2)]
    cash = [
        (days[0], "Federal Reserve Account", 10, 11),
        (days[0], "Short-Term Cash Investments (Table V)", 0, 999),
        (days[1], "Treasury General Account (TGA)", 20, 21),
        (days[2], "Treasury General Account (TGA) Opening Balance", 30, None),
        (days[2], "Treasury General Account (TGA) Closing Balance", 31, None),
    ]
    debt = [(d, "Debt Held by the Public", None, 5) for d in days]  # no limit row, no adjustments
    rows = run_model(
        DEBT_LIMIT.sql,
        {
            "silver_debt_subject_to_limit": (DEBT_COLUMNS, debt),
            "silver_operating_cash_balance": (CASH_COLUMNS, cash),
        },
    )
    assert [(r[0], r[-1]) for r in rows] == list(zip(days, [11, 21, 31], strict=True))
    # a missing holdings row leaves the totals unknown (NULL), not a smaller number
    assert {r[2:5] for r in rows} == {(None, None, None)}


REFUND_COLUMNS = "record_date DATE, tax_refund_type VARCHAR, tax_refund_today_amt BIGINT"


def test_every_refund_row_of_the_catalog_falls_in_exactly_one_category() -> None:
    names = INCOME_TAX_REFUNDS_ISSUED.row_names()
    # one row per name, each its own power of two: the category sums show where each went
    refunds = [(date(2022, 3, 1), n, 2**i) for i, n in enumerate(names)]
    [(year, month, days, individual, business, eip, ctc, total)] = run_model(
        TAX_REFUNDS.sql, {"silver_income_tax_refunds_issued": (REFUND_COLUMNS, refunds)}
    )
    assert (year, month, days) == (2022, 3, 1)
    amount = {n: 2**i for i, n in enumerate(names)}

    def of(*prefixes: str) -> int:
        return sum(v for n, v in amount.items() if n.startswith(prefixes))

    assert individual == of("IRS Tax Refunds Individual", "Taxes - Individual Tax Refunds")
    assert business == of("IRS Tax Refunds Business", "Taxes - Business Tax Refunds")
    assert eip == of("IRS - Economic Impact Payments")
    assert ctc == of("IRS - Advanced Child Tax Credit")
    assert individual + business + eip + ctc == total == sum(amount.values())
    assert 0 not in (individual, business, eip, ctc)


def test_refunds_per_month_count_days_and_leave_empty_categories_zero() -> None:
    refunds = [
        (date(2023, 2, 13), "IRS Tax Refunds Individual", 5),
        (date(2023, 2, 13), "IRS Tax Refunds Business", 1),
        (date(2023, 2, 14), "Taxes - Individual Tax Refunds (EFT)", 7),
        (date(2023, 2, 14), "Taxes - Individual Tax Refunds (Checks)", 3),
        (date(2023, 3, 1), "Taxes - Business Tax Refunds (EFT)", 9),
    ]
    rows = run_model(
        TAX_REFUNDS.sql, {"silver_income_tax_refunds_issued": (REFUND_COLUMNS, refunds)}
    )
    assert rows == [(2023, 2, 2, 15, 1, 0, 0, 16), (2023, 3, 1, 0, 9, 0, 0, 9)]
