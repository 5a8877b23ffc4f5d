"""Rows per business day by layout era, measured on a records folder: how the catalog's bounds
(:attr:`~treasury_lakehouse.catalog.Era.rows_per_day`) were found, repeatable on new records.

``python -m treasury_lakehouse.testing measure --records ../shared/fiscaldata`` prints, per
dataset and era, the days, the min and max rows a day against the catalog's bounds, and the row
names seen that the era does not list.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from treasury_lakehouse.catalog import DATASETS, Dataset, era_of
from treasury_lakehouse.testing.records import read_records


@dataclass(frozen=True)
class EraMeasure:
    """What the records hold of one era of one dataset."""

    dataset: str
    era: str | None
    first_day: date
    last_day: date
    days: int
    rows: int
    min_rows: int
    max_rows: int
    catalog_bounds: tuple[int, int] | None
    unlisted_names: tuple[str, ...]

    @property
    def within_bounds(self) -> bool:
        low, high = self.catalog_bounds or (1, 10**9)
        return low <= self.min_rows and self.max_rows <= high and not self.unlisted_names


def measure_dataset(dataset: Dataset, rows: list[dict[str, str]]) -> list[EraMeasure]:
    """One :class:`EraMeasure` per era (``None``: no eras) that has days in ``rows``."""
    per_day: Counter[date] = Counter()
    names: dict[str | None, set[str]] = defaultdict(set)
    for row in rows:
        day = date.fromisoformat(row[dataset.date_column])
        per_day[day] += 1
        era = era_of(dataset, day)
        if dataset.row_name_column:
            names[era.name if era else None].add(row[dataset.row_name_column])
    by_era: dict[str | None, dict[date, int]] = defaultdict(dict)
    for day, count in per_day.items():
        era = era_of(dataset, day)
        by_era[era.name if era else None][day] = count
    listed = {era.name: set(era.row_names) for era in dataset.eras}
    bounds = dataset.row_bounds()
    return [
        EraMeasure(
            dataset.name, name, min(days), max(days), len(days), sum(days.values()),
            min(days.values()), max(days.values()), bounds.get(name),
            tuple(sorted(names[name] - listed[name])) if name in listed else (),
        )
        for name, days in by_era.items()
    ]  # fmt: skip


def measure_records(records_dir: Path) -> list[EraMeasure]:
    """Every catalog dataset whose records are in ``records_dir``."""
    found = []
    for name, dataset in DATASETS.items():
        path = records_dir / "records" / f"{name}.jsonl.gz"
        if path.exists():
            found += measure_dataset(dataset, read_records(path))
    return found
