"""``explain`` on the real records (../shared/fiscaldata, skipped when absent): across the layout
changes of the statement (the TGA rows of 2021-10-01 and 2022-04-18, the debt limit categories of
2022-09-12, the refunds table of 2023-02-14), every monthly and fiscal-year gold row and the first
business day of each month of every daily table reconcile with their silver rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from conftest import make_settings
from treasury_lakehouse import pipeline
from treasury_lakehouse.config import Settings
from treasury_lakehouse.explain import explain_row, json_value
from treasury_lakehouse.lake.layout import Lake
from treasury_lakehouse.models.registry import GOLD_MODELS, GoldModel
from treasury_lakehouse.paths import glob_escape
from treasury_lakehouse.testing import FakeFiscalDataApi

pytestmark = pytest.mark.shared_data

FIRST_DAY, LAST_DAY = date(2021, 9, 27), date(2023, 2, 28)
#: the datasets the gold tables read
DATASETS = (
    "public_debt_transactions",
    "operating_cash_balance",
    "debt_subject_to_limit",
    "income_tax_refunds_issued",
)


@pytest.fixture(scope="module")
def settings(shared_records: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    home = tmp_path_factory.mktemp("explain_real")
    with FakeFiscalDataApi(shared_records) as api:
        settings = make_settings(home, api, start=FIRST_DAY, end=LAST_DAY, datasets=DATASETS)
        pipeline.ingest(settings)
        pipeline.transform(settings)
        yield settings


def _keys(settings: Settings, model: GoldModel) -> list[list[str]]:
    """The keys to explain: every row of a monthly or fiscal-year table, the first business day
    of each month of a daily one."""
    version = Lake(settings.lake).published_gold()[model.name]
    key = ", ".join(model.primary_key)
    pattern = glob_escape(version) + "/*.parquet"
    query = f"SELECT {key} FROM read_parquet('{pattern}') ORDER BY {key}"
    if model.primary_key == ("record_date",):
        query = (
            f"SELECT MIN(record_date) FROM read_parquet('{pattern}') "
            "GROUP BY date_trunc('month', record_date) ORDER BY 1"
        )
    rows = duckdb.sql(query).fetchall()
    return [
        [f"{c}={json_value(v)}" for c, v in zip(model.primary_key, r, strict=True)] for r in rows
    ]


@pytest.mark.parametrize("model", GOLD_MODELS, ids=lambda m: m.name)
def test_every_gold_table_reconciles_on_the_real_records(
    settings: Settings, model: GoldModel
) -> None:
    keys = _keys(settings, model)
    assert len(keys) >= 17, keys
    for key in keys:
        explanation = explain_row(settings, model.name, key)
        assert explanation.reconciled, (key, explanation.mismatches)
        assert explanation.silver and all(r["bronze_file"] for r in explanation.silver), key
