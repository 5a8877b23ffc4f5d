"""Reports are kept in the lake append-only and synced into ``quality_results`` once each."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from treasury_lakehouse import pipeline
from treasury_lakehouse.config import Settings
from treasury_lakehouse.errors import LakeError
from treasury_lakehouse.quality.results import CheckResult, Finding, QualityReport
from treasury_lakehouse.quality.store import append_report, latest_report, read_reports
from treasury_lakehouse.warehouse.quality_store import read_quality, sync_quality


def report(run_id: str, minute: int) -> QualityReport:
    finding = Finding("error", date(2022, 5, 17), "record_date=2022-05-17", "off by +2,000")
    return QualityReport(run_id, datetime(2026, 1, 1, 0, minute, tzinfo=UTC), (
        CheckResult("tga_continuity", "gold_daily_cash_balance", "error", "d", "0", 9, (finding,)),
        CheckResult("unique_key", "gold_daily_totals", "error", "d", "none", 9),
    ))  # fmt: skip


def test_reports_are_appended_and_synced_once(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    append_report(settings.lake, report("r1", 1), "run")
    append_report(settings.lake, report("r1", 2), "check")
    assert [r["stage"] for r in read_reports(settings.lake)] == ["run", "check"]
    assert latest_report(settings.lake)["failed_checks"] == [  # type: ignore[index]
        "tga_continuity on gold_daily_cash_balance"
    ]
    assert sync_quality(settings) == 4
    assert sync_quality(settings) == 0  # nothing twice
    assert read_reports(settings.lake, exclude={("r1", "run")})[0]["stage"] == "check"
    rows = read_quality(settings, "r1")
    assert {(r["stage"], r["check_name"], r["status"]) for r in rows} == {
        ("run", "tga_continuity", "fail"), ("run", "unique_key", "pass"),
        ("check", "tga_continuity", "fail"), ("check", "unique_key", "pass"),
    }  # fmt: skip
    failed = next(r for r in rows if r["status"] == "fail")
    assert failed["first_day"] == date(2022, 5, 17) and "off by +2,000" in failed["details"]
    with duckdb.connect(str(settings.duckdb_warehouse_path), read_only=True) as con:
        comment = con.execute(
            "SELECT comment FROM duckdb_tables() WHERE table_name = 'quality_results'"
        ).fetchone()
    assert comment and "one row per check and run" in comment[0]


def test_checking_an_empty_lake_is_an_error_not_a_pass(tmp_path: Path) -> None:
    with pytest.raises(LakeError, match="nothing to check"):
        pipeline.check(Settings(home=tmp_path))
    assert not (tmp_path / "warehouse.duckdb").exists()
