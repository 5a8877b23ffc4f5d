"""Versions and deletions at the source (issue 9, part 1), on every engine through one SQL model.

A committed batch is authoritative for every record date it holds: the newest batch (by manifest
``seq``, never by timestamp) holding a date decides which keys of that date exist. Hand-made
bronze batches (tests/bronze_pages.py) drive the engines directly; the facade tests at the end
re-key a row through the fake API, on the synthetic sample and on the real records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from bronze_pages import pdt_row, write_bronze_batch
from conftest import make_settings
from independent_gold import daily_totals, read_records
from treasury_lakehouse import pipeline
from treasury_lakehouse.catalog import PUBLIC_DEBT_TRANSACTIONS
from treasury_lakehouse.cli import main
from treasury_lakehouse.engines.base import QUARANTINE_FILE, BronzeBatch, Engine, SilverCounts
from treasury_lakehouse.errors import EngineError
from treasury_lakehouse.lake.layout import BUILD_INFO, Lake
from treasury_lakehouse.models.registry import GOLD_MODELS
from treasury_lakehouse.testing import FakeFiscalDataApi

PDT = "public_debt_transactions"
DAILY_TOTALS = next(m for m in GOLD_MODELS if m.name == "gold_daily_totals")
SLGS = {"security_market": "Nonmarketable", "security_type": "State and Local Series"}


@dataclass(frozen=True)
class Built:
    counts: SilverCounts
    silver: list[dict[str, Any]]
    quarantine: list[dict[str, Any]]
    silver_dir: Path

    def amounts(self) -> dict[tuple[str, str, str, str | None], int]:
        """Silver's ``transaction_today_amt`` by (date, type, security type, description)."""
        return {
            (
                r["record_date"].isoformat(),
                r["transaction_type"],
                r["security_type"],
                r["security_type_desc"],
            ): r["transaction_today_amt"]
            for r in self.silver
        }


def build(engine: Engine, batches: list[BronzeBatch], out: Path) -> Built:
    silver_dir, quarantine_dir = out / "silver", out / "quarantine"
    silver_dir.mkdir(parents=True)
    quarantine_dir.mkdir()
    counts = engine.build_silver(PUBLIC_DEBT_TRANSACTIONS, batches, silver_dir, quarantine_dir)
    silver = [
        row
        for f in sorted(silver_dir.rglob("*.parquet"))
        for row in pq.read_table(f, partitioning=None).to_pylist()
    ]
    quarantine = pq.read_table(quarantine_dir / QUARANTINE_FILE).to_pylist()
    return Built(counts, silver, quarantine, silver_dir)


def gold_issues(engine: Engine, built: Built, out: Path) -> dict[date, int]:
    out.mkdir()
    engine.build_gold(DAILY_TOTALS, {"silver_public_debt_transactions": built.silver_dir}, out)
    rows = pq.read_table(out / "gold_daily_totals.parquet").to_pylist()
    return {r["record_date"]: r["issues_usd_mil"] for r in rows}


def test_a_rekeyed_row_leaves_silver_and_gold_equals_the_new_batch(
    engine: Engine, tmp_path: Path
) -> None:
    """The 2024-03-27 reproduction: the API gives the SLGS Issues row a ``security_type_desc``."""
    before = [
        pdt_row(day, **changes)
        for day in ("2024-03-26", "2024-03-27")
        for changes in (
            {"transaction_today_amt": "100"},
            {**SLGS, "transaction_today_amt": "2105"},
            {**SLGS, "transaction_type": "Redemptions", "transaction_today_amt": "0"},
        )
    ]
    rekeyed = [
        {**r, "security_type_desc": "State and Local Series"}
        if r["record_date"] == "2024-03-27" and r["transaction_today_amt"] == "2105"
        else r
        for r in before
    ]
    batches = [
        write_bronze_batch(tmp_path, "b1", 1, before, window=(date(2024, 3, 20), None)),
        write_bronze_batch(tmp_path, "b2", 2, rekeyed, window=(date(2024, 3, 20), None)),
    ]
    built = build(engine, batches, tmp_path / "out")
    assert built.counts == SilverCounts(PDT, 12, 6, 5, 1, 0)
    amounts = built.amounts()
    assert ("2024-03-27", "Issues", "State and Local Series", None) not in amounts
    assert amounts["2024-03-27", "Issues", "State and Local Series", "State and Local Series"]
    assert {r["batch_id"] for r in built.silver} == {"b2"}
    assert gold_issues(engine, built, tmp_path / "gold") == {
        date(2024, 3, 26): 2205,
        date(2024, 3, 27): 2205,  # the new batch's sum; the old key would make it 4,310
    }


def test_a_key_deleted_at_the_source_leaves_silver_and_other_dates_stay(
    engine: Engine, tmp_path: Path
) -> None:
    bills = {"security_type": "Bills"}
    first = [
        pdt_row("2024-01-02"),
        pdt_row("2024-01-02", **bills),
        pdt_row("2024-01-03"),
        pdt_row("2024-01-03", **bills),
    ]
    # the second batch holds 2024-01-03 only, and no longer the Bills row of that day
    second = [pdt_row("2024-01-03", transaction_today_amt="101")]
    batches = [
        write_bronze_batch(tmp_path, "b1", 1, first),
        write_bronze_batch(tmp_path, "b2", 2, second),
    ]
    built = build(engine, batches, tmp_path / "out")
    assert built.counts == SilverCounts(PDT, 5, 3, 1, 1, 0)
    assert sorted((day, kind, amount) for (day, _, kind, _), amount in built.amounts().items()) == [
        ("2024-01-02", "Bills", 100),
        ("2024-01-02", "Notes", 100),  # a date the newer batch does not hold is left alone
        ("2024-01-03", "Notes", 101),
    ]


def test_the_higher_seq_wins_even_with_an_earlier_ingestion_timestamp(
    engine: Engine, tmp_path: Path
) -> None:
    """Clock skew: the second commit's host clock runs behind the first's."""
    batches = [
        write_bronze_batch(
            tmp_path, "b1", 1, [pdt_row("2024-01-02")], at=datetime(2024, 1, 10, tzinfo=UTC)
        ),
        write_bronze_batch(
            tmp_path,
            "b2",
            2,
            [pdt_row("2024-01-02", transaction_today_amt="105")],
            at=datetime(2024, 1, 9, tzinfo=UTC),  # earlier than b1's
        ),
    ]
    built = build(engine, batches, tmp_path / "out")
    assert built.counts == SilverCounts(PDT, 2, 1, 1, 0, 0)
    assert [(r["batch_id"], r["transaction_today_amt"]) for r in built.silver] == [("b2", 105)]


def test_a_restated_row_that_arrives_invalid_keeps_the_previous_version(
    engine: Engine, tmp_path: Path
) -> None:
    batches = [
        write_bronze_batch(tmp_path, "b1", 1, [pdt_row("2024-01-02")]),
        write_bronze_batch(tmp_path, "b2", 2, [pdt_row("2024-01-02", transaction_today_amt="N/A")]),
    ]
    built = build(engine, batches, tmp_path / "out")
    assert built.counts == SilverCounts(PDT, 2, 1, 0, 0, 1)  # not deleted: b2 holds the key
    assert [(r["batch_id"], r["transaction_today_amt"]) for r in built.silver] == [("b1", 100)]
    assert [r["quarantine_status"] for r in built.quarantine] == ["outstanding"]


def test_quarantine_is_resolved_by_a_newer_batch_of_its_date_or_window(
    engine: Engine, tmp_path: Path
) -> None:
    first = [
        pdt_row("2024-01-02", transaction_today_amt="N/A"),  # b2 holds 2024-01-02: resolved
        pdt_row("2024-01-03", transaction_today_amt="N/A"),  # no newer batch holds it
        pdt_row("2024-01-02", record_date="2024-02-30"),  # unreadable date: by windows
    ]
    b1 = write_bronze_batch(tmp_path, "b1", 1, first, window=(date(2024, 1, 1), date(2024, 1, 5)))
    b2 = write_bronze_batch(
        tmp_path, "b2", 2, [pdt_row("2024-01-02")], window=(date(2024, 1, 2), date(2024, 1, 2))
    )
    built = build(engine, [b1, b2], tmp_path / "two")
    assert built.counts == SilverCounts(PDT, 4, 1, 0, 0, 3)
    statuses = [(r["record_date"], r["quarantine_status"]) for r in built.quarantine]
    assert statuses == [
        ("2024-01-02", "resolved"),
        ("2024-01-03", "outstanding"),
        ("2024-02-30", "outstanding"),  # b2's window does not contain b1's
    ]

    b3 = write_bronze_batch(
        tmp_path, "b3", 3, [pdt_row("2024-01-04")], window=(None, date(2024, 1, 31))
    )
    built = build(engine, [b1, b2, b3], tmp_path / "three")
    assert [r["quarantine_status"] for r in built.quarantine] == [
        "resolved",
        "outstanding",
        "resolved",  # b3's window ..2024-01-31 contains b1's 2024-01-01..2024-01-05
    ]


def test_rows_of_a_batch_the_manifest_does_not_list_stop_the_build(
    engine: Engine, tmp_path: Path
) -> None:
    page = write_bronze_batch(tmp_path, "b1", 1, [pdt_row("2024-01-02")]).files
    with pytest.raises(EngineError, match="name batches the manifest does not list \\(b1\\)"):
        build(engine, [BronzeBatch("other", 1, page)], tmp_path / "out")


# --- through the facade: the API re-keys a row inside the lookback window ------------------


def _rekey_through_the_api(
    api: FakeFiscalDataApi, records: Path, home: Path, day: date, match: dict[str, str]
) -> None:
    """Ingest up to ``day``, re-key one row of ``day`` at the API, re-ingest, transform."""
    api.today = day
    pipeline.ingest(make_settings(home, api, start=day.replace(day=1), datasets=(PDT,)))
    on_day = {"record_date": day.isoformat(), **match}
    assert api.restate(PDT, on_day, {"security_type_desc": "Rekeyed"}) == 1
    settings = make_settings(home, api, datasets=(PDT,))
    pipeline.ingest(settings)
    result = pipeline.transform(settings)
    [counts] = result.silver
    assert counts.deleted == 1
    assert counts.rows_in == counts.silver + counts.superseded + counts.deleted + counts.quarantined

    lake = Lake(settings.lake)
    info = json.loads((lake.current_silver(PDT) / BUILD_INFO).read_text())  # type: ignore[operator]
    assert info["deleted"] == 1
    assert pipeline.status(settings)["datasets"][PDT]["deleted_rows"] == 1
    cli = ["--home", str(home), "--dataset", PDT]
    status = CliRunner().invoke(main, ["status", *cli])
    assert "deleted     1" in status.output, status.output
    rebuilt = CliRunner().invoke(main, ["transform", *cli])
    assert rebuilt.exit_code == 0 and "deleted at the source 1," in rebuilt.output, rebuilt.output

    gold = lake.published_gold()["gold_daily_totals"]
    rows = pq.read_table(gold / "gold_daily_totals.parquet").to_pylist()
    issues = {r["record_date"]: r["issues_usd_mil"] for r in rows}
    current = [
        {**r, "security_type_desc": "Rekeyed"} if all(r[k] == v for k, v in on_day.items()) else r
        for r in read_records(records, PDT, day.replace(day=1), day)
    ]
    expected = {d: v[0] for d, v in daily_totals(current).items()}
    assert issues == expected


def test_a_rekeyed_row_through_the_api_synthetic(
    fake_api: FakeFiscalDataApi, synthetic_records: Path, tmp_path: Path
) -> None:
    match = {
        "transaction_type": "Issues",
        "security_market": "Marketable",
        "security_type": "Bills",
        "security_type_desc": "Regular Series",
    }
    _rekey_through_the_api(fake_api, synthetic_records, tmp_path, date(2022, 3, 14), match)


@pytest.mark.shared_data
def test_a_rekeyed_row_through_the_api_real_records_2024_03_27(
    real_api: FakeFiscalDataApi, shared_records: Path, tmp_path: Path
) -> None:
    match = {"transaction_type": "Issues", **SLGS}
    _rekey_through_the_api(real_api, shared_records, tmp_path, date(2024, 3, 27), match)
