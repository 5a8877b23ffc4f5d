"""Tried as a new user would: a clean run, then the server restates one TGA closing balance inside
the lookback window so that it breaks continuity. The next ``treasury run`` exits 1 naming that day,
and the published warehouse tables stay exactly as they were; the results are still kept.

One test body for every warehouse: the embedded DuckDB file and PostgreSQL (``postgres`` marker; a
fresh database from the PostgreSQL tests' ``fresh_database``, dropped afterwards).

Also: a TGA balance that arrives malformed is quarantined, and since operating cash balance feeds
gold that blocks publishing (before, the day silently left ``gold_daily_cash_balance``).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_postgres_warehouse import fresh_database

from conftest import make_settings
from treasury_lakehouse import pipeline
from treasury_lakehouse.cli import main
from treasury_lakehouse.config import Settings
from treasury_lakehouse.errors import QualityGateError
from treasury_lakehouse.lake.layout import Lake
from treasury_lakehouse.testing import FakeFiscalDataApi
from treasury_lakehouse.warehouse import open_warehouse
from treasury_lakehouse.warehouse.base import lake_tables
from treasury_lakehouse.warehouse.quality_store import read_quality

OCB = "operating_cash_balance"
# the first run sees records through 2022-05-20; the second asks again from 05-13 (7-day lookback)
RESTATED = {
    "record_date": "2022-05-17",
    "account_type": "Treasury General Account (TGA) Closing Balance",
}


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'home' / 'warehouse.duckdb'}"
        return
    with fresh_database() as dsn:
        yield dsn


def published(settings: Settings, names: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every published table (and the load history)."""
    target = open_warehouse(settings)
    return {name: sorted(target.table_rows(name), key=repr) for name in names}


def original(records: Path, match: dict[str, str]) -> dict[str, str]:
    with gzip.open(records / "records" / f"{OCB}.jsonl.gz", "rt") as handle:
        rows: list[dict[str, str]] = [json.loads(line) for line in handle]
    [row] = [r for r in rows if all(r[k] == v for k, v in match.items())]
    return row


def test_a_restatement_breaking_continuity_blocks_publishing_and_names_the_day(
    fake_api: FakeFiscalDataApi, synthetic_records: Path, tmp_path: Path, warehouse: str
) -> None:
    home = tmp_path / "home"
    fake_api.today = date(2022, 5, 20)
    settings = make_settings(home, fake_api, warehouse=warehouse, start=date(2022, 3, 1))
    first = pipeline.run(settings)
    assert first.quality is not None and first.quality.passed
    names = [t.name for t in lake_tables(Lake(settings.lake))] + ["load_manifest"]
    before = published(settings, names)

    fake_api.today = date(2022, 5, 31)
    closing = int(original(synthetic_records, RESTATED)["open_today_bal"])
    fake_api.restate(OCB, RESTATED, {"open_today_bal": str(closing + 2_000)})
    incremental = make_settings(home, fake_api, warehouse=warehouse)
    with pytest.raises(QualityGateError) as blocked:
        pipeline.run(incremental)
    message = str(blocked.value)
    assert "tga_continuity on gold_daily_cash_balance" in message
    assert "2022-05-17 [record_date=2022-05-17, tga_closing_balance_usd_mil]" in message
    assert "off by +2,000" in message
    assert published(settings, names) == before  # the previous version stays

    cli = ["--home", str(home), "--api-url", fake_api.base_url, "--warehouse", warehouse]
    result = CliRunner().invoke(main, ["run", *cli])
    assert result.exit_code == 1
    [error] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert "quality gate" in error and "tga_continuity" in error and "2022-05-17" in error
    assert published(settings, names) == before

    status = CliRunner().invoke(main, ["status", *cli])
    assert (
        "FAILED" in status.output and "tga_continuity on gold_daily_cash_balance" in status.output
    )
    kept = read_quality(incremental, str(blocked.value.context["run_id"]))
    failed = {
        (r["check_name"], r["status"], str(r["first_day"])) for r in kept if r["status"] != "pass"
    }
    assert ("tga_continuity", "fail", "2022-05-17") in failed

    # the source corrects itself; the day is now older than the lookback, so ask for it again
    fake_api.restate(OCB, RESTATED, {"open_today_bal": str(closing)})
    fixed = pipeline.run(
        make_settings(home, fake_api, warehouse=warehouse, start=date(2022, 5, 13))
    )
    assert fixed.quality is not None and fixed.quality.passed
    assert published(settings, names) != before
    assert read_quality(incremental, str(blocked.value.context["run_id"])) == kept  # still kept


def test_load_refuses_a_lake_whose_checks_fail_and_check_exits_1(
    fake_api: FakeFiscalDataApi, synthetic_records: Path, tmp_path: Path
) -> None:
    closing = int(original(synthetic_records, RESTATED)["open_today_bal"])
    fake_api.restate(OCB, RESTATED, {"open_today_bal": str(closing - 2_000)})
    settings = make_settings(tmp_path, fake_api, start=date(2022, 5, 2), end=date(2022, 5, 31))
    pipeline.ingest(settings)
    pipeline.transform(settings)
    with pytest.raises(QualityGateError, match="2022-05-17"):
        pipeline.load(settings)
    assert read_quality(settings)  # results kept, nothing else in the warehouse
    assert not _has_table(tmp_path / "warehouse.duckdb", "gold_daily_cash_balance")
    args = ["check", "--home", str(tmp_path), "--api-url", fake_api.base_url, "--end", "2022-05-31"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "FAIL tga_continuity on gold_daily_cash_balance" in result.output
    assert "FAIL tga_flows on silver_operating_cash_balance" in result.output  # newest layout


def _has_table(path: Path, name: str) -> bool:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        found = con.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = ?", [name])
        return found.fetchone() is not None


TGA = "Treasury General Account (TGA)"  # the layout of 2021-10-01..2022-04-15: one row a day


def test_a_malformed_tga_balance_is_quarantined_and_blocks_publishing(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    """Reproduction: the day's TGA row arrives as ``"77,1234"``. Before, it was a quarantine
    warning, 2022-01-12 vanished from ``gold_daily_cash_balance`` and the run exited 0."""
    home = tmp_path / "home"
    cli = ["--home", str(home), "--api-url", fake_api.base_url]
    window = ["--start", "2021-12-01", "--end", "2022-01-31"]
    assert CliRunner().invoke(main, ["run", *cli, *window]).exit_code == 0
    settings = make_settings(home, fake_api)
    names = [t.name for t in lake_tables(Lake(settings.lake))] + ["load_manifest"]
    before = published(settings, names)
    assert date(2022, 1, 12) in {row[0] for row in before["gold_daily_cash_balance"]}

    day = {"record_date": "2022-01-12", "account_type": TGA}
    assert fake_api.restate(OCB, day, {"close_today_bal": "77,1234"}) == 1
    result = CliRunner().invoke(main, ["run", *cli, "--start", "2022-01-10", "--end", "2022-01-31"])
    assert result.exit_code == 1, result.output
    [error] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert "quarantined_rows on quarantine_operating_cash_balance" in error
    assert f"2022-01-12 [record_date=2022-01-12, account_type={TGA}]" in error
    assert "operating_cash_balance row quarantined: column close_today_bal raw value '77,1234'" in (
        error
    )
    assert published(settings, names) == before  # nothing published

    checked = CliRunner().invoke(main, ["check", *cli, "--end", "2022-01-31"])
    assert checked.exit_code == 1
    assert "FAIL quarantined_rows on quarantine_operating_cash_balance" in checked.output
