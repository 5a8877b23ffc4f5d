"""Pruning a lake in a bucket (issue #16): the bucket keeps what the last ``keep_commits`` commits
retain and, for :attr:`~.Settings.prune_grace_s`, every version no commit names (another home may
be about to commit it); the rest goes, ``_uploaded.json`` first.

Against moto's S3 and fake-gcs-server, both started by the fixtures.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from conftest import TEST_BUCKET, make_settings
from treasury_lakehouse import pipeline
from treasury_lakehouse.config import Settings
from treasury_lakehouse.errors import ConfigError, LakeError
from treasury_lakehouse.lake.commit import commit_seqs, read_commit
from treasury_lakehouse.lake.files import new_version_name, version_stamp
from treasury_lakehouse.lake.remote import UPLOADED, RemoteLake, attach, detach
from treasury_lakehouse.lake.store import ObjectStore, ObjectStoreError, open_store
from treasury_lakehouse.testing import FakeFiscalDataApi
from treasury_lakehouse.testing.object_servers import ForwardingStore
from treasury_lakehouse.warehouse.duckdb import DuckDBWarehouse

LAYERS = ("silver/", "gold/", "_quarantine/", "history/")
GOLD = "gold_daily_totals"


@pytest.fixture(params=["s3", "gs"])
def bucket_lake(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    request.getfixturevalue("s3_env" if request.param == "s3" else "gcs_env")
    yield f"{request.param}://{TEST_BUCKET}/{tmp_path.name}"
    for home in tmp_path.iterdir():
        detach(home / "lake")


def _settings(home: Path, api: FakeFiscalDataApi, lake: str, **more: object) -> Settings:
    return make_settings(home, api, lake_uri=lake, **more)


def _bucket_versions(store: ObjectStore) -> dict[str, set[str]]:
    """Every version prefix in the bucket → the names of its objects."""
    found: dict[str, set[str]] = {}
    for key in store.list():
        if key.startswith(LAYERS):
            parts = key.split("/")
            found.setdefault("/".join(parts[:3]), set()).add("/".join(parts[3:]))
    return found


def _plant(store: ObjectStore, version: str, *, record: bool) -> str:
    """An unnamed version, as a writer that lost its commit (or died) leaves it."""
    key = f"gold/{GOLD}/{version}"
    store.put(f"{key}/{GOLD}.parquet", b"not read by anyone")
    if record:
        files = {f"{GOLD}.parquet": [18, "0" * 64]}
        store.create(f"{key}/{UPLOADED}", json.dumps({"files": files}).encode())
    return key


def _old_name(days: int) -> str:
    stamp = datetime.now(UTC) - timedelta(days=days)
    return f"v{stamp.strftime('%Y%m%dT%H%M%S%fZ')}-{days:06x}"


def test_pruning_a_bucket_keeps_the_recent_commits_and_the_young_unnamed_versions(
    fake_api: FakeFiscalDataApi, tmp_path: Path, bucket_lake: str
) -> None:
    store = open_store(bucket_lake)
    fake_api.today = date(2022, 3, 8)
    home = tmp_path / "home"
    # --full: every transform writes new versions (an incremental one carries unchanged silver)
    settings = _settings(home, fake_api, bucket_lake, start=date(2022, 3, 1), keep_commits=2)
    settings = settings.with_overrides(full_rebuild=True)
    pipeline.ingest(settings)

    lost = _plant(store, _old_name(2), record=True)  # a loser's upload, two days old
    killed = _plant(store, _old_name(3), record=False)  # a writer killed before its record
    young = _plant(store, new_version_name(), record=True)  # another home, about to commit
    odd = "gold/gold_daily_totals/not-a-version"
    store.put(f"{odd}/x.parquet", b"x")

    pipeline.transform(settings)  # default grace (a day): the planted old ones go, young stays
    versions = _bucket_versions(store)
    assert lost not in versions and killed not in versions
    assert young in versions and odd in versions

    for _ in range(3):  # with no grace, every version no commit among the last two keeps goes
        pipeline.transform(settings.with_overrides(prune_grace_s=0))
    seqs = commit_seqs(settings.lake)
    assert seqs == [1, 2, 3, 4]
    mirror = attach(settings, pull=False)
    assert mirror is not None
    kept = {
        path.absolute().relative_to(settings.lake.absolute()).as_posix()
        for seq in seqs[-2:]
        for path in read_commit(settings.lake, seq).retained()
    }
    versions = _bucket_versions(store)
    assert set(versions) == kept | {odd}, "the bucket holds exactly the last two commits' versions"
    for version in kept:
        assert UPLOADED in versions[version]
    first = read_commit(settings.lake, 1)
    assert mirror.missing_versions(first.references()), "commit 1's versions were pruned"
    with pytest.raises(LakeError, match=r"lake commit .*1\.json references missing versions"):
        first.require_readable()
    assert not mirror.missing_versions(read_commit(settings.lake, 3).references())

    # the cache and a second home with an empty cache see the same lake; verify passes on both
    assert pipeline.verify(settings).ok
    other = _settings(tmp_path / "other", fake_api, bucket_lake)
    assert pipeline.verify(other).ok
    pipeline.load(settings)
    pipeline.load(other)
    rows = DuckDBWarehouse(settings.duckdb_warehouse_path).table_rows(GOLD)
    assert rows and sorted(DuckDBWarehouse(other.duckdb_warehouse_path).table_rows(GOLD)) == sorted(
        rows
    )


def _after_a_run(
    api: FakeFiscalDataApi, tmp_path: Path, lake: str, **more: object
) -> tuple[ObjectStore, Settings, RemoteLake]:
    """A home whose first run wrote the lake: the bucket, its settings and its cache's mirror."""
    api.today = date(2022, 3, 8)
    settings = _settings(tmp_path / "home", api, lake, start=date(2022, 3, 1), **more)
    pipeline.run(settings)
    mirror = attach(settings, pull=False)
    assert mirror is not None
    return open_store(lake), settings, mirror


def test_a_half_pruned_version_is_never_read_and_the_next_prune_finishes_it(
    fake_api: FakeFiscalDataApi, tmp_path: Path, bucket_lake: str
) -> None:
    """A pruner killed after deleting a version's ``_uploaded.json``: the files left are a version
    without its record, which a pull never fetches; the next prune deletes them."""
    store, settings, mirror = _after_a_run(fake_api, tmp_path, bucket_lake, keep_commits=2)
    half = _plant(store, _old_name(5), record=True)
    store.delete(f"{half}/{UPLOADED}")
    assert mirror.missing_versions([settings.lake / half]), "without its record it is not there"
    deleted = mirror.prune(read_commit(settings.lake, commit_seqs(settings.lake)[-1]).retained())
    assert deleted == [half]
    assert half not in _bucket_versions(store)
    assert pipeline.verify(settings).ok


class _NoDeletes(ForwardingStore):
    """A role without the delete permission: every delete is refused, as S3 answers it."""

    def delete(self, key: str) -> None:
        raise ObjectStoreError(f"{self.where(key)}: AccessDenied: Access Denied")


def test_a_role_that_may_not_delete_still_commits_and_pruning_warns(
    fake_api: FakeFiscalDataApi,
    tmp_path: Path,
    bucket_lake: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, settings, mirror = _after_a_run(fake_api, tmp_path, bucket_lake, prune_grace_s=0)
    lost = _plant(store, _old_name(2), record=True)
    mirror.store = _NoDeletes(mirror.store)
    with caplog.at_level("WARNING"):
        result = pipeline.transform(settings)
    assert result.commit == 2 == commit_seqs(settings.lake)[-1]
    assert lost in _bucket_versions(store), "nothing was deleted"
    warnings = [r.getMessage() for r in caplog.records if "not pruned" in r.getMessage()]
    assert len(warnings) == 1 and "AccessDenied" in warnings[0], warnings
    assert pipeline.verify(settings).ok


def test_the_grace_is_a_setting_and_a_version_name_carries_its_stamp() -> None:
    with pytest.raises(ConfigError, match="prune grace must be 0 to 2592000 s, not -1"):
        Settings(prune_grace_s=-1)
    from treasury_lakehouse.config import settings_from_env

    assert settings_from_env({"TREASURY_PRUNE_GRACE_S": "3600"}).prune_grace_s == 3600
    with pytest.raises(ConfigError, match="TREASURY_PRUNE_GRACE_S"):
        settings_from_env({"TREASURY_PRUNE_GRACE_S": "a day"})
    name = new_version_name()
    stamp = version_stamp(name)
    assert stamp is not None and abs(datetime.now(UTC) - stamp) < timedelta(minutes=1)
    for other in ("not-a-version", "v2026-abc", f"{name}.tmp-1", "vX-1", "_uploaded.json"):
        assert version_stamp(other) is None, other
