"""The history model on hand-made bronze batches: its versions current at each batch are silver
built from the batches up to that one, and appending batch by batch equals a full build.

Edge cases: a restatement, a row delivered again unchanged, a key deleted and back, a restatement
that arrives quarantined (the previous value stays), a nullable key part, a date a newer batch
does not hold (left alone), and two rows of one key in one batch (the newest wins).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from bronze_pages import pdt_row, write_bronze_batch
from treasury_lakehouse.catalog import PUBLIC_DEBT_TRANSACTIONS
from treasury_lakehouse.config import Settings
from treasury_lakehouse.engines.base import BronzeBatch
from treasury_lakehouse.engines.duckdb import DuckDBEngine
from treasury_lakehouse.history import (
    REVISIONS_FILE,
    BatchTime,
    build_history,
    history_files,
    plan_history,
)
from treasury_lakehouse.lake.layout import BUILD_INFO

DATASET = PUBLIC_DEBT_TRANSACTIONS
BILLS = {"security_type": "Bills"}
KEY = ("record_date", "transaction_type", "security_market", "security_type", "security_type_desc")


def _batches(tmp_path: Path) -> list[BronzeBatch]:
    day1, day2 = "2024-01-02", "2024-01-03"
    rows = [
        # 1: the first publication of both days
        [pdt_row(day1), pdt_row(day1, **BILLS), pdt_row(day2), pdt_row(day2, **BILLS)],
        # 2: day1 again unchanged but Notes restated; Bills gone (deleted); day2 not held
        [pdt_row(day1, transaction_today_amt="101"), pdt_row(day1, security_type="Bonds")],
        # 3: Bills back; the Notes restatement arrives quarantined; two rows of Bonds (last wins)
        [
            pdt_row(day1, transaction_today_amt="1,5"),
            pdt_row(day1, **BILLS),
            pdt_row(day1, security_type="Bonds", transaction_today_amt="7"),
            pdt_row(day1, security_type="Bonds", transaction_today_amt="8"),
        ],
        # 4: day2 restated with a description (a re-key of Bills, whose key has a NULL part)
        [pdt_row(day2), pdt_row(day2, **BILLS, security_type_desc="Regular Series")],
    ]
    return [
        write_bronze_batch(tmp_path, f"b{seq}", seq, batch) for seq, batch in enumerate(rows, 1)
    ]


def _times(batches: list[BronzeBatch]) -> dict[str, BatchTime]:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    return {
        b.batch_id: BatchTime(
            (start + timedelta(hours=b.seq)).isoformat(),
            (start + timedelta(hours=b.seq)).isoformat(),
        )
        for b in batches
    }


def _rows(files: list[Path]) -> list[dict[str, Any]]:
    return [r for f in files for r in pq.read_table(f, partitioning=None).to_pylist()]


def _silver(batches: list[BronzeBatch], out: Path) -> list[tuple[Any, ...]]:
    engine = DuckDBEngine()
    try:
        (out / "s").mkdir(parents=True)
        (out / "q").mkdir()
        engine.build_silver(DATASET, batches, out / "s", out / "q")
    finally:
        engine.close()
    rows = _rows(sorted((out / "s").rglob("*.parquet")))
    return sorted(repr(tuple(r[c] for c in DATASET.columns)) for r in rows)


def _current_at(history: list[dict[str, Any]], seq: int) -> list[tuple[Any, ...]]:
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in sorted(history, key=lambda r: r["batch_seq"]):
        if row["batch_seq"] <= seq:
            latest[tuple(row[c] for c in KEY)] = row
    return sorted(
        repr(tuple(r[c] for c in DATASET.columns)) for r in latest.values() if not r["is_deleted"]
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def _build(settings: Settings, batches: list[BronzeBatch], base: Path | None, out: Path) -> Path:
    out.mkdir(parents=True)
    plan = plan_history(DATASET, batches, base)
    build_history(settings, DATASET, batches, _times(batches), plan, out, out.name)
    return out


def test_the_history_as_of_each_batch_is_silver_of_the_batches_up_to_it(
    settings: Settings, tmp_path: Path
) -> None:
    batches = _batches(tmp_path)
    full = _build(settings, batches, None, tmp_path / "full")
    history = _rows(history_files(full))
    for k in range(1, len(batches) + 1):
        assert _current_at(history, k) == _silver(batches[:k], tmp_path / f"silver{k}"), k

    notes = [
        (r["batch_seq"], r["transaction_today_amt"], r["is_deleted"])
        for r in history
        if r["record_date"].isoformat() == "2024-01-02" and r["security_type"] == "Notes"
    ]
    assert sorted(notes) == [(1, 100, False), (2, 101, False)]  # quarantined in 3: no version
    bills = sorted(
        (r["batch_seq"], r["is_deleted"], r["known_to"] is None)
        for r in history
        if r["record_date"].isoformat() == "2024-01-02" and r["security_type"] == "Bills"
    )
    assert bills == [(1, False, False), (2, True, False), (3, False, True)]

    revisions = pq.read_table(full / REVISIONS_FILE).to_pylist()
    summary = sorted(
        (r["new_batch_seq"], r["change"], r["column_name"], r["old_value"], r["new_value"])
        for r in revisions
    )
    assert summary == [
        (2, "added", None, None, None),  # Bonds on a published date
        (2, "changed", "transaction_today_amt", "100", "101"),
        (2, "deleted", None, None, None),  # Bills
        (3, "added", None, None, None),  # Bills back
        (3, "changed", "transaction_today_amt", "100", "8"),  # Bonds: the newest row of b3
        (4, "added", None, None, None),  # Bills, Regular Series
        (4, "deleted", None, None, None),  # Bills with a NULL description
    ]


def test_appending_batch_by_batch_equals_a_full_build(settings: Settings, tmp_path: Path) -> None:
    batches = _batches(tmp_path)
    full = _build(settings, batches, None, tmp_path / "full")
    base = None
    for k in range(1, len(batches) + 1):
        base = _build(settings, batches[:k], base, tmp_path / f"v{k}")
    assert base is not None
    assert sorted(map(repr, _rows(history_files(base)))) == sorted(
        map(repr, _rows(history_files(full)))
    )
    assert sorted(map(repr, _rows([base / REVISIONS_FILE]))) == sorted(
        map(repr, _rows([full / REVISIONS_FILE]))
    )
    assert plan_history(DATASET, batches, base).mode == "unchanged"
    counted = ("versions", "current", "deleted", "revisions", "year_counts")
    full_info, appended_info = (json.loads((v / BUILD_INFO).read_text()) for v in (full, base))
    assert {k: appended_info[k] for k in counted} == {k: full_info[k] for k in counted}
    assert full_info["versions"] == len(_rows(history_files(full)))


def test_a_batch_without_revisions_links_the_revisions_and_keeps_the_other_dates(
    settings: Settings, tmp_path: Path
) -> None:
    """A fifth batch delivers day2 again unchanged: no version starts, so no revision; the
    revisions file is the base's (a hard link, not rewritten), and day1's versions, in the same
    record year but not held by the batch, are kept as they were."""
    batches = _batches(tmp_path)
    again = [
        pdt_row("2024-01-03"),
        pdt_row("2024-01-03", **BILLS, security_type_desc="Regular Series"),
    ]
    batches.append(write_bronze_batch(tmp_path, "b5", 5, again))
    base = _build(settings, batches[:4], None, tmp_path / "v4")
    appended = _build(settings, batches, base, tmp_path / "v5")
    assert json.loads((appended / BUILD_INFO).read_text())["mode"] == "incremental"
    assert (appended / REVISIONS_FILE).stat().st_ino == (base / REVISIONS_FILE).stat().st_ino
    assert sorted(map(repr, _rows(history_files(appended)))) == sorted(
        map(repr, _rows(history_files(base)))
    )
    full = _build(settings, batches, None, tmp_path / "full")
    assert sorted(map(repr, _rows([appended / REVISIONS_FILE]))) == sorted(
        map(repr, _rows([full / REVISIONS_FILE]))
    )
    info, full_info = (json.loads((v / BUILD_INFO).read_text()) for v in (appended, full))
    assert info["revisions"] == full_info["revisions"] == 7
