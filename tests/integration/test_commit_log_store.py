"""The lake's commit log through its object store, on every kind of lake (``lake_uri``): a folder
(the default :class:`LocalStore` over the lake root, under the ``flock``), and moto's S3 and
fake-gcs-server (a bucket registered for a local cache root, under a lease).

Writers race :func:`write_commit` on one lake, with the commit scope and without it (only the
create-if-absent then keeps them apart); a create whose answer was lost is the writer's own; a
writer killed with SIGKILL before or during its create leaves a log the next writer reads and
extends. Run as a script, this file is the killed writer (:func:`_killed_writer`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_object_store import race

from treasury_lakehouse.errors import LakeError
from treasury_lakehouse.lake.commit import (
    LakeCommit,
    commit_seqs,
    head_commit,
    read_commit,
    require_commit,
    write_commit,
)
from treasury_lakehouse.lake.commit_log import (
    CommitConflictError,
    CommitLog,
    commit_key,
    commit_log,
    register_commit_store,
    unregister_commit_store,
)
from treasury_lakehouse.lake.files import TMP_MARK, new_version_name
from treasury_lakehouse.lake.lease import LeaseRecord, lease_key
from treasury_lakehouse.lake.lock import COMMIT_SCOPE
from treasury_lakehouse.lake.store import ObjectStore, open_store
from treasury_lakehouse.testing.object_servers import ForwardingStore

RACERS = 8
ROUNDS = 10
#: the lease of a bucket's commit scope in these tests: a killed holder blocks for this long
LEASE_S = 1.5


@dataclass(frozen=True)
class Lake:
    """A lake's local root, and the store holding its commit log."""

    kind: str
    root: Path
    uri: str

    def store(self) -> ObjectStore:
        return commit_log(self.root).store


def _register(kind: str, root: Path, uri: str) -> None:
    if kind != "local":
        register_commit_store(root, open_store(uri), lease_s=LEASE_S)


@pytest.fixture
def lake(lake_uri: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Lake]:
    """A fresh lake of each kind; in a bucket, its root is a local cache folder."""
    kind = "local" if lake_uri.startswith("/") else lake_uri.split(":", 1)[0]
    root = Path(lake_uri) if kind == "local" else tmp_path / "cache" / "lake"
    root.mkdir(parents=True, exist_ok=True)
    _register(kind, root, lake_uri)
    yield Lake(kind, root, lake_uri)
    unregister_commit_store(root)


def build_versions(root: Path) -> dict[str, dict[str, str]]:
    """A silver and a gold version directory on disk (a commit checks only that they exist)."""
    versions = {"silver": {"debt": new_version_name()}, "gold": {"daily": new_version_name()}}
    for layer, tables in versions.items():
        for table, version in tables.items():
            (root / layer / table / version).mkdir(parents=True)
    return versions


def commit(root: Path, base_seq: int, run_id: str, **kwargs: Any) -> LakeCommit:
    versions = build_versions(root)
    return write_commit(
        root,
        base_seq=base_seq,
        run_id=run_id,
        purpose="test",
        engine="duckdb",
        silver=versions["silver"],
        quarantine={},
        gold=versions["gold"],
        **kwargs,
    )


class Writer:
    """One racer: its versions are built before the race, its commit is the race."""

    def __init__(self, root: Path, base_seq: int, run_id: str) -> None:
        self.root, self.base_seq, self.run_id = root, base_seq, run_id
        self.versions = build_versions(root)

    def commit(self) -> LakeCommit:
        return write_commit(
            self.root,
            base_seq=self.base_seq,
            run_id=self.run_id,
            purpose="race",
            engine="duckdb",
            silver=self.versions["silver"],
            quarantine={},
            gold=self.versions["gold"],
        )


def test_a_commit_round_trips_through_the_store(lake: Lake) -> None:
    first = commit(lake.root, 0, "run-1", counts={"silver": {"debt": 3}})
    second = commit(lake.root, 1, "run-2", changes={"debt": frozenset({2021, 2022})})
    assert commit_seqs(lake.root) == [1, 2]
    assert read_commit(lake.root, 1) == first
    assert head_commit(lake.root) == second == require_commit(lake.root)
    assert second.changes == {"debt": frozenset({2021, 2022})}
    store = open_store(lake.uri)
    assert [k for k in store.list("_commits/")] == [commit_key(1), commit_key(2)]
    if lake.kind == "local":  # the files of every lake written before the store: no migration
        assert (lake.root / "_commits" / "0000000002.json").is_file()
        assert store.list("_locks/") == []
        return
    assert not (lake.root / "_commits").exists()  # the log is in the bucket only
    lease = LeaseRecord.decode(store.get(lease_key(COMMIT_SCOPE))[0])
    assert lease.released and lease.expires_at - lease.acquired_at <= LEASE_S + 0.01
    assert lease.purpose == "commit run-2"


def test_a_registered_store_takes_its_lease_time_from_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "cache" / "lake"
    assert commit_log(root).local  # nothing registered: the folder, under the flock
    monkeypatch.setenv("TREASURY_LEASE_S", "7.5")
    register_commit_store(root, LostAnswers(open_store(str(tmp_path / "bucket"))))
    try:
        assert not commit_log(root).local and commit_log(root).lease_s == 7.5
        assert commit_log(tmp_path / "cache" / "other").local
    finally:
        unregister_commit_store(root)
    assert commit_log(root).local


def test_an_unreadable_commit_is_one_line_naming_its_key(lake: Lake) -> None:
    commit(lake.root, 0, "run-1")
    lake.store().put(commit_key(2), b'{"seq": 2, "run_id": ')  # half a record, by hand
    with pytest.raises(LakeError) as unreadable:
        require_commit(lake.root)
    message = str(unreadable.value)
    assert lake.store().where(commit_key(2)) in message and "unreadable" in message
    assert "\n" not in message
    with pytest.raises(LakeError, match="is missing"):
        read_commit(lake.root, 3)


# ---------------------------------------------------------------- racing writers


@pytest.mark.parametrize("scoped", [True, False], ids=["scoped", "create-only"])
def test_racing_writers_publish_one_commit_per_seq_and_overwrite_none(
    lake: Lake, scoped: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every round, 8 writers build on the same head and race to commit it: one wins, the
    others fail with one line naming the seq and the winner's run. Without the commit scope the
    create-if-absent alone keeps them apart."""
    if not scoped:  # and no clean-up of temporary files, which only the scope makes safe
        monkeypatch.setattr(CommitLog, "scope", lambda self, purpose: nullcontext())
        monkeypatch.setattr(CommitLog, "remove_orphans", lambda self: None)
    published: dict[int, LakeCommit] = {}
    for round_ in range(ROUNDS):
        base = head_commit(lake.root)
        base_seq = base.seq if base else 0
        writers = [Writer(lake.root, base_seq, f"round-{round_}-writer-{i}") for i in range(RACERS)]
        results = race(RACERS, lambda i, writers=writers: writers[i].commit())
        winners = [r for r in results if isinstance(r, LakeCommit)]
        losers = [r for r in results if isinstance(r, CommitConflictError)]
        others = [r for r in results if not isinstance(r, LakeCommit | CommitConflictError)]
        assert len(winners) == 1 and len(losers) == RACERS - 1, (round_, others)
        winner = winners[0]
        assert winner.seq == base_seq + 1
        assert read_commit(lake.root, winner.seq) == winner  # what it wrote, not a loser's
        for loser in losers:
            message = str(loser)
            assert f"lake commit {winner.seq} " in message and winner.run_id in message
            assert "run `treasury transform` again" in message and "\n" not in message
        published[winner.seq] = winner
    assert commit_seqs(lake.root) == list(range(1, ROUNDS + 1))  # no gap, no seq twice
    assert [read_commit(lake.root, s) for s in published] == list(published.values())
    assert len({c.run_id for c in published.values()}) == ROUNDS


class LostAnswers(ForwardingStore):
    """Creates that land, but whose client then reports :class:`AlreadyExists` (a retry after
    a lost answer meeting the object it wrote itself); or, with ``rival``, creates that find
    another writer's commit there first."""

    def __init__(self, inner: ObjectStore, rival: bytes | None = None) -> None:
        super().__init__(inner)
        self.rival = rival

    def create(self, key: str, data: bytes) -> str:
        if key.startswith("_commits/"):
            self.inner.create(key, self.rival or data)
            raise self._exists_error(key)
        return self.inner.create(key, data)


def test_a_create_whose_answer_was_lost_is_this_writers_commit(lake: Lake) -> None:
    commit(lake.root, 0, "run-1")
    register_commit_store(lake.root, LostAnswers(lake.store()), lease_s=LEASE_S)
    second = commit(lake.root, 1, "run-2")
    assert second.seq == 2 and read_commit(lake.root, 2) == second
    assert commit_seqs(lake.root) == [1, 2]


def test_a_create_that_finds_another_writers_commit_fails_naming_it(lake: Lake) -> None:
    commit(lake.root, 0, "run-1")
    rival = b'{"seq": 2, "run_id": "the-rival"}'
    register_commit_store(lake.root, LostAnswers(lake.store(), rival=rival), lease_s=LEASE_S)
    with pytest.raises(CommitConflictError) as lost:
        commit(lake.root, 1, "run-2")
    message = str(lost.value)
    assert "lake commit 2 " in message and "the-rival" in message and "\n" not in message
    assert lake.store().get(commit_key(2))[0] == rival  # never overwritten
    assert lost.value.transient


# ---------------------------------------------------------------- killed writers

KILL_POINTS = ["built", "creating", "created"]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_writer_killed_before_or_during_its_create_leaves_a_log_the_next_extends(
    lake: Lake, point: str
) -> None:
    """SIGKILL of a writer after it built its versions (``built``), inside the create before
    the record lands (``creating``: for a folder, between the flushed temporary file and its
    link), and after the record landed but before the writer heard (``created``)."""
    commit(lake.root, 0, "run-1")
    child = subprocess.Popen(
        [sys.executable, __file__, str(lake.root), lake.kind, lake.uri, point],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
    )
    assert child.stdout is not None
    assert child.stdout.readline().decode().strip() == point, "the writer never got there"
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL

    landed = point == "created"
    assert commit_seqs(lake.root) == ([1, 2] if landed else [1])
    head = require_commit(lake.root)
    assert head.run_id == ("killed-writer" if landed else "run-1")
    leftovers = list((lake.root / "_commits").glob(f"*{TMP_MARK}*"))
    assert bool(leftovers) == (lake.kind == "local" and point == "creating")

    started = time.monotonic()
    after = commit(lake.root, head.seq, "next-run")
    waited = time.monotonic() - started
    assert after.seq == head.seq + 1 and require_commit(lake.root) == after
    assert not list((lake.root / "_commits").glob(f"*{TMP_MARK}*"))  # removed under the scope
    if lake.kind != "local" and point != "built":  # the dead holder's lease had to expire
        assert LEASE_S * 0.5 < waited < LEASE_S * 5, waited


def _killed_writer(root: Path, kind: str, uri: str, point: str) -> None:
    """Build versions on the lake's head, then stop at ``point`` and wait for the SIGKILL."""
    _register(kind, root, uri)
    store_class = type(commit_log(root).store)
    real_create, real_link = store_class.create, os.link

    def stop_here() -> None:
        print(point, flush=True)
        time.sleep(600)

    def create(self: ObjectStore, key: str, data: bytes) -> str:
        if key.startswith("_commits/") and point == "creating" and kind != "local":
            stop_here()
        version = real_create(self, key, data)
        if key.startswith("_commits/") and point == "created":
            stop_here()
        return version

    def link(src: Any, dst: Any, **kwargs: Any) -> None:
        if "_commits" in str(dst) and point == "creating":
            stop_here()
        real_link(src, dst, **kwargs)

    setattr(store_class, "create", create)  # noqa: B010  (this process is killed, not restored)
    os.link = link
    head = head_commit(root)
    if point == "built":
        build_versions(root)
        stop_here()
    commit(root, head.seq if head else 0, "killed-writer")


if __name__ == "__main__":
    _killed_writer(Path(sys.argv[1]), *sys.argv[2:5])
