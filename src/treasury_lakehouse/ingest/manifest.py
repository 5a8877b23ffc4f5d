"""Bronze manifest entries: the parsed :class:`Batch`, read strictly or tolerantly, and the
size/sha256 check of committed files. The writer is :mod:`treasury_lakehouse.ingest.bronze`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from treasury_lakehouse.errors import CorruptLakeError

#: a manifest entry's file name: ``<seq>_<batch_id>.json``
ENTRY_NAME = re.compile(r"^(?P<seq>\d+)_(?P<batch_id>[^/]+)\.json$")
#: the batch's record of the API's answers (written before the manifest entry, with the pages)
API_META = "api_meta.json"
#: ``<lake>/_damaged/<dataset>/_refetch/``: windows of damaged batches not yet fetched again
REFETCH = "_refetch"
REPAIR_HINT = "run `treasury repair` to move it aside and re-fetch its window from the API"


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
    #: size in bytes and sha256 of each committed file (pages and api_meta.json), by path relative
    #: to the dataset folder; empty in manifests written before they were recorded
    file_bytes: dict[str, int] = field(default_factory=dict)
    file_sha256: dict[str, str] = field(default_factory=dict)
    #: when the manifest entry was written (UTC ISO 8601): the batch's commit time; entries
    #: written before it was recorded fall back to ``ingested_at``
    committed_at: str = ""

    @property
    def commit_time(self) -> str:
        """The batch's commit time (for display: batches are ordered by ``seq``)."""
        return self.committed_at or self.ingested_at

    @property
    def directory(self) -> str:
        return f"batch-{self.batch_id}"

    @property
    def record_range(self) -> tuple[date, date] | None:
        """The first and last record date the batch holds; None for a batch without rows."""
        if self.min_record_date is None or self.max_record_date is None:
            return None
        return (self.min_record_date, self.max_record_date)

    @property
    def committed_files(self) -> tuple[str, ...]:
        """The page files, then every other file the entry recorded (``api_meta.json``)."""
        return self.files + tuple(f for f in self.file_bytes if f not in self.files)

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> Batch:
        """The batch an entry describes; ``ValueError`` (or ``KeyError``/``TypeError``) naming
        the first key that is missing or of the wrong type."""
        _check_entry_types(entry)

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
            file_bytes=dict(entry.get("file_bytes") or {}),
            file_sha256=dict(entry.get("file_sha256") or {}),
            committed_at=str(entry.get("committed_at") or ""),
        )


_ENTRY_TYPES: dict[str, type | tuple[type, ...]] = {
    "dataset": str,
    "batch_id": str,
    "seq": int,
    "rows": int,
    "pages": int,
    "min_record_date": (str, type(None)),
    "max_record_date": (str, type(None)),
    "ingested_at": str,
    "window": str,
    "fields": list,
    "files": list,
    "data_types": dict,
    "file_bytes": (dict, type(None)),
    "file_sha256": (dict, type(None)),
}


def _check_entry_types(entry: Any) -> None:
    if not isinstance(entry, dict):
        raise ValueError(f"holds a JSON {type(entry).__name__}, not an object")
    for key, kind in _ENTRY_TYPES.items():
        value = entry.get(key)
        if key not in entry and key not in ("file_bytes", "file_sha256"):
            raise ValueError(f"has no {key!r}")
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"{key!r} is {value!r:.60}, of the wrong type")
    lists = {"fields": entry["fields"], "files": entry["files"]}
    for key, values in lists.items():
        if not all(isinstance(v, str) for v in values):
            raise ValueError(f"{key!r} holds a value that is not a string")
    prefix = f"batch-{entry['batch_id']}/"
    recorded = [
        *entry["files"],
        *(entry.get("file_bytes") or {}),
        *(entry.get("file_sha256") or {}),
    ]
    outside = [f for f in recorded if not f.startswith(prefix) or ".." in f]
    if outside:
        raise ValueError(f"names a file outside its batch folder: {outside[0]!r:.80}")
    if not all(isinstance(v, int) for v in (entry.get("file_bytes") or {}).values()):
        raise ValueError("'file_bytes' holds a size that is not a whole number")
    if not all(isinstance(v, str) for v in (entry.get("file_sha256") or {}).values()):
        raise ValueError("'file_sha256' holds a checksum that is not a string")


@dataclass(frozen=True)
class ManifestEntry:
    """One file of a ``_manifest``, read tolerantly: the batch, or why it is unreadable."""

    path: Path
    batch: Batch | None
    problem: str | None = None

    @property
    def seq(self) -> int | None:
        """The commit sequence, from the entry or, when it is unreadable, from its file name."""
        if self.batch is not None:
            return self.batch.seq
        match = ENTRY_NAME.match(self.path.name)
        return int(match["seq"]) if match else None

    @property
    def batch_id(self) -> str | None:
        if self.batch is not None:
            return self.batch.batch_id
        match = ENTRY_NAME.match(self.path.name)
        return match["batch_id"] if match else None


def read_entry(path: Path, dataset: str) -> ManifestEntry:
    """Parse one manifest entry; never raises for bad content (see ``ManifestEntry.problem``)."""
    try:
        raw = json.loads(path.read_bytes())
        batch = Batch.from_entry(raw)
        for problem in _entry_mismatches(path, dataset, batch):
            raise ValueError(problem)
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as error:
        text = " ".join(str(error).split()) or type(error).__name__
        return ManifestEntry(path, None, f"{type(error).__name__}: {text}"[:200])
    return ManifestEntry(path, batch)


def _entry_mismatches(path: Path, dataset: str, batch: Batch) -> list[str]:
    problems = []
    if batch.dataset != dataset:
        problems.append(f"names dataset {batch.dataset!r} but lies in {dataset}'s manifest")
    if path.name != f"{batch.seq:06d}_{batch.batch_id}.json":
        problems.append(f"names seq {batch.seq} and batch {batch.batch_id}, not its file name")
    return problems


def corrupt_entry_error(entry: ManifestEntry) -> CorruptLakeError:
    return CorruptLakeError(
        f"bronze manifest entry {entry.path} is corrupt ({entry.problem}); {REPAIR_HINT} "
        "(`treasury verify` lists all damage)",
        path=str(entry.path),
    )


def file_problem(path: Path, size: int | None, sha256: str | None) -> str | None:
    """Why a committed file is damaged, or ``None``: missing, wrong size, wrong checksum.

    ``size``/``sha256`` ``None`` (not recorded) skip that check; the checksum reads the file.
    """
    try:
        actual = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    except OSError as error:
        return f"unreadable ({error.strerror})"
    if size is not None and actual != size:
        return f"{actual:,} bytes where the manifest recorded {size:,}"
    if sha256 is not None:
        try:
            digest = sha256_of(path)
        except OSError as error:
            return f"unreadable ({error.strerror})"
        if digest != sha256:
            return f"sha256 {digest[:12]}… where the manifest recorded {sha256[:12]}…"
    return None


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
