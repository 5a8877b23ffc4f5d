"""The reconciliation of ``treasury explain``: a recipe per gold table covering every column,
figures with the gold SQL's NULL rules on hand-made silver rows, key parsing, URL masking."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from treasury_lakehouse.config import mask_url
from treasury_lakehouse.explain import KeyProblem, parse_key
from treasury_lakehouse.explain.figures import Rows
from treasury_lakehouse.explain.recipes import RECIPE, Recipe
from treasury_lakehouse.models.registry import GOLD, GOLD_MODELS

DAY = date(2024, 1, 2)


@pytest.mark.parametrize("model", GOLD_MODELS, ids=lambda m: m.name)
def test_every_gold_table_has_a_recipe_for_every_column(model: Any) -> None:
    recipe = RECIPE[model.name]
    non_key = [c for c in model.column_names if c not in model.primary_key]
    assert list(recipe.figures) == non_key
    assert {f"silver_{s.dataset}" for s in recipe.sources} == set(model.sources)
    assert all(recipe.figures[c].describe() for c in non_key)


def _values(recipe: Recipe, key: dict[str, Any], rows: dict[str, list[dict[str, Any]]]) -> Any:
    fed = {
        s.dataset: [r for r in rows.get(s.dataset, []) if recipe.fed_by(key, s, r)]
        for s in recipe.sources
    }
    through = {
        s.dataset: [r for r in rows.get(s.dataset, []) if recipe.fed_by(key, s, r, through=True)]
        for s in recipe.sources
    }
    return {c: f.value(Rows(fed, through)) for c, f in recipe.figures.items()}


def _debt(catg: str, close: int | None, desc: str | None = None) -> dict[str, Any]:
    return {"record_date": DAY, "debt_catg": catg, "debt_catg_desc": desc, "close_today_bal": close}


def test_debt_limit_suspended_and_missing_rows_are_null_as_in_sql() -> None:
    rows = {
        "debt_subject_to_limit": [
            _debt("Debt Held by the Public", 100),
            _debt("Intragovernmental Holdings", 50),
            _debt("Debt Not Subject to Limit", 7, "Unamortized Discount"),
            _debt("Statutory Debt Limit", 0),
            _debt("Total Public Debt Outstanding", 999),  # a total row feeds nothing
        ],
        "operating_cash_balance": [
            {
                "record_date": DAY,
                "account_type": "Treasury General Account (TGA) Closing Balance",
                "open_today_bal": 42,
                "close_today_bal": None,
            }
        ],
    }
    values = _values(RECIPE["gold_daily_debt_limit"], {"record_date": DAY}, rows)
    assert values == {
        "debt_held_by_public_usd_mil": 100,
        "intragovernmental_holdings_usd_mil": 50,
        "total_public_debt_outstanding_usd_mil": 150,
        "debt_subject_to_limit_usd_mil": 143,
        "statutory_debt_limit_usd_mil": None,
        "limit_suspended": True,
        "headroom_usd_mil": None,
        "tga_closing_balance_usd_mil": 42,
    }
    rows["debt_subject_to_limit"] = rows["debt_subject_to_limit"][1:]  # no held-by-public row
    values = _values(RECIPE["gold_daily_debt_limit"], {"record_date": DAY}, rows)
    assert values["debt_held_by_public_usd_mil"] is None
    assert values["debt_subject_to_limit_usd_mil"] is None


def _pdt(day: date, kind: str, market: str, amount: int | None, kind_of: str = "Bills") -> Any:
    return {
        "record_date": day,
        "transaction_type": kind,
        "security_market": market,
        "security_type": kind_of,
        "transaction_today_amt": amount,
    }


def test_public_debt_figures_by_month_fiscal_year_and_running_sum() -> None:
    pdt = [
        _pdt(date(2023, 9, 29), "Issues", "Marketable", 10),  # fiscal 2023, September
        _pdt(date(2023, 10, 2), "Issues", "Marketable", 100),  # fiscal 2024
        _pdt(date(2023, 10, 2), "Redemptions", "Marketable", 30),
        _pdt(date(2023, 10, 3), "Issues", "Nonmarketable", 5, "State and Local Series"),
        _pdt(date(2023, 10, 4), "Redemptions", "Marketable", None),  # NULL amounts are skipped
        _pdt(date(2023, 11, 1), "Issues", "Marketable", 1000),
    ]
    rows = {"public_debt_transactions": pdt}
    october = {"year": 2023, "month": 10}
    assert _values(RECIPE["gold_monthly_totals"], october, rows) == {
        "business_days": 3,
        "issues_usd_mil": 105,
        "redemptions_usd_mil": 30,
        "net_issuance_usd_mil": 75,
    }
    assert _values(RECIPE["gold_monthly_debt_growth"], october, rows) == {
        "net_change_usd_mil": 75,
        "marketable_net_change_usd_mil": 70,
        "nonmarketable_net_change_usd_mil": 5,
        "cumulative_net_change_usd_mil": 85,  # September's 10 and October's 75, not November
    }
    bills = {"fiscal_year": 2024, "security_market": "Marketable", "security_type": "Bills"}
    assert _values(RECIPE["gold_security_totals"], bills, rows) == {
        "issues_usd_mil": 1100,
        "redemptions_usd_mil": 30,
        "net_usd_mil": 1070,
    }


def test_tax_refund_categories_cover_both_layouts() -> None:
    def refund(kind: str, amount: int, day: int = 15) -> dict[str, Any]:
        return {
            "record_date": date(2023, 2, day),
            "tax_refund_type": kind,
            "tax_refund_today_amt": amount,
        }

    rows = {
        "income_tax_refunds_issued": [
            refund("IRS Tax Refunds Individual", 1, 13),
            refund("Taxes - Individual Tax Refunds (EFT)", 2),
            refund("Taxes - Business Tax Refunds (Checks)", 4),
            refund("IRS - Economic Impact Payments (EFT)", 8),
            refund("Something new", 16),
        ]
    }
    values = _values(RECIPE["gold_monthly_tax_refunds"], {"year": 2023, "month": 2}, rows)
    assert values == {
        "business_days": 2,
        "individual_usd_mil": 3,
        "business_usd_mil": 4,
        "economic_impact_payments_usd_mil": 8,
        "child_tax_credit_usd_mil": 0,
        "total_usd_mil": 31,
    }


def test_parse_key_types_the_whole_primary_key() -> None:
    model = GOLD["gold_security_totals"]
    pairs = ["security_type=Bills", "fiscal_year=2024", "security_market=Marketable"]
    assert parse_key(model, pairs) == {
        "fiscal_year": 2024,
        "security_market": "Marketable",
        "security_type": "Bills",
    }
    assert parse_key(GOLD["gold_daily_totals"], ["record_date=2024-01-02"]) == {"record_date": DAY}


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["2024"], "'2024' is not COL=VALUE"),
        (["month=1"], "missing year"),
        (["year=2024", "month=x"], "month='x' is not a whole number"),
        (["year=2024", "month=1", "day=2"], "'day' is not a key column of gold_monthly_totals"),
    ],
)
def test_parse_key_names_what_is_wrong(pairs: list[str], message: str) -> None:
    with pytest.raises(KeyProblem, match=message):
        parse_key(GOLD["gold_monthly_totals"], pairs)


def test_request_urls_are_shown_with_credentials_masked() -> None:
    assert mask_url("https://user:pw@api.example/v1/x?api_key=k&page%5Bnumber%5D=1") == (
        "https://***@api.example/v1/x?api_key=***&page%5Bnumber%5D=1"
    )
    plain = "http://127.0.0.1:8000/v1/x?filter=record_date%3Agte%3A2024-01-02&token=t"
    assert mask_url(plain) == plain.replace("token=t", "token=***")
