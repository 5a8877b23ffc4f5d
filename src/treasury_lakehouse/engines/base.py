"""What every engine does; adapters state only their differences."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from treasury_lakehouse.catalog import Dataset
from treasury_lakehouse.errors import EngineError
from treasury_lakehouse.models.registry import GoldModel
from treasury_lakehouse.models.silver import ROW_STATUSES, SilverScope

if TYPE_CHECKING:
    from treasury_lakehouse.ingest.bronze import Batch

#: silver is partitioned by this (derived) column, a Hive-style directory per record year
PARTITION_COLUMN = "record_year"
QUARANTINE_FILE = "quarantine.parquet"
#: the columns of the ``batches`` relation the silver model joins (one row per committed batch)
BATCH_COLUMNS = ("batch_id", "seq", "window_start", "window_end")


def partition_name(year: int) -> str:
    """The directory of one record year in a silver version; year 0 holds no row (the schema of
    an empty table)."""
    return f"{PARTITION_COLUMN}={year}"


def partition_dirs(silver_dir: Path) -> dict[int, Path]:
    """Year → directory of each ``record_year=<year>`` partition of a silver version, in the
    order of their names (one ``scandir``: a daily transform lists versions of 1,736 years)."""
    prefix = partition_name(0).removesuffix("0")
    with os.scandir(silver_dir) as entries:
        names = sorted(e.name for e in entries if e.name.startswith(prefix) and e.is_dir())
    found = {}
    for name in names:
        try:
            found[int(name.removeprefix(prefix))] = silver_dir / name
        except ValueError:
            raise EngineError(
                f"{silver_dir / name} is not a record-year partition of silver"
            ) from None
    return found


@dataclass(frozen=True)
class BronzeBatch:
    """One committed bronze batch as the silver model needs it.

    ``seq`` is the manifest's commit sequence: it alone orders versions (never a timestamp).
    ``window_start``/``window_end`` are the batch's requested record-date window, ``None`` where
    unbounded. ``files`` are the batch's Parquet pages; their rows carry ``batch_id``.
    """

    batch_id: str
    seq: int
    files: tuple[Path, ...]
    window_start: date | None = None
    window_end: date | None = None

    @classmethod
    def from_manifest(cls, batch: Batch, dataset_dir: Path) -> BronzeBatch:
        """A manifest entry (an ``ingest.bronze.Batch``) of the dataset in ``dataset_dir``."""
        start, end = parse_window(batch.window, batch.batch_id)
        return cls(
            batch.batch_id, batch.seq, tuple(dataset_dir / f for f in batch.files), start, end
        )

    def row(self) -> tuple[str, int, date | None, date | None]:
        """This batch as a row of the ``batches`` relation (:data:`BATCH_COLUMNS`)."""
        return (self.batch_id, self.seq, self.window_start, self.window_end)


def parse_window(window: str, batch_id: str = "?") -> tuple[date | None, date | None]:
    """A manifest ``window`` (``"start..end"``, ``…`` for an unbounded side) as two dates."""
    sides = window.split("..")
    try:
        if len(sides) != 2:
            raise ValueError(window)
        start, end = (None if s in ("…", "", "None") else date.fromisoformat(s) for s in sides)
    except ValueError as error:
        raise EngineError(
            f"bronze batch {batch_id} has an unreadable window {window!r} in its manifest entry; "
            "run `treasury verify` (and `treasury repair`)"
        ) from error
    return start, end


def bronze_files(batches: Iterable[BronzeBatch]) -> list[Path]:
    """Every page file of ``batches``, in commit order."""
    return [f for b in sorted(batches, key=lambda b: b.seq) for f in b.files]


def batches_to_read(batches: list[BronzeBatch], scope: SilverScope | None) -> list[BronzeBatch]:
    """The batches whose files a build reads: all, or those of the scope."""
    return batches if scope is None else [b for b in batches if b.batch_id in scope.read]


def check_batches(batches: list[BronzeBatch], dataset: str) -> None:
    """Refuse an empty or ambiguous batch list before any engine reads a file."""
    if not batches:
        raise EngineError(f"silver of {dataset}: no committed bronze batch to build from")
    for what, values in (
        ("batch ids", [b.batch_id for b in batches]),
        ("seqs", [b.seq for b in batches]),
    ):
        if len(set(values)) != len(values):
            raise EngineError(f"silver of {dataset}: the bronze batches repeat {what}: {values}")


#: one accounting: rows_in, silver, superseded, deleted, quarantined
Tally = tuple[int, int, int, int, int]


@dataclass(frozen=True)
class SilverCounts:
    """Row accounting of one silver build.

    ``rows_in = silver + superseded + deleted + quarantined``: every bronze row is the kept
    version, an older version of a kept key, a version of a key the authoritative batch of its
    record date no longer holds (deleted at the source), or quarantined.
    """

    dataset: str
    rows_in: int
    silver: int
    superseded: int
    deleted: int
    quarantined: int
    #: the same accounting per (batch id, record year), year 0 for an unreadable record date:
    #: an incremental build replaces the years it rebuilds and keeps the others
    by_batch_year: Mapping[tuple[str, int], Tally] = field(
        default_factory=dict, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if self.rows_in != self.silver + self.superseded + self.deleted + self.quarantined:
            raise AssertionError(f"row accounting of {self.dataset} does not add up: {self}")

    @classmethod
    def from_rows(cls, dataset: str, rows: Sequence[Sequence[Any]]) -> SilverCounts:
        """From an engine's count query: per (batch id, record year), rows_in, the four
        statuses, and whether the manifest lacks the batch (which stops the build)."""
        unknown = sorted({str(r[0]) for r in rows if r[-1]})
        if unknown:
            raise EngineError(
                f"silver of {dataset}: bronze rows name batches the manifest does not "
                f"list ({', '.join(unknown)}); run `treasury verify`"
            )
        tallies: dict[tuple[str, int], Tally] = {}
        for r in rows:
            rows_in, silver, superseded, deleted, quarantined = (int(v) for v in r[2:7])
            tallies[(str(r[0]), int(r[1]))] = (rows_in, silver, superseded, deleted, quarantined)
        return cls.from_tallies(dataset, tallies)

    @classmethod
    def from_status_rows(
        cls, dataset: str, rows: Iterable[Sequence[Any]], known_batches: Iterable[str]
    ) -> SilverCounts:
        """From ``(batch id, record year, row_status, rows)`` rows; a batch outside
        ``known_batches`` (the manifest's) stops the build, as in :meth:`from_rows`."""
        known = set(known_batches)
        position = {status: i for i, status in enumerate(ROW_STATUSES, start=1)}
        tallies: dict[tuple[str, int], list[int]] = {}
        for batch_id, year, status, n in rows:
            tally = tallies.setdefault((str(batch_id), int(year)), [0, 0, 0, 0, 0])
            tally[0] += int(n)
            tally[position[str(status)]] += int(n)
        return cls.from_rows(
            dataset,
            [(b, y, *t, b not in known) for (b, y), t in sorted(tallies.items())],
        )

    @classmethod
    def from_tallies(cls, dataset: str, tallies: Mapping[tuple[str, int], Tally]) -> SilverCounts:
        rows_in, silver, superseded, deleted, quarantined = (
            sum(t[i] for t in tallies.values()) for i in range(5)
        )
        return cls(
            dataset, rows_in, silver, superseded, deleted, quarantined, by_batch_year=dict(tallies)
        )


def quarantine_scope(counts: SilverCounts, scope: SilverScope | None) -> SilverScope | None:
    """The scope of the quarantined rows a build counted: their record years and, for rows with
    an unreadable date, their batches; it reads every batch holding a row of those years. None
    when the build quarantined nothing.

    Quarantine is decided row by row and its status by the batches of the row's own date (or by
    the batch windows), so rebuilding this scope yields exactly the build's quarantined rows; an
    engine writes them from that narrow query instead of keeping every row of the build.
    """
    tallies = counts.by_batch_year
    years = frozenset(y for (_, y), t in tallies.items() if t[4] and y != 0)
    undated = frozenset(b for (b, y), t in tallies.items() if t[4] and y == 0)
    if not years and not undated:
        return None
    read = frozenset(b for (b, y) in tallies if y in years) | undated
    previous = scope.previous_quarantine if scope is not None else None
    return SilverScope(years, undated, read, previous)


class Engine(Protocol):
    """Runs the silver and gold models over the lake's Parquet."""

    name: str

    def build_silver(
        self,
        dataset: Dataset,
        batches: list[BronzeBatch],
        silver_dir: Path,
        quarantine_dir: Path,
        scope: SilverScope | None = None,
    ) -> SilverCounts:
        """Type, check and version the rows of ``batches`` into ``silver_dir`` (partitioned by
        record year) and ``quarantine_dir`` (one file, raw values, a reason and a status).

        With a ``scope`` only its rows are built (reading only the batches ``scope.read``; every
        batch still orders versions and windows); the quarantine file also gets the previous
        quarantine's rows outside the scope. The caller carries the other years' partitions.
        """
        ...

    def build_gold(
        self,
        model: GoldModel,
        silver_dirs: dict[str, Path],
        out_dir: Path,
        *,
        years: frozenset[int] | None = None,
        previous: Path | None = None,
    ) -> int:
        """Run one gold model over the silver tables named in ``silver_dirs``; rows written.

        With ``years`` (the record years whose silver changed) and ``previous`` (the version
        built before they changed), only the affected periods are recomputed from the silver
        partitions they need; the rest comes from ``previous`` (:mod:`..models.incremental`).
        """
        ...

    def close(self) -> None: ...
