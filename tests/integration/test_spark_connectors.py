"""The object-store connector check on a real driver JVM: the pip pyspark has none of them.

One ``local[1]`` session for the module. What the pip pyspark ships is the measured fact: no
hadoop-aws (``s3a://`` would end in a ClassNotFoundException) and, from Hadoop 3.5, a ``fs.gs.impl``
naming Hadoop's own GCS connector (hadoop-gcp), which it does not ship either.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from treasury_lakehouse.errors import EngineError

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def session() -> Iterator[Any]:
    from treasury_lakehouse.engines.spark import SparkEngine  # pyspark only where it is used

    engine = SparkEngine("local[1]")
    try:
        yield engine.session
    finally:
        engine.close()


@pytest.fixture(scope="module")
def hadoop(session: Any) -> str:
    return str(session._jvm.org.apache.hadoop.util.VersionInfo.getVersion())


def connector_error(session: Any, location: str) -> str:
    from treasury_lakehouse.engines.spark import require_connector

    with pytest.raises(EngineError) as raised:
        require_connector(session, location)
    message = str(raised.value)
    assert "\n" not in message and "Exception" not in message, message
    return message


@pytest.mark.parametrize("location", ["s3a://bucket/x", "s3://bucket/x"])
def test_s3_names_hadoop_aws_of_the_session_hadoop(
    session: Any, hadoop: str, location: str
) -> None:
    message = connector_error(session, location)
    scheme = location.split(":")[0]
    assert message.startswith(f"spark: {scheme}:// needs the Hadoop FileSystem "), message
    assert f"org.apache.hadoop.fs.s3a.S3AFileSystem from hadoop-aws {hadoop}" in message, message
    assert (
        f"EMR ships them; elsewhere spark-submit --packages org.apache.hadoop:hadoop-aws:{hadoop}"
        in message
    )


def test_gs_names_the_gcs_connector_and_the_session_hadoop(session: Any, hadoop: str) -> None:
    message = connector_error(session, "gs://bucket/x")
    assert message.startswith("spark: gs:// needs the Hadoop FileSystem "), message
    assert "GCS connector" in message and "Dataproc ships" in message, message
    assert f"Hadoop {hadoop}" in message, message


def test_the_session_fs_impl_setting_is_honoured(session: Any) -> None:
    from treasury_lakehouse.engines.spark import require_connector

    key = "spark.hadoop.fs.s3a.impl"
    try:
        session.conf.set(key, "org.apache.hadoop.fs.RawLocalFileSystem")  # loadable: passes
        require_connector(session, "s3a://bucket/x")
        session.conf.set(key, "org.example.MissingFileSystem")
        assert "org.example.MissingFileSystem from the jar" in connector_error(session, "s3a://b")
    finally:
        session.conf.unset(key)


@pytest.mark.parametrize("location", ["/srv/lake", "lake", "file:///srv/lake"])
def test_local_paths_need_no_connector(session: Any, location: str) -> None:
    from treasury_lakehouse.engines.spark import require_connector

    require_connector(session, location)
    require_connector(session, Path(location))
