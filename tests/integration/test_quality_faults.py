"""Each injected fault is caught by exactly the check meant for it, naming the day and the row.

The lake is built from synthetic records (2021-09..2022-05: all three cash-balance layouts, a
fiscal-year start) served by the fake API; faults are restatements on the server or rows removed or
duplicated in a copy of the records folder. ``end`` is set so freshness expects nothing more.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from conftest import make_settings
from treasury_lakehouse import pipeline
from treasury_lakehouse.config import Settings
from treasury_lakehouse.errors import QualityGateError
from treasury_lakehouse.quality import QualityReport
from treasury_lakehouse.testing import FakeFiscalDataApi
from treasury_lakehouse.warehouse.duckdb import DuckDBWarehouse

PDT, OCB = "public_debt_transactions", "operating_cash_balance"
START, END = date(2021, 12, 1), date(2022, 2, 28)
TGA = "Treasury General Account (TGA)"  # the layout of 2021-10-01..2022-04-15


def build_lake(api: FakeFiscalDataApi, home: Path) -> Settings:
    settings = make_settings(home, api, start=START, end=END)
    pipeline.ingest(settings)
    pipeline.transform(settings)
    return settings


def not_passing(report: QualityReport) -> set[tuple[str, str, str]]:
    return {(r.check, r.table, r.status) for r in report.results if r.status != "pass"}


def record(records: Path, dataset: str, **match: str) -> dict[str, str]:
    with gzip.open(records / "records" / f"{dataset}.jsonl.gz", "rt") as handle:
        rows: list[dict[str, str]] = [json.loads(line) for line in handle]
    [row] = [r for r in rows if all(r[k] == v for k, v in match.items())]
    return row


def edited_copy(
    source: Path, target: Path, dataset: str, edit: Callable[[list[dict[str, Any]]], list[Any]]
) -> Path:
    shutil.copytree(source, target)
    path = target / "records" / f"{dataset}.jsonl.gz"
    with gzip.open(path, "rt") as handle:
        rows = [json.loads(line) for line in handle]
    with gzip.open(path, "wt") as handle:
        for row in edit(rows):
            handle.write(json.dumps(row) + "\n")
    return target


def test_the_clean_synthetic_lake_passes_every_check(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    report = pipeline.check(build_lake(fake_api, tmp_path))
    assert not_passing(report) == set()
    assert len(report.results) >= 30


def test_a_tga_closing_balance_off_by_2000_fails_continuity_only(
    fake_api: FakeFiscalDataApi, synthetic_records: Path, tmp_path: Path
) -> None:
    day = {"record_date": "2022-01-12", "account_type": TGA}
    closing = int(record(synthetic_records, OCB, **day)["close_today_bal"])
    fake_api.restate(OCB, day, {"close_today_bal": str(closing + 2_000)})
    report = pipeline.check(build_lake(fake_api, tmp_path))
    assert not_passing(report) == {("tga_continuity", "gold_daily_cash_balance", "fail")}
    [finding] = report.result("tga_continuity").findings
    assert finding.day == date(2022, 1, 12)
    assert finding.row == "record_date=2022-01-12, tga_closing_balance_usd_mil"
    assert "off by +2,000" in finding.message


def test_a_duplicated_key_fails_the_unique_key_check_of_that_batch(
    synthetic_records: Path, tmp_path: Path
) -> None:
    def duplicate(rows: list[dict[str, Any]]) -> list[Any]:
        index = next(i for i, r in enumerate(rows) if r["record_date"] == "2022-02-10")
        return [*rows[: index + 1], dict(rows[index]), *rows[index + 1 :]]

    records = edited_copy(synthetic_records, tmp_path / "records", PDT, duplicate)
    with FakeFiscalDataApi(records) as api:
        report = pipeline.check(build_lake(api, tmp_path / "home"))
    assert not_passing(report) == {("unique_key", f"bronze_{PDT}", "fail")}
    [finding] = report.result("unique_key", f"bronze_{PDT}").findings
    assert finding.day == date(2022, 2, 10)
    assert finding.row.startswith("record_date=2022-02-10, transaction_type=Issues")
    assert "appears 2 times in batch" in finding.message


def test_a_missing_business_day_fails_completeness_only(
    synthetic_records: Path, tmp_path: Path
) -> None:
    def drop(rows: list[dict[str, Any]]) -> list[Any]:
        return [r for r in rows if r["record_date"] != "2022-02-16"]

    edited_copy(synthetic_records, tmp_path / "step", PDT, drop)
    records = edited_copy(tmp_path / "step", tmp_path / "records", OCB, drop)
    with FakeFiscalDataApi(records) as api:
        report = pipeline.check(build_lake(api, tmp_path / "home"))
    assert not_passing(report) == {
        ("completeness", f"silver_{PDT}", "fail"),
        ("completeness", f"silver_{OCB}", "fail"),
    }
    for dataset in (PDT, OCB):
        [finding] = report.result("completeness", f"silver_{dataset}").findings
        assert (finding.day, finding.row) == (date(2022, 2, 16), "record_date=2022-02-16")


def test_an_unknown_security_type_is_flagged_not_dropped(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    line = {"record_date": "2022-02-10", "transaction_type": "Issues", "security_type": "Notes"}
    assert fake_api.restate(PDT, line, {"security_type": "Floating Rate Notes"}) == 1
    settings = make_settings(tmp_path, fake_api, start=START, end=END)
    result = pipeline.run(settings)  # a warning does not block publishing
    assert result.quality is not None
    assert not_passing(result.quality) == {("known_values:security_type", f"silver_{PDT}", "warn")}
    [finding] = result.quality.result("known_values:security_type").findings
    assert finding.day == date(2022, 2, 10) and "security_type=Floating Rate Notes" in finding.row
    rows = DuckDBWarehouse(tmp_path / "warehouse.duckdb").table_rows("gold_security_totals")
    assert any(r[2] == "Floating Rate Notes" for r in rows)  # kept, not dropped


def test_a_negative_balance_fails_the_negative_balance_check_only(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    # closing and the next opening both negative, so only the sign is wrong (continuity holds)
    fake_api.restate(OCB, {"record_date": "2022-01-12", "account_type": TGA},
                     {"close_today_bal": "-500"})  # fmt: skip
    fake_api.restate(OCB, {"record_date": "2022-01-13", "account_type": TGA},
                     {"open_today_bal": "-500"})  # fmt: skip
    settings = make_settings(tmp_path, fake_api, start=START, end=END)
    with pytest.raises(QualityGateError, match=r"negative_balance .*2022-01-12"):
        pipeline.run(settings)
    report = pipeline.check(settings)
    assert not_passing(report) == {("negative_balance", f"silver_{OCB}", "fail")}
    findings = report.result("negative_balance").findings
    assert [(f.day, f.row) for f in findings] == [
        (date(2022, 1, 12), f"record_date=2022-01-12, account_type={TGA}"),
        (date(2022, 1, 13), f"record_date=2022-01-13, account_type={TGA}"),
    ]
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert tables == {"quality_results"}  # results kept, nothing published


def test_a_quarantined_row_feeding_gold_fails_and_is_not_counted_as_a_missing_line(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    fake_api.restate(OCB, {"record_date": "2022-01-12", "account_type": TGA},
                     {"open_today_bal": "12,5"})  # fmt: skip
    report = pipeline.check(build_lake(fake_api, tmp_path))
    assert not_passing(report) == {
        ("quarantined_rows", f"quarantine_{OCB}", "fail"),  # operating cash balance feeds gold
        ("tga_continuity", "gold_daily_cash_balance", "fail"),  # so gold lacks that day's TGA
    }
    [finding] = report.result("quarantined_rows").findings
    assert finding.day == date(2022, 1, 12) and finding.severity == "error"
    assert "column open_today_bal raw value '12,5' is not a CURRENCY0" in finding.message
    [gap] = report.result("tga_continuity").findings
    assert gap.day == date(2022, 1, 12) and "no TGA opening balance and closing" in gap.message
    assert report.result("rows_per_day", f"received_{OCB}").findings == ()


def test_a_day_that_vanished_from_the_source_fails_and_names_the_day_and_batch(
    synthetic_records: Path, tmp_path: Path
) -> None:
    def drop(rows: list[dict[str, Any]]) -> list[Any]:
        return [r for r in rows if r["record_date"] != "2022-02-16"]

    with FakeFiscalDataApi(synthetic_records) as api:
        settings = build_lake(api, tmp_path / "home")
    records = edited_copy(synthetic_records, tmp_path / "records", PDT, drop)
    with FakeFiscalDataApi(records) as api:  # the source re-answers February without 02-16
        again = make_settings(tmp_path / "home", api, start=date(2022, 2, 1), end=END)
        pipeline.ingest(again)
        pipeline.transform(again)
    report = pipeline.check(settings)
    assert ("vanished_record_date", f"vanished_{PDT}", "fail") in not_passing(report)
    [finding] = report.result("vanished_record_date", f"vanished_{PDT}").findings
    assert finding.day == date(2022, 2, 16)
    assert "window 2022-02-01..2022-02-28" in finding.message
    assert report.result("vanished_record_date", f"vanished_{OCB}").findings == ()
