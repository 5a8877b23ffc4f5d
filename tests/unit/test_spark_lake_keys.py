"""Where :class:`SharedLake` sends the Spark executors, without a JVM.

The writer here stands in for Spark's ``DataFrameWriter`` and leaves what Spark's local file
system leaves (``part-*.parquet``, ``_SUCCESS``, ``.crc`` checksums) at the ``file://`` URI it is
given; the real executors run in ``tests/integration/test_spark_shared_lake.py``.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from treasury_lakehouse.engines.spark_lake import SharedLake, spark_lake_uri
from treasury_lakehouse.errors import EngineError
from treasury_lakehouse.lake.store import LocalStore


def spark_like_frame(files: dict[str, pa.Table]) -> Any:
    """A frame whose ``.write....parquet(uri)`` writes ``files`` (relative names) under ``uri``
    with Spark's markers beside them."""

    def parquet(uri: str) -> None:
        folder = Path(uri.removeprefix("file://"))
        folder.mkdir(parents=True, exist_ok=True)
        for name, table in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, folder / name)
            (folder / name).with_name(f".{Path(name).name}.crc").write_bytes(b"crc")
        (folder / "_SUCCESS").write_bytes(b"")

    writer = SimpleNamespace(parquet=parquet)
    writer.mode = lambda _mode: writer
    writer.partitionBy = lambda _column: writer
    return SimpleNamespace(write=writer)


@pytest.fixture
def lake(tmp_path: Path) -> SharedLake:
    bucket = tmp_path / "bucket"
    (bucket / "bronze" / "ds" / "batch-1").mkdir(parents=True)
    return SharedLake(f"file://{bucket}/", LocalStore(bucket), tmp_path / "home" / "lake")


def test_committed_files_are_read_where_the_bucket_keeps_them(lake: SharedLake) -> None:
    page = lake.root / "bronze" / "ds" / "batch-1" / "page-000001.parquet"
    assert lake.read_uri(page) == f"{lake.uri}/bronze/ds/batch-1/page-000001.parquet"
    odd = lake.root / "gold" / "t" / "v[1]*" / "t.parquet"
    assert lake.read_uri(odd) == f"{lake.uri}/gold/t/v\\[1\\]\\*/t.parquet"
    assert lake.base_uri(odd) == f"{lake.uri}/gold/t/v[1]*/t.parquet"
    with pytest.raises(EngineError, match=r"^spark: /elsewhere/x.parquet is outside the cache"):
        lake.read_uri(Path("/elsewhere/x.parquet"))


def test_an_empty_silver_version_is_read_back_from_its_staging_copy(lake: SharedLake) -> None:
    """Spark writes an empty silver table as one file in ``record_year=0``: the folder of the
    version (by its final name) is then read from staging, where nothing else lies beside it."""
    building = lake.root / "silver" / "ds" / "v1.tmp-building"
    target = building / "record_year=0" / "empty.parquet"
    target.parent.mkdir(parents=True)
    table = pa.table({"amount": pa.array([], pa.int64())})
    lake.write_single_file(spark_like_frame({"part-00000-x.zstd.parquet": table}), target)

    assert pq.read_table(target).equals(table)
    version = lake.root / "silver" / "ds" / "v1"
    staged = f"{lake.prefix}/lake/silver/ds/v1"
    assert lake.read_uri(version) == f"{lake.uri}/{staged}"
    assert lake.read_uri(building) == f"{lake.uri}/{staged}"
    under = [k for k in lake.store.list(f"{staged}/") if not k.endswith("/")]
    assert under == [f"{staged}/record_year=0/empty.parquet"]
    other = lake.root / "silver" / "ds" / "v0"
    assert lake.read_uri(other) == f"{lake.uri}/silver/ds/v0", "a committed version"


def test_partitioned_output_is_downloaded_without_spark_markers(lake: SharedLake) -> None:
    directory = lake.root / "silver" / "ds" / "v2.tmp-building"
    directory.mkdir(parents=True)
    tables = {
        f"record_year={year}/part-0000{year % 10}-x.zstd.parquet": pa.table({"year": [year]})
        for year in (2021, 2022)
    }
    lake.write_partitioned(spark_like_frame(tables), directory, "record_year")

    local = sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())
    assert local == sorted(tables)
    for name, table in tables.items():
        assert pq.read_table(directory / name).equals(table)
    assert lake.read_uri(directory / "record_year=2022").startswith(f"{lake.uri}/{lake.prefix}/")


def test_close_deletes_every_staging_object(lake: SharedLake) -> None:
    target = lake.root / "gold" / "t" / "v1.tmp-building" / "t.parquet"
    target.parent.mkdir(parents=True)
    frame = spark_like_frame({"part-00000-x.zstd.parquet": pa.table({"n": [1]})})
    lake.write_single_file(frame, target)
    assert lake.store.list(lake.prefix + "/")
    lake.close()
    assert lake.store.list(lake.prefix + "/") == []
    assert target.is_file(), "the cache keeps the downloaded file for the commit"


def test_a_single_file_write_that_left_two_parts_is_one_line(lake: SharedLake) -> None:
    target = lake.root / "gold" / "t" / "v1.tmp-building" / "t.parquet"
    target.parent.mkdir(parents=True)
    two = {f"part-0000{i}-x.zstd.parquet": pa.table({"n": [i]}) for i in (0, 1)}
    with pytest.raises(EngineError, match=r"^spark: expected one output file in .*, found 2$"):
        lake.write_single_file(spark_like_frame(two), target)
    assert not target.exists()


def test_s3_is_s3a_for_spark() -> None:
    assert spark_lake_uri("s3://bucket/lake") == "s3a://bucket/lake"
    assert spark_lake_uri("gs://bucket/lake") == "gs://bucket/lake"
