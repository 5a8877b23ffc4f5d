"""A lake in a bucket (issue #16): the whole pipeline on every kind of lake (``lake_uri``: a
folder, moto's S3 and fake-gcs-server), through the library and the CLI.

- a backfill, then an incremental run that re-reads a restated day: gold in the warehouse equals
  the independent computation over the records the fake API serves, on every kind of lake;
- a second home, with an empty cache, reads the same bucket: it loads the same gold, and
  ``verify`` passes on both;
- the bucket holds only what was committed: batches with their manifest entries, versions with
  their ``_uploaded.json``; nothing named ``.tmp-``;
- a home caches one lake: another ``--lake`` for it is refused in one line;
- every CLI command runs on a lake in a bucket.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from conftest import TEST_BUCKET, make_settings
from independent_gold import expected_gold, read_records
from treasury_lakehouse import pipeline
from treasury_lakehouse.config import Settings
from treasury_lakehouse.duckdb_connect import connect_duckdb, remove_spill_directory
from treasury_lakehouse.errors import ConfigError, LakeError
from treasury_lakehouse.lake.commit import commit_seqs
from treasury_lakehouse.lake.commit_log import register_commit_store
from treasury_lakehouse.lake.layout import Lake
from treasury_lakehouse.lake.remote import UPLOADED, attach, detach
from treasury_lakehouse.lake.store import ObjectStore, Version, open_store
from treasury_lakehouse.testing import FakeFiscalDataApi
from treasury_lakehouse.testing.object_servers import ForwardingStore
from treasury_lakehouse.warehouse.duckdb import DuckDBWarehouse

PDT, OCB = "public_debt_transactions", "operating_cash_balance"
DSL, REFUNDS = "debt_subject_to_limit", "income_tax_refunds_issued"
MATCH = {
    "record_date": "2022-03-14",
    "transaction_type": "Redemptions",
    "security_market": "Marketable",
    "security_type": "Bills",
}


def _settings(home: Path, api: FakeFiscalDataApi, lake: str, **more: object) -> Settings:
    return make_settings(home, api, lake_uri=lake, **more)


@pytest.fixture(autouse=True)
def _forget_mirrors(tmp_path: Path) -> None:
    """Each test's homes are new; their registrations end with the test."""
    yield
    for home in tmp_path.iterdir():
        detach(home / "lake")


def test_backfill_then_a_restatement_gives_the_independent_gold_on_every_kind_of_lake(
    fake_api: FakeFiscalDataApi, synthetic_records: Path, tmp_path: Path, lake_uri: str
) -> None:
    fake_api.today = date(2022, 3, 15)
    home = tmp_path / "home"
    first = pipeline.run(_settings(home, fake_api, lake_uri, start=date(2022, 3, 1)))
    assert {r.dataset for r in first.ingest} >= {PDT, OCB}

    fake_api.today = date(2022, 3, 31)
    fake_api.restate(PDT, MATCH, {"transaction_today_amt": "1"})
    second = pipeline.run(_settings(home, fake_api, lake_uri))
    assert {c.dataset: c for c in second.transform.silver}[PDT].superseded > 0

    records = {
        name: read_records(synthetic_records, name, date(2022, 3, 1), date(2022, 3, 31))
        for name in (PDT, OCB, DSL, REFUNDS)
    }
    for row in records[PDT]:
        if all(row[k] == v for k, v in MATCH.items()):
            row["transaction_today_amt"] = "1"
    expected = expected_gold(records[PDT], records[OCB], records[DSL], records[REFUNDS])
    settings = _settings(home, fake_api, lake_uri)
    warehouse = DuckDBWarehouse(settings.duckdb_warehouse_path)
    for table, rows in expected.items():
        assert sorted(warehouse.table_rows(table)) == rows, table
    report = pipeline.verify(settings)
    assert report.ok, [d.summary() for d in report.damaged]

    if lake_uri.startswith(("s3://", "gs://")):
        # a second home with an empty cache reads everything from the bucket
        other = _settings(tmp_path / "other", fake_api, lake_uri)
        assert pipeline.verify(other).ok
        loaded = pipeline.load(other)
        assert loaded.tables
        again = DuckDBWarehouse(other.duckdb_warehouse_path)
        for table, rows in expected.items():
            assert sorted(again.table_rows(table)) == rows, table
        assert commit_seqs(other.lake) == commit_seqs(settings.lake) == [1, 2]
        _bucket_holds_only_committed(lake_uri)
        assert checked_both_in_bucket(lake_uri), "the quality reports were not uploaded"


def checked_both_in_bucket(lake_uri: str) -> bool:
    """Both runs' quality reports are in the bucket."""
    keys = open_store(lake_uri).list("_quality/")
    return len([k for k in keys if k.endswith(".json")]) >= 2


def _bucket_holds_only_committed(lake_uri: str) -> None:
    store = open_store(lake_uri)
    keys = store.list()
    assert keys and not [k for k in keys if ".tmp-" in k]
    versions = {k.rsplit("/", 1)[0] for k in keys if k.endswith(f"/{UPLOADED}")}
    layers = ("silver/", "gold/", "_quarantine/", "history/")
    for key in keys:
        if key.startswith(layers):
            parts = key.split("/")
            assert "/".join(parts[:3]) in versions, f"{key} belongs to no uploaded version"
    for version in versions:
        record = json.loads(store.get(f"{version}/{UPLOADED}")[0])
        for name in record["files"]:
            assert f"{version}/{name}" in keys
    entries = [k for k in keys if "/_manifest/" in k and k.startswith("bronze/")]
    claims = [k for k in keys if "/_seqs/" in k]
    assert len(entries) == len(claims) > 0
    for entry_key in entries:
        entry = json.loads(store.get(entry_key)[0])
        dataset = entry["dataset"]
        for name in entry["file_bytes"]:
            assert f"bronze/{dataset}/{name}" in keys, name


def test_a_home_caches_one_lake(
    fake_api: FakeFiscalDataApi, tmp_path: Path, s3_env: object
) -> None:
    fake_api.today = date(2022, 3, 8)
    home = tmp_path / "home"
    first = f"s3://{TEST_BUCKET}/{tmp_path.name}-a"
    pipeline.ingest(_settings(home, fake_api, first, start=date(2022, 3, 1), datasets=(OCB,)))
    detach(home / "lake")
    with pytest.raises(ConfigError, match=f"caches the lake s3://{TEST_BUCKET}/.*-a, not"):
        pipeline.ingest(_settings(home, fake_api, f"s3://{TEST_BUCKET}/{tmp_path.name}-b"))
    folder = tmp_path / "folder"
    pipeline.ingest(_settings(folder, fake_api, "", start=date(2022, 3, 1), datasets=(OCB,)))
    with pytest.raises(ConfigError, match="holds a lake in a folder"):
        pipeline.ingest(_settings(folder, fake_api, first, datasets=(OCB,)))


def test_a_lake_uri_of_another_scheme_is_one_line() -> None:
    with pytest.raises(ConfigError, match="scheme 'ftp' is not supported"):
        Settings(lake_uri="ftp://host/lake")


def _cli(home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "treasury"), *args, "--home", str(home)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_every_cli_command_runs_on_a_lake_in_a_bucket(
    fake_api: FakeFiscalDataApi, tmp_path: Path, s3_env: object
) -> None:
    fake_api.today = date(2022, 3, 10)
    lake = f"s3://{TEST_BUCKET}/{tmp_path.name}"
    env = {
        **os.environ,
        "TREASURY_LAKE": lake,
        "TREASURY_API_URL": fake_api.base_url,
        "TREASURY_RETRY_BUDGET": "10",
    }
    home = tmp_path / "home"
    steps = [
        ("ingest", "--start", "2022-03-01"),
        ("transform",),
        ("check",),
        ("load",),
        ("status",),
        ("verify",),
        ("history", "--dataset", OCB, "--date", "2022-03-07"),
        ("report",),
        ("repair",),
        ("check", "--as-of", "NOW"),
        ("run",),
    ]
    for step in steps:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        done = _cli(home, env, *(now if arg == "NOW" else arg for arg in step))
        assert done.returncode == 0, (step, done.stdout, done.stderr)
    # a fresh home over the same bucket sees the same lake
    fresh = tmp_path / "fresh"
    status = _cli(fresh, env, "status", "--json")
    assert status.returncode == 0, status.stderr
    mine = _cli(home, env, "status", "--json")
    assert mine.returncode == 0, mine.stderr
    theirs, ours = json.loads(status.stdout), json.loads(mine.stdout)
    assert ours["lake"] == theirs["lake"] == lake
    assert ours["lake_commit"] == theirs["lake_commit"] == 2
    local_only = ("home", "warehouse")
    assert {k: v for k, v in theirs.items() if k not in local_only} == {
        k: v for k, v in ours.items() if k not in local_only
    }
    assert _cli(fresh, env, "verify").returncode == 0


def _both(env: dict[str, str], homes: list[Path], *args: str) -> list[tuple[int, str]]:
    """Start the command in both homes at once; each one's exit code and stderr."""
    treasury = str(Path(sys.executable).parent / "treasury")
    started = [
        subprocess.Popen(
            [treasury, *args, "--home", str(home)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for home in homes
    ]
    return [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in started]


#: a loser's one line: a bucket's commit went to the other writer, or a folder's lock was held
LOSER_LINES = ("run `treasury transform` again", "is held by", "lock")


def test_two_homes_ingest_and_transform_one_lake_at_once(
    fake_api: FakeFiscalDataApi, synthetic_records: Path, tmp_path: Path, lake_uri: str
) -> None:
    fake_api.today = date(2022, 3, 15)
    env = {
        **os.environ,
        "TREASURY_LAKE": lake_uri,
        "TREASURY_API_URL": fake_api.base_url,
        "TREASURY_RETRY_BUDGET": "10",
    }
    homes = [tmp_path / "a", tmp_path / "b"]
    outcomes = {}
    for step in (("ingest", "--start", "2022-03-01"), ("transform",)):
        results = _both(env, homes, *step)
        outcomes[step[0]] = [code for code, _ in results]
        assert 0 in outcomes[step[0]], (step, results)
        for (code, err), home in zip(results, homes, strict=True):
            if code:  # the loser: one line, and its rerun completes
                lines = err.strip().splitlines()
                assert len(lines) == 1 and lines[0].startswith("Error: "), err
                assert any(m in lines[0] for m in LOSER_LINES), err
                again = _cli(home, env, *step)
                assert again.returncode == 0, again.stderr
    print(f"{lake_uri.split(':')[0]}: exit codes {outcomes}")

    for home in homes:
        assert _cli(home, env, "verify").returncode == 0
    loaded = _cli(homes[1], env, "load")
    assert loaded.returncode == 0, loaded.stderr
    status = json.loads(_cli(homes[1], env, "status", "--json").stdout)
    records = {
        name: read_records(synthetic_records, name, date(2022, 3, 1), date(2022, 3, 15))
        for name in (PDT, OCB, DSL, REFUNDS)
    }
    # no batch lost, none doubled: two batches per dataset (one per ingest), each row once
    for name, rows in records.items():
        info = status["datasets"][name]
        assert info["bronze_batches"] == 2, name
        assert info["silver_rows"] == len(rows), name
        assert info["bronze_rows"] == 2 * len(rows), name
    expected = expected_gold(records[PDT], records[OCB], records[DSL], records[REFUNDS])
    settings = make_settings(homes[1], fake_api, lake_uri=lake_uri)
    warehouse = DuckDBWarehouse(settings.duckdb_warehouse_path)
    for table, rows in expected.items():
        assert sorted(warehouse.table_rows(table)) == rows, table


@pytest.mark.parametrize("kind", ["s3", "gs"])
def test_duckdb_reads_and_writes_the_bucket_by_its_uris(
    fake_api: FakeFiscalDataApi, tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    """The engines' DuckDB connection reads the published versions straight from the bucket
    (a registered fsspec file system over the lake's store, no ``httpfs``) and writes to it."""
    request.getfixturevalue("s3_env" if kind == "s3" else "gcs_env")
    lake = f"{kind}://{TEST_BUCKET}/{tmp_path.name}"
    fake_api.today = date(2022, 3, 10)
    settings = _settings(tmp_path / "home", fake_api, lake, start=date(2022, 3, 1))
    commit = pipeline.transform(_ingested(settings)).commit
    assert commit == 1
    con, spill = connect_duckdb(settings)
    try:
        head = Lake(settings.lake).require_commit()
        for table, version in head.versions("gold").items():
            rel = version.relative_to(settings.lake).as_posix()
            cached = con.execute(
                f"SELECT * FROM read_parquet('{version}/*.parquet') ORDER BY ALL"
            ).fetchall()
            remote = con.execute(
                f"SELECT * FROM read_parquet('{lake}/{rel}/*.parquet') ORDER BY ALL"
            ).fetchall()
            assert remote == cached and cached, table
        version = head.versions("silver")[PDT]
        rel = version.relative_to(settings.lake).as_posix()
        counts = [
            con.execute(
                f"SELECT count(*), sum(transaction_today_amt) FROM read_parquet('{where}/**/"
                "*.parquet', hive_partitioning = true)"
            ).fetchone()
            for where in (version, f"{lake}/{rel}")
        ]
        assert counts[0] == counts[1] and counts[0] is not None and counts[0][0] > 0
        con.execute(
            f"COPY (SELECT * FROM read_parquet('{lake}/{rel}/**/*.parquet')) "
            f"TO '{lake}/scratch/pdt.parquet' (FORMAT parquet)"
        )
        copied = con.execute(
            f"SELECT count(*) FROM read_parquet('{lake}/scratch/pdt.parquet')"
        ).fetchone()
        assert copied is not None and copied[0] == counts[0][0]
        with pytest.raises(duckdb.Error, match="outside the lake"):
            con.execute(f"SELECT * FROM read_parquet('{kind}://{TEST_BUCKET}/elsewhere/x.parquet')")
    finally:
        con.close()
        remove_spill_directory(spill)


def _ingested(settings: Settings) -> Settings:
    pipeline.ingest(settings)
    return settings


def test_a_damaged_record_in_the_bucket_stops_a_pull_in_one_line_and_writes_nothing_outside(
    fake_api: FakeFiscalDataApi, tmp_path: Path, s3_env: object
) -> None:
    fake_api.today = date(2022, 3, 8)
    lake = f"s3://{TEST_BUCKET}/{tmp_path.name}"
    pipeline.ingest(_settings(tmp_path / "a", fake_api, lake, start=date(2022, 3, 1)))
    store = open_store(lake)
    entry = {"batch_id": "evil", "file_bytes": {"batch-evil/../../../escape": 1}}
    entry["file_sha256"] = {"batch-evil/../../../escape": "0" * 64}
    store.put(f"bronze/{OCB}/_manifest/000099_evil.json", json.dumps(entry).encode())
    with pytest.raises(LakeError, match="is not a relative name"):
        pipeline.status(_settings(tmp_path / "b", fake_api, lake))
    assert not list(tmp_path.rglob("escape"))
    store.put(f"bronze/{OCB}/_manifest/000099_evil.json", b"{not json")
    with pytest.raises(LakeError, match=r"000099_evil.json cannot be read \(JSONDecodeError"):
        pipeline.status(_settings(tmp_path / "c", fake_api, lake))


class _Heads(ForwardingStore):
    """Records the keys asked for by ``head``."""

    def __init__(self, inner: ObjectStore) -> None:
        super().__init__(inner)
        self.heads: list[str] = []

    def head(self, key: str) -> Version | None:
        self.heads.append(key)
        return super().head(key)


def test_a_commit_uploads_only_its_new_versions_without_asking_about_the_carried_ones(
    fake_api: FakeFiscalDataApi, tmp_path: Path, s3_env: object
) -> None:
    """A run that rebuilds one dataset's versions and carries the others': the carried ones are in
    the bucket already (their commit landed after their upload), so no request is sent for them."""
    lake = f"s3://{TEST_BUCKET}/{tmp_path.name}"
    settings = _settings(tmp_path / "home", fake_api, lake, start=date(2022, 2, 1))
    fake_api.today = date(2022, 3, 31)
    pipeline.run(settings)
    base = Lake(settings.lake).require_commit()
    mirror = attach(settings, pull=False)
    assert mirror is not None
    mirror.store = _Heads(mirror.store)
    register_commit_store(settings.lake.absolute(), mirror.store, lease_s=settings.lease_s)
    fake_api.today = date(2022, 4, 8)
    pipeline.run(_settings(tmp_path / "home", fake_api, lake, datasets=(OCB,)))

    commit = Lake(settings.lake).require_commit()
    carried = set(base.references()) & set(commit.references())
    new = set(commit.references()) - carried
    assert carried and new, "the second run both carried and rebuilt versions"
    asked = {key.removesuffix(f"/{UPLOADED}") for key in mirror.store.heads}
    keys = {path: path.relative_to(settings.lake).as_posix() for path in commit.references()}
    assert {keys[path] for path in new} <= asked
    assert not {keys[path] for path in carried} & asked
    assert not mirror.missing_versions(commit.references()), "every version is in the bucket"
