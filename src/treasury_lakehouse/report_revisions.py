"""The report's "Latest revisions": what the Treasury restated, added or withdrew, newest first.

Reads the ``revisions.parquet`` of each dataset's history version that one lake commit names
(:mod:`treasury_lakehouse.history`): the latest :data:`LATEST` revisions across the datasets, by
``revised_at`` then the new batch's manifest seq, and the count of every revision per dataset and
change. :func:`revisions_section` turns them into the page's section (no I/O); the page escapes
every value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import duckdb

from treasury_lakehouse.catalog import DATASETS
from treasury_lakehouse.history import REVISIONS_FILE
from treasury_lakehouse.models.history import CHANGES
from treasury_lakehouse.paths import parquet_list_sql

#: how many revisions the page lists
LATEST = 50
HEADER = (
    "dataset",
    "record date",
    "key",
    "change",
    "column",
    "old value",
    "new value",
    "revised at",
)
_COLUMNS = "dataset, record_date, row_key, change, column_name, old_value, new_value, revised_at"


@dataclass(frozen=True)
class LatestRevisions:
    #: dataset → change → count, for every dataset with a history in the commit
    counts: dict[str, dict[str, int]]
    #: the latest revisions, newest first, as :data:`_COLUMNS`
    rows: list[tuple[Any, ...]]


def read_latest_revisions(histories: Mapping[str, Path], limit: int = LATEST) -> LatestRevisions:
    """The counts and latest revisions of the history versions ``histories`` (dataset → version
    directory, as :meth:`LakeCommit.versions` gives them)."""
    counts = {name: dict.fromkeys(CHANGES, 0) for name in histories}
    files = [v / REVISIONS_FILE for v in histories.values() if (v / REVISIONS_FILE).is_file()]
    if not files:
        return LatestRevisions(counts, [])
    listed = parquet_list_sql(files)
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"CREATE VIEW revisions AS SELECT * FROM read_parquet({listed})")
        for name, change, count in con.execute(
            "SELECT dataset, change, COUNT(*) FROM revisions GROUP BY ALL"
        ).fetchall():
            counts.setdefault(name, dict.fromkeys(CHANGES, 0))[change] = int(count)
        rows = con.execute(
            f"SELECT {_COLUMNS} FROM revisions ORDER BY revised_at DESC, new_batch_seq DESC, "
            "dataset, record_date DESC, row_key, change, column_name LIMIT ?",
            [limit],
        ).fetchall()
    return LatestRevisions(counts, rows)


def revision_rows(latest: LatestRevisions) -> list[tuple[str, ...]]:
    """The latest revisions as the page's text cells (:data:`HEADER`)."""
    return [
        (
            dataset,
            str(day),
            key_text(dataset, row_key),
            change,
            column or "—",
            value_text(dataset, column, old),
            value_text(dataset, column, new),
            time_text(revised_at),
        )
        for dataset, day, row_key, change, column, old, new, revised_at in latest.rows
    ]


def count_rows(latest: LatestRevisions) -> list[tuple[Any, ...]]:
    """Per dataset: the revisions of each change, then all of them."""
    return [
        (name, *(by_change.get(c, 0) for c in CHANGES), sum(by_change.values()))
        for name, by_change in sorted(latest.counts.items())
    ]


def key_text(dataset: str, row_key: str) -> str:
    """``row_key`` (a JSON object) as ``column=value`` pairs, the record date left out (it has
    a column of its own)."""
    try:
        parts = json.loads(row_key)
    except (TypeError, ValueError):
        return str(row_key)
    spec = DATASETS.get(dataset)
    day = spec.date_column if spec else None
    return ", ".join(f"{k}={'null' if v is None else v}" for k, v in parts.items() if k != day)


def value_text(dataset: str, column: str | None, value: str | None) -> str:
    """An old or new value: exact text, amounts with thousands separators like the rest of the
    page (their digits unchanged); ``—`` for NULL (or no value: ``added``, ``deleted``)."""
    if value is None:
        return "—"
    spec = DATASETS.get(dataset)
    if spec is None or column is None or column not in spec.columns:
        return value
    if not spec.silver_type(column).startswith(("BIGINT", "DECIMAL")):
        return value
    try:
        return f"{Decimal(value):,}"
    except InvalidOperation:
        return value


def time_text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)
