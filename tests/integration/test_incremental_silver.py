"""Incremental silver equals a full rebuild, on both engines (issue 12).

A property test: random sequences of batches (restatements, deletions at the source, new days,
late batches for old years, rows with bad values or unreadable dates, windows that cover older
batches) are built one batch at a time, each build incremental on the previous version; after
every batch the silver rows, the quarantine rows with their status, and the accounting equal a
full rebuild of every batch so far. No real records are needed (hand-made bronze pages).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from bronze_pages import pdt_row, write_bronze_batch
from conftest import make_settings
from treasury_lakehouse import pipeline
from treasury_lakehouse.catalog import DATASETS, PUBLIC_DEBT_TRANSACTIONS
from treasury_lakehouse.engines.base import QUARANTINE_FILE, BronzeBatch, Engine, SilverCounts
from treasury_lakehouse.incremental import SilverPlan, build_version, plan_silver
from treasury_lakehouse.lake.commit import changes_between, read_commit
from treasury_lakehouse.lake.layout import BUILD_INFO, Lake, read_build_info
from treasury_lakehouse.testing import FakeFiscalDataApi

DATASET = PUBLIC_DEBT_TRANSACTIONS
#: record dates over three years, with year ends and a fiscal-year edge
DAYS = ["2023-12-29", "2024-01-02", "2024-09-30", "2024-10-01", "2024-12-31", "2025-01-02"]
KEYS = [("Issues", "Bills"), ("Issues", "Notes"), ("Redemptions", "Bills")]
BAD_VALUES = ["12x", " 7 ", "null", "1.5"]  # CURRENCY0: "1.5" and "12x" are quarantined
BAD_DATES = ["2024-13-45", "not a date", "0000-01-01"]


@dataclass(frozen=True)
class Built:
    silver: list[tuple[Any, ...]]
    quarantine: list[tuple[Any, ...]]
    counts: SilverCounts


def _rows(path: Path) -> list[tuple[Any, ...]]:
    """Every row of a Parquet file, or of the files under a directory, in a stable order."""
    files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
    assert files, f"no Parquet at {path}"
    rows: list[tuple[Any, ...]] = []
    for file in files:
        table = pq.read_table(file).to_pylist()
        rows += [tuple(sorted((k, str(v)) for k, v in r.items())) for r in table]
    return sorted(rows)


def _snapshot(silver: Path, quarantine: Path, counts: SilverCounts) -> Built:
    return Built(_rows(silver), _rows(quarantine / QUARANTINE_FILE), counts)


def _version(root: Path, name: str) -> tuple[Path, Path]:
    silver, quarantine = root / "silver" / name, root / "quarantine" / name
    silver.mkdir(parents=True)
    quarantine.mkdir(parents=True)
    return silver, quarantine


@st.composite
def _row(draw: st.DrawFn) -> dict[str, str]:
    day = draw(st.sampled_from(DAYS))
    kind, security = draw(st.sampled_from(KEYS))
    amount = draw(st.integers(0, 999).map(str) | st.sampled_from(BAD_VALUES))
    if draw(st.integers(0, 5)) == 0:
        day = draw(st.sampled_from(BAD_DATES))
    if draw(st.integers(0, 14)) == 0:
        day = f" {day} "  # padding silver trims (the manifest's date range would miss it)
    return pdt_row(
        day, transaction_type=kind, security_type=security, transaction_today_amt=amount
    ) | {"record_date": day}


@st.composite
def _batch(draw: st.DrawFn) -> tuple[list[dict[str, str]], tuple[date | None, date | None]]:
    rows = draw(st.lists(_row(), min_size=1, max_size=8))
    bounds = sorted(draw(st.lists(st.sampled_from(DAYS), min_size=2, max_size=2)))
    window = draw(
        st.sampled_from(
            [
                (None, None),
                (date.fromisoformat(bounds[0]), date.fromisoformat(bounds[1])),
                (date.fromisoformat(bounds[0]), None),
            ]
        )
    )
    return rows, window


def _check_sequence(engine: Engine, sequence: list[Any], root: Path) -> list[str]:
    batches: list[BronzeBatch] = []
    previous: tuple[Path, Path] | None = None
    modes = []
    for n, (rows, window) in enumerate(sequence, start=1):
        batches.append(write_bronze_batch(root, f"b{n}", n, rows, window=window))
        plan = plan_silver(
            DATASET,
            batches,
            previous[0] if previous else None,
            previous[1] / QUARANTINE_FILE if previous else None,
        )
        modes.append(plan.mode)
        if plan.mode == "unchanged":  # never: every step adds a batch
            raise AssertionError(plan)
        silver, quarantine = _version(root, f"inc{n}")
        counts = build_version(engine, DATASET, batches, plan, silver, quarantine)
        full_plan = SilverPlan("full", "the reference")
        full_silver, full_quarantine = _version(root, f"full{n}")
        full_counts = build_version(
            engine, DATASET, batches, full_plan, full_silver, full_quarantine
        )
        incremental = _snapshot(silver, quarantine, counts)
        full = _snapshot(full_silver, full_quarantine, full_counts)
        assert incremental.silver == full.silver, (n, plan.reason)
        assert incremental.quarantine == full.quarantine, (n, plan.reason)
        assert incremental.counts == full.counts, (n, plan.reason)
        assert dict(incremental.counts.by_batch_year) == dict(full.counts.by_batch_year)
        assert read_build_info(silver)["tallies"] == read_build_info(full_silver)["tallies"]
        previous = (silver, quarantine)
    return modes


BATCH_SEQUENCES = st.lists(_batch(), min_size=2, max_size=5)
#: an unreadable date quarantined by batch 1 is resolved by batch 2, whose window covers batch
#: 1's, although batch 2 holds no row of batch 1's years
RESOLVED_LATER = [
    ([pdt_row("2024-13-45"), pdt_row("2023-12-29")], (date(2023, 12, 1), date(2023, 12, 31))),
    ([pdt_row("2025-01-02")], (None, None)),
]


@given(sequence=BATCH_SEQUENCES)
@example(sequence=RESOLVED_LATER)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_incremental_silver_equals_a_full_rebuild_duckdb(sequence: list[Any]) -> None:
    from treasury_lakehouse.engines.duckdb import DuckDBEngine

    engine = DuckDBEngine()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            _check_sequence(engine, sequence, Path(tmp))
    finally:
        engine.close()


@pytest.mark.spark
@pytest.mark.slow
@given(sequence=st.lists(_batch(), min_size=2, max_size=3))  # a Spark build takes seconds
@example(sequence=RESOLVED_LATER)
@settings(
    max_examples=2,
    derandomize=True,  # the same sequences every run; a failure is reported as found (no shrinking)
    phases=[Phase.explicit, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_incremental_silver_equals_a_full_rebuild_spark(
    spark_engine: Engine, sequence: list[Any]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _check_sequence(spark_engine, sequence, Path(tmp))


@pytest.fixture(scope="module")
def spark_engine() -> Any:
    from treasury_lakehouse.config import Settings
    from treasury_lakehouse.engines import open_engine

    engine = open_engine(Settings(engine="spark"))
    yield engine
    engine.close()


def test_a_late_batch_rebuilds_only_its_year_and_carries_the_rest_by_link(tmp_path: Path) -> None:
    from treasury_lakehouse.engines.duckdb import DuckDBEngine

    engine = DuckDBEngine()
    try:
        first = write_bronze_batch(
            tmp_path, "b1", 1, [pdt_row("2022-03-01"), pdt_row("2023-03-01")]
        )
        silver1, quarantine1 = _version(tmp_path, "v1")
        build_version(engine, DATASET, [first], SilverPlan("full", "first"), silver1, quarantine1)
        new_year = write_bronze_batch(tmp_path, "b2", 2, [pdt_row("2024-03-01")])
        silver2, quarantine2 = _version(tmp_path, "v2")
        plan2 = plan_silver(DATASET, [first, new_year], silver1, quarantine1 / QUARANTINE_FILE)
        assert plan2.mode == "incremental" and plan2.changes == {2024}
        assert plan2.scope is not None and plan2.scope.read == {"b2"}  # b1 holds no 2024 row
        build_version(engine, DATASET, [first, new_year], plan2, silver2, quarantine2)

        late = write_bronze_batch(
            tmp_path, "b3", 3, [pdt_row("2023-03-01", transaction_today_amt="5")]
        )
        batches = [first, new_year, late]
        plan3 = plan_silver(DATASET, batches, silver2, quarantine2 / QUARANTINE_FILE)
        assert plan3.mode == "incremental" and plan3.changes == {2023}
        assert plan3.scope is not None and plan3.scope.read == {"b1", "b3"}
        silver3, quarantine3 = _version(tmp_path, "v3")
        build_version(engine, DATASET, batches, plan3, silver3, quarantine3)
        info = read_build_info(silver3)
        assert info["carried_years"] == [2022, 2024] and info["rebuilt_years"] == [2023]
        for year in (2022, 2024):  # carried: the same inode, never a copy
            old = next((silver2 / f"record_year={year}").iterdir())
            new = silver3 / f"record_year={year}" / old.name
            assert new.stat().st_ino == old.stat().st_ino
        rebuilt = next((silver3 / "record_year=2023").iterdir())
        assert pq.read_table(rebuilt).column("transaction_today_amt").to_pylist() == [5]
    finally:
        engine.close()


def test_the_plan_falls_back_to_a_full_build_when_it_cannot_trust_the_base(
    tmp_path: Path,
) -> None:
    from treasury_lakehouse.engines.duckdb import DuckDBEngine

    engine = DuckDBEngine()
    try:
        b1 = write_bronze_batch(tmp_path, "b1", 1, [pdt_row("2022-03-01")])
        b2 = write_bronze_batch(tmp_path, "b2", 2, [pdt_row("2024-03-01")])
        silver, quarantine = _version(tmp_path, "v1")
        build_version(engine, DATASET, [b1], SilverPlan("full", "first"), silver, quarantine)
        q = quarantine / QUARANTINE_FILE
        assert plan_silver(DATASET, [b1], silver, q).mode == "unchanged"
        assert plan_silver(DATASET, [b1, b2], silver, q, full=True).reason.endswith("(--full)")
        assert "no previous" in plan_silver(DATASET, [b1, b2], None, None).reason
        assert "no longer committed" in plan_silver(DATASET, [b2], silver, q).reason
        assert plan_silver(DATASET, [b1, b2], silver, q).mode == "incremental"
        info = read_build_info(silver)
        (silver / BUILD_INFO).write_text(
            __import__("json").dumps({**info, "definition": "another"})
        )
        assert "another silver definition" in plan_silver(DATASET, [b1, b2], silver, q).reason
        (silver / BUILD_INFO).write_text(__import__("json").dumps({"rows_in": 1}))
        assert "without incremental bookkeeping" in plan_silver(DATASET, [b1, b2], silver, q).reason
    finally:
        engine.close()


def test_the_pipeline_records_what_each_transform_changed(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    """Through the facade: the first transform is full, one without new batches changes nothing,
    a daily one rebuilds its record year; `--full` rebuilds all and gold is the same."""
    settings = make_settings(tmp_path, fake_api, start=date(2022, 1, 3), end=date(2022, 2, 15))
    pipeline.ingest(settings)
    first = pipeline.transform(settings)
    lake = Lake(settings.lake)
    assert read_commit(lake.root, first.commit).changes == dict.fromkeys(DATASETS)
    again = pipeline.transform(settings)
    second = read_commit(lake.root, again.commit)
    assert second.changes == {}
    assert second.silver == read_commit(lake.root, first.commit).silver  # carried, not rebuilt
    assert again.silver == first.silver  # the same accounting

    pipeline.ingest(settings.with_overrides(end=date(2022, 3, 1)))
    daily = pipeline.transform(settings.with_overrides(end=date(2022, 3, 1)))
    third = read_commit(lake.root, daily.commit)
    # no new batch of inter-agency transfers (the window is before its span): silver unchanged
    in_span = [d for d in settings.datasets if d != "inter_agency_tax_transfers"]
    assert third.changes == {d: frozenset({2022}) for d in in_span}
    assert changes_between(lake.root, first.commit, third) == third.changes
    full = pipeline.transform(settings.with_overrides(full_rebuild=True))
    fourth = read_commit(lake.root, full.commit)
    assert fourth.changes == {d: None for d in settings.datasets}
    assert full.silver == daily.silver and full.gold == daily.gold
    for name in settings.datasets:
        assert _rows(fourth.versions("silver")[name]) == _rows(third.versions("silver")[name])
