"""`treasury run` with its defaults on the real records, then the same lake into PostgreSQL: both
warehouses hold identical gold and star rows, for every gold table and every star table.

Reads ``../shared/fiscaldata`` (marker ``shared_data``: skipped when absent, failed under
``TREASURY_REQUIRE_SERVICES=1``) and a fresh database on the PostgreSQL server (marker
``postgres``).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_postgres_warehouse import fresh_database

from treasury_lakehouse.catalog import DATASETS
from treasury_lakehouse.cli import main
from treasury_lakehouse.models.registry import GOLD
from treasury_lakehouse.testing import FakeFiscalDataApi
from treasury_lakehouse.warehouse.duckdb import DuckDBWarehouse
from treasury_lakehouse.warehouse.postgres import PostgresWarehouse
from treasury_lakehouse.warehouse.star import STAR_TABLES

pytestmark = [pytest.mark.postgres, pytest.mark.shared_data]

#: the last day of the shared records' statement tables
LAST_DAY = date(2026, 6, 23)


def test_default_run_of_every_dataset_gives_identical_gold_in_both_warehouses(
    real_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    real_api.today = LAST_DAY
    home = tmp_path / "home"
    runner = CliRunner()
    ran = runner.invoke(main, ["run", "--home", str(home), "--api-url", real_api.base_url])
    assert ran.exit_code == 0, ran.output
    asked = {r.split("/accounting/")[1].split("?")[0].rsplit("/", 1)[-1] for r in real_api.requests}
    assert asked == set(DATASETS)  # no --dataset: every catalog dataset is ingested

    embedded = DuckDBWarehouse(home / "warehouse.duckdb")
    with fresh_database() as dsn:
        loaded = runner.invoke(main, ["load", "--home", str(home), "--warehouse", dsn])
        assert loaded.exit_code == 0, loaded.output
        server = PostgresWarehouse(dsn)
        tables = [*GOLD, *(t.name for t in STAR_TABLES)]
        for table in tables:
            rows = sorted(embedded.table_rows(table))
            assert rows, f"{table} is empty: the comparison would prove nothing"
            assert sorted(server.table_rows(table)) == rows, table
