"""The bronze writer: immutable, append-only batches of raw API rows.

A batch is one ingestion of one dataset. Each page becomes one Parquet file holding every API field
as the string received plus ingestion metadata; files are written under a temporary name, flushed
and renamed. The batch counts only once its manifest entry ``_manifest/<seq>_<batch_id>.json`` is
written (atomically, last); it records each committed file's size and sha256, so damage (a lost,
truncated or altered file) is found by :mod:`treasury_lakehouse.lake.verify`. Nothing committed is
ever rewritten; orphans of a crashed run are removed by the next one. ``treasury repair`` moves a
damaged batch, with its manifest entry, to ``<lake>/_damaged/<dataset>/`` (never deleting it).
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from treasury_lakehouse.catalog import Dataset
from treasury_lakehouse.errors import CorruptLakeError, LakeError
from treasury_lakehouse.ingest.manifest import (
    API_META,
    ENTRY_NAME,
    REFETCH,
    REPAIR_HINT,
    ManifestEntry,
    corrupt_entry_error,
    file_problem,
    read_entry,
    sha256_of,
)
from treasury_lakehouse.ingest.manifest import (
    Batch as Batch,  # re-exported: callers import Batch from here
)
from treasury_lakehouse.ingest.paging import Page, Window, drift
from treasury_lakehouse.lake.files import atomic_write_json, publish_file, temporary_sibling
from treasury_lakehouse.lake.remote import mirror_of

SOURCE_SYSTEM = "fiscaldata.treasury.gov"
METADATA_COLUMNS = (
    "ingestion_timestamp",
    "source_system",
    "batch_id",
    "request_url",
    "page_number",
    "row_index",
)


class BronzeStore:
    """Bronze batches of every dataset under ``<lake>/bronze``."""

    def __init__(self, lake: Path) -> None:
        self.lake = lake
        self.root = lake / "bronze"
        self.damaged_root = lake / "_damaged"

    def dataset_dir(self, dataset: str) -> Path:
        return self.root / dataset

    def damaged_dir(self, dataset: str) -> Path:
        """Where ``treasury repair`` keeps a dataset's damaged batches and their entries."""
        return self.damaged_root / dataset

    def entries(self, dataset: str) -> list[ManifestEntry]:
        """Every manifest entry in commit order, read tolerantly (for verify and repair)."""
        manifest = self.dataset_dir(dataset) / "_manifest"
        if not manifest.is_dir():
            return []
        paths = sorted(p for p in manifest.glob("*.json") if ".tmp-" not in p.name)
        return [read_entry(p, dataset) for p in paths]

    def batches(self, dataset: str) -> list[Batch]:
        """Committed batches in commit order; :class:`CorruptLakeError` for an unreadable entry."""
        batches = []
        for entry in self.entries(dataset):
            if entry.batch is None:
                raise corrupt_entry_error(entry)
            batches.append(entry.batch)
        return batches

    def files(self, dataset: str) -> list[Path]:
        """Every committed Parquet file of a dataset (uncommitted ones are invisible).

        Raises :class:`CorruptLakeError` naming the first file that is missing or whose size
        differs from the manifest's record (a cheap check: checksums are left to ``verify``).
        """
        batches = self.batches(dataset)
        self.require_intact(dataset, batches)
        base = self.dataset_dir(dataset)
        return [base / f for batch in batches for f in batch.files]

    def damage(self, batch: Batch, checksums: bool = False) -> list[tuple[Path, str]]:
        """The damaged committed files of a batch, each with what is wrong with it."""
        base = self.dataset_dir(batch.dataset)
        found = []
        for name in batch.committed_files:
            sha256 = batch.file_sha256.get(name) if checksums else None
            problem = file_problem(base / name, batch.file_bytes.get(name), sha256)
            if problem:
                found.append((base / name, problem))
        return found

    def require_intact(
        self, dataset: str, batches: list[Batch] | None = None, *, repairing: bool = False
    ) -> None:
        """Raise :class:`CorruptLakeError` for the first missing or wrong-sized committed file, or
        (unless ``repairing``) for a damaged batch's window that repair has not fetched again."""
        for batch in self.batches(dataset) if batches is None else batches:
            for path, problem in self.damage(batch):
                raise CorruptLakeError(
                    f"bronze file {path} of {dataset} batch {batch.batch_id} is damaged "
                    f"({problem}); {REPAIR_HINT} (`treasury verify` lists all damage)",
                    path=str(path),
                    dataset=dataset,
                )
        pending = [] if repairing else self.pending_refetches(dataset)
        if pending:
            raise CorruptLakeError(
                f"bronze of {dataset} lacks the window of a damaged batch that was moved aside "
                f"({pending[0]}); run `treasury repair` to fetch it again",
                path=str(pending[0]),
                dataset=dataset,
            )

    def pending_refetches(self, dataset: str) -> list[Path]:
        """Markers of damaged batches moved aside whose window is not yet fetched again."""
        folder = self.damaged_dir(dataset) / REFETCH
        return sorted(p for p in folder.glob("*.json") if ".tmp-" not in p.name)

    def max_seq(self, dataset: str) -> int:
        """The greatest seq ever committed: in the manifest or moved to ``_damaged``."""
        names = [p.name for p in (self.dataset_dir(dataset) / "_manifest").glob("*.json")]
        names += [p.name for p in (self.damaged_dir(dataset) / "_manifest").glob("*.json")]
        seqs = [int(m["seq"]) for m in map(ENTRY_NAME.match, names) if m]
        seqs += [e.seq for e in self.entries(dataset) if e.seq is not None]
        return max(seqs, default=0)

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
        *,
        repairing: bool = False,
    ) -> Batch | None:
        """Write the pages as one batch and commit it; ``None`` when the API sent no rows.

        Refuses (:class:`CorruptLakeError`, before reading a page) while the dataset's committed
        bronze is damaged: a new batch cannot heal it, ``treasury repair`` can (``repairing``:
        repair fetching a damaged batch's window again).
        """
        self.require_intact(dataset.name, repairing=repairing)
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
        return self._commit(dataset, writer, window)

    def write_empty_batch(self, dataset: Dataset, window: Window, note: str) -> Batch:
        """Commit a batch without rows: the source has none of ``dataset`` in ``window`` (it lies
        outside the dataset's span, or nothing was published from its first date). It records
        that the window was asked, and why (``note``), and holds every catalog column (strings, no
        row) so silver is an empty table with its schema. Only for a dataset without committed
        bronze (nothing is there to be superseded; a later batch adds the rows)."""
        self.require_intact(dataset.name)
        writer = _BatchWriter(self.dataset_dir(dataset.name), dataset)
        writer.add_empty(note)
        return self._commit(dataset, writer, window, pages=0)

    def _commit(
        self, dataset: Dataset, writer: _BatchWriter, window: Window, pages: int | None = None
    ) -> Batch:
        """Write the batch's manifest entry, last: the batch counts from then on. A lake in a
        bucket commits it there first (:meth:`~.remote.RemoteLake.publish_batch`), at the
        first seq no other writer holds."""

        def entry_for(seq: int) -> dict[str, Any]:
            entry = writer.manifest_entry(seq, window)
            if pages is not None:
                entry["pages"] = pages
            return entry

        seq = self.max_seq(dataset.name) + 1
        mirror = mirror_of(self.lake)
        if mirror is None:
            entry = entry_for(seq)
        else:
            entry = mirror.publish_batch(dataset.name, writer.directory, entry_for, seq)
            seq = int(entry["seq"])
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
        self.file_bytes: dict[str, int] = {}
        self.file_sha256: dict[str, str] = {}

    def add(self, page: Page) -> None:
        if not page.rows:
            self.metas.append({"page": page.number, "url": page.url, "meta": page.meta})
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        table = self._table(page)
        final = self.directory / f"page-{page.number:06d}.parquet"
        tmp = temporary_sibling(final)
        pq.write_table(table, tmp, compression="zstd")
        self._record(final, tmp)
        publish_file(tmp, final)
        self.files.append(f"{self.directory.name}/{final.name}")
        self.rows += table.num_rows
        dates = [r.get(self.dataset.date_column) for r in page.rows]
        valid = [d for d in dates if isinstance(d, str) and _is_iso_date(d)]
        if valid:
            self.dates += [min(valid), max(valid)]
        self.metas.append({"page": page.number, "url": page.url, "meta": page.meta})

    def add_empty(self, note: str) -> None:
        """One page file without rows, with every catalog column (the contract stands in for
        the API's ``meta.dataTypes``, since nothing was asked)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        meta = {"dataTypes": dict(self.dataset.columns), "total-count": 0, "note": note}
        table = self._table(Page(0, [], meta, ""))
        final = self.directory / f"page-{0:06d}.parquet"
        tmp = temporary_sibling(final)
        pq.write_table(table, tmp, compression="zstd")
        self._record(final, tmp)
        publish_file(tmp, final)
        self.files.append(f"{self.directory.name}/{final.name}")
        self.metas.append({"page": 0, "url": None, "meta": meta})

    def _record(self, final: Path, written: Path) -> None:
        """Remember the size and sha256 of a file as written, for the manifest entry."""
        name = f"{self.directory.name}/{final.name}"
        self.file_bytes[name] = written.stat().st_size
        self.file_sha256[name] = sha256_of(written)

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
        meta_path = self.directory / API_META
        atomic_write_json(meta_path, self.metas)
        self._record(meta_path, meta_path)
        first_meta = self.metas[0]["meta"] if self.metas else {}
        return {
            "dataset": self.dataset.name,
            "batch_id": self.batch_id,
            "seq": seq,
            "rows": self.rows,
            "pages": len(self.metas),
            "files": self.files,
            "file_bytes": self.file_bytes,
            "file_sha256": self.file_sha256,
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
            f"bronze has no committed batch of {dataset}: no ingest has run yet, or the API had no "
            "records in the windows asked so far; ingest (an earlier window with --start or "
            "TREASURY_START_DATE if it answered nothing)",
            dataset=dataset,
        )
