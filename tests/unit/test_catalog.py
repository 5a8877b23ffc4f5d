"""The catalog and the SQL models name the same Treasury General Account rows."""

from __future__ import annotations

from treasury_lakehouse.catalog import OPERATING_CASH_BALANCE, TGA_ACCOUNTS
from treasury_lakehouse.models.registry import GOLD


def test_gold_cash_balance_selects_every_tga_row_of_the_catalog() -> None:
    sql = GOLD["gold_daily_cash_balance"].sql
    for account in TGA_ACCOUNTS:
        assert f"'{account}'" in sql
    era_rows = {row for era in OPERATING_CASH_BALANCE.eras for row in era.row_names}
    assert set(TGA_ACCOUNTS) <= era_rows
