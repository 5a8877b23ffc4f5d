"""Incremental loads of the embedded DuckDB warehouse equal full rebuilds, row for row.

The lake is built through the real pipeline against the fake API (ingest, backfills, restatements,
re-keyed rows, transforms). A transform that does not yet record what it changed gets hand-made
``changes``: the record years whose silver rows differ from the previous commit's (computed here
with DuckDB), sometimes over-reported (an extra year, a whole dataset) as a transform may. After
random steps, the warehouse loaded incrementally is compared, table by table and row by row, with
a warehouse built from scratch from the same lake commit; loads are skipped at random, so one load
often spans several transforms (their changes are unioned).
"""

from __future__ import annotations

import json
import os
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from conftest import make_settings
from independent_gold import read_records
from treasury_lakehouse import pipeline
from treasury_lakehouse.catalog import get_dataset
from treasury_lakehouse.config import Settings
from treasury_lakehouse.lake.commit import Changes, LakeCommit, commit_path, read_commit
from treasury_lakehouse.testing import FakeFiscalDataApi
from treasury_lakehouse.warehouse.base import lake_tables
from treasury_lakehouse.warehouse.duckdb import DuckDBWarehouse, remove_leftovers
from treasury_lakehouse.warehouse.duckdb_ddl import definitions
from treasury_lakehouse.warehouse.duckdb_incremental import (
    NotIncremental,
    copy_file,
    plan_incremental,
)

PDT, OCB = "public_debt_transactions", "operating_cash_balance"
FIRST, LAST = date(2021, 9, 1), date(2022, 5, 31)
HISTORY = ("load_manifest", "quality_results")


def _business_day_after(day: date, days: int) -> date:
    for _ in range(days):
        day += timedelta(days=1)
        while day.weekday() >= 5:
            day += timedelta(days=1)
    return day


# ---------------------------------------------------------------- hand-made changes


def _silver_sql(version: Path) -> str:
    glob = str(version / "**" / "*.parquet").replace("'", "''")
    return f"SELECT * EXCLUDE (record_year) FROM read_parquet('{glob}', hive_partitioning = true)"


def true_changes(before: LakeCommit | None, after: LakeCommit) -> Changes:
    """Per dataset whose silver version changed, the record years whose rows differ."""
    changes: Changes = {}
    previous = before.versions("silver") if before else {}
    for dataset, version in after.versions("silver").items():
        old = previous.get(dataset)
        if old == version:
            continue
        if old is None:
            changes[dataset] = None
            continue
        year = f"CAST(EXTRACT(YEAR FROM {get_dataset(dataset).date_column}) AS INTEGER)"
        a, b = _silver_sql(old), _silver_sql(version)
        rows = duckdb.sql(
            f"SELECT DISTINCT {year} FROM (({a} EXCEPT ALL {b}) UNION ALL ({b} EXCEPT ALL {a}))"
        ).fetchall()
        changes[dataset] = frozenset(int(r[0]) for r in rows)
    return changes


def with_changes(commit: LakeCommit, rng: random.Random) -> LakeCommit:
    """``commit`` itself if its transform recorded changes; otherwise the same commit rewritten
    with hand-made ones (its true changes, now and then over-reported)."""
    if commit.changes is not None:
        return commit
    before = read_commit(commit.root, commit.seq - 1) if commit.seq > 1 else None
    changes = true_changes(before, commit)
    for dataset in list(changes):
        roll = rng.random()
        if roll < 0.15:
            changes[dataset] = None
        elif roll < 0.4 and changes[dataset] is not None:
            changes[dataset] = (changes[dataset] or frozenset()) | {rng.choice([2019, 2021])}
    data = json.loads(commit.path.read_text())
    data["changes"] = {d: None if y is None else sorted(y) for d, y in changes.items()}
    tmp = commit.path.with_name(commit.path.name + ".handmade")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, commit_path(commit.root, commit.seq))
    return read_commit(commit.root, commit.seq)


# ---------------------------------------------------------------- comparing warehouses


def snapshot(path: Path) -> dict[str, Any]:
    """Every published table's rows (sorted), the definitions, and the latest load's manifest."""
    with duckdb.connect(str(path), read_only=True) as con:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() ORDER BY table_name"
            ).fetchall()
        ]
        rows = {
            name: con.execute(f'SELECT * FROM "{name}" ORDER BY ALL').fetchall()
            for name in names
            if name not in HISTORY
        }
        manifest = con.execute(
            "SELECT table_name, row_count, lake_version, bronze_batches, lake_commit "
            "FROM load_manifest WHERE loaded_at = (SELECT MAX(loaded_at) FROM load_manifest) "
            "ORDER BY ALL"
        ).fetchall()
        return {"tables": names, "rows": rows, "definitions": definitions(con), "load": manifest}


def assert_same(incremental: Path, full: Path, context: str) -> None:
    got, want = snapshot(incremental), snapshot(full)
    assert got["tables"] == want["tables"], context
    assert got["definitions"] == want["definitions"], context
    assert got["load"] == want["load"], context
    for name, rows in want["rows"].items():
        assert got["rows"][name] == rows, f"{context}: {name} differs"


# ---------------------------------------------------------------- the lake's history


class History:
    """Random steps on one home: new days, restatements, re-keyed rows, backfills, transforms."""

    def __init__(self, home: Path, api: FakeFiscalDataApi, records: Path, seed: int) -> None:
        self.home, self.api, self.rng = home, api, random.Random(seed)
        self.today = api.today = date(2022, 3, 1)
        self.pdt = read_records(records, PDT, FIRST, LAST)

    def settings(self, **overrides: Any) -> Settings:
        return make_settings(self.home, self.api, initial_start=FIRST, **overrides)

    def first(self) -> LakeCommit:
        pipeline.ingest(self.settings())
        return self.transform()

    def step(self) -> str:
        """One random change of the source, ingested; returns what it was."""
        roll = self.rng.random()
        if roll < 0.35:
            self.today = self.api.today = _business_day_after(self.today, self.rng.randint(1, 8))
            pipeline.ingest(self.settings())
            return f"new days to {self.today}"
        if roll < 0.6:
            day = self._restate(self.today - timedelta(days=6), self.today, "value")
            pipeline.ingest(self.settings())
            return f"restated {day} (lookback)"
        if roll < 0.8:
            day = self._restate(FIRST, date(2021, 12, 31), self.rng.choice(["value", "key"]))
            end = date.fromisoformat(day) + timedelta(days=3)
            pipeline.ingest(self.settings(start=date.fromisoformat(day), end=end))
            return f"backfilled {day} (2021)"
        return "nothing new"

    def _restate(self, low: date, high: date, what: str) -> str:
        rows = [r for r in self.pdt if low.isoformat() <= r["record_date"] <= high.isoformat()]
        row = self.rng.choice(rows)
        keys = get_dataset(PDT).natural_key
        match = {k: row[k] for k in keys}
        if what == "key":  # re-keyed: the old key is deleted, a new security appears
            change = {"security_type_desc": f"{row['security_type_desc']} (restated)"}
        else:
            change = {"transaction_today_amt": str(self.rng.randint(0, 99_999))}
        if self.api.restate(PDT, match, change) == 1:
            row.update(change)
        return str(row["record_date"])

    def transform(self) -> LakeCommit:
        result = pipeline.transform(self.settings())
        return with_changes(read_commit(self.home / "lake", result.commit), self.rng)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_loads_equal_full_rebuilds_over_random_histories(
    fake_api: FakeFiscalDataApi, synthetic_records: Path, tmp_path: Path, seed: int
) -> None:
    history = History(tmp_path / "home", fake_api, synthetic_records, seed)
    path = tmp_path / "incremental.duckdb"
    warehouse = DuckDBWarehouse(path, quality_lake=history.home / "lake", full_rebuild_share=1.0)
    commit = history.first()
    first = warehouse.publish(lake_tables(commit), "load-0", commit)
    assert not first.incremental  # no file yet
    steps, incremental_loads = [], 0
    for index in range(1, 9):
        steps.append(history.step())
        commit = history.transform()
        if history.rng.random() < 0.4 and index < 8:
            continue  # the next load spans this transform too
        result = warehouse.publish(lake_tables(commit), f"load-{index}", commit)
        incremental_loads += result.incremental
        full = tmp_path / f"full-{index}.duckdb"
        DuckDBWarehouse(full, quality_lake=history.home / "lake").publish(
            lake_tables(commit), f"load-{index}", commit
        )
        assert_same(path, full, f"seed {seed} after {steps} (commit {commit.seq})")
        assert result.tables == {name: len(rows) for name, rows in snapshot(full)["rows"].items()}
        full.unlink()
    assert incremental_loads >= 1, steps
    assert list(tmp_path.glob("*.tmp-*")) == []


@pytest.fixture
def loaded(
    fake_api: FakeFiscalDataApi, synthetic_records: Path, tmp_path: Path
) -> tuple[History, DuckDBWarehouse, LakeCommit]:
    """A home with a first transform, loaded into an (empty before) warehouse."""
    history = History(tmp_path / "home", fake_api, synthetic_records, seed=11)
    commit = history.first()
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb", full_rebuild_share=1.0)
    warehouse.publish(lake_tables(commit), "first", commit)
    return history, warehouse, commit


def _plan_reason(warehouse: DuckDBWarehouse, commit: LakeCommit) -> str:
    try:
        return plan_incremental(warehouse.path, lake_tables(commit), commit, 1.0).describe()
    except NotIncremental as why:
        return f"full: {why.reason}"


def test_changes_of_several_transforms_between_loads_are_unioned(
    loaded: tuple[History, DuckDBWarehouse, LakeCommit],
) -> None:
    history, warehouse, first = loaded
    history._restate(FIRST, date(2021, 12, 31), "value")
    pipeline.ingest(history.settings(start=date(2021, 10, 1), end=date(2021, 12, 31)))
    middle = history.transform()
    history.today = history.api.today = _business_day_after(history.today, 5)
    pipeline.ingest(history.settings())
    last = history.transform()
    assert middle.changes is not None and last.changes is not None
    plan = plan_incremental(warehouse.path, lake_tables(last), last, 1.0)
    assert plan.since == first.seq
    for dataset in middle.changes.keys() | last.changes.keys():
        expected = [c.get(dataset, frozenset()) for c in (middle.changes, last.changes)]
        union = None if None in expected else frozenset().union(*expected)  # type: ignore[arg-type]
        if union != frozenset():
            assert plan.years[f"silver_{dataset}"] == union, dataset
    assert warehouse.publish(lake_tables(last), "second", last).incremental


def test_a_cash_balance_restatement_alone_rewrites_fact_debt_limit_in_place(
    loaded: tuple[History, DuckDBWarehouse, LakeCommit], tmp_path: Path
) -> None:
    """fact_debt_limit joins two silver tables: when only the cash balance changed (2021), its
    rows of 2021 are rewritten from both tables' 2021 rows, and no other year is touched."""
    history, warehouse, _ = loaded
    day = "2021-10-05"
    tga = {"record_date": day, "account_type": "Treasury General Account (TGA)"}
    assert history.api.restate(OCB, tga, {"close_today_bal": "123456"}) == 1
    window = {"start": date(2021, 10, 4), "end": date(2021, 10, 8), "datasets": (OCB,)}
    pipeline.ingest(history.settings(**window))
    commit = history.transform()
    assert commit.changes == {OCB: frozenset({2021})}
    result = warehouse.publish(lake_tables(commit), "cash restated", commit)
    assert result.incremental
    full = tmp_path / "full.duckdb"
    DuckDBWarehouse(full).publish(lake_tables(commit), "cash restated", commit)
    assert_same(warehouse.path, full, "cash balance restated on 2021-10-05")
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        tga_closing = con.execute(
            "SELECT tga_closing_balance_usd_mil FROM fact_debt_limit WHERE date_key = 20211005"
        ).fetchall()
    assert tga_closing == [(123456,)]


def test_a_full_rebuild_when_the_changes_are_unknown_or_the_file_differs(
    loaded: tuple[History, DuckDBWarehouse, LakeCommit], tmp_path: Path
) -> None:
    history, warehouse, _ = loaded
    history.today = history.api.today = _business_day_after(history.today, 3)
    pipeline.ingest(history.settings())
    unknown = read_commit(history.home / "lake", pipeline.transform(history.settings()).commit)
    if unknown.changes is None:  # a transform that does not record its changes
        assert _plan_reason(warehouse, unknown).startswith("full: what changed since lake commit")
        assert not warehouse.publish(lake_tables(unknown), "unknown", unknown).incremental
    history.today = history.api.today = _business_day_after(history.today, 3)
    pipeline.ingest(history.settings())
    known = history.transform()
    assert _plan_reason(warehouse, known).startswith("since lake commit")
    # most of the data changed: cheaper to rebuild
    assert plan_incremental(warehouse.path, lake_tables(known), known, 1.0).share > 0.0
    with pytest.raises(NotIncremental, match="of the silver data changed"):
        plan_incremental(warehouse.path, lake_tables(known), known, 0.0)
    # a file whose definitions differ (here a comment) is rebuilt, never patched
    with duckdb.connect(str(warehouse.path)) as con:
        con.execute("COMMENT ON TABLE gold_daily_totals IS 'edited by hand'")
    assert _plan_reason(warehouse, known) == "full: the table definitions (or comments) changed"
    assert not warehouse.publish(lake_tables(known), "redefined", known).incremental
    # a file loaded from another lake (versions the commit does not name) is rebuilt
    other = DuckDBWarehouse(tmp_path / "other.duckdb")
    other.publish(lake_tables(known), "other", known)
    with duckdb.connect(str(other.path)) as con:
        con.execute("UPDATE load_manifest SET lake_version = 'elsewhere'")
    assert "is not the version lake commit" in _plan_reason(other, known)
    # no warehouse yet, and a load without a lake commit
    assert _plan_reason(DuckDBWarehouse(tmp_path / "none.duckdb"), known) == (
        "full: no warehouse file yet"
    )
    assert not warehouse.publish(lake_tables(known), "no commit").incremental


def _load_in_child(path: str, lake: str, seq: int, marker: str) -> None:
    """What a killed process runs: an incremental load, reporting its ``stage`` lines."""
    import logging

    from crash_harness import MarkerHandler

    logger = logging.getLogger("treasury_lakehouse")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(MarkerHandler(marker))
    commit = read_commit(Path(lake), seq)
    DuckDBWarehouse(Path(path), full_rebuild_share=1.0).publish(
        lake_tables(commit), "killed", commit
    )


def _kill_in_stage(path: Path, commit: LakeCommit, stage: str, delay: float, marker: Path) -> None:
    """Start an incremental load in a child; SIGKILL it ``delay`` seconds after ``stage``."""
    import multiprocessing
    import signal
    import time

    marker.write_text("")
    child = multiprocessing.get_context("spawn").Process(
        target=_load_in_child, args=(str(path), str(commit.root), commit.seq, str(marker))
    )
    child.start()
    deadline = time.monotonic() + 60
    while child.is_alive() and f"load {stage}" not in marker.read_text():
        assert time.monotonic() < deadline, marker.read_text()
        time.sleep(0.001)
    child.join(delay)
    if child.is_alive():
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
    child.join()


@pytest.mark.slow
def test_a_load_killed_at_any_stage_leaves_the_old_or_the_new_file(
    loaded: tuple[History, DuckDBWarehouse, LakeCommit], tmp_path: Path
) -> None:
    history, warehouse, _ = loaded
    history.today = history.api.today = _business_day_after(history.today, 4)
    pipeline.ingest(history.settings())
    commit = history.transform()
    old_copy = tmp_path / "old.duckdb"
    old_copy.write_bytes(warehouse.path.read_bytes())
    new_path = tmp_path / "new.duckdb"
    DuckDBWarehouse(new_path).publish(lake_tables(commit), "new", commit)
    old, new = snapshot(warehouse.path)["rows"], snapshot(new_path)["rows"]
    assert old != new
    rng, states = random.Random(5), []
    for stage in ("plan", "copy", "apply", "apply", "apply", "swap"):
        warehouse.path.write_bytes(old_copy.read_bytes())
        # killed at once when the copy starts (a quiet machine finishes copy, apply and swap
        # within a few tenths of a second); in the other stages after a random delay
        delay = 0.0 if stage == "copy" else rng.uniform(0, 0.3)
        _kill_in_stage(warehouse.path, commit, stage, delay, tmp_path / "marker")
        remove_leftovers(warehouse.path)  # what the next load does under the warehouse lock
        rows = snapshot(warehouse.path)["rows"]
        assert rows in (old, new), f"killed in {stage}: a mix of old and new"
        states.append((stage, "new" if rows == new else "old"))
        assert [p.name for p in tmp_path.glob("w.duckdb*")] == ["w.duckdb"], states
    assert ("copy", "old") in states, states  # killed before the swap: the old file


def test_a_dimension_that_loses_a_row_makes_the_load_a_full_rebuild(
    loaded: tuple[History, DuckDBWarehouse, LakeCommit], tmp_path: Path
) -> None:
    history, warehouse, _ = loaded
    row = next(r for r in history.pdt if r["record_date"] == "2021-11-15")
    keys = get_dataset(PDT).natural_key
    original, restated = row["security_type_desc"], f"{row['security_type_desc']} (restated)"
    window = {"start": date(2021, 11, 15), "end": date(2021, 11, 16)}
    loads = []
    for old, new in ((original, restated), (restated, original)):
        match = {k: row[k] for k in keys} | {"security_type_desc": old}
        assert history.api.restate(PDT, match, {"security_type_desc": new}) == 1
        pipeline.ingest(history.settings(**window))
        commit = history.transform()
        loads.append(warehouse.publish(lake_tables(commit), f"to {new}", commit))
        full = tmp_path / f"full-{len(loads)}.duckdb"
        DuckDBWarehouse(full).publish(lake_tables(commit), f"to {new}", commit)
        assert_same(warehouse.path, full, f"security renamed to {new}")
    # the new security is added in place; its disappearance cannot be applied in place
    assert [load.incremental for load in loads] == [True, False]


def test_copy_file_copies_every_byte_and_says_how(tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(3 * 2**20 + 17))
    how = copy_file(source, tmp_path / "copy.bin")
    assert how in ("reflink", "copy_file_range", "copy")
    assert (tmp_path / "copy.bin").read_bytes() == source.read_bytes()
    with pytest.raises(FileExistsError):  # never over an existing file
        copy_file(source, tmp_path / "copy.bin")


def test_every_star_table_built_from_silver_can_be_restricted_to_changed_rows() -> None:
    from treasury_lakehouse.warehouse.star import STAR_TABLES, sql_over_rows

    for star in STAR_TABLES:
        where = {source: "record_date > DATE '2024-01-01'" for source in star.sources}
        restricted = sql_over_rows(star, where)
        for source in star.sources:
            if f"FROM {source}" in star.sql:  # dim_date reads the calendar, not silver
                assert f"FROM {source}" not in restricted.replace(f"FROM {source} WHERE", "")
                assert f"(SELECT * FROM {source} WHERE record_date > DATE" in restricted
