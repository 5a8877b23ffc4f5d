"""How each gold row is reconciled with silver, declared in one place.

A :class:`Recipe` per gold table says which silver rows feed one of its rows (its :class:`Grain`:
the record dates of the row's period, and key columns silver shares with it; then each source's
row conditions) and how each column is recomputed from them (a :mod:`.figures` figure). The
recipes restate the gold SQL's rules in Python on purpose: they are a second, independent
derivation, so a gold file that was corrupted or built by a wrong model is caught.

Running sums (``gold_monthly_debt_growth.cumulative_net_change_usd_mil``) are reconciled against
the sum over the silver rows of the row's month and every earlier month (its ``through`` rows):
a running sum over the months present is exactly that. Only the month's own rows are listed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from treasury_lakehouse.errors import ConfigError
from treasury_lakehouse.explain.figures import (
    DistinctDays,
    Figure,
    IsNull,
    Largest,
    Row,
    Total,
    Where,
    merge_needs,
    minus,
    plus,
    where,
)

PDT = "public_debt_transactions"
OCB = "operating_cash_balance"
DSL = "debt_subject_to_limit"
REFUNDS = "income_tax_refunds_issued"
Key = Mapping[str, Any]


@dataclass(frozen=True)
class Grain:
    """The silver rows of one gold row: record dates in ``span(key)``, and the ``same`` columns
    equal to the key's."""

    description: str
    span: Callable[[Key], tuple[date, date]]
    same: tuple[str, ...] = ()


def _day(key: Key) -> tuple[date, date]:
    return key["record_date"], key["record_date"]


def _month(key: Key) -> tuple[date, date]:
    first = date(key["year"], key["month"], 1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def _fiscal_year(key: Key) -> tuple[date, date]:
    return date(key["fiscal_year"] - 1, 10, 1), date(key["fiscal_year"], 9, 30)


DAY = Grain("the rows of the record date", _day)
MONTH = Grain("the rows of the calendar month", _month)
FISCAL_YEAR_SECURITY = Grain(
    "the rows of the fiscal year (October 1 to September 30) with the same market and type",
    _fiscal_year,
    ("security_market", "security_type"),
)

MONTH_SECURITY = Grain(
    "the rows of the calendar month with the same market, type and transaction type",
    _month,
    ("security_market", "security_type", "transaction_type"),
)


@dataclass(frozen=True)
class Source:
    """A silver dataset feeding the table, and which rows of the grain feed it (all if none)."""

    dataset: str
    conditions: tuple[Where, ...] = ()

    def feeds(self, row: Row) -> bool:
        return all(condition(row) for condition in self.conditions)


@dataclass(frozen=True)
class Recipe:
    table: str
    grain: Grain
    sources: tuple[Source, ...]
    #: every non-key column of the table → how it is recomputed
    figures: Mapping[str, Figure]

    def fed_by(self, key: Key, source: Source, row: Row, *, through: bool = False) -> bool:
        """True when ``row`` of ``source`` feeds the gold row ``key`` (``through``: or a row of
        an earlier period, for running sums)."""
        first, last = self.grain.span(key)
        day = row["record_date"]
        in_period = day <= last and (through or day >= first)
        return (
            in_period and all(row.get(c) == key[c] for c in self.grain.same) and source.feeds(row)
        )

    def needs_through(self) -> dict[str, set[str]]:
        return merge_needs(f.needs("through") for f in self.figures.values())


# ---------------------------------------------------------------- public debt transactions

_ISSUES = where("transaction_type", "Issues")
_REDEMPTIONS = where("transaction_type", "Redemptions")
_MARKETABLE = where("security_market", "Marketable")
_NONMARKETABLE = where("security_market", "Nonmarketable")


def _pdt(*conditions: Where, scope: Any = "span") -> Total:
    return Total(PDT, "transaction_today_amt", conditions, scope=scope)


def _net(label: str, *conditions: Where, scope: Any = "span") -> Figure:
    return minus(
        label,
        _pdt(_ISSUES, *conditions, scope=scope),
        _pdt(_REDEMPTIONS, *conditions, scope=scope),
    )


_ISSUES_TOTAL, _REDEMPTIONS_TOTAL = _pdt(_ISSUES), _pdt(_REDEMPTIONS)
_NET = _net("issues minus redemptions")
_MARKETABLE_NET = _net("issues minus redemptions of Marketable securities", _MARKETABLE)
_NONMARKETABLE_NET = _net("issues minus redemptions of Nonmarketable securities", _NONMARKETABLE)

# ---------------------------------------------------------------- cash balance and debt limit

_TGA_OPENING = Largest(
    OCB,
    "account_type",
    {
        "Federal Reserve Account": "open_today_bal",
        "Treasury General Account (TGA)": "open_today_bal",
        "Treasury General Account (TGA) Opening Balance": "open_today_bal",
    },
)
_TGA_CLOSING = Largest(
    OCB,
    "account_type",
    {
        "Federal Reserve Account": "close_today_bal",
        "Treasury General Account (TGA)": "close_today_bal",
        "Treasury General Account (TGA) Closing Balance": "open_today_bal",
    },
)


def _debt(*categories: str, empty: Any = None) -> Total:
    return Total(DSL, "close_today_bal", (where("debt_catg", *categories),), empty=empty)


_HELD = _debt("Debt Held by the Public")
_INTRA = _debt("Intragovernmental Holdings")
_NOT_SUBJECT = ("Less Debt Not Subject to Limit", "Debt Not Subject to Limit")
_OTHER_SUBJECT = ("Plus Other Debt Subject to Limit", "Other Debt Subject to Limit")
_TOTAL_OUTSTANDING = plus("debt held by the public plus intragovernmental holdings", _HELD, _INTRA)
_SUBJECT = plus(
    "total outstanding minus debt not subject to limit (0 if none) plus other debt subject to "
    "limit (0 if none)",
    _TOTAL_OUTSTANDING,
    minus("", _debt(*_OTHER_SUBJECT, empty=0), _debt(*_NOT_SUBJECT, empty=0)),
)
_LIMIT = Largest(DSL, "debt_catg", {"Statutory Debt Limit": "close_today_bal"}, nonzero=True)

# ---------------------------------------------------------------- income tax refunds


def _refunds(*conditions: Where) -> Total:
    return Total(REFUNDS, "tax_refund_today_amt", conditions)


RECIPES: tuple[Recipe, ...] = (
    Recipe(
        "gold_daily_totals",
        DAY,
        (Source(PDT),),
        {
            "issues_usd_mil": _ISSUES_TOTAL,
            "redemptions_usd_mil": _REDEMPTIONS_TOTAL,
            "net_issuance_usd_mil": _NET,
            "marketable_net_usd_mil": _MARKETABLE_NET,
            "nonmarketable_net_usd_mil": _NONMARKETABLE_NET,
        },
    ),
    Recipe(
        "gold_monthly_totals",
        MONTH,
        (Source(PDT),),
        {
            "business_days": DistinctDays(PDT),
            "issues_usd_mil": _ISSUES_TOTAL,
            "redemptions_usd_mil": _REDEMPTIONS_TOTAL,
            "net_issuance_usd_mil": _NET,
        },
    ),
    Recipe(
        "gold_monthly_debt_growth",
        MONTH,
        (Source(PDT),),
        {
            "net_change_usd_mil": _NET,
            "marketable_net_change_usd_mil": _MARKETABLE_NET,
            "nonmarketable_net_change_usd_mil": _NONMARKETABLE_NET,
            "cumulative_net_change_usd_mil": _net(
                "issues minus redemptions of this and every earlier month", scope="through"
            ),
        },
    ),
    Recipe(
        "gold_security_totals",
        FISCAL_YEAR_SECURITY,
        (Source(PDT),),
        {
            "issues_usd_mil": _ISSUES_TOTAL,
            "redemptions_usd_mil": _REDEMPTIONS_TOTAL,
            "net_usd_mil": _NET,
        },
    ),
    Recipe(
        "gold_monthly_security_flows",
        MONTH_SECURITY,
        (Source(PDT),),
        {
            "business_days": DistinctDays(PDT),
            "amount_usd_mil": _pdt(),
        },
    ),
    Recipe(
        "gold_daily_cash_balance",
        DAY,
        (Source(OCB, (where("account_type", *_TGA_OPENING.picks, *_TGA_CLOSING.picks),)),),
        {
            "tga_opening_balance_usd_mil": _TGA_OPENING,
            "tga_closing_balance_usd_mil": _TGA_CLOSING,
        },
    ),
    Recipe(
        "gold_daily_debt_limit",
        DAY,
        (
            Source(
                DSL,
                (
                    where(
                        "debt_catg",
                        "Debt Held by the Public",
                        "Intragovernmental Holdings",
                        *_NOT_SUBJECT,
                        *_OTHER_SUBJECT,
                        "Statutory Debt Limit",
                    ),
                ),
            ),
            Source(OCB, (where("account_type", *_TGA_CLOSING.picks),)),
        ),
        {
            "debt_held_by_public_usd_mil": _HELD,
            "intragovernmental_holdings_usd_mil": _INTRA,
            "total_public_debt_outstanding_usd_mil": _TOTAL_OUTSTANDING,
            "debt_subject_to_limit_usd_mil": _SUBJECT,
            "statutory_debt_limit_usd_mil": _LIMIT,
            "limit_suspended": IsNull(_LIMIT, "true when the statutory debt limit is NULL"),
            "headroom_usd_mil": minus(
                "statutory debt limit minus debt subject to limit", _LIMIT, _SUBJECT
            ),
            "tga_closing_balance_usd_mil": _TGA_CLOSING,
        },
    ),
    Recipe(
        "gold_monthly_tax_refunds",
        MONTH,
        (Source(REFUNDS),),
        {
            "business_days": DistinctDays(REFUNDS),
            "individual_usd_mil": _refunds(
                where(
                    "tax_refund_type",
                    "IRS Tax Refunds Individual",
                    prefixes=("Taxes - Individual Tax Refunds",),
                )
            ),
            "business_usd_mil": _refunds(
                where(
                    "tax_refund_type",
                    "IRS Tax Refunds Business",
                    prefixes=("Taxes - Business Tax Refunds",),
                )
            ),
            "economic_impact_payments_usd_mil": _refunds(
                where("tax_refund_type", prefixes=("IRS - Economic Impact Payments",))
            ),
            "child_tax_credit_usd_mil": _refunds(
                where("tax_refund_type", prefixes=("IRS - Advanced Child Tax Credit",))
            ),
            "total_usd_mil": _refunds(),
        },
    ),
)

RECIPE: dict[str, Recipe] = {r.table: r for r in RECIPES}


def get_recipe(table: str) -> Recipe:
    try:
        return RECIPE[table]
    except KeyError:
        raise ConfigError(f"no reconciliation is defined for {table!r}") from None
