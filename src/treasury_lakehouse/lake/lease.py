"""Leases: one writer per scope of a lake in a bucket, where there is no ``flock``.

A lease is the object ``_locks/<scope>.json`` in the lake's store::

    {"owner": "<uuid of this acquisition>", "host": "...", "pid": 123, "purpose": "transform",
     "acquired_at": 1796300000.0, "expires_at": 1796300060.0, "released": false}

- **acquire**: create-if-absent. If the object exists and its lease is live, fail fast with one
  line naming the holder (:class:`LeaseHeldError`). If it expired (a dead holder) or was released,
  take it over with replace-if-match on the version read: of two racing takeovers one wins, the
  other sees the winner's live lease and fails naming it.
- **renew**: replace-if-match on the version this holder wrote; :class:`LeaseLostError` if
  another writer took the lease over meanwhile (this holder let it expire).
- **release**: replace-if-match with a record marked released, not a delete. Deletes are not
  conditional through obstore, nor on fake-gcs-server: a holder that deletes right after its
  lease expired and was taken over would remove the new holder's lease, and a third writer could
  then acquire it while the second still writes. A conditional release cannot.

The lease time (``TREASURY_LEASE_S``, default 60 s) bounds how long a dead holder blocks others;
a live holder must renew well within it (:meth:`Lease.keep_alive` renews every third of it).
Expiry compares the writers' clocks: hosts must keep their clocks in step (NTP), to well within
the lease time. A lease only serialises writers; each commit itself is still a create-if-absent,
so even two holders at once could not both publish one commit.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from treasury_lakehouse.errors import LakeError, LockHeldError
from treasury_lakehouse.lake.store import (
    AlreadyExists,
    ObjectMissing,
    ObjectStore,
    Version,
    VersionMismatch,
)

log = logging.getLogger(__name__)

LOCKS = "_locks"
DEFAULT_LEASE_S = 60.0
#: how often an acquirer re-reads a lease that changed hands under it before giving up
_ATTEMPTS = 5

Clock = Callable[[], float]


class LeaseHeldError(LockHeldError):
    """Another writer holds a live lease on this scope (transient: it ends or expires)."""


class LeaseLostError(LakeError):
    """This holder's lease was taken over by another writer: it must stop writing."""


@dataclass(frozen=True)
class LeaseRecord:
    """What a lease object holds."""

    owner: str
    host: str
    pid: int
    purpose: str
    acquired_at: float
    expires_at: float
    released: bool = False

    def live(self, now: float) -> bool:
        return not self.released and self.expires_at > now

    def describe(self, now: float) -> str:
        until = datetime.fromtimestamp(self.expires_at, UTC).isoformat(timespec="seconds")
        return (
            f"owner {self.owner[:8]} (pid {self.pid} on {self.host}, {self.purpose}) until "
            f"{until} ({max(0.0, self.expires_at - now):.0f} s left)"
        )

    def encode(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes) -> LeaseRecord:
        value: dict[str, Any] = json.loads(data)
        return cls(
            owner=str(value["owner"]),
            host=str(value["host"]),
            pid=int(value["pid"]),
            purpose=str(value["purpose"]),
            acquired_at=float(value["acquired_at"]),
            expires_at=float(value["expires_at"]),
            released=bool(value.get("released", False)),
        )


def lease_key(scope: str) -> str:
    return f"{LOCKS}/{scope}.json"


class Lease:
    """A lease this process holds; renew it within :attr:`lease_s`, release it when done."""

    def __init__(
        self,
        store: ObjectStore,
        scope: str,
        record: LeaseRecord,
        version: Version,
        lease_s: float,
        clock: Clock,
    ) -> None:
        self.store, self.scope, self.key = store, scope, lease_key(scope)
        self.record, self.version = record, version
        self.lease_s, self.clock = lease_s, clock
        self._renew_failure: LakeError | None = None

    def __repr__(self) -> str:
        return f"Lease({self.store.where(self.key)!r}, owner={self.record.owner[:8]!r})"

    def renew(self) -> None:
        """Extend the lease by :attr:`lease_s` from now; :class:`LeaseLostError` if another writer
        took it over."""
        renewed = replace(self.record, expires_at=self.clock() + self.lease_s)
        self.version = self._write(renewed, "renew")
        self.record = renewed

    def release(self) -> None:
        """Mark the lease released (conditionally: a lease already taken over is left alone)."""
        try:
            self.version = self._write(replace(self.record, released=True), "release")
        except LeaseLostError as error:
            log.warning("%s", error)

    def check(self) -> None:
        """Raise what made a :meth:`keep_alive` renewal fail, if one did."""
        if self._renew_failure is not None:
            raise self._renew_failure

    @contextmanager
    def keep_alive(self, every_s: float | None = None) -> Iterator[Lease]:
        """Renew the lease in a background thread every ``every_s`` (a third of the lease time)
        while the block runs; a failed renewal is raised by :meth:`check`."""
        stop = threading.Event()
        interval = every_s if every_s is not None else self.lease_s / 3

        def renew_until_stopped() -> None:
            while not stop.wait(interval):
                try:
                    self.renew()
                except LakeError as error:
                    self._renew_failure = error
                    return

        renewer = threading.Thread(target=renew_until_stopped, name=f"lease-{self.scope}")
        renewer.daemon = True
        renewer.start()
        try:
            yield self
        finally:
            stop.set()
            renewer.join()

    def _write(self, record: LeaseRecord, what: str) -> Version:
        try:
            return self.store.replace(self.key, record.encode(), self.version)
        except (VersionMismatch, ObjectMissing):
            landed = self._landed(record)  # the write landed and only its retry lost
            if landed is not None:
                return landed
            raise LeaseLostError(
                f"the lease {self.store.where(self.key)} of {self.record.describe(self.clock())} "
                f"was taken over by another writer before this {what}: this writer must stop",
                key=self.key,
            ) from None

    def _landed(self, record: LeaseRecord) -> Version | None:
        try:
            data, version = self.store.get(self.key)
            return version if LeaseRecord.decode(data) == record else None
        except (ObjectMissing, ValueError, KeyError, TypeError):
            return None

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire_lease(
    store: ObjectStore,
    scope: str,
    purpose: str,
    *,
    lease_s: float = DEFAULT_LEASE_S,
    clock: Clock = time.time,
) -> Lease:
    """Take the lease of ``scope`` in ``store`` for ``lease_s`` seconds, or fail fast with a
    :class:`LeaseHeldError` naming the live holder.

    The owner id is drawn once per call: if a write landed but its answer was lost and the
    client's retry then lost to that very write, the lease read back names this owner, and is
    taken as this caller's.
    """
    if not lease_s > 0:
        raise LakeError(f"the lease time must be more than 0 s, not {lease_s}")
    key = lease_key(scope)
    owner = uuid.uuid4().hex
    for _ in range(_ATTEMPTS):
        now = clock()
        record = LeaseRecord(owner, socket.gethostname(), os.getpid(), purpose, now, now + lease_s)
        try:
            version = store.create(key, record.encode())
            return Lease(store, scope, record, version, lease_s, clock)
        except AlreadyExists:
            pass
        try:
            data, current = store.get(key)
        except ObjectMissing:  # removed by hand meanwhile: create it again
            continue
        holder = _holder(store, key, data)
        if holder is not None and holder.owner == owner:
            return Lease(store, scope, holder, current, lease_s, clock)
        if holder is not None and holder.live(now):
            raise LeaseHeldError(
                f"another treasury run holds the lease {store.where(key)}: "
                f"{holder.describe(now)}; wait for it to finish or for the lease to expire",
                path=store.where(key),
            )
        try:
            version = store.replace(key, record.encode(), current)
        except (VersionMismatch, ObjectMissing):  # another writer took it over first, or ours
            continue  # landed and the retry lost to it: read it again
        if holder is not None and not holder.released:
            log.warning("took over the expired lease of %s", holder.describe(now))
        return Lease(store, scope, record, version, lease_s, clock)
    raise LeaseHeldError(
        f"the lease {store.where(key)} changed hands {_ATTEMPTS} times while this run tried to "
        "take it; try again",
        path=store.where(key),
    )


def _holder(store: ObjectStore, key: str, data: bytes) -> LeaseRecord | None:
    """The lease's record; ``None`` (taken over like an expired lease) when it is unreadable."""
    try:
        return LeaseRecord.decode(data)
    except (ValueError, KeyError, TypeError) as error:
        log.warning("the lease %s is unreadable (%s): taking it over", store.where(key), error)
        return None
