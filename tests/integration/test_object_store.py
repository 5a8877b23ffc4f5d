"""The object-store layer and leases, one suite on every kind of lake (``lake_uri``): a folder,
moto's S3 served one request at a time, and fake-gcs-server, both on 127.0.0.1.

The races line up their threads on a barrier, each with its own store (its own connections), and
count the winners of every round: exactly one, the rest told who won.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from treasury_lakehouse.errors import LakeError, TreasuryError
from treasury_lakehouse.lake.lease import (
    Lease,
    LeaseHeldError,
    LeaseLostError,
    LeaseRecord,
    acquire_lease,
    lease_key,
)
from treasury_lakehouse.lake.store import (
    AlreadyExists,
    ObjectMissing,
    ObjectStoreError,
    VersionMismatch,
    open_store,
)
from treasury_lakehouse.testing.object_servers import (
    DUMMY_ACCESS_KEY,
    DUMMY_REGION,
    DUMMY_SECRET_KEY,
    TEST_BUCKET,
    ForwardingStore,
    LocalServer,
)

RACERS = 16
ROUNDS = 20
T = TypeVar("T")


def race(count: int, attempt: Callable[[int], T]) -> list[T | Exception]:
    """Run ``attempt(i)`` in ``count`` threads released together; each result or error."""
    barrier = threading.Barrier(count)
    results: list[T | Exception] = [RuntimeError("did not run")] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = attempt(index)
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_a_second_create_loses_and_names_the_key(lake_uri: str) -> None:
    store = open_store(lake_uri)
    first = store.create("_commits/0000000001.json", b"first")
    with pytest.raises(AlreadyExists) as lost:
        store.create("_commits/0000000001.json", b"second")
    assert store.where("_commits/0000000001.json") in str(lost.value)
    assert "\n" not in str(lost.value)
    assert store.get("_commits/0000000001.json") == (b"first", first)


def test_sixteen_racing_creates_have_exactly_one_winner_every_round(lake_uri: str) -> None:
    stores = [open_store(lake_uri) for _ in range(RACERS)]
    for round_ in range(ROUNDS):
        key = f"_commits/{round_:010d}.json"
        results = race(RACERS, lambda i, key=key: stores[i].create(key, f"writer {i}".encode()))
        winners = [i for i, r in enumerate(results) if isinstance(r, str)]
        losers = [r for r in results if isinstance(r, AlreadyExists)]
        assert len(winners) == 1, (round_, results)
        assert len(losers) == RACERS - 1, (round_, results)
        assert stores[0].get(key)[0] == f"writer {winners[0]}".encode()


def test_a_stale_version_is_refused_and_the_object_is_unchanged(lake_uri: str) -> None:
    store = open_store(lake_uri)
    old = store.create("_locks/gold.json", b"one")
    new = store.replace("_locks/gold.json", b"two", old)
    assert new != old
    with pytest.raises(VersionMismatch) as stale:
        store.replace("_locks/gold.json", b"three", old)
    assert store.where("_locks/gold.json") in str(stale.value)
    assert store.get("_locks/gold.json") == (b"two", new)
    assert store.head("_locks/gold.json") == new
    with pytest.raises(VersionMismatch):  # a replace never creates
        store.replace("_locks/absent.json", b"x", new)
    assert not store.exists("_locks/absent.json")


def test_list_finds_keys_by_prefix_and_delete_removes_one(lake_uri: str) -> None:
    store = open_store(lake_uri)
    assert store.list() == []
    for key in ("gold/a/v1/part-0.parquet", "gold/a/v1/part-1.parquet", "gold/ab/v1/x", "y"):
        store.put(key, key.encode())
    assert store.list() == sorted(
        ["gold/a/v1/part-0.parquet", "gold/a/v1/part-1.parquet", "gold/ab/v1/x", "y"]
    )
    assert store.list("gold/a/") == ["gold/a/v1/part-0.parquet", "gold/a/v1/part-1.parquet"]
    assert store.list("gold/a") == [
        "gold/a/v1/part-0.parquet",
        "gold/a/v1/part-1.parquet",
        "gold/ab/v1/x",
    ]
    store.delete("gold/a/v1/part-0.parquet")
    store.delete("gold/a/v1/part-0.parquet")  # already gone: no error
    assert store.list("gold/a/") == ["gold/a/v1/part-1.parquet"]
    with pytest.raises(ObjectMissing, match="does not exist"):
        store.get("gold/a/v1/part-0.parquet")
    assert store.head("gold/a/v1/part-0.parquet") is None


# ---------------------------------------------------------------- leases


class Clock:
    """A clock the test moves by hand, for expiry without sleeping."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_second_writer_fails_fast_naming_the_holder(lake_uri: str) -> None:
    store = open_store(lake_uri)
    holder = acquire_lease(store, "gold", "transform gold", lease_s=60)
    with pytest.raises(LeaseHeldError) as held:
        acquire_lease(open_store(lake_uri), "gold", "a second transform", lease_s=60)
    message = str(held.value)
    assert "\n" not in message
    assert store.where(lease_key("gold")) in message
    assert holder.record.owner[:8] in message and "transform gold" in message
    assert f"pid {holder.record.pid}" in message and held.value.transient
    acquire_lease(store, "dataset-x", "another scope", lease_s=60).release()  # scopes are apart
    holder.release()
    acquire_lease(store, "gold", "after the release", lease_s=60).release()


def test_an_expired_lease_is_taken_over_and_its_old_holder_cannot_renew(lake_uri: str) -> None:
    store, clock = open_store(lake_uri), Clock()
    dead = acquire_lease(store, "gold", "killed run", lease_s=30, clock=clock)
    clock.now += 29
    with pytest.raises(LeaseHeldError):
        acquire_lease(store, "gold", "too early", lease_s=30, clock=clock)
    clock.now += 2
    taker = acquire_lease(store, "gold", "next run", lease_s=30, clock=clock)
    assert LeaseRecord.decode(store.get(lease_key("gold"))[0]).owner == taker.record.owner
    with pytest.raises(LeaseLostError, match="taken over"):
        dead.renew()
    dead.release()  # conditional: leaves the new holder's lease alone
    assert LeaseRecord.decode(store.get(lease_key("gold"))[0]) == taker.record
    clock.now += 20
    taker.renew()  # a live holder renews: still held 29 s later
    clock.now += 29
    with pytest.raises(LeaseHeldError, match="next run"):
        acquire_lease(store, "gold", "still too early", lease_s=30, clock=clock)


def test_a_short_lease_expires_in_real_time(lake_uri: str) -> None:
    store = open_store(lake_uri)
    first = acquire_lease(store, "gold", "dies", lease_s=0.5)
    with pytest.raises(LeaseHeldError):
        acquire_lease(store, "gold", "too early", lease_s=0.5)
    threading.Event().wait(0.6)
    second = acquire_lease(store, "gold", "takes over", lease_s=30)
    with pytest.raises(LeaseLostError):
        first.renew()
    second.release()


def test_racing_takeovers_of_an_expired_lease_have_one_winner(lake_uri: str) -> None:
    clock = Clock()
    stores = [open_store(lake_uri) for _ in range(RACERS)]
    acquire_lease(stores[0], "gold", "dead", lease_s=10, clock=clock)
    for round_ in range(ROUNDS // 2):
        clock.now += 11  # the previous holder (dead, or last round's winner) has expired

        def take(i: int, round_: int = round_) -> Lease:
            purpose = f"round {round_} writer {i}"
            return acquire_lease(stores[i], "gold", purpose, lease_s=10, clock=clock)

        results = race(RACERS, take)
        winners = [r for r in results if isinstance(r, Lease)]
        held = [r for r in results if isinstance(r, LeaseHeldError)]
        assert len(winners) == 1, (round_, results)
        assert len(held) == RACERS - 1, (round_, results)
        assert all(winners[0].record.owner[:8] in str(e) for e in held), held


def test_keep_alive_renews_in_the_background(lake_uri: str) -> None:
    store = open_store(lake_uri)
    lease = acquire_lease(store, "gold", "long transform", lease_s=0.6)
    with lease, lease.keep_alive(every_s=0.1):
        threading.Event().wait(1.0)  # past the lease time: only the renewals keep it
        lease.check()
        with pytest.raises(LeaseHeldError):
            acquire_lease(open_store(lake_uri), "gold", "meanwhile", lease_s=0.6)
    assert LeaseRecord.decode(store.get(lease_key("gold"))[0]).released


def test_no_secret_in_a_repr_or_an_error(lake_uri: str) -> None:
    store = open_store(lake_uri)
    shown = [repr(store), str(store)]
    store.create("k", b"v")
    failures: list[Callable[[], object]] = [
        lambda: store.create("k", b"w"),
        lambda: store.replace("k", b"w", "0"),
        lambda: store.get("absent"),
        lambda: acquire_lease(store, "s", "holder") and acquire_lease(store, "s", "second"),
    ]
    if not lake_uri.startswith("/"):
        missing_bucket = open_store(lake_uri.replace("treasury-tests", "no-such-bucket"))
        shown.append(repr(missing_bucket))
        failures.append(lambda: missing_bucket.put("k", b"v"))
    for failure in failures:
        with pytest.raises(TreasuryError) as error:
            failure()
        shown += [str(error.value), repr(error.value)]
    assert len(shown) >= 6
    assert not [s for s in shown if DUMMY_SECRET_KEY in s], shown
    assert all("\n" not in s for s in shown), shown


@pytest.mark.parametrize("lake_uri", ["s3", "gs"], indirect=True)  # a folder has no bucket
def test_a_missing_bucket_is_one_line_naming_it(lake_uri: str) -> None:
    store = open_store(lake_uri.replace("treasury-tests", "no-such-bucket"))
    with pytest.raises(ObjectStoreError) as error:
        store.put("k", b"v")
    assert "no-such-bucket" in str(error.value) and "\n" not in str(error.value)


class LostAnswers(ForwardingStore):
    """A store whose conditional writes land, but whose client then reports a loss: what a
    retry after a lost answer sees (the object it wrote itself is there)."""

    def create(self, key: str, data: bytes) -> str:
        self.inner.create(key, data)
        raise self._exists_error(key)

    def replace(self, key: str, data: bytes, version: str) -> str:
        self.inner.replace(key, data, version)
        raise self._mismatch_error(key, version)


def test_a_lease_write_whose_answer_was_lost_is_still_this_holders(lake_uri: str) -> None:
    store, clock = LostAnswers(open_store(lake_uri)), Clock()
    lease = acquire_lease(store, "gold", "created, answer lost", lease_s=10, clock=clock)
    clock.now += 5
    lease.renew()  # replaced, answer lost
    assert LeaseRecord.decode(store.get(lease_key("gold"))[0]) == lease.record
    clock.now += 20
    taker = acquire_lease(store, "gold", "taken over, answer lost", lease_s=10, clock=clock)
    assert LeaseRecord.decode(store.get(lease_key("gold"))[0]).owner == taker.record.owner
    with pytest.raises(LeaseLostError):
        lease.renew()


def test_s3_credentials_come_from_an_aws_profile(
    s3_env: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "credentials").write_text(
        f"[lake-test]\naws_access_key_id = {DUMMY_ACCESS_KEY}\n"
        f"aws_secret_access_key = {DUMMY_SECRET_KEY}\n"
    )
    (tmp_path / "config").write_text(f"[profile lake-test]\nregion = {DUMMY_REGION}\n")
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(variable)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_PROFILE", "lake-test")
    store = open_store(f"s3://{TEST_BUCKET}/{tmp_path.name}")
    version = store.create("k", b"from a profile")
    assert store.get("k") == (b"from a profile", version)

    (tmp_path / "credentials").write_text("[lake-test]\n")
    with pytest.raises(LakeError) as error:
        open_store(f"s3://{TEST_BUCKET}/{tmp_path.name}")
    assert "AWS_PROFILE=lake-test gives no credentials" in str(error.value)
    assert "\n" not in str(error.value)
