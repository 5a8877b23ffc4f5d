"""The debt limit and tax refunds gold on the real records, against an independent computation.

One pipeline run over ../shared/fiscaldata (skipped when absent) to 2025-09-02, the last record
date of the debt subject to limit table. ``gold_daily_debt_limit`` (2016-01-04..2025-09-02) and
``gold_monthly_tax_refunds`` (its whole range) must equal ``tests/independent_gold.py``, plain
Python over the JSON records, and reproduce the published figures of issue #10. ``fact_debt_limit``
holds the same figures keyed by date, and PostgreSQL, loaded from the same lake commit, holds the
same rows as DuckDB.

The run takes every dataset: a warehouse is only published from a lake commit holding every
catalog dataset's silver (``lake_tables``), so a run restricted with ``--dataset`` on an empty
home cannot load. No window is empty: each dataset is asked from its own first date.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from test_postgres_warehouse import fresh_database

from conftest import make_settings
from independent_gold import daily_debt_limit, monthly_tax_refunds, read_records
from treasury_lakehouse import pipeline
from treasury_lakehouse.config import Settings
from treasury_lakehouse.models.registry import GOLD
from treasury_lakehouse.testing import FakeFiscalDataApi
from treasury_lakehouse.warehouse.duckdb import DuckDBWarehouse
from treasury_lakehouse.warehouse.postgres import PostgresWarehouse

pytestmark = pytest.mark.shared_data

FIRST_DAY, LAST_DAY = date(2016, 1, 4), date(2025, 9, 2)
DEBT_LIMIT, TAX_REFUNDS = "gold_daily_debt_limit", "gold_monthly_tax_refunds"
COLUMNS = GOLD[DEBT_LIMIT].column_names


@dataclass(frozen=True)
class RealRun:
    settings: Settings
    records: Path

    @property
    def warehouse(self) -> DuckDBWarehouse:
        return DuckDBWarehouse(self.settings.home / "warehouse.duckdb")

    def day(self, day: date) -> dict[str, Any]:
        [row] = [r for r in self.warehouse.table_rows(DEBT_LIMIT) if r[0] == day]
        return dict(zip(COLUMNS, row, strict=True))


@pytest.fixture(scope="module")
def real_run(shared_records: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealRun]:
    home = tmp_path_factory.mktemp("debt_limit")
    with FakeFiscalDataApi(shared_records) as api:
        settings = make_settings(home, api, end=LAST_DAY)
        result = pipeline.run(settings)
    assert result.quality is not None and result.quality.failed == ()
    yield RealRun(settings, shared_records)


def test_gold_daily_debt_limit_equals_the_independent_computation(real_run: RealRun) -> None:
    dsl = read_records(real_run.records, "debt_subject_to_limit", FIRST_DAY, LAST_DAY)
    ocb = read_records(real_run.records, "operating_cash_balance", FIRST_DAY, LAST_DAY)
    expected = sorted((d, *v) for d, v in daily_debt_limit(dsl, ocb).items())
    loaded = real_run.warehouse.table_rows(DEBT_LIMIT)
    assert loaded == expected
    assert (loaded[0][0], loaded[-1][0], len(loaded)) == (FIRST_DAY, LAST_DAY, 2428)
    # every day has a TGA closing; the limit is suspended on 1,527 of them (no row, null or 0)
    assert all(row[-1] is not None for row in loaded)
    assert sum(row[6] for row in loaded) == 1527


def test_gold_monthly_tax_refunds_equals_the_independent_computation(real_run: RealRun) -> None:
    refunds = read_records(real_run.records, "income_tax_refunds_issued", date.min, date.max)
    expected = sorted((*k, *v) for k, v in monthly_tax_refunds(refunds).items())
    loaded = real_run.warehouse.table_rows(TAX_REFUNDS)
    assert loaded == expected
    assert (loaded[0][:2], loaded[-1][:2], len(loaded)) == ((2016, 1), (2025, 9), 117)
    # both layouts and all four categories are reached; the categories add up to the total
    assert all(sum(row[3:7]) == row[7] for row in loaded)
    assert all(sum(row[i] for row in loaded) > 0 for i in range(3, 7))


def test_the_published_figures(real_run: RealRun) -> None:
    june_1 = real_run.day(date(2023, 6, 1))
    assert june_1["headroom_usd_mil"] == 24
    assert june_1["tga_closing_balance_usd_mil"] == 22_892
    assert june_1["limit_suspended"] is False
    for suspended in (date(2023, 6, 5), date(2019, 8, 5)):
        row = real_run.day(suspended)
        assert row["limit_suspended"] is True, suspended
        assert row["statutory_debt_limit_usd_mil"] is None, suspended
        assert row["headroom_usd_mil"] is None, suspended
        assert row["debt_subject_to_limit_usd_mil"] > 0, suspended
    latest = real_run.day(date(2025, 9, 2))
    assert latest["headroom_usd_mil"] == 3_804_105
    assert latest["statutory_debt_limit_usd_mil"] == 41_103_996
    assert real_run.day(date(2017, 9, 5))["headroom_usd_mil"] == 23
    # ARCHITECTURE 6c: headroom is never negative while the limit is in force; 23 is the minimum
    headroom = [r[7] for r in real_run.warehouse.table_rows(DEBT_LIMIT) if r[7] is not None]
    assert min(headroom) == 23


def test_fact_debt_limit_holds_the_gold_figures_on_dim_date(real_run: RealRun) -> None:
    gold = real_run.warehouse.table_rows(DEBT_LIMIT)
    fact = real_run.warehouse.table_rows("fact_debt_limit")
    assert [row[1:] for row in fact] == gold
    assert all(row[0] == int(row[1].strftime("%Y%m%d")) for row in fact)
    dates = {row[1] for row in real_run.warehouse.table_rows("dim_date")}
    assert {row[1] for row in fact} <= dates


@pytest.mark.postgres
def test_postgres_holds_the_same_debt_limit_gold_and_fact(real_run: RealRun) -> None:
    with fresh_database() as dsn:
        pipeline.load(real_run.settings.with_overrides(warehouse=dsn))
        postgres = PostgresWarehouse(dsn)
        for table in (DEBT_LIMIT, TAX_REFUNDS, "fact_debt_limit"):
            assert postgres.table_rows(table) == real_run.warehouse.table_rows(table), table
