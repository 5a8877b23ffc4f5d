"""What every engine does; adapters state only their differences."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from treasury_lakehouse.catalog import Dataset
from treasury_lakehouse.models.registry import GoldModel

#: silver is partitioned by this (derived) column, a Hive-style directory per record year
PARTITION_COLUMN = "record_year"
QUARANTINE_FILE = "quarantine.parquet"


@dataclass(frozen=True)
class SilverCounts:
    """Row accounting of one silver build: rows_in = silver + superseded + quarantined."""

    dataset: str
    rows_in: int
    silver: int
    superseded: int
    quarantined: int

    def __post_init__(self) -> None:
        if self.rows_in != self.silver + self.superseded + self.quarantined:
            raise AssertionError(f"row accounting of {self.dataset} does not add up: {self}")


class Engine(Protocol):
    """Runs the silver and gold models over the lake's Parquet."""

    name: str

    def build_silver(
        self, dataset: Dataset, bronze_files: list[Path], silver_dir: Path, quarantine_dir: Path
    ) -> SilverCounts:
        """Type, check and deduplicate ``bronze_files`` into ``silver_dir`` (partitioned by
        record year) and ``quarantine_dir`` (one file, raw values and a reason)."""
        ...

    def build_gold(self, model: GoldModel, silver_dirs: dict[str, Path], out_dir: Path) -> int:
        """Run one gold model over the silver tables named in ``silver_dirs``; rows written."""
        ...

    def close(self) -> None: ...
