"""A lake in a bucket (``TREASURY_LAKE=s3://...`` or ``gs://...``), worked on through a local cache.

Every step reads and writes a local root, ``<home>/lake``, as it does for a lake in a folder. For a
lake in a bucket that root is a cache of the bucket's immutable files, and this module moves files
between them at the points where a step publishes or starts:

- **A bronze batch** is uploaded (its page files and ``api_meta.json``), then its seq is claimed
  with a create-if-absent of ``bronze/<dataset>/_seqs/<seq:06d>``, then its manifest entry is
  created (create-if-absent) in the bucket, and only then written to the cache. A writer that
  finds its seq claimed by another batch claims the next one (the batch's rows and window are
  the same at any seq: bronze is ordered by seq, and silver keeps the latest of each key).
- **A lake commit**: every version it names is uploaded first (its files, then
  ``_uploaded.json``, the version's list of files with sizes and SHA-256, created last), then the
  commit record is created in the bucket (:mod:`.commit_log`, under a lease).
- **A quality report** is uploaded once written (its name is unique).
- **Each step starts** by pulling what the bucket holds and the cache lacks: bronze batches whose
  manifest entry exists (files checked against the entry's sizes and SHA-256), the versions the
  newest commit retains (checked against ``_uploaded.json``), and quality reports. A version
  another commit needs (``--as-of``) is fetched when that commit is read
  (:meth:`~.commit.LakeCommit.missing`).

Nothing in the bucket is ever overwritten, and nothing is visible before the record that names
it exists: a batch's files without a manifest entry, and versions no commit names, are left
behind by a killed writer and never read. Downloads land under a temporary name and are renamed
into place, so a killed pull leaves only what :func:`~.files.remove_orphans` removes.

**Pruning** (:meth:`RemoteLake.prune`, after each transform's commit) deletes from the bucket
the versions no recent commit keeps, once their grace has passed.

The cache records which lake it caches (``_remote.json``): a home caches one lake only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from treasury_lakehouse.errors import ConfigError, LakeError
from treasury_lakehouse.lake.commit_log import register_commit_store
from treasury_lakehouse.lake.files import (
    TMP_MARK,
    atomic_write_bytes,
    temporary_sibling,
    version_stamp,
)
from treasury_lakehouse.lake.store import (
    AlreadyExists,
    ObjectMissing,
    ObjectStore,
    check_key,
    open_store,
)

if TYPE_CHECKING:
    from treasury_lakehouse.config import Settings

log = logging.getLogger(__name__)

#: in the cache root: the URI of the lake it caches
MARKER = "_remote.json"
#: in the bucket, beside a version's files: their sizes and SHA-256, created last
UPLOADED = "_uploaded.json"
#: ``bronze/<dataset>/_seqs/<seq:06d>``: the batch id that holds the seq
SEQS = "_seqs"
QUALITY = "_quality"
#: how many times a batch claims a later seq after losing one to another writer
CLAIM_TRIES = 20
#: files moved at once
_THREADS = 8

_mirrors: dict[Path, RemoteLake] = {}
_mirrors_lock = threading.Lock()


class BatchSeqConflictError(LakeError):
    """Other writers kept claiming the seq this batch tried (context ``dataset``). Transient."""

    transient = True


def attach(settings: Settings, *, pull: bool = True) -> RemoteLake | None:
    """For a lake in a bucket: register it for its cache root (commit log, uploads) and pull what
    the cache lacks; ``None`` for a lake in a folder."""
    uri = settings.remote_lake
    if uri is None:
        return None
    root = settings.lake.absolute()
    with _mirrors_lock:
        mirror = _mirrors.get(root)
    if mirror is None or mirror.uri != uri:
        mirror = RemoteLake(uri, open_store(uri), root, prune_grace_s=settings.prune_grace_s)
        mirror.claim_cache()
        register_commit_store(root, mirror.store, lease_s=settings.lease_s)
        with _mirrors_lock:
            _mirrors[root] = mirror
    else:  # this command's settings
        mirror.prune_grace_s = settings.prune_grace_s
    if pull:
        mirror.pull()
    return mirror


def detach(root: Path) -> None:
    """Forget the bucket of the cache at ``root`` (tests switch lakes within one process)."""
    from treasury_lakehouse.lake.commit_log import unregister_commit_store

    with _mirrors_lock:
        _mirrors.pop(root.absolute(), None)
    unregister_commit_store(root)


def mirror_of(root: Path) -> RemoteLake | None:
    """The bucket the lake root caches, if any."""
    with _mirrors_lock:
        return _mirrors.get(root.absolute())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class PullResult:
    batches: int = 0
    versions: int = 0
    reports: int = 0
    files: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)


class RemoteLake:
    """The bucket at :attr:`uri` and its cache root :attr:`root`."""

    def __init__(self, uri: str, store: ObjectStore, root: Path, *, prune_grace_s: float) -> None:
        self.uri, self.store, self.root = uri, store, root
        #: how old an unnamed version must be before :meth:`prune` deletes it
        self.prune_grace_s = prune_grace_s

    def __repr__(self) -> str:
        return f"RemoteLake({self.uri!r}, cache={str(self.root)!r})"

    def claim_cache(self) -> None:
        """Mark the cache root as this lake's; one line if it caches another lake."""
        marker = self.root / MARKER
        try:
            cached = json.loads(marker.read_text())["uri"]
        except FileNotFoundError:
            if self.root.is_dir() and any(p.name != MARKER for p in self.root.iterdir()):
                raise ConfigError(
                    f"{self.root} holds a lake in a folder; a lake in a bucket ({self.uri}) needs "
                    "a home of its own (--home) for its cache"
                ) from None
            atomic_write_bytes(marker, json.dumps({"uri": self.uri}).encode())
            return
        except (ValueError, KeyError, TypeError):
            raise LakeError(
                f"{marker} is unreadable; remove it to use {self.root} as a cache"
            ) from None
        if cached != self.uri:
            raise ConfigError(
                f"{self.root} caches the lake {cached}, not {self.uri}; give each lake a home "
                "of its own (--home)"
            )

    # ------------------------------------------------------------------ files

    def _key(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _download(self, files: dict[str, tuple[int, str]], base_key: str, target: Path) -> int:
        """Fetch ``files`` (name relative to ``base_key`` → size, SHA-256) into a temporary
        sibling of ``target`` and rename it into place; returns the bytes fetched."""
        for name in files:  # names come from the bucket: never outside the target
            check_key(name)
        tmp = temporary_sibling(target)
        tmp.mkdir(parents=True)

        def one(item: tuple[str, tuple[int, str]]) -> int:
            name, (size, digest) = item
            data = self.store.get(f"{base_key}/{name}")[0]
            if len(data) != size or _sha256(data) != digest:
                raise LakeError(
                    f"{self.store.where(f'{base_key}/{name}')} is {len(data)} bytes with another "
                    f"SHA-256 than its record says ({size} bytes): the bucket's copy is damaged"
                )
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            return size

        try:
            with ThreadPoolExecutor(_THREADS) as pool:
                fetched = sum(pool.map(one, sorted(files.items())))
            if target.exists():  # a leftover of this home's own killed writer: the bucket wins
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return fetched

    def _upload_tree(self, directory: Path, skip: Iterable[str] = ()) -> dict[str, tuple[int, str]]:
        """Put every file under ``directory``; returns name → (size, SHA-256)."""
        skipped = set(skip)
        paths = sorted(
            p
            for p in directory.rglob("*")
            if p.is_file() and TMP_MARK not in p.name and p.name not in skipped
        )
        base = self._key(directory)

        def one(path: Path) -> tuple[str, tuple[int, str]]:
            data = path.read_bytes()
            name = path.relative_to(directory).as_posix()
            self.store.put(f"{base}/{name}", data)
            return name, (len(data), _sha256(data))

        with ThreadPoolExecutor(_THREADS) as pool:
            return dict(pool.map(one, paths))

    def _unreadable(self, key: str, error: Exception) -> LakeError:
        return LakeError(
            f"{self.store.where(key)} cannot be read ({type(error).__name__}: {error}): the "
            "bucket's record is damaged; nothing was fetched from it"
        )

    # ------------------------------------------------------------------ versions

    def upload_versions(self, versions: Iterable[Path]) -> int:
        """Upload each version directory the bucket lacks: its files, then ``_uploaded.json``
        (create-if-absent, last). Returns how many were uploaded."""
        uploaded = 0
        for version in versions:
            key = f"{self._key(version)}/{UPLOADED}"
            if self.store.head(key) is not None:
                continue
            if not version.is_dir():
                raise LakeError(f"{version} is not in the cache: cannot upload it to {self.uri}")
            files = self._upload_tree(version)
            record = {name: [size, digest] for name, (size, digest) in files.items()}
            with suppress(AlreadyExists):  # this writer's own create, whose answer was lost
                self.store.create(key, json.dumps({"files": record}, sort_keys=True).encode())
            uploaded += 1
            log.debug("uploaded %s (%d files)", self.store.where(self._key(version)), len(files))
        return uploaded

    def fetch_versions(self, versions: Iterable[Path]) -> PullResult:
        """Download each version the cache lacks and the bucket holds complete."""
        result = PullResult()
        for version in versions:
            if version.is_dir():
                continue
            base = self._key(version)
            try:
                record = json.loads(self.store.get(f"{base}/{UPLOADED}")[0])
            except ObjectMissing:
                result.problems.append(f"{self.store.where(base)} is not in the bucket")
                continue
            except ValueError as error:
                raise self._unreadable(f"{base}/{UPLOADED}", error) from None
            try:
                files = {name: (int(v[0]), str(v[1])) for name, v in record["files"].items()}
            except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
                raise self._unreadable(f"{base}/{UPLOADED}", error) from None
            result.bytes += self._download(files, base, version)
            result.files += len(files)
            result.versions += 1
        return result

    def prune(self, retained: Iterable[Path], now: datetime | None = None) -> list[str]:
        """Delete from the bucket every version no commit in ``retained`` keeps (named, or carried
        by reference) and whose name's stamp is :attr:`prune_grace_s` old: a superseded version,
        or the files of a writer that lost its commit or was killed. A younger unnamed version
        may be another home's upload for the commit it is about to write, and stays.

        Runs under the commit scope (the lease), after the newest commit: every commit written
        later builds on that one, whose versions stay. ``_uploaded.json`` goes first, so a
        version half deleted by a killed pruner is one without its record: never read, and
        deleted by the next prune. Returns the versions deleted (their keys)."""
        from treasury_lakehouse.lake.commit import LAYER_DIRS

        keep = {self._key(path.absolute()) for path in retained}
        cutoff = (now or datetime.now(UTC)) - timedelta(seconds=self.prune_grace_s)
        doomed: dict[str, list[str]] = {}
        for layer in LAYER_DIRS.values():
            for key in self.store.list(f"{layer}/"):
                parts = key.split("/")
                version = "/".join(parts[:3])
                if len(parts) < 4 or version in keep:
                    continue
                stamp = version_stamp(parts[2])
                if stamp is not None and stamp <= cutoff:
                    doomed.setdefault(version, []).append(key)
        records = {f"{version}/{UPLOADED}" for version in doomed}
        keys = sorted(key for version_keys in doomed.values() for key in version_keys)
        with ThreadPoolExecutor(_THREADS) as pool:  # every record before any file
            list(pool.map(self.store.delete, [key for key in keys if key in records]))
            list(pool.map(self.store.delete, [key for key in keys if key not in records]))
        if doomed:
            log.info("pruned %d versions from %s", len(doomed), self.uri)
        return sorted(doomed)

    def missing_versions(self, versions: Iterable[Path]) -> list[str]:
        """The versions among ``versions`` the bucket does not hold complete."""
        return [
            self.store.where(self._key(v))
            for v in versions
            if self.store.head(f"{self._key(v)}/{UPLOADED}") is None
        ]

    # ------------------------------------------------------------------ bronze

    def _seq_claims(self, dataset: str) -> list[int]:
        prefix = f"bronze/{dataset}/{SEQS}/"
        return sorted(int(k.removeprefix(prefix)) for k in self.store.list(prefix))

    def publish_batch(
        self, dataset: str, directory: Path, entry_for: Callable[[int], dict[str, Any]], seq: int
    ) -> dict[str, Any]:
        """Upload a written batch and commit it in the bucket at ``seq`` or, when other writers
        hold that seq, at the first free one after; returns the manifest entry committed."""
        entry = entry_for(seq)  # writes api_meta.json, which is uploaded with the pages
        self._upload_tree(directory)
        batch_id = str(entry["batch_id"])
        for _ in range(CLAIM_TRIES):
            claimed = self._seq_claims(dataset)
            seq = max(seq, (claimed[-1] + 1) if claimed else 1)
            entry = entry_for(seq)
            claim = f"bronze/{dataset}/{SEQS}/{seq:06d}"
            try:
                self.store.create(claim, batch_id.encode())
            except AlreadyExists:
                if self.store.get(claim)[0] != batch_id.encode():
                    log.info(
                        "bronze %s seq %d was taken by another writer; trying the next one",
                        dataset,
                        seq,
                    )
                    seq += 1
                    continue
            data = json.dumps(entry, indent=2, sort_keys=True, default=str).encode()
            name = f"bronze/{dataset}/_manifest/{seq:06d}_{batch_id}.json"
            # the seq is this batch's own (claimed above): an existing entry is its own, whose
            # answer was lost
            with suppress(AlreadyExists):
                self.store.create(name, data)
            committed: dict[str, Any] = json.loads(data)
            return committed
        raise BatchSeqConflictError(
            f"bronze {dataset}: other writers took {CLAIM_TRIES} seqs in a row in {self.uri}; "
            "run `treasury ingest` again",
            dataset=dataset,
        )

    def pull_bronze(self, result: PullResult) -> None:
        from treasury_lakehouse.catalog import DATASETS

        for dataset in sorted(DATASETS):
            prefix = f"bronze/{dataset}/_manifest/"
            local = self.root / "bronze" / dataset / "_manifest"
            for key in self.store.list(prefix):
                name = key.removeprefix(prefix)
                if "/" in name or not name.endswith(".json") or (local / name).exists():
                    continue
                data = self.store.get(key)[0]
                try:
                    entry = json.loads(data)
                    files = {
                        file: (int(size), str(entry["file_sha256"][file]))
                        for file, size in entry["file_bytes"].items()
                    }
                    batch = f"batch-{entry['batch_id']}"
                except (KeyError, TypeError, ValueError, AttributeError) as error:
                    raise self._unreadable(key, error) from None
                inside = {n.removeprefix(f"{batch}/"): v for n, v in files.items()}
                target = self.root / "bronze" / dataset / batch
                result.bytes += self._download(inside, f"bronze/{dataset}/{batch}", target)
                result.files += len(files)
                atomic_write_bytes(local / name, data)
                result.batches += 1

    # ------------------------------------------------------------------ quality reports

    def upload_file(self, path: Path) -> None:
        """Put one file of the cache (a quality report: its name is unique) in the bucket."""
        self.store.put(self._key(path), path.read_bytes())

    def pull_reports(self, result: PullResult) -> None:
        from treasury_lakehouse.quality.store import STATE_SUFFIX

        keys = self.store.list(f"{QUALITY}/")
        states = [k for k in keys if k.endswith(STATE_SUFFIX)]
        wanted = [k for k in keys if not k.endswith(STATE_SUFFIX)] + states[-1:]
        for key in wanted:
            path = self.root / key
            if TMP_MARK in key or path.exists():
                continue
            data = self.store.get(key)[0]
            atomic_write_bytes(path, data)
            result.reports += 1
            result.bytes += len(data)
        for older in (self.root / QUALITY).glob(f"*{STATE_SUFFIX}"):
            if states and older.name != Path(states[-1]).name and TMP_MARK not in older.name:
                older.unlink(missing_ok=True)

    # ------------------------------------------------------------------ pull

    def pull(self) -> PullResult:
        """Bring the cache up to the bucket: bronze, the newest commit's versions, reports."""
        from treasury_lakehouse.lake.commit import head_commit

        result = PullResult()
        self.pull_bronze(result)
        head = head_commit(self.root)
        if head is not None:
            parts = [self.fetch_versions(head.references())]
            try:
                parts.append(self.fetch_versions(head.retained()))
            except LakeError as error:  # a history's _build.json is damaged: verify reports it
                result.problems.append(str(error))
            for part in parts:
                result.versions += part.versions
                result.files += part.files
                result.bytes += part.bytes
                result.problems += part.problems
        self.pull_reports(result)
        if result.batches or result.versions or result.reports:
            log.info(
                "pulled from %s: %d bronze batches, %d versions, %d quality reports "
                "(%d files, %d bytes)",
                self.uri,
                result.batches,
                result.versions,
                result.reports,
                result.files,
                result.bytes,
            )
        return result
