"""The catalog: the SQL models name its Treasury General Account rows; spans, eras and windows."""

from __future__ import annotations

from datetime import date

from treasury_lakehouse.catalog import (
    DATASETS,
    DEBT_TO_PENNY,
    OPERATING_CASH_BALANCE,
    TGA_ACCOUNTS,
    clip_to_span,
)
from treasury_lakehouse.config import Settings
from treasury_lakehouse.ingest.window import dataset_window
from treasury_lakehouse.models.registry import GOLD


def test_gold_cash_balance_selects_every_tga_row_of_the_catalog() -> None:
    sql = GOLD["gold_daily_cash_balance"].sql
    for account in TGA_ACCOUNTS:
        assert f"'{account}'" in sql
    era_rows = {row for era in OPERATING_CASH_BALANCE.eras for row in era.row_names}
    assert set(TGA_ACCOUNTS) <= era_rows


def test_every_dataset_has_a_span_eras_within_it_and_bounds_for_every_day() -> None:
    for dataset in DATASETS.values():
        assert dataset.first_date <= (dataset.last_date or date.max)
        assert dataset.row_bounds(), dataset.name  # rows_per_day can check every day
        for era in dataset.eras:
            assert era.rows_per_day is not None and era.row_names, (dataset.name, era.name)
            assert era.first_date <= (era.last_date or date.max)
        if dataset.eras:  # the eras cover the span without gaps or overlaps
            assert dataset.eras[0].first_date <= dataset.first_date
            assert dataset.eras[-1].last_date == dataset.last_date
            assert dataset.row_name_column in dataset.natural_key
    assert DATASETS["debt_to_penny"].first_date == date(1993, 4, 1)
    assert DATASETS["inter_agency_tax_transfers"].first_date == date(2023, 2, 14)
    assert DATASETS["federal_tax_deposits"].last_date == date(2023, 2, 13)
    assert set(DEBT_TO_PENNY.columns.values()) >= {"CURRENCY"}
    assert DEBT_TO_PENNY.silver_type("tot_pub_debt_out_amt") == "DECIMAL(20, 2)"


def test_a_window_is_clipped_to_the_span_or_left_out() -> None:
    transfers, deposits = DATASETS["inter_agency_tax_transfers"], DATASETS["federal_tax_deposits"]
    before = (date(2021, 9, 1), date(2022, 5, 31))
    assert clip_to_span(transfers, *before) is None
    assert clip_to_span(transfers, date(2021, 9, 1), None) == (date(2023, 2, 14), None)
    assert clip_to_span(deposits, *before) == before
    assert clip_to_span(deposits, date(2024, 1, 2), None) is None
    assert clip_to_span(deposits, date(2023, 2, 1), None) == (date(2023, 2, 1), date(2023, 2, 13))


def test_the_first_window_starts_at_each_datasets_own_first_date() -> None:
    default, explicit = Settings(), Settings(initial_start=date(2000, 1, 3))
    penny, transfers = DATASETS["debt_to_penny"], DATASETS["inter_agency_tax_transfers"]
    assert str(dataset_window(default, penny, None)[1]) == "1993-04-01..…"
    assert str(dataset_window(explicit, penny, None)[1]) == "2000-01-03..…"
    assert str(dataset_window(explicit, transfers, None)[1]) == "2023-02-14..…"
    ended = Settings(start=date(2024, 1, 2), end=date(2024, 1, 31))
    asked, clipped = dataset_window(ended, DATASETS["federal_tax_deposits"], date(2023, 2, 13))
    assert (str(asked), clipped) == ("2024-01-02..2024-01-31", None)  # no request
    # a window before a dataset starts is not a usage error (it is for the settings' own start)
    early = Settings(end=date(2022, 5, 31))
    assert dataset_window(early, transfers, None)[1] is None
