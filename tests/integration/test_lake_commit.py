"""One consistent lake commit (issue #9, part 4): transform publishes every version at once,
check and load read exactly one commit, pruning spares what recent commits reference, version
files are on disk before the commit, a damaged reference stops ``load`` in one line, and the
embedded warehouse cleans a crashed load's files and records quality results before its swap."""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from conftest import make_settings
from treasury_lakehouse import pipeline
from treasury_lakehouse.catalog import DATASETS
from treasury_lakehouse.cli import main
from treasury_lakehouse.config import Settings
from treasury_lakehouse.errors import ConfigError, LakeError
from treasury_lakehouse.lake import commit as lake_commit
from treasury_lakehouse.lake.commit import (
    LakeCommit,
    commit_seqs,
    current_commit,
    read_commit,
    unreferenced_versions,
)
from treasury_lakehouse.lake.files import LEGACY_POINTER
from treasury_lakehouse.lake.layout import Lake
from treasury_lakehouse.models.registry import GOLD_MODELS
from treasury_lakehouse.testing import FakeFiscalDataApi

PDT, OCB = "public_debt_transactions", "operating_cash_balance"
GOLD_TABLES = {m.name for m in GOLD_MODELS}
APRIL = {"start": date(2022, 4, 1), "end": date(2022, 4, 29)}


def _settings(home: Path, api: FakeFiscalDataApi, **overrides: Any) -> Settings:
    return make_settings(home, api, **{**APRIL, **overrides})


def _warehouse(settings: Settings) -> dict[str, Any]:
    """What a reader of the embedded warehouse sees: every table's rows, and the loads."""
    with duckdb.connect(str(settings.duckdb_warehouse_path), read_only=True) as con:
        tables = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
        return {t: sorted(map(str, con.execute(f"SELECT * FROM {t}").fetchall())) for t in tables}


def _loaded_commits(settings: Settings) -> list[tuple[str, int]]:
    with duckdb.connect(str(settings.duckdb_warehouse_path), read_only=True) as con:
        return con.execute(
            "SELECT DISTINCT run_id, lake_commit FROM load_manifest ORDER BY lake_commit"
        ).fetchall()


def _version_dirs(lake_root: Path) -> set[Path]:
    return set(unreferenced_versions(lake_root))


# ---------------------------------------------------------------- one commit per transform


@pytest.mark.folder_lake
def test_transform_publishes_every_version_as_one_commit_and_load_records_it(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, fake_api)
    result = pipeline.run(settings)

    assert result.transform.commit == 1 and commit_seqs(settings.lake) == [1]
    record = json.loads((settings.lake / "_commits" / "0000000001.json").read_text())
    assert record["seq"] == 1 and record["run_id"] == result.run_id
    assert record["purpose"] == "transform" and record["engine"] == "duckdb"
    assert record["created_at"].endswith("+00:00")
    assert set(record["silver"]) == set(record["quarantine"]) == set(DATASETS)
    assert set(record["gold"]) == GOLD_TABLES
    for counts in result.transform.silver:
        accounting = record["counts"]["silver"][counts.dataset]
        assert (accounting["rows_in"], accounting["silver"]) == (counts.rows_in, counts.silver)
    assert record["counts"]["gold"] == result.transform.gold
    commit = read_commit(settings.lake, 1)
    assert set(commit.references()) == _version_dirs(settings.lake)  # nothing else on disk
    assert not list(settings.lake.rglob(LEGACY_POINTER))  # one source of truth
    assert _loaded_commits(settings) == [(result.run_id, 1)]
    assert pipeline.status(settings)["lake_commit"] == 1


def test_a_transform_of_one_dataset_carries_the_other_forward(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, fake_api)
    pipeline.ingest(settings)
    pipeline.transform(settings)
    first = read_commit(settings.lake, 1)

    second_result = pipeline.transform(settings.with_overrides(datasets=(OCB,), full_rebuild=True))
    second = read_commit(settings.lake, second_result.commit)
    assert second.seq == 2
    assert second.silver[PDT] == first.silver[PDT]
    assert second.quarantine[PDT] == first.quarantine[PDT]
    assert second.silver[OCB] != first.silver[OCB]
    assert set(second.gold) == GOLD_TABLES
    # gold of the rebuilt dataset is rebuilt on the commit; gold of the others is carried
    ocb_gold = {"gold_daily_cash_balance", "gold_daily_debt_limit"}
    assert ocb_gold == {m.name for m in GOLD_MODELS if f"silver_{OCB}" in m.sources}
    for table in ocb_gold:
        assert second.gold[table] != first.gold[table], table
    others = GOLD_TABLES - ocb_gold
    assert {t: second.gold[t] for t in others} == {t: first.gold[t] for t in others}
    pipeline.load(settings)
    assert _loaded_commits(settings)[-1][1] == 2


# ---------------------------------------------------------------- lakes written before commits


def _make_legacy(lake_root: Path) -> LakeCommit:
    """Turn a committed lake into what the code before lake commits wrote: `_current` pointers."""
    commit = read_commit(lake_root, commit_seqs(lake_root)[-1])
    for version in commit.references():
        (version.parent / LEGACY_POINTER).write_text(version.name)
    shutil.rmtree(lake_root / "_commits")
    return commit


@pytest.mark.folder_lake
def test_a_lake_of_current_pointers_is_adopted_once_into_commit_1(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, fake_api)
    pipeline.ingest(settings)
    pipeline.transform(settings)
    legacy = _make_legacy(settings.lake)

    with ThreadPoolExecutor(8) as pool:  # concurrent readers adopt it once, under the lock
        adopted = list(pool.map(lambda _: current_commit(settings.lake), range(8)))
    assert commit_seqs(settings.lake) == [1]
    assert {c.seq for c in adopted if c} == {1} and all(adopted)
    first = adopted[0]
    assert first is not None and first.purpose.startswith("adopted")
    assert (first.silver, first.quarantine, first.gold) == (
        legacy.silver,
        legacy.quarantine,
        legacy.gold,
    )
    assert not list(settings.lake.rglob(LEGACY_POINTER))

    loaded = pipeline.load(settings)
    assert set(loaded.tables) >= GOLD_TABLES
    assert _loaded_commits(settings)[-1][1] == 1
    assert pipeline.transform(settings).commit == 2


@pytest.mark.folder_lake
def test_the_issues_reproduction_a_removed_pointer_no_longer_publishes_fewer_tables(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    """Before lake commits, `load` exited 0 without silver_operating_cash_balance (and without
    the star tables built from it) once that table's `_current` pointer was gone."""
    settings = _settings(tmp_path, fake_api)
    pipeline.run(settings)
    before = _warehouse(settings)
    _make_legacy(settings.lake)
    (Lake(settings.lake).silver_dir(OCB) / LEGACY_POINTER).unlink()
    (Lake(settings.lake).gold_dir("gold_daily_cash_balance") / LEGACY_POINTER).unlink()

    lines = _cli_load(settings)
    assert (
        len(lines) == 1
        and "lacks silver_operating_cash_balance, gold_daily_cash_balance" in (lines[0])
    )
    assert _warehouse(settings) == before


# ---------------------------------------------------------------- damaged or incomplete commits


def _cli_load(settings: Settings) -> list[str]:
    result = CliRunner().invoke(main, ["load", "--home", str(settings.home)])
    assert result.exit_code == 1, result.output
    return result.output.strip().splitlines()


@pytest.mark.folder_lake
@pytest.mark.parametrize("damage", ["version directory", "commit record", "garbage commit"])
def test_a_dangling_reference_stops_load_in_one_line_and_keeps_the_warehouse(
    fake_api: FakeFiscalDataApi, tmp_path: Path, damage: str
) -> None:
    settings = _settings(tmp_path, fake_api)
    pipeline.run(settings)
    before = _warehouse(settings)
    commit = read_commit(settings.lake, 1)
    if damage == "version directory":
        shutil.rmtree(commit.versions("silver")[OCB])
        named = f"silver/{OCB}/{commit.silver[OCB]}"
    elif damage == "commit record":
        commit.path.unlink()
        named = "no commit in"
    else:
        commit.path.write_text('{"seq": 1, "silver": ')
        named = f"{commit.path} is unreadable"

    lines = _cli_load(settings)
    assert len(lines) == 1 and lines[0].startswith("Error: ") and named in lines[0], lines
    assert "treasury transform" in lines[0]
    assert _warehouse(settings) == before
    with pytest.raises(LakeError, match="treasury transform"):
        pipeline.check(settings)

    pipeline.transform(settings)  # the way out the message names
    pipeline.load(settings)
    assert _loaded_commits(settings)[-1][1] == commit_seqs(settings.lake)[-1]


def test_a_commit_lacking_a_dataset_or_gold_table_is_never_published(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, fake_api, datasets=(PDT,))
    pipeline.ingest(settings)
    pipeline.transform(settings)
    with pytest.raises(LakeError) as caught:
        pipeline.load(settings)
    message = str(caught.value)
    others = ", ".join(f"silver_{d}" for d in DATASETS if d != PDT)  # every other catalog dataset
    # the gold tables that read no public debt transactions
    histories = ", ".join(f"silver_{d}_history" for d in DATASETS if d != PDT)
    assert (
        f"lacks {others}, gold_daily_cash_balance, gold_daily_debt_limit, "
        f"gold_monthly_tax_refunds, {histories};" in message
    )
    assert "run `treasury transform`" in message and "\n" not in message
    assert not settings.duckdb_warehouse_path.exists()


# ---------------------------------------------------------------- pruning and concurrent loads


def test_pruning_keeps_every_version_the_last_n_commits_reference(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    # --full: every transform writes new versions (an incremental one carries unchanged silver)
    settings = _settings(tmp_path, fake_api, keep_commits=2, full_rebuild=True)
    pipeline.ingest(settings)
    for expected_seq in (1, 2, 3):
        assert pipeline.transform(settings).commit == expected_seq
        recent = [read_commit(settings.lake, s) for s in commit_seqs(settings.lake)[-2:]]
        assert _version_dirs(settings.lake) == {p for c in recent for p in c.references()}
    # a one-dataset transform: the other dataset's silver of commit 3 stays referenced by 4 and 3
    pipeline.transform(settings.with_overrides(datasets=(OCB,)))
    on_disk = _version_dirs(settings.lake)
    assert read_commit(settings.lake, 3).versions("silver")[PDT] in on_disk
    assert read_commit(settings.lake, 2).versions("silver")[PDT] not in on_disk
    with pytest.raises(ConfigError, match="keep_commits must be 2 or more"):
        settings.with_overrides(keep_commits=1)


def test_a_load_publishes_the_commit_it_checked_while_a_transform_writes_the_next(
    fake_api: FakeFiscalDataApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, fake_api, keep_commits=2)
    pipeline.ingest(settings)
    pipeline.transform(settings)
    later = settings.with_overrides(start=date(2022, 4, 25), end=date(2022, 5, 31))
    run_checks = pipeline.run_checks

    def checks_while_a_transform_commits(*args: Any, **kwargs: Any) -> Any:
        pipeline.ingest(later)  # another process's `treasury run` between check and publish
        pipeline.transform(later)
        return run_checks(*args, **kwargs)

    monkeypatch.setattr(pipeline, "run_checks", checks_while_a_transform_commits)
    loaded = pipeline.load(settings)
    monkeypatch.undo()

    assert commit_seqs(settings.lake) == [1, 2]
    assert [c for _, c in _loaded_commits(settings)] == [1]
    with duckdb.connect(str(settings.duckdb_warehouse_path), read_only=True) as con:
        last_days = {
            table: con.execute(f"SELECT MAX(record_date) FROM {table}").fetchone()
            for table in ("gold_daily_totals", "silver_operating_cash_balance")
        }
    # commit 1's tables, not a mix with commit 2's
    assert set(last_days.values()) == {(date(2022, 4, 29),)}
    assert loaded.tables["gold_daily_totals"] > 0
    assert all(p.is_dir() for p in read_commit(settings.lake, 1).references())

    pipeline.load(settings)
    assert [c for _, c in _loaded_commits(settings)] == [1, 2]


# ---------------------------------------------------------------- durability


@pytest.mark.folder_lake
def test_version_files_and_directories_are_flushed_before_the_commit_names_them(
    fake_api: FakeFiscalDataApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, fake_api)
    pipeline.ingest(settings)
    events: list[tuple[str, str]] = []
    real_fsync, real_link = os.fsync, os.link

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def link(src: Any, dst: Any, **kwargs: Any) -> None:
        events.append(("link", str(dst)))
        real_link(src, dst, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "link", link)
    pipeline.transform(settings)
    monkeypatch.undo()

    commit = read_commit(settings.lake, 1)
    committed_at = events.index(("link", str(commit.path)))
    # a version is flushed under its building name, then renamed and its table directory flushed
    flushed = {
        path.replace(".tmp-building", "") for kind, path in events[:committed_at] if kind == "fsync"
    }
    for version in commit.references():
        assert {str(version), str(version.parent)} <= flushed, version
        for path in version.rglob("*"):
            assert str(path) in flushed, path


# ---------------------------------------------------------------- the embedded warehouse


def test_a_crashed_loads_leftover_files_are_removed_by_the_next_load(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, fake_api)
    pipeline.ingest(settings)
    pipeline.transform(settings)
    path = settings.duckdb_warehouse_path
    leftovers = [path.with_name(f"{path.name}.tmp-dead{n}") for n in range(2)]
    for leftover in leftovers:
        leftover.write_bytes(b"half a database")
        Path(f"{leftover}.wal").write_bytes(b"half a log")

    pipeline.load(settings)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(path.name)) == [path.name]


def test_quality_results_go_into_the_new_file_before_the_swap(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, fake_api)
    pipeline.run(settings)
    reader = duckdb.connect(str(settings.duckdb_warehouse_path), read_only=True)
    old = reader.execute("SELECT COUNT(DISTINCT run_id) FROM quality_results").fetchone()

    loaded = pipeline.load(settings, run_id="second-load")  # a reader holds the live file
    assert loaded.tables
    assert reader.execute("SELECT COUNT(DISTINCT run_id) FROM quality_results").fetchone() == old
    reader.close()
    with duckdb.connect(str(settings.duckdb_warehouse_path), read_only=True) as con:
        stages = con.execute(
            "SELECT DISTINCT stage FROM quality_results WHERE run_id = 'second-load'"
        ).fetchall()
    assert stages == [("load",)]


def test_lake_commit_module_keeps_at_least_two_commits(tmp_path: Path) -> None:
    with pytest.raises(LakeError, match="at least 2"):
        lake_commit.prune_versions(tmp_path / "lake", 1)
    assert Lake(tmp_path / "lake").find_commit() is None
