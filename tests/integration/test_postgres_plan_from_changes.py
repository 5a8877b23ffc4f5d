"""A PostgreSQL load planned from the lake commit's changes publishes what a plan from every row
of the lake does: the same rows, slices, checksums and manifest, over random histories of new
days, restatements, re-keyed rows and backfills (real PostgreSQL, real HTTP to the fake API)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_postgres_warehouse import fresh_database, query
from test_warehouse_incremental import FIRST, PDT, History

from treasury_lakehouse import pipeline
from treasury_lakehouse.catalog import get_dataset
from treasury_lakehouse.lake.commit import LakeCommit
from treasury_lakehouse.testing import FakeFiscalDataApi
from treasury_lakehouse.warehouse.base import lake_tables
from treasury_lakehouse.warehouse.pg_incremental import changed_months
from treasury_lakehouse.warehouse.postgres import PostgresWarehouse

pytestmark = pytest.mark.postgres

_RUN_RECORDS = ("load_manifest", "quality_results")


def published(dsn: str) -> dict[str, Any]:
    """Every published table's rows, the load bookkeeping, and the latest load's manifest."""
    names = [
        r[0]
        for r in query(
            dsn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        )
        if r[0] not in _RUN_RECORDS
    ]
    return {
        "rows": {n: query(dsn, f'SELECT * FROM public."{n}" ORDER BY 1, 2, 3') for n in names},
        "tables": query(dsn, "SELECT * FROM treasury_load.published_tables ORDER BY 1"),
        "slices": query(dsn, "SELECT * FROM treasury_load.published_slices ORDER BY 1, 2"),
        "manifest": query(
            dsn,
            "SELECT table_name, mode, row_count, rows_written, checksum, lake_version, "
            "bronze_batches, lake_commit FROM public.load_manifest "
            "WHERE loaded_at = (SELECT MAX(loaded_at) FROM public.load_manifest) ORDER BY 1",
        ),
    }


def assert_same(changes_dsn: str, every_row_dsn: str, context: str) -> None:
    got, want = published(changes_dsn), published(every_row_dsn)
    assert got["rows"].keys() == want["rows"].keys(), context
    for name, rows in want["rows"].items():
        assert got["rows"][name] == rows, f"{context}: {name} differs"
    for part in ("tables", "slices", "manifest"):
        assert got[part] == want[part], f"{context}: {part} differ"


class TwoDatabases:
    """One database planned from the lake's changes, one from every row, loaded alike."""

    def __init__(self, changes_dsn: str, every_row_dsn: str) -> None:
        self.changes = PostgresWarehouse(changes_dsn)
        self.every_row = PostgresWarehouse(every_row_dsn, plan_from_changes=False)

    def load(self, commit: LakeCommit, run_id: str, context: str) -> bool:
        """Load both; True if the first was planned from the changes."""
        tables = lake_tables(commit)
        result = self.changes.publish(tables, run_id, commit)
        reference = self.every_row.publish(tables, run_id, commit)
        assert not reference.incremental
        assert result.tables == reference.tables, context
        assert result.skipped == reference.skipped, context
        assert_same(self.changes.dsn, self.every_row.dsn, context)
        return result.incremental


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_loads_planned_from_changes_equal_loads_planned_from_every_row(
    fake_api: FakeFiscalDataApi, synthetic_records: Path, tmp_path: Path, seed: int
) -> None:
    history = History(tmp_path / "home", fake_api, synthetic_records, seed)
    with fresh_database() as a, fresh_database() as b:
        databases = TwoDatabases(a, b)
        commit = history.first()
        assert not databases.load(commit, "load-0", "first load")  # nothing published yet
        steps, from_changes = [], 0
        for index in range(1, 8):
            steps.append(history.step())
            commit = history.transform()
            if history.rng.random() < 0.4 and index < 7:
                continue  # the next load spans this transform too
            context = f"seed {seed} after {steps} (commit {commit.seq})"
            from_changes += databases.load(commit, f"load-{index}", context)
        assert from_changes >= 1, steps


@pytest.mark.slow
def test_a_dimension_row_no_fact_uses_any_more_makes_the_plan_read_every_row(
    fake_api: FakeFiscalDataApi, synthetic_records: Path, tmp_path: Path
) -> None:
    """A security renamed gains a dim_security row (planned from the changes); renamed back,
    the new row would be unused: the plan is made from every row, and both stay equal."""
    history = History(tmp_path / "home", fake_api, synthetic_records, seed=11)
    row = next(r for r in history.pdt if r["record_date"] == "2021-11-15")
    keys = get_dataset(PDT).natural_key
    original, restated = row["security_type_desc"], f"{row['security_type_desc']} (restated)"
    window = {"start": date(2021, 11, 15), "end": date(2021, 11, 16)}
    with fresh_database() as a, fresh_database() as b:
        databases = TwoDatabases(a, b)
        databases.load(history.first(), "first", "first load")
        planned = []
        for old, new in ((original, restated), (restated, original)):
            match = {k: row[k] for k in keys} | {"security_type_desc": old}
            assert history.api.restate(PDT, match, {"security_type_desc": new}) == 1
            history.api.today = history.today
            pipeline.ingest(history.settings(**window))
            commit = history.transform()
            planned.append(databases.load(commit, f"to {new}", f"security renamed to {new}"))
        assert planned == [True, False]
        names = [r[0] for r in query(a, "SELECT security_type_desc FROM dim_security")]
        assert restated not in names and original in names


def test_the_calendar_months_that_change_are_exactly_those_whose_days_differ() -> None:
    rng = random.Random(5)
    base = date(2020, 1, 1)
    for _ in range(300):
        a, b, c, d = sorted(base + timedelta(days=rng.randint(0, 900)) for _ in range(4))
        old, new = rng.choice(
            [((a, d), (b, c)), ((a, c), (b, d)), ((b, c), (a, d)), ((a, b), (c, d))]
        )
        if rng.random() < 0.2:
            new = old
        days = lambda r: {r[0] + timedelta(days=i) for i in range((r[1] - r[0]).days + 1)}  # noqa: E731
        differing = days(old) ^ days(new)
        assert changed_months(old, new) == {x.year * 100 + x.month for x in differing}, (old, new)
    assert changed_months((FIRST, FIRST), (FIRST, FIRST)) == frozenset()
