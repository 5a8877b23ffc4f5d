"""The bronze writer: immutable, append-only batches of raw API rows.

A batch is one ingestion of one dataset. Each page becomes one Parquet file holding every API field
as the string received plus ingestion metadata; files are written under a temporary name, flushed
and renamed. The batch counts only once its manifest entry ``_manifest/<seq>_<batch_id>.json`` is
written (atomically, last). Nothing committed is ever rewritten; orphans of a crashed run are
removed by the next one.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from treasury_lakehouse.catalog import Dataset
from treasury_lakehouse.errors import LakeError
from treasury_lakehouse.ingest.paging import Page, Window, drift
from treasury_lakehouse.lake.files import atomic_write_json, publish_file, temporary_sibling

SOURCE_SYSTEM = "fiscaldata.treasury.gov"
METADATA_COLUMNS = (
    "ingestion_timestamp",
    "source_system",
    "batch_id",
    "request_url",
    "page_number",
    "row_index",
)


@dataclass(frozen=True)
class Batch:
    """A committed bronze batch, as its manifest entry describes it."""

    dataset: str
    batch_id: str
    seq: int
    rows: int
    pages: int
    min_record_date: date | None
    max_record_date: date | None
    ingested_at: str
    window: str
    fields: tuple[str, ...]
    files: tuple[str, ...]
    data_types: dict[str, str]

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> Batch:
        def day(v: str | None) -> date | None:
            return date.fromisoformat(v) if v else None

        return cls(
            dataset=entry["dataset"],
            batch_id=entry["batch_id"],
            seq=entry["seq"],
            rows=entry["rows"],
            pages=entry["pages"],
            min_record_date=day(entry["min_record_date"]),
            max_record_date=day(entry["max_record_date"]),
            ingested_at=entry["ingested_at"],
            window=entry["window"],
            fields=tuple(entry["fields"]),
            files=tuple(entry["files"]),
            data_types=dict(entry["data_types"]),
        )


class BronzeStore:
    """Bronze batches of every dataset under ``<lake>/bronze``."""

    def __init__(self, lake: Path) -> None:
        self.root = lake / "bronze"

    def dataset_dir(self, dataset: str) -> Path:
        return self.root / dataset

    def batches(self, dataset: str) -> list[Batch]:
        """Committed batches in commit order."""
        manifest = self.dataset_dir(dataset) / "_manifest"
        if not manifest.is_dir():
            return []
        entries = sorted(p for p in manifest.glob("*.json") if ".tmp-" not in p.name)
        return [Batch.from_entry(json.loads(p.read_text())) for p in entries]

    def files(self, dataset: str) -> list[Path]:
        """Every committed Parquet file of a dataset (uncommitted ones are invisible)."""
        base = self.dataset_dir(dataset)
        return [base / f for batch in self.batches(dataset) for f in batch.files]

    def watermark(self, dataset: str) -> date | None:
        """The greatest record date in committed bronze."""
        days = [b.max_record_date for b in self.batches(dataset) if b.max_record_date]
        return max(days, default=None)

    def remove_uncommitted(self, dataset: str) -> list[Path]:
        """Delete batch directories without a manifest entry (a crashed run's); call under lock."""
        base = self.dataset_dir(dataset)
        if not base.is_dir():
            return []
        committed = {f"batch-{b.batch_id}" for b in self.batches(dataset)}
        removed = []
        for path in base.iterdir():
            if path.name.startswith("batch-") and path.name not in committed:
                shutil.rmtree(path)
                removed.append(path)
        for path in (base / "_manifest").glob("*.tmp-*"):
            path.unlink()
            removed.append(path)
        return removed

    def write_batch(
        self,
        dataset: Dataset,
        pages: Iterable[Page],
        window: Window,
        on_page: Callable[[Page], None] | None = None,
    ) -> Batch | None:
        """Write the pages as one batch and commit it; ``None`` when the API sent no rows."""
        writer = _BatchWriter(self.dataset_dir(dataset.name), dataset)
        try:
            for page in pages:
                writer.add(page)
                if on_page:
                    on_page(page)
        except BaseException:
            writer.abort()
            raise
        if writer.rows == 0:
            writer.abort()
            return None
        seq = max((b.seq for b in self.batches(dataset.name)), default=0) + 1
        entry = writer.manifest_entry(seq, window)
        manifest = self.dataset_dir(dataset.name) / "_manifest"
        manifest.mkdir(parents=True, exist_ok=True)
        atomic_write_json(manifest / f"{seq:06d}_{writer.batch_id}.json", entry)
        return Batch.from_entry(entry)


class _BatchWriter:
    """Writes one batch's page files; knows nothing of commit order."""

    def __init__(self, base: Path, dataset: Dataset) -> None:
        self.dataset = dataset
        self.started = datetime.now(UTC)
        self.batch_id = f"{self.started:%Y%m%dT%H%M%S}Z-{uuid.uuid4().hex[:8]}"
        self.directory = base / f"batch-{self.batch_id}"
        self.rows = 0
        self.files: list[str] = []
        self.fields: list[str] = []
        self.dates: list[str] = []
        self.metas: list[dict[str, Any]] = []

    def add(self, page: Page) -> None:
        if not page.rows:
            self.metas.append({"page": page.number, "url": page.url, "meta": page.meta})
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        table = self._table(page)
        final = self.directory / f"page-{page.number:06d}.parquet"
        tmp = temporary_sibling(final)
        pq.write_table(table, tmp, compression="zstd")
        publish_file(tmp, final)
        self.files.append(f"{self.directory.name}/{final.name}")
        self.rows += table.num_rows
        dates = [r.get(self.dataset.date_column) for r in page.rows]
        valid = [d for d in dates if isinstance(d, str) and _is_iso_date(d)]
        if valid:
            self.dates += [min(valid), max(valid)]
        self.metas.append({"page": page.number, "url": page.url, "meta": page.meta})

    def _table(self, page: Page) -> pa.Table:
        names: list[str] = list(page.meta.get("dataTypes") or {})
        for row in page.rows:
            names += [k for k in row if k not in names]
        for name in names:
            if name not in self.fields:
                self.fields.append(name)
        columns: dict[str, pa.Array] = {}
        for name in names:
            columns[name] = pa.array([_as_received(r.get(name)) for r in page.rows], pa.string())
        n = len(page.rows)
        columns["ingestion_timestamp"] = pa.array([self.started] * n, pa.timestamp("us", "UTC"))
        columns["source_system"] = pa.array([SOURCE_SYSTEM] * n, pa.string())
        columns["batch_id"] = pa.array([self.batch_id] * n, pa.string())
        columns["request_url"] = pa.array([page.url] * n, pa.string())
        columns["page_number"] = pa.array([page.number] * n, pa.int32())
        columns["row_index"] = pa.array(range(n), pa.int32())
        return pa.table(columns)

    def manifest_entry(self, seq: int, window: Window) -> dict[str, Any]:
        atomic_write_json(self.directory / "api_meta.json", self.metas)
        first_meta = self.metas[0]["meta"] if self.metas else {}
        return {
            "dataset": self.dataset.name,
            "batch_id": self.batch_id,
            "seq": seq,
            "rows": self.rows,
            "pages": len(self.metas),
            "files": self.files,
            "fields": self.fields,
            "data_types": first_meta.get("dataTypes", {}),
            "drift": drift(self.dataset, first_meta.get("dataTypes", {})),
            "total_count": first_meta.get("total-count"),
            "min_record_date": min(self.dates, default=None),
            "max_record_date": max(self.dates, default=None),
            "window": str(window),
            "ingested_at": self.started.isoformat(),
            "committed_at": datetime.now(UTC).isoformat(),
        }

    def abort(self) -> None:
        if self.directory.exists():
            shutil.rmtree(self.directory)


def _as_received(value: Any) -> str | None:
    """Values are kept exactly as received; a non-string (never sent by the API) is kept as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _is_iso_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def check_contract(dataset: Dataset, batch: Batch) -> list[str]:
    """Differences between a batch's field set and ``dataTypes`` and the catalog."""
    lines = drift(dataset, batch.data_types)
    unknown = [f for f in batch.fields if f not in dataset.columns and f not in batch.data_types]
    lines += [
        f"+ {f}: (field in the rows, not in the catalog nor in meta.dataTypes)" for f in unknown
    ]
    if not batch.data_types:
        lines.append("meta.dataTypes missing from the API's answer")
    return lines


def require_committed(batches: list[Batch], dataset: str) -> None:
    if not batches:
        raise LakeError(
            f"bronze has no committed batch of {dataset}; run `treasury ingest` first",
            dataset=dataset,
        )
