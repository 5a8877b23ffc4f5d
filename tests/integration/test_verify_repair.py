"""Verify and repair (issue #9 part 5): damage is found, named in one line, moved aside (never
deleted) and fetched again, so that ``repair`` then ``run`` gives back the gold of before."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import date
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result

from conftest import require_or_skip
from treasury_lakehouse import pipeline
from treasury_lakehouse.cli import main
from treasury_lakehouse.config import Settings
from treasury_lakehouse.errors import CorruptLakeError
from treasury_lakehouse.ingest.bronze import BronzeStore
from treasury_lakehouse.lake import repair as repair_module
from treasury_lakehouse.lake.layout import Lake
from treasury_lakehouse.models.registry import GOLD_MODELS
from treasury_lakehouse.testing import FakeFiscalDataApi, Fault
from treasury_lakehouse.warehouse.duckdb import DuckDBWarehouse

OCB, PDT = "operating_cash_balance", "public_debt_transactions"


def treasury(home: Path, api: FakeFiscalDataApi, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--home", str(home), "--api-url", api.base_url])


def lines(result: Result) -> list[str]:
    return result.output.strip().splitlines()


def gold(home: Path) -> dict[str, list[tuple[object, ...]]]:
    warehouse = DuckDBWarehouse(home / "warehouse.duckdb")
    return {model.name: warehouse.table_rows(model.name) for model in GOLD_MODELS}


def settings(home: Path, api: FakeFiscalDataApi) -> Settings:
    return Settings(home=home, api_url=api.base_url, timeout_s=10.0, retry_budget_s=5.0)


@pytest.fixture
def home(fake_api: FakeFiscalDataApi, tmp_path: Path) -> Path:
    """A home after one successful run (2022-01-03 .. 2022-03-15)."""
    fake_api.today = date(2022, 3, 15)
    result = treasury(tmp_path, fake_api, "run", "--start", "2022-01-03")
    assert result.exit_code == 0, result.output
    return tmp_path


def first_page(home: Path, dataset: str = OCB) -> Path:
    return sorted((home / "lake" / "bronze" / dataset).glob("batch-*/page-*.parquet"))[0]


def entry_of(home: Path, dataset: str = OCB) -> Path:
    return sorted((home / "lake" / "bronze" / dataset / "_manifest").glob("*.json"))[0]


def test_manifest_records_each_committed_file_size_and_sha256(home: Path) -> None:
    store = BronzeStore(home / "lake")
    [batch] = store.batches(OCB)
    base = store.dataset_dir(OCB)
    assert set(batch.files) < set(batch.file_sha256) == set(batch.file_bytes)
    assert f"batch-{batch.batch_id}/api_meta.json" in batch.file_sha256
    for name, digest in batch.file_sha256.items():
        data = (base / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest
        assert len(data) == batch.file_bytes[name]


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_damaged_bronze_page_is_named_blocks_nothing_new_and_repair_restores_gold(
    home: Path, fake_api: FakeFiscalDataApi, damage: str
) -> None:
    before = gold(home)
    page = first_page(home)
    if damage == "truncate":
        page.write_bytes(page.read_bytes()[:100])
    else:
        page.unlink()
    store = BronzeStore(home / "lake")
    [damaged_batch] = store.batches(OCB)

    status = treasury(home, fake_api, "status")  # used to say all is well
    assert status.exit_code == 0
    assert "damaged    1:" in status.output and str(page) in status.output
    assert lines(status)[-1].startswith("Warning:") and "treasury repair" in lines(status)[-1]
    assert pipeline.status(settings(home, fake_api))["damaged"] == 1

    verify = treasury(home, fake_api, "verify")
    assert verify.exit_code == 1
    assert lines(verify)[0].startswith(f"damaged    bronze file {page}")
    assert lines(verify)[-1].startswith("Error: 1 damaged: ")

    for command in ("run", "transform", "run"):  # each run used to add one more bronze batch
        failed = treasury(home, fake_api, command)
        assert failed.exit_code == 1
        assert lines(failed) == [lines(failed)[0]] and lines(failed)[0].startswith("Error:")
        assert str(page) in failed.output and "treasury repair" in failed.output
    assert [b.batch_id for b in store.batches(OCB)] == [damaged_batch.batch_id]

    repair = treasury(home, fake_api, "repair")
    assert repair.exit_code == 0, repair.output
    moved, fetched, rest = lines(repair)[0], lines(repair)[1], lines(repair)[2:]
    assert moved.startswith(f"moved      {OCB} batch {damaged_batch.batch_id} (seq 1, window ")
    assert fetched.startswith(f"fetched    {OCB} 2022-01-03..…: 150 rows in new batch")
    assert rest == ["next       `treasury run` rebuilds silver, gold and the warehouse"]
    aside = home / "lake" / "_damaged" / OCB
    assert (aside / "_manifest" / entry_of_name(damaged_batch.seq, damaged_batch.batch_id)).exists()
    assert (aside / f"batch-{damaged_batch.batch_id}").is_dir()  # moved, never deleted
    if damage == "truncate":
        assert len((aside / f"batch-{damaged_batch.batch_id}" / page.name).read_bytes()) == 100
    [new] = store.batches(OCB)
    assert new.seq == 2

    assert treasury(home, fake_api, "verify").exit_code == 0
    assert treasury(home, fake_api, "run").exit_code == 0
    assert gold(home) == before


def entry_of_name(seq: int, batch_id: str) -> str:
    return f"{seq:06d}_{batch_id}.json"


GARBAGE_ENTRIES = {
    "bytes": b"\x00\xffgarbage\x13",
    "json list": b"[1, 2, 3]",
    "missing keys": json.dumps({"dataset": OCB, "window": "2022-01-03..…"}).encode(),
    "wrong type": None,  # the real entry with seq as a string
    "file outside": None,  # the real entry naming a file outside its batch folder
}


def _garbage(entry: Path, kind: str) -> bytes:
    raw = json.loads(entry.read_bytes())
    if kind == "wrong type":
        raw["seq"] = "one"
        return json.dumps(raw).encode()
    if kind == "file outside":
        raw["files"] = ["../../silver/x.parquet"]
        return json.dumps(raw).encode()
    garbage = GARBAGE_ENTRIES[kind]
    assert garbage is not None
    return garbage


@pytest.mark.parametrize("kind", sorted(GARBAGE_ENTRIES))
def test_a_garbage_manifest_entry_is_one_error_line_from_every_command(
    home: Path, fake_api: FakeFiscalDataApi, kind: str
) -> None:
    entry = entry_of(home)
    entry.write_bytes(_garbage(entry, kind))
    with pytest.raises(CorruptLakeError, match="treasury repair") as raised:
        BronzeStore(home / "lake").batches(OCB)
    assert raised.value.context["path"] == str(entry)
    for command in ("status", "ingest", "transform", "check", "load", "run"):
        result = treasury(home, fake_api, command)
        assert result.exit_code == 1, (command, result.output)
        assert len(lines(result)) == 1, (command, result.output)  # was a 43-line traceback
        assert lines(result)[0].startswith(f"Error: bronze manifest entry {entry} is corrupt")
        assert "treasury repair" in lines(result)[0]
    verify = treasury(home, fake_api, "verify")
    assert verify.exit_code == 1
    assert lines(verify)[0].startswith(f"damaged    bronze manifest entry {entry}: does not parse")


def test_garbage_manifest_entry_repair_then_run_restores_gold(
    home: Path, fake_api: FakeFiscalDataApi
) -> None:
    before = gold(home)
    entry = entry_of(home)
    entry.write_bytes(b"\x00\xffgarbage")
    status = treasury(home, fake_api, "status")
    assert status.exit_code == 1 and lines(status)[0].startswith("Error:")

    repair = treasury(home, fake_api, "repair")
    assert repair.exit_code == 0, repair.output
    # the window is inferred from the record dates the batch's surviving pages hold
    assert "window 2022-01-03..2022-03-15;" in lines(repair)[0]
    assert lines(repair)[1].startswith(f"fetched    {OCB} 2022-01-03..2022-03-15: 150 rows")
    assert (home / "lake" / "_damaged" / OCB / "_manifest" / entry.name).read_bytes() == (
        b"\x00\xffgarbage"
    )
    assert treasury(home, fake_api, "verify").exit_code == 0
    assert treasury(home, fake_api, "run").exit_code == 0
    assert gold(home) == before


def test_a_manifest_entry_that_keeps_its_window_is_refetched_over_that_window(
    home: Path, fake_api: FakeFiscalDataApi
) -> None:
    entry = entry_of(home)
    entry.write_bytes(_garbage(entry, "missing keys"))
    repair = treasury(home, fake_api, "repair")
    assert repair.exit_code == 0, repair.output
    assert lines(repair)[1].startswith(f"fetched    {OCB} 2022-01-03..…: 150 rows")


def test_an_entry_too_corrupt_to_tell_its_dates_gets_the_exact_ingest_command(
    home: Path, fake_api: FakeFiscalDataApi
) -> None:
    entry = entry_of(home)
    batch_dir = first_page(home).parent
    entry.write_bytes(b"garbage")
    for page in batch_dir.glob("page-*.parquet"):
        page.write_bytes(b"not parquet")
    repair = treasury(home, fake_api, "repair")
    assert repair.exit_code == 1
    todo = [line for line in lines(repair) if line.startswith("todo")]
    assert todo and f"`treasury ingest --dataset {OCB} --start 2005-10-03`" in todo[0]
    assert lines(repair)[-1].startswith("Error: repair left 1 thing(s) to do")
    assert (home / "lake" / "_damaged" / OCB / batch_dir.name).is_dir()
    assert treasury(home, fake_api, "verify").exit_code == 0


def test_a_garbage_warehouse_file_is_named_moved_aside_and_rebuilt(
    home: Path, fake_api: FakeFiscalDataApi
) -> None:
    before = gold(home)
    path = home / "warehouse.duckdb"
    path.write_bytes(b"garbage" * 1000)
    load = treasury(home, fake_api, "load")
    assert load.exit_code == 1
    assert "can be rebuilt from the lake" in lines(load)[-1]  # nothing used to say so
    assert "treasury repair" in lines(load)[-1]

    verify = treasury(home, fake_api, "verify")
    assert verify.exit_code == 1
    assert lines(verify)[0].startswith(f"damaged    warehouse {path}: does not open")

    repair = treasury(home, fake_api, "repair")
    assert repair.exit_code == 0, repair.output
    assert lines(repair)[0].startswith(f"moved      warehouse {path} to {path}.damaged-")
    [aside] = home.glob("warehouse.duckdb.damaged-*")
    assert aside.read_bytes() == b"garbage" * 1000
    assert treasury(home, fake_api, "run").exit_code == 0
    assert gold(home) == before


def test_repair_never_reuses_the_seq_of_a_batch_moved_aside(
    home: Path, fake_api: FakeFiscalDataApi
) -> None:
    fake_api.today = date(2022, 3, 31)
    assert treasury(home, fake_api, "run").exit_code == 0
    before = gold(home)
    store = BronzeStore(home / "lake")
    first, newest = store.batches(OCB)
    (store.dataset_dir(OCB) / newest.files[0]).unlink()

    assert treasury(home, fake_api, "repair").exit_code == 0
    assert [b.seq for b in store.batches(OCB)] == [first.seq, newest.seq + 1]
    assert store.max_seq(OCB) == newest.seq + 1
    assert treasury(home, fake_api, "run").exit_code == 0
    assert gold(home) == before


def test_a_repair_interrupted_by_the_api_finishes_on_the_next_repair(
    home: Path, fake_api: FakeFiscalDataApi
) -> None:
    before = gold(home)
    first_page(home).unlink()
    fake_api.inject_faults([Fault(status=403)])
    failed = treasury(home, fake_api, "repair")
    assert failed.exit_code == 1 and "HTTP 403" in lines(failed)[-1]

    # the batch is aside but its window is not fetched yet: that is still damage, and it blocks
    verify = treasury(home, fake_api, "verify")
    assert verify.exit_code == 1 and "not yet fetched again" in lines(verify)[0]
    run = treasury(home, fake_api, "run")
    assert run.exit_code == 1 and "treasury repair" in lines(run)[-1]

    repair = treasury(home, fake_api, "repair")
    assert repair.exit_code == 0, repair.output
    assert lines(repair)[0].startswith(f"fetched    {OCB} 2022-01-03..…: 150 rows")
    assert treasury(home, fake_api, "run").exit_code == 0
    assert gold(home) == before


def test_verify_checks_checksums_that_status_does_not(
    home: Path, fake_api: FakeFiscalDataApi
) -> None:
    page = first_page(home)
    data = bytearray(page.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    page.write_bytes(bytes(data))
    assert pipeline.status(settings(home, fake_api))["damaged"] == 0  # the cheap check
    result = treasury(home, fake_api, "verify", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["checksums"] is True
    [damage] = report["damaged"]
    assert damage["kind"] == "bronze" and damage["path"] == str(page)
    assert damage["problem"].startswith("sha256 ") and damage["window"] == "2022-01-03..…"


def test_manifests_written_before_checksums_still_load_and_verify_notes_it(
    home: Path, fake_api: FakeFiscalDataApi
) -> None:
    for entry in (home / "lake" / "bronze").glob("*/_manifest/*.json"):
        raw = json.loads(entry.read_bytes())
        del raw["file_bytes"], raw["file_sha256"]
        entry.write_text(json.dumps(raw))
    result = treasury(home, fake_api, "verify")
    assert result.exit_code == 0, result.output
    notes = [line for line in lines(result) if line.startswith("note")]
    assert any("no checksum recorded" in n and OCB in n for n in notes)

    page = first_page(home)
    page.write_bytes(page.read_bytes()[:-20])
    result = treasury(home, fake_api, "verify")
    assert result.exit_code == 1
    assert f"{page} ({OCB} batch" in lines(result)[0] and "Parquet footer" in lines(result)[0]


def test_damaged_gold_version_is_named_and_rebuilt_by_the_next_run(
    home: Path, fake_api: FakeFiscalDataApi
) -> None:
    version = Lake(home / "lake").published_gold()["gold_daily_totals"]
    [parquet] = sorted(version.glob("*.parquet"))[:1]
    parquet.write_bytes(b"garbage")
    result = treasury(home, fake_api, "verify", "--json")
    assert result.exit_code == 1
    [damage] = json.loads(result.stdout)["damaged"]
    assert damage["kind"] == "version" and damage["path"] == str(parquet)
    assert damage["problem"].startswith("gold/gold_daily_totals: Parquet footer does not open")

    repair = treasury(home, fake_api, "repair")
    assert repair.exit_code == 0 and lines(repair)[0].startswith("rebuild    lake version")
    assert treasury(home, fake_api, "run").exit_code == 0
    assert treasury(home, fake_api, "verify").exit_code == 0


def test_repair_of_a_clean_lake_does_nothing(home: Path, fake_api: FakeFiscalDataApi) -> None:
    result = treasury(home, fake_api, "repair")
    assert result.exit_code == 0
    assert lines(result) == [lines(result)[0]]
    assert lines(result)[0].startswith("repair     nothing to repair: no damage; checked ")
    assert not (home / "lake" / "_damaged").exists()


def test_verify_and_repair_on_a_home_without_a_lake_say_so(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    for command in ("verify", "repair"):
        result = treasury(tmp_path / "nowhere", fake_api, command)
        assert result.exit_code == 1
        assert lines(result) == [
            f"Error: no lake at {tmp_path / 'nowhere' / 'lake'}: nothing to verify or repair"
        ]
    assert not (tmp_path / "nowhere").exists()


def test_a_postgresql_warehouse_that_does_not_answer_is_damage_repair_cannot_fix(
    home: Path, fake_api: FakeFiscalDataApi
) -> None:
    dsn = "postgresql://treasury:secret@127.0.0.1:1/warehouse"
    verify = treasury(home, fake_api, "verify", "--warehouse", dsn)
    assert verify.exit_code == 1
    assert lines(verify)[0].startswith(
        "damaged    warehouse postgresql://treasury:***@127.0.0.1:1/"
    )
    assert "secret" not in verify.output
    repair = treasury(home, fake_api, "repair", "--warehouse", dsn)
    assert repair.exit_code == 1
    assert "repair cannot fix a PostgreSQL server" in repair.output


@pytest.mark.postgres
def test_verify_connects_to_a_postgresql_warehouse(home: Path, fake_api: FakeFiscalDataApi) -> None:
    dsn = os.environ.get("TREASURY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        psycopg.connect(dsn, connect_timeout=3).close()
    except psycopg.OperationalError as error:
        require_or_skip(f"PostgreSQL unreachable ({error}); `.ci/run` starts it")
    verify = treasury(home, fake_api, "verify", "--warehouse", dsn)
    assert verify.exit_code == 0, verify.output
    assert "1 warehouse connections" in lines(verify)[-1]


def test_a_repair_that_dies_between_moving_the_folder_and_the_entry_loses_nothing(
    home: Path, fake_api: FakeFiscalDataApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = gold(home)
    entry = entry_of(home)
    entry.write_bytes(b"garbage")  # its window only survives in the pages it moves aside
    real_move, moves = repair_module._move, []

    def die_before_the_entry(source: Path, target: Path) -> None:
        if source == entry:
            raise KeyboardInterrupt("killed between the folder and the entry")
        moves.append(source)
        real_move(source, target)

    monkeypatch.setattr(repair_module, "_move", die_before_the_entry)
    with pytest.raises(KeyboardInterrupt):
        pipeline.repair(settings(home, fake_api))
    assert len(moves) == 1 and entry.exists()
    monkeypatch.undo()

    assert treasury(home, fake_api, "verify").exit_code == 1
    repair = treasury(home, fake_api, "repair")
    assert repair.exit_code == 0, repair.output  # the noted window is fetched
    assert any(
        line.startswith(f"fetched    {OCB} 2022-01-03..2022-03-15") for line in lines(repair)
    )
    assert treasury(home, fake_api, "run").exit_code == 0
    assert gold(home) == before


def test_a_lost_commit_record_is_named_recorded_by_repair_and_republished(
    home: Path, fake_api: FakeFiscalDataApi
) -> None:
    """Commit records are never removed, so a gap in the log, or a warehouse whose latest load
    is newer than the lake's head, means records were lost; the lake would otherwise quietly fall
    back to an older commit."""
    before = gold(home)
    assert treasury(home, fake_api, "run").exit_code == 0  # commit 2
    assert treasury(home, fake_api, "run").exit_code == 0  # commit 3, loaded
    commits = sorted((home / "lake" / "_commits").glob("*.json"))
    assert [p.name for p in commits] == [f"{n:010d}.json" for n in (1, 2, 3)]

    commits[1].unlink()  # a gap in the log
    result = treasury(home, fake_api, "verify", "--json")
    assert result.exit_code == 1
    [damage] = json.loads(result.stdout)["damaged"]
    assert (damage["kind"], damage["path"]) == ("commit", str(commits[1]))
    assert damage["problem"] == "commit record missing from the log"
    repair = treasury(home, fake_api, "repair")
    assert repair.exit_code == 0, repair.output
    assert any(line.startswith("record") and commits[1].name in line for line in lines(repair))
    assert treasury(home, fake_api, "verify").exit_code == 0  # the loss is on record

    commits[2].unlink()  # the head the warehouse loaded: the lake falls back to commit 1
    result = treasury(home, fake_api, "verify", "--json")
    assert result.exit_code == 1
    [damage] = json.loads(result.stdout)["damaged"]
    assert (damage["kind"], Path(damage["path"]).name) == ("commit", "warehouse.duckdb")
    assert "loaded lake commit 3, but the lake's newest commit record is 1" in damage["problem"]
    assert treasury(home, fake_api, "run").exit_code == 0  # a new commit, loaded
    assert treasury(home, fake_api, "verify").exit_code == 0
    assert gold(home) == before
