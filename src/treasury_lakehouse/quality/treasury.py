"""Treasury accounting identities, with the published rounding as tolerance.

Daily Treasury Statement amounts are whole millions of USD, each rounded on its own, so a sum of
published figures may differ from a published total by up to half a million per figure involved.
A difference within that rounding is reported as ``warn`` (counted, not blocking); beyond it the
identity is broken and the finding is an ``error``.

* **TGA continuity** — every day with statement rows has its TGA opening and closing balance in
  ``gold_daily_cash_balance`` (a day without them is an error, never skipped), and a day's closing
  balance is the next business day's opening balance, in all three layouts of Table I. It is one
  figure published twice, so there is no rounding: any difference is an error.
* **TGA flows** — in the newest layout (from 2022-04-18) closing = opening + total deposits − total
  withdrawals; four rounded figures, tolerance ±2.
* **Running totals** of Table III-A, per line: month-to-date = previous business day's
  month-to-date + today (= today on the first business day of a month), fiscal-year-to-date the
  same, resetting on the first business day on or after October 1; tolerance ±3 ("a few millions").
  A pair is checked only when both days are in the lake (it may start mid-month).
* **Negative balances** — an account balance below zero is an error; transactions may be negative.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date
from typing import Any

from treasury_lakehouse.calendar import fiscal_year, next_business_day, previous_business_day
from treasury_lakehouse.catalog import OPERATING_CASH_BALANCE, PUBLIC_DEBT_TRANSACTIONS, era_of
from treasury_lakehouse.quality import narrow
from treasury_lakehouse.quality.results import Finding, Severity
from treasury_lakehouse.quality.spec import (
    Check,
    CheckContext,
    Row,
    Rows,
    as_date,
    describe_key,
    period_local,
)

#: identities over n published (rounded) figures: tolerance in millions of USD
FLOW_TOLERANCE = 2
RUNNING_TOTAL_TOLERANCE = 3

CASH_DAILY = "gold_daily_cash_balance"
#: one row per day with statement rows and its TGA balances from gold (built by the runner)
TGA_DAYS = "tga_days"
CASH_SILVER = f"silver_{OPERATING_CASH_BALANCE.name}"
DEBT_SILVER = f"silver_{PUBLIC_DEBT_TRANSACTIONS.name}"

_DETAILS = next(e for e in OPERATING_CASH_BALANCE.eras if e.name == "cash_balance_details")
TGA_OPENING, TGA_DEPOSITS, TGA_WITHDRAWALS, TGA_CLOSING = _DETAILS.row_names
#: Table I rows that are flows of the day, not balances
FLOW_ROWS = (TGA_DEPOSITS, TGA_WITHDRAWALS)
BALANCE_COLUMNS = ("open_today_bal", "close_today_bal", "open_month_bal", "open_fiscal_year_bal")


def grade(difference: int, tolerance: int) -> Severity | None:
    """None when an identity holds exactly, ``warn`` within the rounding, else ``error``."""
    if difference == 0:
        return None
    return "warn" if abs(difference) <= tolerance else "error"


def _mil(value: int) -> str:
    return f"{value:,} million USD"


# --------------------------------------------------------------------------- TGA


def tga_continuity(rows: Rows, ctx: CheckContext) -> list[Finding]:
    """Every statement day has its TGA opening and closing balance, and closing(d) ==
    opening(next business day) for each pair of days both present.

    ``rows`` are :data:`TGA_DAYS`: one per day with statement rows, NULL balances where gold has
    none (the TGA row was quarantined or never sent): that is an error, not a skipped day.
    """
    by_day = {as_date(r["record_date"]): r for r in rows}
    findings = []
    for day in sorted(d for d in by_day if d is not None):
        missing = _missing_balances(by_day[day])
        if missing:
            findings.append(
                Finding("error", day, f"record_date={day.isoformat()}, TGA",
                        f"the day has statement rows but no TGA {missing} in "
                        f"{CASH_DAILY} (its Table I row is missing or quarantined)")
            )  # fmt: skip
        finding = _continuity(day, by_day)
        if finding:
            findings.append(finding)
    return findings


def _missing_balances(row: Row) -> str:
    names = {"opening balance": "tga_opening_balance_usd_mil",
             "closing balance": "tga_closing_balance_usd_mil"}  # fmt: skip
    return " and ".join(label for label, column in names.items() if row.get(column) is None)


def _continuity(day: date, by_day: dict[date | None, Row]) -> Finding | None:
    """closing(day) against opening(next business day), when both are there."""
    following = next_business_day(day)
    if following not in by_day:
        return None  # a business day without any statement row is completeness's to report
    closing = by_day[day]["tga_closing_balance_usd_mil"]
    opening = by_day[following]["tga_opening_balance_usd_mil"]
    if closing is None or opening is None:
        return None  # reported above as a missing balance
    difference = int(closing) - int(opening)
    if not difference:
        return None
    return Finding("error", day, f"record_date={day.isoformat()}, tga_closing_balance_usd_mil",
                   f"closing {_mil(closing)} != opening {_mil(opening)} of {following} "
                   f"(next business day), off by {difference:+,}")  # fmt: skip


def tga_flows(rows: Rows, ctx: CheckContext) -> list[Finding]:
    """Newest layout: closing = opening + deposits - withdrawals (all in ``open_today_bal``)."""
    days: dict[date, dict[str, Any]] = defaultdict(dict)
    for r in rows:
        day = as_date(r["record_date"])
        if day is not None and era_of(OPERATING_CASH_BALANCE, day) == _DETAILS:
            days[day][r["account_type"]] = r["open_today_bal"]
    findings = []
    for day, amounts in sorted(days.items()):
        figures = [amounts.get(n) for n in _DETAILS.row_names]
        if any(f is None for f in figures):
            continue  # a missing row is reported by rows_per_day
        opening, deposits, withdrawals, closing = (int(f) for f in figures)  # type: ignore[arg-type]
        difference = closing - (opening + deposits - withdrawals)
        severity = grade(difference, FLOW_TOLERANCE)
        if severity:
            findings.append(
                Finding(severity, day, f"record_date={day.isoformat()}, account_type={TGA_CLOSING}",
                        f"closing {_mil(closing)} != opening {opening:,} + deposits {deposits:,} "
                        f"- withdrawals {withdrawals:,}, off by {difference:+,}")
            )  # fmt: skip
    return findings


def negative_balances(rows: Rows, ctx: CheckContext) -> list[Finding]:
    """Balance rows of Table I with a balance below zero (flow rows are not balances)."""
    findings = []
    for r in rows:
        if r["account_type"] in FLOW_ROWS:
            continue
        for column in BALANCE_COLUMNS:
            value = r.get(column)
            if value is not None and value < 0:
                findings.append(
                    Finding("error", as_date(r["record_date"]),
                            describe_key(r, ("record_date", "account_type")),
                            f"{column} is negative: {_mil(value)}")
                )  # fmt: skip
    return findings


# --------------------------------------------------------------------------- running totals

_DEBT_KEY = PUBLIC_DEBT_TRANSACTIONS.natural_key
_LINE = tuple(c for c in _DEBT_KEY if c != "record_date")


def _resets(period: Callable[[date], Any]) -> Callable[[date, date], bool]:
    return lambda previous, day: period(previous) != period(day)


def running_total(
    column: str, period: Callable[[date], Any], label: str
) -> Callable[[Rows, CheckContext], list[Finding]]:
    """``column``(d) == ``column``(previous business day) + today, or == today when the period
    (month, fiscal year) starts on d."""
    starts_period = _resets(period)

    def evaluate(rows: Rows, ctx: CheckContext) -> list[Finding]:
        index: dict[tuple[Any, ...], Row] = {}
        for r in rows:
            index[(as_date(r["record_date"]), *(r.get(c) for c in _LINE))] = r
        findings = []
        for (day, *line), r in sorted(index.items(), key=lambda kv: str(kv[0])):
            finding = _check_running(r, day, tuple(line), index, column, starts_period, label)
            if finding:
                findings.append(finding)
        return findings

    return evaluate


def _check_running(
    r: Row,
    day: date,
    line: tuple[Any, ...],
    index: dict[tuple[Any, ...], Row],
    column: str,
    starts_period: Callable[[date, date], bool],
    label: str,
) -> Finding | None:
    today, total = r.get("transaction_today_amt"), r.get(column)
    if today is None or total is None:
        return None
    previous = previous_business_day(day)
    if starts_period(previous, day):
        expected, source = int(today), f"today (first business day of the {label})"
    else:
        before = index.get((previous, *line))
        if before is None or before.get(column) is None:
            return None  # only pairs of consecutive business days both present are checked
        expected = int(before[column]) + int(today)
        source = f"{before[column]:,} on {previous} + today {today:,}"
    difference = int(total) - expected
    severity = grade(difference, RUNNING_TOTAL_TOLERANCE)
    if severity is None:
        return None
    return Finding(severity, day, describe_key(r, _DEBT_KEY),
                   f"{column} {total:,} != {source}, off by {difference:+,}")  # fmt: skip


#: :func:`~treasury_lakehouse.calendar.fiscal_year` in SQL
_FISCAL_YEAR_SQL = "year({d}) + CASE WHEN month({d}) >= 10 THEN 1 ELSE 0 END"


def _month(day: date) -> tuple[int, int]:
    return (day.year, day.month)


def treasury_checks() -> list[Check]:
    """The accounting-identity checks, declared once."""
    cash_columns = ("record_date", "account_type", *BALANCE_COLUMNS)
    debt_columns = (*_DEBT_KEY, "transaction_today_amt")
    cash, debt = OPERATING_CASH_BALANCE.name, PUBLIC_DEBT_TRANSACTIONS.name
    # a statement day and the next business day; Table I's span decides which days count
    continuity = period_local(cash, debt, after=1, span_of=cash)
    running = period_local(debt, before=1)  # a day and the previous business day
    return [
        Check("tga_continuity", CASH_DAILY, "error",
              "every statement day has its TGA balances in gold, and a day's closing balance = "
              "the next business day's opening balance",
              "0 (the same figure published twice)", tga_continuity, reads=TGA_DAYS,
              sql=narrow.broken_continuity("tga_opening_balance_usd_mil",
                                           "tga_closing_balance_usd_mil"), scope=continuity),
        Check("tga_flows", CASH_SILVER, "error",
              "TGA closing = opening + total deposits - total withdrawals (layout from 2022-04-18)",
              f"±{FLOW_TOLERANCE} million USD (four rounded figures) is a warning",
              tga_flows, cash_columns,
              sql=narrow.unbalanced_days("account_type", "open_today_bal",
                                         {TGA_OPENING: -1, TGA_DEPOSITS: -1, TGA_WITHDRAWALS: 1,
                                          TGA_CLOSING: 1},
                                         (_DETAILS.first_date, _DETAILS.last_date),
                                         cash_columns), scope=period_local(cash)),
        Check("negative_balance", CASH_SILVER, "error",
              "no account balance of Table I below zero", "none", negative_balances,
              cash_columns, sql=narrow.any_below_zero(BALANCE_COLUMNS, cash_columns),
              scope=period_local(cash)),
        Check("running_total_mtd", DEBT_SILVER, "error",
              "month-to-date = previous business day's + today, reset each month",
              f"±{RUNNING_TOTAL_TOLERANCE} million USD is a warning",
              running_total("transaction_mtd_amt", _month, "month"),
              (*debt_columns, "transaction_mtd_amt"),
              sql=narrow.broken_running_total(_LINE, "transaction_today_amt",
                                              "transaction_mtd_amt", "date_trunc('month', {d})",
                                              (*debt_columns, "transaction_mtd_amt")),
              scope=running),
        Check("running_total_fytd", DEBT_SILVER, "error",
              "fiscal-year-to-date = previous business day's + today, reset on October 1",
              f"±{RUNNING_TOTAL_TOLERANCE} million USD is a warning",
              running_total("transaction_fytd_amt", fiscal_year, "fiscal year"),
              (*debt_columns, "transaction_fytd_amt"),
              sql=narrow.broken_running_total(_LINE, "transaction_today_amt",
                                              "transaction_fytd_amt", _FISCAL_YEAR_SQL,
                                              (*debt_columns, "transaction_fytd_amt")),
              scope=running),
    ]  # fmt: skip
