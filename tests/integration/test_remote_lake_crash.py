"""SIGKILL while a lake in a bucket is written (issue #16): each kill lands at a random write to
moto's S3, before it is sent or after its answer came back, so the kills fall inside a bronze
batch's upload, its seq claim, its manifest entry, a version's files, its ``_uploaded.json``,
the commit record, the commit lease and the deletes of pruning (the grace set to 0: one writer
at a time here); every other kill is aimed at one of these kinds. Each kill is followed by an
in-process rerun and the folder lake's crash checks
(:mod:`test_crash_consistency`): gold equal to the independent computation over what the fake API
serves (restatements included), unique silver keys, the row accounting, ``verify`` (which also
checks the bucket holds every batch the cache holds and every version the newest commit retains)
and no temporary file in the home. At the end a second home with an empty cache pulls the lake
and passes ``verify``.

``TREASURY_CRASH_SEED`` and ``TREASURY_S3_CRASH_KILLS`` (default 20) change the seed and the
number of kills.
"""

from __future__ import annotations

import os
import random
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from test_crash_consistency import (
    FIRST,
    FIRST_TODAY,
    LAST,
    LOOKBACK,
    Expected,
    _check_rerun,
    _new_home,
    _next_business_day,
    timeline,  # noqa: F401  (the fixture)
)

from conftest import TEST_BUCKET, make_settings
from crash_harness import Timeline, child, forkserver
from treasury_lakehouse import pipeline
from treasury_lakehouse.config import Settings
from treasury_lakehouse.lake import remote
from treasury_lakehouse.lake.commit import commit_seqs
from treasury_lakehouse.lake.commit_log import register_commit_store
from treasury_lakehouse.lake.store import ObjectStore, Version
from treasury_lakehouse.testing import FakeFiscalDataApi
from treasury_lakehouse.testing.object_servers import ForwardingStore, LocalServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
MODES = ("ingest", "transform", "run")
#: a short lease: a killed holder blocks the rerun this long at most
LEASE_S = 2.0
RESTATE_EVERY = 8
#: the records every other kill is aimed at, and the steps that write them
AIMED = (
    "commit",
    "seq claim",
    "manifest entry",
    "version record",
    "lease",
    "bronze file",
    "prune delete",
)
#: a delete is logged as this prefix and its key
DELETE = "delete:"
AIMED_MODES = {
    "bronze file": ("ingest", "run"),
    "commit": ("transform", "run"),
    "seq claim": ("ingest", "run"),
    "manifest entry": ("ingest", "run"),
    "version record": ("transform", "run"),
    "lease": ("transform", "run"),
    "prune delete": ("transform", "run"),
}


def _kind(key: str) -> str:
    """What a written key is: ``bronze page``, ``seq claim``, ``version file``, ``commit``...,
    or ``prune delete`` (logged with :data:`DELETE` before the key)."""
    if key.startswith(DELETE):
        return "prune delete"
    if key.startswith("bronze/"):
        if "/_seqs/" in key:
            return "seq claim"
        return "manifest entry" if "/_manifest/" in key else "bronze file"
    if key.startswith("_commits/"):
        return "commit"
    if key.startswith("_locks/"):
        return "lease"
    if key.startswith("_quality/"):
        return "quality report"
    return "version record" if key.endswith(f"/{remote.UPLOADED}") else "version file"


class KillingStore(ForwardingStore):
    """Counts the writes (put, create, replace, delete) in ``log``; SIGKILLs its process at write
    number ``at`` (or, given ``kind``, at the ``at``-th write of that kind: ``commit``, ``seq
    claim``...), before sending it or (``after``) once it is answered."""

    def __init__(
        self, inner: ObjectStore, at: int, after: bool, log: str, kind: str | None = None
    ) -> None:
        super().__init__(inner)
        self.at, self.after, self.log, self.kind = at, after, log, kind
        self.count = self.of_kind = 0

    def _write(self, key: str, send: Any) -> Any:
        self.count += 1
        if self.kind is None:
            hit = self.count == self.at
        else:
            self.of_kind += _kind(key) == self.kind
            hit = _kind(key) == self.kind and self.of_kind == self.at
        with open(self.log, "a") as handle:
            handle.write(f"{self.count} {'after' if self.after else 'before'} {key}\n")
        if hit and not self.after:
            os.kill(os.getpid(), signal.SIGKILL)
        answer = send()
        if hit:
            os.kill(os.getpid(), signal.SIGKILL)
        return answer

    def put(self, key: str, data: bytes) -> Version:
        return self._write(key, lambda: self.inner.put(key, data))

    def create(self, key: str, data: bytes) -> Version:
        return self._write(key, lambda: self.inner.create(key, data))

    def replace(self, key: str, data: bytes, version: Version) -> Version:
        return self._write(key, lambda: self.inner.replace(key, data, version))

    def delete(self, key: str) -> None:
        self._write(DELETE + key, lambda: self.inner.delete(key))


def killed_child(
    kwargs: dict[str, Any],
    mode: str,
    marker: str,
    env: dict[str, str],
    at: int,
    after: bool,
    kind: str | None,
) -> None:
    """The killed process: the lake's store counts its writes and kills at write ``at``."""
    os.environ.update(env)
    settings = Settings(**kwargs)
    mirror = remote.attach(settings, pull=False)
    assert mirror is not None
    mirror.store = KillingStore(mirror.store, at, after, marker + ".writes", kind)
    register_commit_store(settings.lake.absolute(), mirror.store, lease_s=settings.lease_s)
    child(kwargs, mode, marker)


def test_sigkill_at_random_writes_to_s3_then_rerun_keeps_the_lake_consistent(
    fake_api: FakeFiscalDataApi,
    synthetic_records: Path,
    tmp_path: Path,
    timeline: Timeline,  # noqa: F811
    s3_env: LocalServer,
) -> None:
    seed = int(os.environ.get("TREASURY_CRASH_SEED", "20261203"))
    wanted = int(os.environ.get("TREASURY_S3_CRASH_KILLS", "20"))
    print(f"S3 crash test seed {seed} (TREASURY_CRASH_SEED), {wanted} kills")
    rng, context = random.Random(seed), forkserver()
    lake = f"s3://{TEST_BUCKET}/{tmp_path.name}"
    expected = Expected(synthetic_records)
    today = fake_api.today = FIRST_TODAY
    settings, kwargs = _new_home(
        tmp_path / "home", fake_api, timeline, lake_uri=lake, lease_s=LEASE_S, prune_grace_s=0
    )
    expected.since = min(FIRST, today - LOOKBACK)
    #: how many writes an unkilled child of each mode made last (a first guess until one did)
    writes = {"ingest": 40, "transform": 100, "run": 140}
    marker = tmp_path / "marker"
    kills: list[tuple[str, str]] = []
    completed = 0
    while len(kills) < wanted:
        if rng.random() < 0.6 and _next_business_day(today) <= LAST:
            today = fake_api.today = _next_business_day(today)
        if len(kills) // RESTATE_EVERY > expected.restated:
            expected.restate(fake_api, today, rng)
        after = rng.random() < 0.5
        if len(kills) % 2:  # aimed: the first (or a later) write of one kind of record
            kind = AIMED[(len(kills) // 2) % len(AIMED)]
            mode, at = rng.choice(AIMED_MODES[kind]), rng.choice([1, 1, 2])
        else:  # any write of any step
            kind, mode = None, rng.choice(MODES)
            at = rng.randint(1, writes[mode])
        marker.write_text("")
        Path(f"{marker}.writes").write_text("")
        process = context.Process(
            target=killed_child,
            args=(kwargs, mode, str(marker), s3_env.env(), at, after, kind),
        )
        process.start()
        process.join(300)
        assert process.exitcode is not None, f"{mode} did not end"
        done = Path(f"{marker}.writes").read_text().splitlines()
        if process.exitcode == -signal.SIGKILL:
            last = done[-1].split(" ", 2)
            kills.append((mode, f"{_kind(last[2])} {last[1]}"))
        else:
            assert process.exitcode == 0, f"{mode} failed unkilled: {marker.read_text()[-500:]}"
            completed += 1
            if kind is None:
                writes[mode] = max(len(done), 1)
        try:
            pipeline.run(settings)
        except Exception as error:
            pytest.fail(f"the rerun after {kills[-1:]} failed: {type(error).__name__}: {error}")
        try:
            _check_rerun(settings, expected, today)
        except AssertionError as error:
            raise AssertionError(f"after a kill at {kills[-1:]}: {error}") from error

    points = Counter(point for _, point in kills)
    print(
        f"S3 crash test: {len(kills)} SIGKILLs ({completed} children ended before their kill), "
        f"{expected.restated} restatements; kill points: "
        + ", ".join(f"{p} {n}" for p, n in sorted(points.items()))
    )
    other = make_settings(tmp_path / "fresh", fake_api, lake_uri=lake, lease_s=LEASE_S)
    report = pipeline.verify(other)
    assert report.ok, [d.summary() for d in report.damaged]
    assert commit_seqs(other.lake) == commit_seqs(settings.lake)
    kinds = {p.rsplit(" ", 1)[0] for p in points}
    assert {"version file", *AIMED} <= kinds, points
    remote.detach(settings.lake)
    remote.detach(other.lake)
