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

from debt_restatement import shift_public_debt
from independent_gold import expected_gold, read_records
from treasury_lakehouse.cli import main
from treasury_lakehouse.testing import FakeFiscalDataApi
from treasury_lakehouse.warehouse.duckdb import DuckDBWarehouse

pytestmark = pytest.mark.shared_data

NOTES_ISSUES = {
    "transaction_type": "Issues",
    "security_market": "Marketable",
    "security_type": "Notes",
}


def restate_amount(
    api: FakeFiscalDataApi, rows: list[dict[str, str]], day: str, delta: int
) -> None:
    """Restate one day's Notes issues by ``delta`` million, as Treasury would: the day's amount
    and the month- and fiscal-year-to-date totals from that day on move together (so the
    quality gate's running-total identities still hold), and the debt it adds shows in the debt
    table and Debt to the Penny from that day on (so the debt identities hold). ``rows`` (the
    expected records) are changed the same way."""
    for row in rows:
        if any(row[k] != v for k, v in NOTES_ISSUES.items()) or row["record_date"] < day:
            continue
        changes = {"transaction_fytd_amt": str(int(row["transaction_fytd_amt"]) + delta)}
        if row["record_date"][:7] == day[:7]:
            changes["transaction_mtd_amt"] = str(int(row["transaction_mtd_amt"]) + delta)
        if row["record_date"] == day:
            changes["transaction_today_amt"] = str(int(row["transaction_today_amt"]) + delta)
        match = {**NOTES_ISSUES, "record_date": row["record_date"]}
        assert api.restate("public_debt_transactions", match, changes) == 1
        row.update(changes)
    shift_public_debt(api, date.fromisoformat(day), delta)  # the debt table moves with it


def _cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _bronze_versions(home: Path) -> list[str]:
    glob = str(home / "lake/bronze/public_debt_transactions/*/*.parquet")
    rows = duckdb.sql(
        f"SELECT transaction_today_amt FROM read_parquet('{glob}') WHERE record_date = "
        "'2024-02-13' AND transaction_type = 'Issues' AND security_type = 'Notes' "
        "ORDER BY ingestion_timestamp"
    ).fetchall()
    return [r[0] for r in rows]


def test_backfill_then_incremental_runs_with_restatements(
    real_api: FakeFiscalDataApi, shared_records: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    common = ["--home", str(home), "--api-url", real_api.base_url]
    pdt = read_records(
        shared_records, "public_debt_transactions", date(2024, 1, 2), date(2024, 3, 29)
    )
    ocb = read_records(
        shared_records, "operating_cash_balance", date(2024, 1, 2), date(2024, 3, 29)
    )
    real_api.today = date(2024, 2, 15)
    # the shared Debt to the Penny sample has no 2024 (only 1993 and 2025 Q1): an empty first
    # answer inside its span would stop the run, so its 1993 page is in bronze first
    _cli("ingest", *common, "--dataset", "debt_to_penny", "--end", "1993-08-31")
    _cli("run", *common, "--start", "2024-01-02")

    # inside the 7-day lookback of the second run (watermark 2024-02-15 - 7 days = 2024-02-08)
    real_api.today = date(2024, 3, 29)
    restate_amount(real_api, pdt, "2024-02-13", 5)
    output = _cli("run", *common)
    for layer in ("bronze", "silver", "gold", "warehouse"):
        assert layer in output

    status = json.loads(_cli("status", *common, "--json"))
    for dataset in ("operating_cash_balance", "public_debt_transactions"):
        assert status["datasets"][dataset]["bronze_batches"] == 2
        assert status["datasets"][dataset]["watermark"] == "2024-03-29"
        assert status["datasets"][dataset]["quarantined_rows"] == 0
    assert _bronze_versions(home) == ["0", "5"]  # both versions kept in bronze

    warehouse = DuckDBWarehouse(home / "warehouse.duckdb")
    for table, rows in expected_gold(pdt, ocb).items():
        assert sorted(warehouse.table_rows(table)) == rows, table

    # inside the lookback of a third run (watermark 2024-03-29 - 7 days = 2024-03-22)
    restate_amount(real_api, pdt, "2024-03-25", 12345)
    _cli("run", *common)
    for table, rows in expected_gold(pdt, ocb).items():
        assert sorted(warehouse.table_rows(table)) == rows, table
