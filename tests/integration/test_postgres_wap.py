"""Write-audit-publish under stress: no reader sees a partial load; a killed load changes nothing.

A reader polls counts and sums of several published tables in one statement while a load runs
(every row rewritten, and only the changed months); a load run in a subprocess is SIGKILLed
mid-COPY, after staging and inside the publish transaction: the published tables stay as they were.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from test_postgres_warehouse import fresh_database, query

from conftest import make_settings
from treasury_lakehouse import pipeline
from treasury_lakehouse.config import Settings
from treasury_lakehouse.lake.layout import Lake
from treasury_lakehouse.testing import FakeFiscalDataApi
from treasury_lakehouse.warehouse.base import lake_tables
from treasury_lakehouse.warehouse.postgres import PostgresWarehouse

pytestmark = pytest.mark.postgres

#: one statement, so the reader sees one consistent state of every table it names
OBSERVE = """
SELECT
  (SELECT COUNT(*) FROM silver_public_debt_transactions),
  (SELECT SUM(transaction_today_amt) FROM silver_public_debt_transactions),
  (SELECT COUNT(*) FROM fact_public_debt_transactions),
  (SELECT SUM(transaction_today_amt) FROM fact_public_debt_transactions),
  (SELECT COUNT(*) FROM silver_operating_cash_balance),
  (SELECT SUM(issues_usd_mil) FROM gold_daily_totals),
  (SELECT MAX(cumulative_net_change_usd_mil) FROM gold_monthly_debt_growth),
  (SELECT COUNT(*) FROM dim_date),
  (SELECT COUNT(*) FROM load_manifest)
"""

KILLED_LOAD = """
import sys, time
from pathlib import Path
from treasury_lakehouse.lake.layout import Lake
from treasury_lakehouse.warehouse.base import lake_tables
from treasury_lakehouse.warehouse.postgres import PostgresWarehouse

lake, dsn, stop_at, ratio = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])

def on_progress(event, table, rows):
    if event == stop_at:
        print("stopped", event, table, rows, flush=True)
        time.sleep(600)

warehouse = PostgresWarehouse(dsn, rows_per_batch=500, full_reload_ratio=ratio,
                              on_progress=on_progress)
warehouse.publish(lake_tables(Lake(Path(lake))), "killed-run")
print("finished", flush=True)
"""


@pytest.fixture
def postgres_dsn() -> Iterator[str]:
    with fresh_database() as dsn:
        yield dsn


def observe(dsn: str) -> tuple[Any, ...]:
    [row] = query(dsn, OBSERVE)
    return row


def build_lake(settings: Settings, api: FakeFiscalDataApi, today: date) -> None:
    """Ingest up to ``today`` and rebuild silver and gold (no warehouse load)."""
    api.today = today
    pipeline.ingest(settings)
    pipeline.transform(settings)


def publish(settings: Settings, dsn: str, run_id: str, ratio: float) -> None:
    PostgresWarehouse(dsn, full_reload_ratio=ratio).publish(
        lake_tables(Lake(settings.lake)), run_id
    )


class Poller(threading.Thread):
    """Reads OBSERVE in a loop on its own connection until stopped; keeps every distinct state."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        self.dsn, self.seen, self.polls = dsn, set[tuple[Any, ...]](), 0
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as con:
                while not self.stop.is_set():
                    row = con.execute(OBSERVE).fetchone()
                    assert row is not None
                    self.seen.add(tuple(row))
                    self.polls += 1
        except BaseException as error:
            self.error = error


@pytest.mark.parametrize("ratio", [0.0, 1.0], ids=["full-rewrite", "incremental"])
def test_a_concurrent_reader_sees_the_old_or_the_new_version_only(
    fake_api: FakeFiscalDataApi, tmp_path: Path, postgres_dsn: str, ratio: float
) -> None:
    settings = make_settings(tmp_path / "home", fake_api, start=date(2021, 9, 1))
    build_lake(settings, fake_api, date(2022, 1, 31))
    publish(settings, postgres_dsn, "old", ratio)
    old = observe(postgres_dsn)
    build_lake(settings, fake_api, date(2022, 5, 31))

    poller = Poller(postgres_dsn)
    poller.start()
    time.sleep(0.2)
    publish(settings, postgres_dsn, "new", ratio)
    time.sleep(0.2)
    poller.stop.set()
    poller.join(timeout=30)
    new = observe(postgres_dsn)

    assert poller.error is None, poller.error
    assert poller.polls > 20
    assert old != new
    assert poller.seen <= {old, new}, poller.seen - {old, new}
    assert new in poller.seen
    modes = {
        r[0] for r in query(postgres_dsn, "SELECT mode FROM load_manifest WHERE run_id = 'new'")
    }
    assert ("full" if ratio == 0 else "incremental") in modes


def _wait_for_line(process: subprocess.Popen[str], timeout_s: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout_s)
    assert ready, "the load never reached the point where it should be killed"
    return process.stdout.readline()


def _wait_until_backends_gone(dsn: str) -> None:
    database = dsn.rsplit("/", 1)[1]
    for _ in range(100):
        rows = query(
            dsn,
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = %s "
            "AND application_name = 'treasury-lakehouse'",
            (database,),
        )
        if rows == [(0,)]:
            return
        time.sleep(0.1)
    raise AssertionError("the killed load's backend is still there")


@pytest.mark.folder_lake
@pytest.mark.parametrize("stop_at", ["copy", "staged", "publishing"])
@pytest.mark.parametrize("ratio", [0.0, 1.0], ids=["full-rewrite", "incremental"])
def test_a_load_killed_midway_leaves_the_published_tables_as_they_were(
    fake_api: FakeFiscalDataApi, tmp_path: Path, postgres_dsn: str, stop_at: str, ratio: float
) -> None:
    settings = make_settings(tmp_path / "home", fake_api, start=date(2021, 9, 1))
    build_lake(settings, fake_api, date(2022, 1, 31))
    publish(settings, postgres_dsn, "old", ratio)
    old = observe(postgres_dsn)
    build_lake(settings, fake_api, date(2022, 5, 31))

    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_LOAD, str(settings.lake), postgres_dsn, stop_at, str(ratio)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = _wait_for_line(process, 60)
        assert line.startswith(f"stopped {stop_at}"), line
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=30)
    _wait_until_backends_gone(postgres_dsn)

    assert observe(postgres_dsn) == old
    assert query(
        postgres_dsn, "SELECT COUNT(*) FROM load_manifest WHERE run_id = 'killed-run'"
    ) == [(0,)]
    publish(settings, postgres_dsn, "after", ratio)  # the next load works
    new = observe(postgres_dsn)
    assert new != old and new[0] == new[2]


SLICES = (
    "SELECT table_name, slice, row_count, checksum FROM treasury_load.published_slices "
    "ORDER BY table_name, slice"
)


def test_an_incremental_load_records_what_a_full_load_would_and_analyses_what_it_changed(
    fake_api: FakeFiscalDataApi, tmp_path: Path, postgres_dsn: str
) -> None:
    settings = make_settings(tmp_path / "home", fake_api, start=date(2021, 9, 1))
    build_lake(settings, fake_api, date(2022, 1, 31))
    publish(settings, postgres_dsn, "old", 1.0)
    build_lake(settings, fake_api, date(2022, 2, 28))
    [(started,)] = query(postgres_dsn, "SELECT clock_timestamp()")
    publish(settings, postgres_dsn, "new", 1.0)
    modes = dict(
        query(postgres_dsn, "SELECT table_name, mode FROM load_manifest WHERE run_id = 'new'")
    )
    assert "incremental" in modes.values() and "unchanged" in modes.values(), modes
    analysed = dict(
        query(
            postgres_dsn,
            "SELECT relname, GREATEST(last_analyze, last_autoanalyze) FROM pg_stat_user_tables "
            "WHERE schemaname = 'public'",
        )
    )
    for table, mode in modes.items():
        if mode == "incremental":
            assert analysed[table] is not None and analysed[table] >= started, table
    # the bookkeeping of only the rewritten slices adds up to what a full load records
    with fresh_database() as other:
        publish(settings, other, "full", 0.0)
        assert query(postgres_dsn, SLICES) == query(other, SLICES)
