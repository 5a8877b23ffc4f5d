"""The new user's path on the real records: a backfill, then an incremental run with a restatement.

Needs ../shared/fiscaldata (skipped with a reason when absent). Gold is checked against
``tests/independent_gold.py`` (plain Python over the JSON records), never against the models.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from independent_gold import apply_restatement, expected_gold, read_records
from treasury_lakehouse.cli import main
from treasury_lakehouse.testing import FakeFiscalDataApi
from treasury_lakehouse.warehouse.duckdb import DuckDBWarehouse

pytestmark = pytest.mark.shared_data

# inside the 7-day lookback of the second run (watermark 2024-02-15 - 7 days = 2024-02-08)
RESTATED_CASH = {
    "record_date": "2024-02-13",
    "account_type": "Treasury General Account (TGA) Closing Balance",
}
# inside the lookback of the third run (watermark 2024-03-29 - 7 days = 2024-03-22)
RESTATED_DEBT = {
    "record_date": "2024-03-25",
    "transaction_type": "Issues",
    "security_market": "Marketable",
    "security_type": "Notes",
}


def _cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _bronze_versions(home: Path) -> list[str]:
    glob = str(home / "lake/bronze/operating_cash_balance/*/*.parquet")
    rows = duckdb.sql(
        f"SELECT open_today_bal FROM read_parquet('{glob}') WHERE record_date = '2024-02-13' "
        "AND account_type LIKE '%Closing Balance' ORDER BY ingestion_timestamp"
    ).fetchall()
    return [r[0] for r in rows]


def test_backfill_then_incremental_runs_with_restatements(
    real_api: FakeFiscalDataApi, shared_records: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    common = ["--home", str(home), "--api-url", real_api.base_url]
    real_api.today = date(2024, 2, 15)
    _cli("run", *common, "--start", "2024-01-02")

    real_api.today = date(2024, 3, 29)
    real_api.restate("operating_cash_balance", RESTATED_CASH, {"open_today_bal": "777777"})
    output = _cli("run", *common)
    for layer in ("bronze", "silver", "gold", "warehouse"):
        assert layer in output

    status = json.loads(_cli("status", *common, "--json"))
    for dataset in ("operating_cash_balance", "public_debt_transactions"):
        assert status["datasets"][dataset]["bronze_batches"] == 2
        assert status["datasets"][dataset]["watermark"] == "2024-03-29"
        assert status["datasets"][dataset]["quarantined_rows"] == 0
    assert _bronze_versions(home) == ["860356", "777777"]  # both versions kept in bronze

    pdt = read_records(
        shared_records, "public_debt_transactions", date(2024, 1, 2), date(2024, 3, 29)
    )
    ocb = read_records(
        shared_records, "operating_cash_balance", date(2024, 1, 2), date(2024, 3, 29)
    )
    assert apply_restatement(ocb, RESTATED_CASH, {"open_today_bal": "777777"}) == 1
    warehouse = DuckDBWarehouse(home / "warehouse.duckdb")
    for table, rows in expected_gold(pdt, ocb).items():
        assert sorted(warehouse.table_rows(table)) == rows, table

    real_api.restate("public_debt_transactions", RESTATED_DEBT, {"transaction_today_amt": "12345"})
    _cli("run", *common)
    assert apply_restatement(pdt, RESTATED_DEBT, {"transaction_today_amt": "12345"}) == 1
    for table, rows in expected_gold(pdt, ocb).items():
        assert sorted(warehouse.table_rows(table)) == rows, table
