"""Where a lake's commit log lives, and how one commit record is created in it.

Every caller names a lake by its local root (a :class:`~pathlib.Path`). The commit log,
``_commits/<seq:010d>.json``, lives in the :class:`~.store.ObjectStore` that root maps to:

- by default a :class:`~.store.LocalStore` over the root itself: the same files as ever, so an
  existing lake needs no migration;
- or a store registered for the root (:func:`register_commit_store`): a lake in a bucket keeps a
  local cache directory as its root, and its commit log in the bucket.

A commit is created with create-if-absent (:meth:`~.store.ObjectStore.create`), never written
over. Writers take turns under the commit scope: the ``flock`` of ``<home>/.locks`` for a local
log (:func:`~.lock.commit_lock`), a lease (:mod:`.lease`, ``TREASURY_LEASE_S``) for any other store.
The lease only makes writers wait their turn; the create is what keeps two writers from both
publishing one seq, so a writer whose lease lapsed still cannot overwrite a commit.

A create whose answer was lost and whose retry then met the object it had itself written reports
:class:`~.store.AlreadyExists`; the record found is compared with the one written, byte for byte
(its run id, its versions, its time), and taken as this writer's own when they are equal.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from treasury_lakehouse.errors import LakeError
from treasury_lakehouse.lake.files import remove_orphans
from treasury_lakehouse.lake.lease import Lease, LeaseHeldError, acquire_lease
from treasury_lakehouse.lake.lock import COMMIT_SCOPE, COMMIT_WAIT_S, commit_lock
from treasury_lakehouse.lake.store import AlreadyExists, LocalStore, ObjectMissing, ObjectStore

log = logging.getLogger(__name__)

COMMITS = "_commits"
_COMMIT_KEY = re.compile(rf"^{COMMITS}/(\d{{10}})\.json$")
#: the longest pause between two tries at a commit lease another writer holds
_MAX_PAUSE_S = 1.0

_registered: dict[Path, tuple[ObjectStore, float]] = {}
_registry_lock = threading.Lock()


class CommitConflictError(LakeError):
    """Another writer published the commit this writer built its versions for (context
    ``seq``, ``winner``: that commit's run id). Transient: a new transform builds on it."""

    transient = True


def register_commit_store(root: Path, store: ObjectStore, *, lease_s: float | None = None) -> None:
    """Keep the commit log of the lake at ``root`` in ``store`` (leases of ``lease_s`` seconds,
    by default ``Settings.lease_s`` from ``TREASURY_LEASE_S``)."""
    if lease_s is None:
        from treasury_lakehouse.config import settings_from_env

        lease_s = settings_from_env().lease_s
    with _registry_lock:
        _registered[_key(root)] = (store, lease_s)


def unregister_commit_store(root: Path) -> None:
    """Back to the default: the commit log in the folder ``root``."""
    with _registry_lock:
        _registered.pop(_key(root), None)


def _key(root: Path) -> Path:
    return root.absolute()


def commit_log(root: Path) -> CommitLog:
    """The commit log of the lake at ``root``."""
    with _registry_lock:
        found = _registered.get(_key(root))
    if found is None:
        return CommitLog(root, LocalStore(root), lease_s=0.0)
    return CommitLog(root, found[0], lease_s=found[1])


def commit_key(seq: int) -> str:
    return f"{COMMITS}/{seq:010d}.json"


@dataclass(frozen=True)
class CommitLog:
    """One lake's ``_commits/`` in its store."""

    root: Path
    store: ObjectStore
    lease_s: float

    @property
    def local(self) -> bool:
        """A folder: the commit scope is a ``flock``, as for every local lake."""
        return isinstance(self.store, LocalStore)

    def where(self, seq: int | None = None) -> str:
        """The commit's full name (the log's, for ``None``), for messages."""
        return self.store.where(COMMITS if seq is None else commit_key(seq))

    def seqs(self) -> list[int]:
        """The sequence numbers of the commits present, ascending."""
        found = (_COMMIT_KEY.match(key) for key in self.store.list(f"{COMMITS}/"))
        return sorted(int(m.group(1)) for m in found if m)

    def head_seq(self) -> int:
        seqs = self.seqs()
        return seqs[-1] if seqs else 0

    def read(self, seq: int) -> bytes:
        """The commit's bytes; :class:`~.store.ObjectMissing` if there is none."""
        return self.store.get(commit_key(seq))[0]

    def create(self, seq: int, data: bytes, base_seq: int) -> None:
        """Create commit ``seq`` holding ``data``; :class:`CommitConflictError` if another
        writer's commit has that seq (one this writer created, whose answer was lost, is kept)."""
        try:
            self.store.create(commit_key(seq), data)
        except AlreadyExists:
            found = self._found(seq)
            if found == data:
                log.info("lake commit %d was created and its answer lost: it is this one", seq)
                return
            raise self.conflict(seq, base_seq, found) from None

    def _found(self, seq: int) -> bytes | None:
        try:
            return self.read(seq)
        except ObjectMissing:  # removed by hand meanwhile: still not ours to write
            return None

    def conflict(self, seq: int, base_seq: int, found: bytes | None = None) -> CommitConflictError:
        """One line: the commit another writer published, its run, and what to do."""
        if found is None:
            try:
                found = self.read(seq)
            except LakeError:  # gone, or the store failed: the line still names the seq
                found = None
        winner = _run_id(found)
        return CommitConflictError(
            f"lake commit {seq} ({self.where(seq)}) was written by run {winner} while this "
            f"transform built on commit {base_seq}; run `treasury transform` again",
            seq=seq,
            winner=winner,
        )

    def remove_orphans(self) -> None:
        """Temporary files a killed local writer left in ``_commits/`` (under the scope)."""
        if self.local:
            remove_orphans(self.root / COMMITS)

    @contextmanager
    def scope(self, purpose: str) -> Iterator[None]:
        """Hold the commit scope: the ``flock`` of ``<home>/.locks`` for a local log, a lease
        on ``_locks/lake-commit.json`` in the store otherwise; either waits up to
        :data:`~.lock.COMMIT_WAIT_S` for it."""
        if self.local:
            with commit_lock(self.root.parent, purpose):
                yield
            return
        lease = self._wait_for_lease(purpose)
        with lease, lease.keep_alive():
            yield

    def _wait_for_lease(self, purpose: str) -> Lease:
        deadline = time.monotonic() + max(COMMIT_WAIT_S, self.lease_s * 2)
        pause = 0.02
        while True:
            try:
                return acquire_lease(self.store, COMMIT_SCOPE, purpose, lease_s=self.lease_s)
            except LeaseHeldError:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(pause * (0.5 + random.random()))  # spread the waiters' retries
            pause = min(pause * 2, _MAX_PAUSE_S)


def _run_id(data: bytes | None) -> str:
    if data is None:
        return "unknown (the commit has gone missing since)"
    try:
        return str(json.loads(data)["run_id"])
    except (ValueError, KeyError, TypeError):
        return "unknown (its record is unreadable)"
