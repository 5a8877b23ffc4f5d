"""The cross-dataset debt checks and the tax refund categories, as pure functions of hand-made rows
(and the two views that join the tables, run in DuckDB over hand-made silver)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from treasury_lakehouse.catalog import INCOME_TAX_REFUNDS_ISSUED
from treasury_lakehouse.models.registry import GOLD_MODELS
from treasury_lakehouse.models.tax_refunds import (
    TAX_REFUND_CATEGORIES,
    categories_of,
    category_case_sql,
)
from treasury_lakehouse.quality.checks import all_checks
from treasury_lakehouse.quality.debt import (
    DEBT_DAYS,
    HELD_BY_PUBLIC,
    INTRAGOVERNMENTAL,
    PENNY_DAYS,
    STATUTORY_LIMIT,
    add_cross_views,
    debt_continuity,
    debt_days_sql,
    debt_identity,
    headroom,
    penny_days_sql,
    penny_parts,
    penny_vs_statement,
)
from treasury_lakehouse.quality.spec import CheckContext
from treasury_lakehouse.quality.tax_refunds import refund_categories

CTX = CheckContext(datetime(2024, 6, 1, tzinfo=UTC))
DAY = date(2024, 3, 5)


def debt_day(
    day: date = DAY,
    public: tuple[int | None, int | None] = (1_000, 1_100),
    intragov: tuple[int | None, int | None] = (500, 480),
    issues: int = 300,
    redemptions: int = 220,
) -> dict[str, Any]:
    """A row of the debt identity view: holdings open and close, the day's issuance."""
    return {"record_date": day, "public_open": public[0], "public_close": public[1],
            "intragov_open": intragov[0], "intragov_close": intragov[1], "issues": issues,
            "redemptions": redemptions}  # fmt: skip


# --------------------------------------------------------------------------- debt identity


def test_debt_identity_holds_exactly_within_rounding_and_beyond() -> None:
    assert debt_identity([debt_day()], CTX) == []  # +100 - 20 = 300 - 220
    [warn] = debt_identity([debt_day(issues=310)], CTX)
    assert (warn.severity, warn.day) == ("warn", DAY) and warn.message.endswith("off by -10")
    [error] = debt_identity([debt_day(public=(1_000, 1_200))], CTX)  # held by the public +100
    assert error.severity == "error" and error.day == DAY
    assert error.row == f"record_date=2024-03-05, {HELD_BY_PUBLIC} + {INTRAGOVERNMENTAL}"
    assert error.message == (
        f"change in total public debt outstanding +180 ({HELD_BY_PUBLIC} 1,000 -> 1,200, "
        f"{INTRAGOVERNMENTAL} 500 -> 480) != net issuance +80 (issues 300 - redemptions 220), "
        "off by +100"
    )
    [just_beyond] = debt_identity([debt_day(redemptions=209)], CTX)
    assert just_beyond.severity == "error" and just_beyond.message.endswith("off by -11")


def test_debt_identity_reports_a_day_without_a_holding_balance() -> None:
    [finding] = debt_identity([debt_day(intragov=(None, None))], CTX)
    assert finding.severity == "error"
    assert f"no {INTRAGOVERNMENTAL} open balance and {INTRAGOVERNMENTAL} close" in finding.message


def _silver(con: duckdb.DuckDBPyConnection, name: str, rows: list[dict[str, Any]]) -> str:
    columns = list(rows[0])
    values = ", ".join("(" + ", ".join("?" for _ in columns) + ")" for _ in rows)
    sql = f"CREATE TABLE {name} AS SELECT * FROM (VALUES {values}) AS t({', '.join(columns)})"
    con.execute(sql, [v for r in rows for v in r.values()])
    return f"SELECT * FROM {name}"


def _query(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def limit_rows(day: date, public: tuple[int, int], intragov: tuple[int, int]) -> list[Any]:
    def row(catg: str, desc: str | None, opening: int, closing: int) -> dict[str, Any]:
        return {"record_date": day, "debt_catg": catg, "debt_catg_desc": desc,
                "open_today_bal": opening, "close_today_bal": closing}  # fmt: skip

    return [row(HELD_BY_PUBLIC, None, *public), row(INTRAGOVERNMENTAL, None, *intragov),
            row("Debt Not Subject to Limit", "Other Debt (-)", 9, 9),
            row(STATUTORY_LIMIT, None, 5_000, 5_000)]  # fmt: skip


def test_the_debt_view_joins_the_days_of_both_tables_and_sums_issues_and_redemptions() -> None:
    with duckdb.connect() as con:
        limit = limit_rows(DAY, (1_000, 1_100), (500, 480))
        limit += limit_rows(date(2024, 3, 6), (1_100, 1_100), (480, 480))  # no transactions
        tx = [{"record_date": DAY, "transaction_type": t, "transaction_today_amt": a}
              for t, a in (("Issues", 200), ("Issues", 100), ("Redemptions", 220))]  # fmt: skip
        tx.append({"record_date": date(2024, 3, 4), "transaction_type": "Issues",
                   "transaction_today_amt": 1})  # fmt: skip
        sources = {"silver_debt_subject_to_limit": _silver(con, "l", limit),
                   "silver_public_debt_transactions": _silver(con, "t", tx)}  # fmt: skip
        [day] = _query(con, debt_days_sql(sources))
    assert day == debt_day()
    assert debt_identity([day], CTX) == []


# --------------------------------------------------------------------------- continuity


def line(day: date, catg: str, opening: int | None, closing: int | None, desc: Any = None) -> Any:
    return {"record_date": day, "debt_catg": catg, "debt_catg_desc": desc,
            "open_today_bal": opening, "close_today_bal": closing}  # fmt: skip


def test_debt_continuity_pairs_each_line_with_the_previous_business_day() -> None:
    friday, monday, tuesday = date(2024, 3, 8), date(2024, 3, 11), date(2024, 3, 12)
    rows = [
        line(friday, HELD_BY_PUBLIC, 90, 100),
        line(monday, HELD_BY_PUBLIC, 100, 120),
        line(tuesday, HELD_BY_PUBLIC, 121, 130),  # opens 1 above Monday's close
        line(friday, "Debt Not Subject to Limit", 5, 6, "Other Debt (-)"),
        line(monday, "Debt Not Subject to Limit", 6, 6, "Other Debt (-)"),
        line(monday, "Debt Not Subject to Limit", 3, 3, "Unamortized Discount (-)"),  # no pair
        line(friday, STATUTORY_LIMIT, 100, 100),
        line(monday, STATUTORY_LIMIT, 200, 200),  # law
    ]
    [finding] = debt_continuity(rows, CTX)
    assert (finding.severity, finding.day) == ("error", tuesday)
    assert finding.row == f"record_date=2024-03-12, debt_catg={HELD_BY_PUBLIC}, debt_catg_desc=NULL"
    assert finding.message == (
        "open_today_bal 121 million USD != close_today_bal 120 million USD of 2024-03-11 "
        "(previous business day), off by +1"
    )


def test_debt_continuity_skips_a_missing_day_and_holidays_are_not_business_days() -> None:
    # 2024-03-13 missing: 03-14 has no pair; 2024-05-27 is Memorial Day: 05-28 pairs with 05-24
    days = (date(2024, 3, 12), date(2024, 3, 14), date(2024, 5, 24), date(2024, 5, 28))
    rows = [line(d, HELD_BY_PUBLIC, 2 * n + 1, 2 * n + 2) for n, d in enumerate(days)]
    [finding] = debt_continuity(rows, CTX)
    assert finding.day == date(2024, 5, 28) and "of 2024-05-24" in finding.message


# --------------------------------------------------------------------------- Debt to the Penny


def penny_day(
    total: str | None, public: int | None = 28_000_000, intragov: int | None = 7_000_000
) -> Any:
    return {"record_date": DAY, "tot_pub_debt_out_amt": None if total is None else Decimal(total),
            "public_close": public, "intragov_close": intragov}  # fmt: skip


def test_penny_total_against_the_statement_in_exact_decimals() -> None:
    assert penny_vs_statement([penny_day("35000000000000.00")], CTX) == []
    # within ±1 million: exact dollars against two rounded millions, no finding (not even a warn)
    assert penny_vs_statement([penny_day("35000000999999.99")], CTX) == []
    assert penny_vs_statement([penny_day("34999999000000.00")], CTX) == []  # exactly -1
    [error] = penny_vs_statement([penny_day("35000005000000.00")], CTX)  # the penny +$5 million
    assert (error.severity, error.day) == ("error", DAY)
    assert error.row == "record_date=2024-03-05, tot_pub_debt_out_amt"
    assert error.message == (
        "Debt to the Penny 35,000,005,000,000.00 USD = 35,000,005.00000000 million USD != the "
        "statement's total public debt outstanding 35,000,000 million USD "
        f"({HELD_BY_PUBLIC} 28,000,000 + {INTRAGOVERNMENTAL} 7,000,000), off by +5.00000000"
    )
    [cent] = penny_vs_statement([penny_day("35000001000000.01")], CTX)
    assert cent.severity == "error"  # a cent beyond the tolerance; a float would lose it


def test_penny_day_without_the_statement_holdings_is_an_error() -> None:
    [finding] = penny_vs_statement([penny_day("1.00", public=None)], CTX)
    assert finding.severity == "error" and f"no {HELD_BY_PUBLIC} close balance" in finding.message
    assert penny_vs_statement([penny_day(None)], CTX) == []


def parts(public: str | None, intragov: str | None, total: str | None) -> dict[str, Any]:
    def dec(value: str | None) -> Decimal | None:
        return None if value is None else Decimal(value)

    return {"record_date": DAY, "debt_held_public_amt": dec(public),
            "intragov_hold_amt": dec(intragov), "tot_pub_debt_out_amt": dec(total)}  # fmt: skip


def test_penny_parts_add_up_to_the_cent_where_both_are_given() -> None:
    assert penny_parts([parts("28909508850275.58", "7304801569898.55", "36214310420174.13")],
                       CTX) == []  # fmt: skip
    assert penny_parts([parts(None, None, "4225873987843.44")], CTX) == []  # 1993: total only
    [finding] = penny_parts([parts("28909508850275.58", "7304801569898.56", "36214310420174.13")],
                            CTX)  # fmt: skip
    assert (finding.severity, finding.row) == ("error", "record_date=2024-03-05")
    assert finding.message.endswith(
        "!= tot_pub_debt_out_amt 36,214,310,420,174.13 USD, off by +0.01"
    )
    [no_total] = penny_parts([parts("1.00", "2.00", None)], CTX)
    assert "!= tot_pub_debt_out_amt NULL" in no_total.message


def test_the_penny_view_joins_the_statement_holdings_of_the_same_day() -> None:
    with duckdb.connect() as con:
        limit = limit_rows(DAY, (1, 28_000_000), (2, 7_000_000))
        penny = [
            {"record_date": DAY, "tot_pub_debt_out_amt": Decimal("35000000400000.00")},
            {"record_date": date(1993, 4, 1), "tot_pub_debt_out_amt": Decimal("1.00")},
        ]
        con.execute("CREATE TABLE p (record_date DATE, tot_pub_debt_out_amt DECIMAL(20, 2))")
        con.executemany("INSERT INTO p VALUES (?, ?)", [list(r.values()) for r in penny])
        sources = {"silver_debt_subject_to_limit": _silver(con, "l", limit),
                   "silver_debt_to_penny": "SELECT * FROM p"}  # fmt: skip
        [day] = _query(con, penny_days_sql(sources))
    assert day == penny_day("35000000400000.00")
    assert penny_vs_statement([day], CTX) == []
    [off] = penny_vs_statement([{**day, "public_close": 27_999_998}], CTX)
    assert off.severity == "error" and off.message.endswith("off by +2.40000000")


def test_cross_views_exist_only_when_their_tables_do() -> None:
    sources = {"silver_debt_subject_to_limit": "SELECT 1", "silver_debt_to_penny": "SELECT 2"}
    add_cross_views(sources)
    assert PENNY_DAYS in sources and DEBT_DAYS not in sources
    only_refunds = {"silver_income_tax_refunds_issued": "SELECT 1"}
    add_cross_views(only_refunds)
    assert set(only_refunds) == {"silver_income_tax_refunds_issued"}


# --------------------------------------------------------------------------- headroom


def gold_day(limit: int | None, debt: int, room: int | None = None, day: date = DAY) -> Any:
    if room is None and limit is not None:
        room = limit - debt
    return {"record_date": day, "statutory_debt_limit_usd_mil": limit,
            "debt_subject_to_limit_usd_mil": debt, "limit_suspended": limit is None,
            "headroom_usd_mil": room}  # fmt: skip


def test_headroom_is_never_negative_while_the_limit_is_in_force() -> None:
    published = [
        gold_day(31_381_463, 31_381_439, day=date(2023, 6, 1)),  # 24 left
        gold_day(None, 31_500_000, day=date(2023, 6, 5)),  # suspended: no limit
    ]
    assert headroom(published, CTX) == []
    [finding] = headroom([gold_day(31_000_000, 31_000_100)], CTX)
    assert (finding.severity, finding.day) == ("error", DAY)
    assert finding.row == "record_date=2024-03-05, headroom_usd_mil"
    assert finding.message == (
        "debt subject to limit 31,000,100 million USD exceeds the statutory limit "
        "31,000,000 million USD in force: headroom -100"
    )
    assert headroom([gold_day(100, 100)], CTX) == []  # at the limit, not beyond


def test_headroom_in_force_without_a_debt_figure_is_an_error() -> None:
    row = {**gold_day(1_000, 0), "debt_subject_to_limit_usd_mil": None, "headroom_usd_mil": None}
    [finding] = headroom([row], CTX)
    assert finding.severity == "error" and "gold has no debt subject to limit" in finding.message
    suspended = {**row, "statutory_debt_limit_usd_mil": None, "limit_suspended": True}
    assert headroom([suspended], CTX) == []


def test_headroom_published_by_gold_must_be_limit_minus_debt() -> None:
    [finding] = headroom([gold_day(1_000, 900, room=-100)], CTX)
    assert "gold publishes headroom -100 but limit 1,000 - debt subject to limit 900 = 100" in (
        finding.message
    )


# --------------------------------------------------------------------------- tax refunds


@pytest.mark.parametrize(
    ("refund_type", "category"),
    [
        ("IRS Tax Refunds Individual", "individual"),
        ("Taxes - Individual Tax Refunds (EFT)", "individual"),
        ("IRS Tax Refunds Business", "business"),
        ("Taxes - Business Tax Refunds (Checks)", "business"),
        ("IRS - Economic Impact Payments (EFT)", "economic_impact"),
        ("IRS - Advanced Child Tax Credit (Checks)", "child_tax_credit"),
    ],
)
def test_each_refund_type_of_both_layouts_has_its_category(refund_type: str, category: str) -> None:
    assert categories_of(refund_type) == (category,)


def test_every_refund_type_in_the_catalog_is_in_exactly_one_category() -> None:
    for name in INCOME_TAX_REFUNDS_ISSUED.row_names():
        assert len(categories_of(name)) == 1, name


def test_an_unknown_refund_type_is_an_error_that_names_it() -> None:
    rows = [{"record_date": DAY, "tax_refund_type": t, "tax_refund_type_desc": "EFT"}
            for t in ("IRS Tax Refunds Individual", "IRS Tax Refunds Individuals",
                      "Taxes - Corporate Tax Refunds (EFT)")]  # fmt: skip
    findings = refund_categories(rows, CTX)
    assert [(f.severity, f.day) for f in findings] == [("error", DAY)] * 2
    assert "tax_refund_type 'IRS Tax Refunds Individuals' is in none" in findings[0].message
    assert findings[1].row == (
        "record_date=2024-03-05, tax_refund_type=Taxes - Corporate Tax Refunds (EFT), "
        "tax_refund_type_desc=EFT"
    )


def test_the_category_case_in_sql_agrees_with_python() -> None:
    names = [*INCOME_TAX_REFUNDS_ISSUED.row_names(), "IRS Tax Refunds Individuals", "Moon",
             "Taxes - Individual Tax Refunds"]  # fmt: skip
    with duckdb.connect() as con:
        found = con.execute(
            f"SELECT t, {category_case_sql('t')} FROM unnest(?) AS u(t)", [names]
        ).fetchall()
    assert {t: c for t, c in found} == {t: (categories_of(t) or (None,))[0] for t in names}
    assert len({c.gold_column for c in TAX_REFUND_CATEGORIES}) == 4


def test_the_debt_checks_are_registered_and_period_local() -> None:
    checks = {c.name: c for c in all_checks()}
    assert checks["debt_identity"].scope.datasets == (
        "debt_subject_to_limit",
        "public_debt_transactions",
    )
    assert checks["debt_continuity"].scope.before == 1
    assert checks["debt_to_penny_vs_statement"].source == PENNY_DAYS
    assert checks["headroom"].table == "gold_daily_debt_limit"
    assert checks["tax_refund_category"].severity == "error"


def test_gold_monthly_tax_refunds_sums_by_the_same_categories_as_the_check() -> None:
    """The gold model's CASE and models/tax_refunds.py agree, type by type (one year each)."""
    model = next(m for m in GOLD_MODELS if m.name == "gold_monthly_tax_refunds")
    names = [*INCOME_TAX_REFUNDS_ISSUED.row_names(), "Taxes - Individual Tax Refunds",
             "IRS Tax Refunds Individuals", "Taxes - Corporate Tax Refunds (EFT)"]  # fmt: skip
    with duckdb.connect() as con:
        con.execute("CREATE TABLE silver_income_tax_refunds_issued (record_date DATE, "
                    "tax_refund_type VARCHAR, tax_refund_today_amt BIGINT)")  # fmt: skip
        con.executemany("INSERT INTO silver_income_tax_refunds_issued VALUES (?, ?, 1)",
                        [(date(2000 + n, 1, 3), t) for n, t in enumerate(names)])  # fmt: skip
        rows = _query(con, model.sql)
    columns = {c.gold_column: c.name for c in TAX_REFUND_CATEGORIES}
    for row in rows:
        summed = tuple(name for column, name in columns.items() if row[column] == 1)
        assert row["total_usd_mil"] == 1
        assert summed == categories_of(names[row["year"] - 2000]), names[row["year"] - 2000]
    assert len(rows) == len(names)
