"""Backfills of past dates, at the facade, with the settings a DAG run builds.

Reproduction: a run for a past logical date started at the lake's watermark minus the lookback,
after its own end, so it fetched nothing, succeeded, and published the current lake under the
old statement date. A run for date *D* now re-fetches the window ending at *D*'s statement date.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from independent_gold import apply_restatement, expected_gold, read_records
from treasury_lakehouse import pipeline
from treasury_lakehouse.config import Settings
from treasury_lakehouse.errors import ConfigError
from treasury_lakehouse.models.registry import GOLD_MODELS
from treasury_lakehouse.orchestration.windows import scheduled_run_settings
from treasury_lakehouse.testing import FakeFiscalDataApi
from treasury_lakehouse.warehouse.duckdb import DuckDBWarehouse

PDT, OCB = "public_debt_transactions", "operating_cash_balance"
DSL, REFUNDS = "debt_subject_to_limit", "income_tax_refunds_issued"
FIRST_DAY = date(2022, 3, 1)
LATER_RUN = datetime.fromisoformat("2022-04-22T22:00:00+00:00")  # 18:00 New York: 2022-04-21
PAST_RUN = datetime.fromisoformat("2022-03-15T22:00:00+00:00")  # statement of 2022-03-14
RESTATED = {
    "record_date": "2022-03-14",  # 38 days before the watermark: far outside a 7-day lookback
    "transaction_type": "Redemptions",
    "security_market": "Marketable",
    "security_type": "Bills",
}


@pytest.fixture
def no_treasury_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TREASURY_"):
            monkeypatch.delenv(name)


def _dag_settings(moment: datetime, home: Path, api: FakeFiscalDataApi) -> Settings:
    return scheduled_run_settings(
        moment,
        home=home,
        api_url=api.base_url,
        initial_start=FIRST_DAY,
        timeout_s=10.0,
        retry_budget_s=10.0,
    )


def _gold(home: Path) -> dict[str, list[tuple[Any, ...]]]:
    warehouse = DuckDBWarehouse(home / "warehouse.duckdb")
    return {m.name: sorted(warehouse.table_rows(m.name)) for m in GOLD_MODELS}


@pytest.mark.slow
@pytest.mark.usefixtures("no_treasury_env")
def test_backfilling_a_past_date_refetches_its_window_and_its_restatement_reaches_gold(
    fake_api: FakeFiscalDataApi, synthetic_records: Path, tmp_path: Path
) -> None:
    later = _dag_settings(LATER_RUN, tmp_path, fake_api)
    assert (later.end, later.window_anchor, later.lookback_days) == (date(2022, 4, 21), "end", 7)
    first = pipeline.run(later)
    windows = {r.dataset: r.window for r in first.ingest}
    assert windows[PDT] == windows[OCB] == "2022-03-01..2022-04-21"  # empty lake

    [before] = [r for r in _gold(tmp_path)["gold_daily_totals"] if r[0] == date(2022, 3, 14)]
    fake_api.restate(PDT, RESTATED, {"transaction_today_amt": "1"})

    past = _dag_settings(PAST_RUN, tmp_path, fake_api)
    with pytest.raises(ConfigError, match="after its end 2022-03-14"):  # the old silent no-op
        pipeline.ingest(past.with_overrides(window_anchor="watermark"))
    backfill = pipeline.run(past)
    windows = {r.dataset: r.window for r in backfill.ingest}
    assert windows[PDT] == windows[OCB] == "2022-03-07..2022-03-14"
    # every dataset in its span got a batch (inter-agency transfers start on 2023-02-14)
    assert all(r.batch_id for r in backfill.ingest if r.dataset != "inter_agency_tax_transfers")

    gold = _gold(tmp_path)
    [after] = [r for r in gold["gold_daily_totals"] if r[0] == date(2022, 3, 14)]
    assert after != before  # the restated redemption reached gold
    assert max(r[0] for r in gold["gold_daily_totals"]) == date(2022, 4, 21)  # later dates stay
    pdt = read_records(synthetic_records, PDT, FIRST_DAY, date(2022, 4, 21))
    assert apply_restatement(pdt, RESTATED, {"transaction_today_amt": "1"}) == 1
    ocb, dsl, refunds = (
        read_records(synthetic_records, d, FIRST_DAY, date(2022, 4, 21))
        for d in (OCB, DSL, REFUNDS)
    )
    assert gold == expected_gold(pdt, ocb, dsl, refunds)
