"""Gold expectations computed independently of the code under test: plain Python over API records.

Used by tests to check the warehouse; it shares nothing with models/ but the published definitions
of ARCHITECTURE.md section 6.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

Row = dict[str, str]


def read_records(records_dir: Path, dataset: str, start: date, end: date) -> list[Row]:
    path = records_dir / "records" / f"{dataset}.jsonl.gz"
    with gzip.open(path, "rt") as handle:
        rows = [json.loads(line) for line in handle]
    return [r for r in rows if start.isoformat() <= r["record_date"] <= end.isoformat()]


def _amount(value: str) -> int:
    return 0 if value.strip() == "null" else int(value)


def daily_totals(pdt: Iterable[Row]) -> dict[date, tuple[int, int, int, int, int]]:
    acc: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in pdt:
        day = date.fromisoformat(r["record_date"])
        amount = _amount(r["transaction_today_amt"])
        sign = 1 if r["transaction_type"] == "Issues" else -1
        acc[day][0 if sign == 1 else 1] += amount
        acc[day][2 if r["security_market"] == "Marketable" else 3] += sign * amount
    return {d: (v[0], v[1], v[0] - v[1], v[2], v[3]) for d, v in acc.items()}


def monthly_totals(pdt: Iterable[Row]) -> dict[tuple[int, int], tuple[int, int, int, int]]:
    days: dict[tuple[int, int], set[str]] = defaultdict(set)
    sums: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for r in pdt:
        key = (int(r["record_date"][:4]), int(r["record_date"][5:7]))
        days[key].add(r["record_date"])
        sums[key][0 if r["transaction_type"] == "Issues" else 1] += _amount(
            r["transaction_today_amt"]
        )
    return {k: (len(days[k]), s[0], s[1], s[0] - s[1]) for k, s in sums.items()}


def monthly_debt_growth(pdt: Iterable[Row]) -> dict[tuple[int, int], tuple[int, int, int, int]]:
    acc: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in pdt:
        key = (int(r["record_date"][:4]), int(r["record_date"][5:7]))
        signed = _amount(r["transaction_today_amt"]) * (
            1 if r["transaction_type"] == "Issues" else -1
        )
        acc[key][0] += signed
        acc[key][1 if r["security_market"] == "Marketable" else 2] += signed
    out, running = {}, 0
    for key in sorted(acc):
        running += acc[key][0]
        out[key] = (acc[key][0], acc[key][1], acc[key][2], running)
    return out


def security_totals(pdt: Iterable[Row]) -> dict[tuple[int, str, str], tuple[int, int, int]]:
    acc: dict[tuple[int, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in pdt:
        day = date.fromisoformat(r["record_date"])
        fiscal_year = day.year + (1 if day.month >= 10 else 0)
        key = (fiscal_year, r["security_market"], r["security_type"])
        acc[key][0 if r["transaction_type"] == "Issues" else 1] += _amount(
            r["transaction_today_amt"]
        )
    return {k: (v[0], v[1], v[0] - v[1]) for k, v in acc.items()}


def monthly_security_flows(
    pdt: Iterable[Row],
) -> dict[tuple[int, int, str, str, str], tuple[int, int]]:
    """Per month, market, type and transaction type: distinct days and the amount."""
    days: dict[tuple[int, int, str, str, str], set[str]] = defaultdict(set)
    sums: dict[tuple[int, int, str, str, str], int] = defaultdict(int)
    for r in pdt:
        key = (
            int(r["record_date"][:4]),
            int(r["record_date"][5:7]),
            r["security_market"],
            r["security_type"],
            r["transaction_type"],
        )
        days[key].add(r["record_date"])
        sums[key] += _amount(r["transaction_today_amt"])
    return {k: (len(days[k]), v) for k, v in sums.items()}


def daily_cash_balance(ocb: Iterable[Row]) -> dict[date, tuple[int | None, int | None]]:
    out: dict[date, list[int | None]] = defaultdict(lambda: [None, None])
    for r in ocb:
        day = date.fromisoformat(r["record_date"])
        account = r["account_type"]
        if account in ("Federal Reserve Account", "Treasury General Account (TGA)"):
            out[day] = [int(r["open_today_bal"]), int(r["close_today_bal"])]
        elif account == "Treasury General Account (TGA) Opening Balance":
            out[day][0] = int(r["open_today_bal"])
        elif account == "Treasury General Account (TGA) Closing Balance":
            out[day][1] = int(r["open_today_bal"])
    return {d: (v[0], v[1]) for d, v in out.items()}


#: ARCHITECTURE 6b: the rows subtracted from and added to the total, under both names (2022-09-12)
NOT_SUBJECT = ("Less Debt Not Subject to Limit", "Debt Not Subject to Limit")
OTHER_SUBJECT = ("Plus Other Debt Subject to Limit", "Other Debt Subject to Limit")


def _maybe(value: str) -> int | None:
    return None if value.strip() == "null" else int(value)


DebtLimitRow = tuple[
    int | None, int | None, int | None, int | None, int | None, bool, int | None, int | None
]


def daily_debt_limit(dsl: Iterable[Row], ocb: Iterable[Row]) -> dict[date, DebtLimitRow]:
    """gold_daily_debt_limit by record date: held by the public, intragovernmental, total,
    subject to limit, statutory limit (None: suspended), suspended, headroom, TGA closing."""
    days: dict[date, dict[str, Any]] = defaultdict(
        lambda: {"public": None, "intragov": None, "less": 0, "plus": 0, "limit": None}
    )
    for r in dsl:
        day, category = days[date.fromisoformat(r["record_date"])], r["debt_catg"].strip()
        amount = _maybe(r["close_today_bal"])
        if category == "Debt Held by the Public":
            day["public"] = amount
        elif category == "Intragovernmental Holdings":
            day["intragov"] = amount
        elif category in NOT_SUBJECT:
            day["less"] += amount or 0
        elif category in OTHER_SUBJECT:
            day["plus"] += amount or 0
        elif category == "Statutory Debt Limit":
            day["limit"] = amount or None  # "null" and 0 both mean suspended
    closing = {d: c for d, (_, c) in daily_cash_balance(ocb).items()}
    out: dict[date, DebtLimitRow] = {}
    for d, v in days.items():
        total = (
            None if v["public"] is None or v["intragov"] is None else v["public"] + v["intragov"]
        )
        subject = None if total is None else total - v["less"] + v["plus"]
        limit = v["limit"]
        headroom = None if limit is None or subject is None else limit - subject
        out[d] = (v["public"], v["intragov"], total, subject, limit, limit is None, headroom,
                  closing.get(d))  # fmt: skip
    return out


#: ARCHITECTURE 6b: (category, exact type names, type name prefixes)
REFUND_CATEGORIES = (
    ("individual", ("IRS Tax Refunds Individual",), ("Taxes - Individual Tax Refunds",)),
    ("business", ("IRS Tax Refunds Business",), ("Taxes - Business Tax Refunds",)),
    ("economic_impact_payments", (), ("IRS - Economic Impact Payments",)),
    ("child_tax_credit", (), ("IRS - Advanced Child Tax Credit",)),
)


def refund_category(refund_type: str) -> str | None:
    for category, names, prefixes in REFUND_CATEGORIES:
        if refund_type in names or refund_type.startswith(prefixes):
            return category
    return None


def monthly_tax_refunds(
    refunds: Iterable[Row],
) -> dict[tuple[int, int], tuple[int, int, int, int, int, int]]:
    """gold_monthly_tax_refunds by (year, month): business days, the four categories, total."""
    days: dict[tuple[int, int], set[str]] = defaultdict(set)
    sums: dict[tuple[int, int], dict[str | None, int]] = defaultdict(lambda: defaultdict(int))
    for r in refunds:
        key = (int(r["record_date"][:4]), int(r["record_date"][5:7]))
        days[key].add(r["record_date"])
        sums[key][refund_category(r["tax_refund_type"].strip())] += _amount(
            r["tax_refund_today_amt"]
        )
    return {
        k: (len(days[k]), *(s[c] for c, _, _ in REFUND_CATEGORIES), sum(s.values()))
        for k, s in sums.items()
    }


def expected_gold(
    pdt: list[Row],
    ocb: list[Row],
    dsl: list[Row] | None = None,
    refunds: list[Row] | None = None,
) -> dict[str, list[tuple[Any, ...]]]:
    """The gold tables as sorted row tuples, in the warehouse's column order: those of public
    debt transactions and the cash balance, and with ``dsl`` (debt subject to limit) and
    ``refunds`` (income tax refunds issued) the issue #10 tables too."""
    tables = {
        "gold_daily_totals": sorted((d, *v) for d, v in daily_totals(pdt).items()),
        "gold_monthly_totals": sorted((*k, *v) for k, v in monthly_totals(pdt).items()),
        "gold_monthly_debt_growth": sorted((*k, *v) for k, v in monthly_debt_growth(pdt).items()),
        "gold_security_totals": sorted((*k, *v) for k, v in security_totals(pdt).items()),
        "gold_monthly_security_flows": sorted(
            (*k, *v) for k, v in monthly_security_flows(pdt).items()
        ),
        "gold_daily_cash_balance": sorted((d, *v) for d, v in daily_cash_balance(ocb).items()),
    }
    if dsl is not None:
        limit = daily_debt_limit(dsl, ocb)
        tables["gold_daily_debt_limit"] = sorted((d, *v) for d, v in limit.items())
    if refunds is not None:
        monthly = monthly_tax_refunds(refunds)
        tables["gold_monthly_tax_refunds"] = sorted((*k, *v) for k, v in monthly.items())
    return tables


def apply_restatement(rows: list[Row], match: dict[str, str], changes: dict[str, str]) -> int:
    changed = 0
    for r in rows:
        if all(r.get(k) == v for k, v in match.items()):
            r.update(changes)
            changed += 1
    return changed
