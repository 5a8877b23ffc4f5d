"""Repair what :mod:`treasury_lakehouse.lake.verify` found damaged; call under every lock.

- A damaged bronze batch (a file missing, truncated or altered, or its manifest entry unreadable)
  is moved with its manifest entry to ``<lake>/_damaged/<dataset>/`` — data first, entry last, so a
  crash in between leaves a batch that is still visibly damaged, never an orphan that the next
  ingest would delete. Nothing is ever deleted.
- Its window is fetched again from the API as a new batch, whose seq is above every seq in the
  manifest and in ``_damaged``. The window comes from the entry; for an entry too corrupt to say,
  from the record dates its surviving page files hold; failing both, repair prints the exact
  ``treasury ingest`` that re-fetches the dataset's whole history (nothing tells which dates the
  entry held) and exits 1.
  A window still to fetch is kept in ``_damaged/<dataset>/_refetch/`` until it is fetched, so a
  repair interrupted by an API failure finishes on the next ``treasury repair``.
- A damaged DuckDB warehouse file is renamed ``<file>.damaged-<stamp>``; the next load rebuilds it.
- A damaged silver, quarantine or gold version is rebuilt from bronze by the next ``treasury run``
  (or ``treasury transform``); repair says so.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from treasury_lakehouse.catalog import get_dataset
from treasury_lakehouse.config import Settings
from treasury_lakehouse.ingest.bronze import BronzeStore
from treasury_lakehouse.ingest.client import FiscalDataClient
from treasury_lakehouse.ingest.manifest import REFETCH
from treasury_lakehouse.ingest.paging import Window
from treasury_lakehouse.lake.files import atomic_write_json
from treasury_lakehouse.lake.verify import Damage, VerifyReport, lost_commit_note

REFETCHED = "_refetched"


@dataclass
class RepairResult:
    """What repair did (one line per action) and what is left for the user."""

    before: VerifyReport
    actions: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)

    def act(self, verb: str, text: str) -> None:
        self.actions.append(f"{verb:<10} {text}")


@dataclass(frozen=True)
class DamagedBatch:
    """A bronze batch to move aside: its entry, folder and (when known) its window."""

    dataset: str
    entry: Path
    batch_id: str | None
    seq: int | None
    window: str | None
    problems: tuple[str, ...]


def repair_lake(
    settings: Settings, report: VerifyReport, open_client: Callable[[], FiscalDataClient]
) -> RepairResult:
    """Act on ``report`` (a full verify taken under the same locks); see the module docstring."""
    result = RepairResult(report)
    bronze = BronzeStore(settings.lake)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for batch in damaged_batches(report):
        _move_batch(bronze, batch, earliest_date(settings, batch.dataset), result)
    _refetch_pending(settings, bronze, open_client, result)
    for damage in report.damaged:
        if damage.kind == "warehouse":
            _set_warehouse_aside(settings, damage, stamp, result)
        elif damage.kind == "commit" and damage.path.endswith(".json"):
            _record_lost_commit(Path(damage.path), stamp, result)
        elif damage.kind in ("version", "commit"):
            result.act("rebuild", f"{damage.summary()}: `treasury run` rebuilds it from bronze")
    if result.actions:
        atomic_write_json(
            bronze.damaged_root / f"repair-{stamp}.json",
            {"damaged": report.to_dict()["damaged"], "actions": result.actions},
        )
    return result


def _record_lost_commit(path: Path, stamp: str, result: RepairResult) -> None:
    """A lost commit record cannot be recovered (bronze can rebuild what it published): record
    the loss beside the log so verify stops reporting the gap, and let the next run commit anew."""
    atomic_write_json(lost_commit_note(path), {"lost": path.name, "noted_by_repair": stamp})
    result.act("record", f"lost commit record {path.name}; `treasury run` publishes a new commit")


def damaged_batches(report: VerifyReport) -> list[DamagedBatch]:
    """The bronze batches (one per manifest entry) that hold damage, in commit order."""
    grouped: dict[str, list[Damage]] = {}
    for damage in report.damaged:
        if damage.kind in ("manifest", "bronze") and damage.entry:
            grouped.setdefault(damage.entry, []).append(damage)
    batches = []
    for entry, damages in grouped.items():
        first = damages[0]
        batches.append(
            DamagedBatch(
                dataset=first.dataset or Path(entry).parents[1].name,
                entry=Path(entry),
                batch_id=first.batch_id,
                seq=first.seq,
                window=first.window,
                problems=tuple(f"{Path(d.path).name} {d.problem}" for d in damages),
            )
        )
    return sorted(batches, key=lambda b: (b.dataset, b.seq or 0))


def earliest_date(settings: Settings, dataset: str) -> date:
    """Where a dataset's whole history starts: ``TREASURY_START_DATE`` or its own first date."""
    return max(settings.initial_start or date.min, get_dataset(dataset).first_date)


def _move_batch(
    bronze: BronzeStore, batch: DamagedBatch, earliest: date, result: RepairResult
) -> None:
    """Note the window to fetch again, then move the batch's folder, then its entry: a crash at
    any point leaves either visible damage or a noted window, never a silently lost window."""
    source = bronze.dataset_dir(batch.dataset)
    target = bronze.damaged_dir(batch.dataset)
    marker = target / REFETCH / f"{batch.entry.stem}.json"
    window = batch.window or _noted_window(marker) or _salvage_window(batch, source)
    if window is not None:
        atomic_write_json(marker, {"dataset": batch.dataset, "window": window, "seq": batch.seq})
    folder = source / f"batch-{batch.batch_id}" if batch.batch_id else None
    if folder is not None and folder.exists():
        _move(folder, target / folder.name)
    _move(batch.entry, target / "_manifest" / batch.entry.name)
    result.act(
        "moved",
        f"{batch.dataset} batch {batch.batch_id or '?'} (seq {batch.seq or '?'}, window "
        f"{window or 'unknown'}; {'; '.join(batch.problems)}) to {target}",
    )
    if window is None:
        command = f"treasury ingest --dataset {batch.dataset} --start {earliest}"
        result.unresolved.append(
            f"{batch.entry.name} of {batch.dataset} is too corrupt to tell which record dates it "
            f"held; to fetch them again run `{command}` (the dataset's whole history)"
        )


def _refetch_pending(
    settings: Settings,
    bronze: BronzeStore,
    open_client: Callable[[], FiscalDataClient],
    result: RepairResult,
) -> None:
    """Fetch every window still waiting in ``_damaged/<dataset>/_refetch`` as a new batch."""
    pending = [(name, m) for name in settings.datasets for m in bronze.pending_refetches(name)]
    if not pending:
        return
    with open_client() as client:
        for name, marker in pending:
            try:
                todo = json.loads(marker.read_bytes())
                window = parse_window(todo["window"])
            except (OSError, ValueError, KeyError, TypeError) as error:
                result.unresolved.append(
                    f"{marker} does not parse ({type(error).__name__}); it names a window of "
                    f"{name} to fetch again: run `treasury ingest --dataset {name} --start "
                    f"{earliest_date(settings, name)}`, then move it to "
                    f"{marker.parents[1] / REFETCHED}"
                )
                continue
            dataset = get_dataset(name)
            batch = bronze.write_batch(
                dataset, client.pages(dataset, window), window, repairing=True
            )
            atomic_write_json(
                marker.parents[1] / REFETCHED / marker.name,
                {**todo, "batch_id": batch.batch_id if batch else None},
            )
            marker.unlink()
            fetched = (
                f"{batch.rows:,} rows in new batch {batch.batch_id} (seq {batch.seq})"
                if batch
                else "the API has no rows there now"
            )
            result.act("fetched", f"{name} {window}: {fetched}")


def _set_warehouse_aside(
    settings: Settings, damage: Damage, stamp: str, result: RepairResult
) -> None:
    if settings.warehouse_kind != "duckdb":
        result.unresolved.append(
            f"{damage.summary()}: repair cannot fix a PostgreSQL server; check that it runs and "
            "that the DSN is right"
        )
        return
    path = settings.duckdb_warehouse_path
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    _move(path, aside)
    wal = path.with_name(f"{path.name}.wal")
    if wal.exists():
        _move(wal, aside.with_name(f"{aside.name}.wal"))
    result.act("moved", f"warehouse {path} to {aside}; the next load rebuilds it from the lake")


def parse_window(text: str) -> Window:
    """``"2022-01-03..…"`` → ``Window(date(2022, 1, 3), None)`` (``…`` is an unbounded side)."""
    start, sep, end = text.partition("..")
    if not sep:
        raise ValueError(f"{text!r} is not a window start..end")

    def side(value: str) -> date | None:
        return None if value.strip() in ("…", "", "None") else date.fromisoformat(value.strip())

    return Window(side(start), side(end))


def _noted_window(marker: Path) -> str | None:
    """The window an interrupted repair already noted for this entry, if any."""
    try:
        window = json.loads(marker.read_bytes()).get("window")
        return str(parse_window(window)) if isinstance(window, str) else None
    except (OSError, ValueError, AttributeError):
        return None


def _salvage_window(batch: DamagedBatch, source: Path) -> str | None:
    """The window of an unreadable entry: its ``window`` if that survives, else the record dates
    its surviving page files hold."""
    try:
        raw: Any = json.loads(batch.entry.read_bytes())
        window = raw.get("window") if isinstance(raw, dict) else None
        if isinstance(window, str):
            return str(parse_window(window))
    except (OSError, ValueError):
        pass
    if batch.batch_id is None:
        return None
    column = get_dataset(batch.dataset).date_column
    days = []
    for page in sorted((source / f"batch-{batch.batch_id}").glob("page-*.parquet")):
        try:
            values = pq.read_table(page, columns=[column]).column(column).to_pylist()
        except Exception:  # an unreadable page tells nothing
            continue
        days += [d for d in values if isinstance(d, str) and _is_day(d)]
    return f"{min(days)}..{max(days)}" if days else None


def _is_day(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _move(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target`` (never overwriting) and flush both directories."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target = target.with_name(f"{target.name}.{datetime.now(UTC):%Y%m%dT%H%M%S%f}")
    os.rename(source, target)
    for directory in {source.parent, target.parent}:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
