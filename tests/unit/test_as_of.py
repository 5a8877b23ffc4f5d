"""``--as-of``: parsing the time, the batches a run then could see, and the CLI's refusals."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from treasury_lakehouse.as_of import known_batches, parse_as_of, stamp
from treasury_lakehouse.catalog import get_dataset
from treasury_lakehouse.cli import main
from treasury_lakehouse.errors import ConfigError
from treasury_lakehouse.ingest.bronze import BronzeStore
from treasury_lakehouse.ingest.manifest import Batch
from treasury_lakehouse.ingest.paging import Window

BATCH = Batch(
    dataset="public_debt_transactions",
    batch_id="b1",
    seq=1,
    rows=1,
    pages=1,
    min_record_date=None,
    max_record_date=None,
    ingested_at="2026-01-01T00:00:00+00:00",
    window="",
    fields=(),
    files=(),
    data_types={},
)


def test_a_time_without_an_offset_is_utc_and_an_offset_is_converted() -> None:
    assert parse_as_of("2026-03-01T12:30:00") == datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    assert parse_as_of("2026-03-01T07:30:00-05:00") == datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    assert parse_as_of("2026-03-01T12:30:00Z") == datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    assert parse_as_of("2026-03-01") == datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "2026-03-01 25:00"])
def test_a_time_that_is_not_iso_8601_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ConfigError, match=f"--as-of: '{text}' is not an ISO 8601 time"):
        parse_as_of(text)


def test_a_time_in_the_future_is_refused() -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    with pytest.raises(ConfigError, match="is later than now"):
        parse_as_of(later)


def test_the_scratch_folder_name_is_the_utc_time() -> None:
    east = timezone(timedelta(hours=2))
    assert stamp(datetime(2026, 3, 1, 14, 30, tzinfo=east)) == "20260301T123000Z"
    assert stamp(datetime(2026, 3, 1, 12, 30, 0, 5, tzinfo=UTC)) == "20260301T123000.000005Z"


def _batch(seq: int, committed: str) -> Batch:
    return replace(BATCH, batch_id=f"b{seq}", seq=seq, committed_at=committed)


def test_the_batches_known_then_are_a_prefix_of_the_sequence() -> None:
    batches = [
        _batch(1, "2026-03-01T10:00:00+00:00"),
        _batch(2, "2026-03-02T10:00:00+00:00"),
        # the clock was set back: committed after batch 2, but stamped before it
        _batch(3, "2026-03-01T11:00:00+00:00"),
    ]
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert [b.seq for b in known_batches(batches, at)] == [1]
    at = datetime(2026, 3, 2, 10, tzinfo=UTC)  # at the commit time itself: known
    assert [b.seq for b in known_batches(batches, at)] == [1, 2, 3]
    assert known_batches(batches, datetime(2026, 2, 1, tzinfo=UTC)) == []


def test_a_batch_without_a_commit_time_counts_from_its_ingestion() -> None:
    old = replace(BATCH, ingested_at="2026-03-01T10:00:00+00:00")
    assert known_batches([old], datetime(2026, 3, 1, 10, tzinfo=UTC)) == [old]
    assert known_batches([old], datetime(2026, 3, 1, 9, tzinfo=UTC)) == []


def test_load_as_of_without_warehouse_is_refused_before_anything_runs(tmp_path: Path) -> None:
    args = ["load", "--home", str(tmp_path / "home"), "--as-of", "2026-03-01T00:00:00"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "name the warehouse to publish it into with --warehouse" in result.output
    assert not (tmp_path / "home").exists()


def test_a_bad_as_of_is_a_usage_error_on_every_command(tmp_path: Path) -> None:
    for command in ("transform", "check", "load", "report"):
        result = CliRunner().invoke(main, [command, "--home", str(tmp_path), "--as-of", "soon"])
        assert result.exit_code == 2, command
        assert "'soon' is not an ISO 8601 time" in result.output


def test_as_of_on_a_home_without_a_lake_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["transform", "--home", str(tmp_path), "--as-of", "2026-01-01"]
    )
    assert result.exit_code == 1
    assert "no lake at" in result.output
    assert not (tmp_path / "as-of").exists()


def test_a_time_before_the_first_batch_names_the_first_commit(tmp_path: Path) -> None:
    dataset = get_dataset("public_debt_transactions")
    batch = BronzeStore(tmp_path / "lake").write_empty_batch(
        dataset, Window(date(2022, 1, 3), date(2022, 1, 4)), "test: nothing published"
    )
    args = ["transform", "--home", str(tmp_path), "--as-of", "2000-01-01T00:00:00"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "no bronze batch" in result.output
    assert f"the first was committed at {batch.commit_time}" in result.output

    built = CliRunner().invoke(main, ["transform", "--home", str(tmp_path), "--as-of", "now"])
    assert built.exit_code == 2  # 'now' is not ISO 8601: the usage error, nothing built
    later = CliRunner().invoke(
        main, ["transform", "--home", str(tmp_path), "--as-of", batch.commit_time]
    )
    assert later.exit_code == 0, later.output
    assert "1 bronze batches of 1 datasets, built in" in later.output
    assert (tmp_path / "as-of").is_dir() and not (tmp_path / "lake" / "_commits").exists()
