"""A history version carries the record years a batch did not touch by reference (issue 14's
cost): it holds only the years it rewrote, its ``_build.json`` names the older version holding
each other year, and everything that reads a history (the warehouse load, ``treasury history``,
verify, pruning) follows those names. Through the fake API over real HTTP, over two record years.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from conftest import make_settings
from treasury_lakehouse import pipeline
from treasury_lakehouse.catalog import get_dataset
from treasury_lakehouse.engines.base import BronzeBatch, partition_dirs
from treasury_lakehouse.errors import LakeError
from treasury_lakehouse.history import (
    BatchTime,
    build_history,
    history_files,
    history_partitions,
    plan_history,
)
from treasury_lakehouse.ingest.bronze import BronzeStore
from treasury_lakehouse.lake.commit import CARRIED, carried_versions, prune_versions
from treasury_lakehouse.lake.layout import BUILD_INFO, Lake
from treasury_lakehouse.testing import FakeFiscalDataApi, generate_records

PDT = "public_debt_transactions"
#: the lookback (7 days) of each later run stays inside 2022
LATER_DAYS = (date(2022, 1, 21), date(2022, 1, 26), date(2022, 1, 31))


def _history_version(settings: object) -> Path:
    return Lake(settings.lake).require_commit().versions("history")[PDT]  # type: ignore[attr-defined]


def _rows(files: list[Path]) -> list[str]:
    return sorted(repr(r) for f in files for r in pq.read_table(f).to_pylist())


def test_untouched_years_are_carried_by_reference_and_every_reader_follows(
    tmp_path: Path,
) -> None:
    records = tmp_path / "records"
    generate_records(records, date(2021, 11, 1), date(2022, 1, 31), seed=11)
    home = tmp_path / "home"
    with FakeFiscalDataApi(records) as api:
        api.today = date(2022, 1, 18)
        pipeline.run(make_settings(home, api, start=date(2021, 11, 1), keep_commits=2))
        settings = make_settings(home, api, keep_commits=2)  # incremental from here on
        first = _history_version(settings)
        assert set(partition_dirs(first)) == {2021, 2022}
        versions = [first]
        for today in LATER_DAYS:
            api.today = today
            pipeline.run(settings)
            versions.append(_history_version(settings))

    latest = versions[-1]
    info = json.loads((latest / BUILD_INFO).read_text())
    assert (info["mode"], info["rebuilt_years"]) == ("incremental", [2022])
    # the version holds only the year it rewrote; 2021 stays where the backfill wrote it
    assert set(partition_dirs(latest)) == {2022}
    assert info[CARRIED] == {"2021": first.name}
    assert history_partitions(latest)[2021] == first / "record_year=2021"
    assert carried_versions(latest) == {first}

    # pruning (two commits kept: the last run's and the one before) removed the second run's
    # version, which no kept commit names or carries from; the backfill's is retained
    assert first.is_dir() and versions[2].is_dir()
    assert not versions[1].exists()

    # the same rows as a full rebuild of the same bronze
    bronze = BronzeStore(settings.lake)
    batches = bronze.batches(PDT)
    inputs = [BronzeBatch.from_manifest(b, bronze.dataset_dir(PDT)) for b in batches]
    times = {b.batch_id: BatchTime(b.commit_time, b.ingested_at) for b in batches}
    dataset = get_dataset(PDT)
    full_dir = tmp_path / "full"
    full_dir.mkdir()
    build_history(
        settings, dataset, inputs, times, plan_history(dataset, inputs, None), full_dir, "f"
    )
    full = _rows(history_files(full_dir))
    assert any("datetime.date(2021, 12," in r for r in full)
    assert _rows(history_files(latest)) == full

    # the warehouse holds every year; `treasury history` reads a carried year
    with duckdb.connect(str(settings.duckdb_warehouse_path), read_only=True) as con:
        [(loaded,)] = con.execute(f"SELECT COUNT(*) FROM silver_{PDT}_history").fetchall()
        [(old,)] = con.execute(
            f"SELECT COUNT(*) FROM silver_{PDT}_history WHERE record_date < DATE '2022-01-01'"
        ).fetchall()
    assert loaded == len(full) and old > 0
    assert pipeline.history(settings, PDT, date(2021, 12, 15), {})

    # verify checks the carried partition: intact, then missing
    assert pipeline.verify(settings).damaged == []
    shutil.move(first / "record_year=2021", tmp_path / "moved-away")
    damaged = pipeline.verify(settings).damaged
    assert any("carried by reference but missing" in d.summary() for d in damaged), damaged
    # the next transform (no new batch) rebuilds the history from bronze, and verify passes
    pipeline.transform(settings)
    mended = _history_version(settings)
    assert json.loads((mended / BUILD_INFO).read_text())["mode"] == "full"
    assert _rows(history_files(mended)) == full
    assert pipeline.verify(settings).damaged == []


@pytest.mark.parametrize("content", ["{not json", '{"carried": {"2021": 5}}', None])
def test_pruning_removes_nothing_when_a_history_version_cannot_be_read(
    tmp_path: Path, content: str | None
) -> None:
    """A damaged ``_build.json`` hides which versions a history carries: prune keeps them all,
    where it would otherwise remove the backfill's silver."""
    records = tmp_path / "records"
    generate_records(records, date(2021, 12, 1), date(2022, 1, 31), seed=3)
    with FakeFiscalDataApi(records) as api:
        api.today = date(2022, 1, 18)
        home = tmp_path / "home"
        pipeline.run(make_settings(home, api, start=date(2021, 12, 1), keep_commits=5))
        settings = make_settings(home, api, keep_commits=5)
        first = _history_version(settings)
        first_silver = Lake(settings.lake).require_commit().versions("silver")[PDT]
        for today in (date(2022, 1, 21), date(2022, 1, 26)):
            api.today = today
            pipeline.run(settings)
    latest = _history_version(settings)
    assert carried_versions(latest) == {first}
    assert first_silver not in Lake(settings.lake).require_commit().retained()
    if content is None:
        (latest / BUILD_INFO).unlink()
    else:
        (latest / BUILD_INFO).write_text(content)
    assert prune_versions(settings.lake, 2) == []
    assert first.is_dir() and first_silver.is_dir()
    with pytest.raises(LakeError, match=r"cannot be read|is missing"):
        Lake(settings.lake).require_commit().retained()
    assert any(BUILD_INFO in d.summary() for d in pipeline.verify(settings).damaged)
