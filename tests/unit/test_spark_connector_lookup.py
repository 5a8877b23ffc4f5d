"""The object-store connector check and the job's ``--lake``, without a JVM.

A stand-in session answers the few JVM calls :func:`require_connector` makes (Hadoop's version,
``Class.forName``), so the branches a real pip pyspark cannot reach (hadoop-aws there, the AWS SDK
missing; an older Hadoop; a Spark Connect session) are covered too. The real driver JVM is
``tests/integration/test_spark_connectors.py``.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from py4j.protocol import Py4JError, Py4JJavaError  # type: ignore[import-untyped]

from treasury_lakehouse.config import Settings
from treasury_lakehouse.engines.spark_connectors import (
    GCS_CONNECTOR_CLASS,
    S3A_CLASS,
    location_scheme,
    require_connector,
    shown_location,
)
from treasury_lakehouse.errors import EngineError, TreasuryError
from treasury_lakehouse.jobs import spark_transform

SDK_V2 = "software.amazon.awssdk.services.s3.S3Client"
SDK_V1 = "com.amazonaws.services.s3.AmazonS3"


def stand_in_session(
    loadable: set[str], hadoop: str = "3.5.0", conf: dict[str, str] | None = None
) -> Any:
    """A session whose driver JVM loads only ``loadable`` classes; ``conf``: Hadoop settings."""
    asked: list[str] = []

    def for_name(name: str, initialize: bool, loader: object) -> str:
        asked.append(name)
        if name not in loadable:
            raise Py4JJavaError("forName", SimpleNamespace(_target_id="o1"))
        return name

    thread = SimpleNamespace(currentThread=lambda: SimpleNamespace(getContextClassLoader=object))
    jvm = SimpleNamespace(
        java=SimpleNamespace(
            lang=SimpleNamespace(Thread=thread, Class=SimpleNamespace(forName=for_name))
        ),
        org=SimpleNamespace(
            apache=SimpleNamespace(
                hadoop=SimpleNamespace(
                    util=SimpleNamespace(VersionInfo=SimpleNamespace(getVersion=lambda: hadoop))
                )
            )
        ),
    )
    hadoop_conf = SimpleNamespace(get=lambda key: (conf or {}).get(key))
    return SimpleNamespace(
        _jvm=jvm,
        _jsc=SimpleNamespace(hadoopConfiguration=lambda: hadoop_conf),
        conf=SimpleNamespace(get=lambda key, default=None: default),
        asked=asked,
    )


@pytest.mark.parametrize(
    ("location", "scheme"),
    [
        ("s3a://bucket/lake", "s3a"),
        ("S3://bucket", "s3"),
        ("gs://bucket/x", "gs"),
        ("s3a", "s3a"),
        ("gs://", "gs"),
        ("/srv/lake", ""),
        ("lake", ""),
        (Path("s3a"), ""),
        ("file:///srv/lake", "file"),
        ("C:\\lake", ""),
        ("hdfs://namenode/lake", "hdfs"),
    ],
)
def test_location_scheme(location: str | Path, scheme: str) -> None:
    assert location_scheme(location) == scheme


def test_shown_location_drops_credentials_and_queries() -> None:
    assert shown_location("s3a://key:secret@bucket/lake?x=1#y") == "s3a://bucket/lake"
    assert shown_location("/srv/lake") == "/srv/lake"


def test_local_paths_and_other_schemes_ask_the_jvm_nothing() -> None:
    session = stand_in_session(loadable=set())
    for location in ("/srv/lake", "file:///srv/lake", Path("lake"), "hdfs://nn/lake"):
        require_connector(session, location)
    assert session.asked == []


def test_s3a_with_hadoop_aws_but_no_aws_sdk_names_the_sdk_bundle() -> None:
    with pytest.raises(EngineError) as raised:
        require_connector(stand_in_session({S3A_CLASS}), "s3a://bucket/lake")
    message = str(raised.value)
    assert "\n" not in message
    assert f"AWS SDK bundle beside hadoop-aws 3.5.0 ({SDK_V2})" in message, message
    assert "--packages org.apache.hadoop:hadoop-aws:3.5.0" in message, message


def test_before_hadoop_3_4_s3a_needs_the_v1_sdk() -> None:
    require_connector(stand_in_session({S3A_CLASS, SDK_V1}, hadoop="3.3.6"), "s3a://bucket")
    with pytest.raises(EngineError, match=rf"{SDK_V1}.*hadoop-aws:3\.3\.6"):
        require_connector(stand_in_session({S3A_CLASS, SDK_V2}, hadoop="3.3.6"), "s3a://bucket")


def test_a_configured_filesystem_class_is_the_one_checked() -> None:
    on_dataproc = stand_in_session({GCS_CONNECTOR_CLASS}, conf={"fs.gs.impl": GCS_CONNECTOR_CLASS})
    require_connector(on_dataproc, "gs://bucket/lake")
    assert on_dataproc.asked == [GCS_CONNECTOR_CLASS]
    elsewhere = stand_in_session(set(), conf={"fs.s3.impl": "org.example.S3"})
    with pytest.raises(EngineError, match=r"org\.example\.S3 from the jar .* fs\.s3\.impl"):
        require_connector(elsewhere, "s3://bucket")


def test_a_spark_connect_session_is_not_checked() -> None:
    require_connector(SimpleNamespace(), "s3a://bucket")  # type: ignore[arg-type]


def test_a_jvm_that_does_not_answer_is_not_called_a_missing_connector() -> None:
    session = stand_in_session(set())

    def gone(*args: object) -> None:
        raise Py4JError("An error occurred while calling t.forName\nstack")

    session._jvm.java.lang.Class.forName = gone
    with pytest.raises(EngineError, match=r"^spark: cannot ask the driver JVM .*forName$"):
        require_connector(session, "gs://bucket")


def test_the_job_refuses_another_scheme_before_starting_spark(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_session() -> None:
        raise AssertionError("no JVM for a refused --lake")

    monkeypatch.setattr(spark_transform, "submitted_session", no_session)
    monkeypatch.delenv("TREASURY_LAKE", raising=False)
    assert spark_transform.main(["--lake", "hdfs://nn/lake"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: --lake hdfs://nn/lake: scheme 'hdfs' is not supported")


class _Stop(TreasuryError):
    """Raised by the stand-in transform once it has the settings the job built."""


@pytest.mark.parametrize(
    ("given", "lake_uri", "remote"),
    [
        ("s3a://bucket/lake", "s3://bucket/lake", "s3://bucket/lake"),
        ("gs://bucket/lake", "gs://bucket/lake", "gs://bucket/lake"),
        ("/srv/lake", "/srv/lake", None),
    ],
)
def test_the_job_reads_treasury_lake_and_transforms_that_lake_when_the_connector_is_there(
    given: str,
    lake_uri: str,
    remote: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The settings the job hands :func:`pipeline.transform` (the real one runs in
    tests/integration/test_spark_submit_job.py, where no bucket connector exists)."""
    session = stand_in_session({S3A_CLASS, SDK_V2, GCS_CONNECTOR_CLASS})
    session.stop = lambda: None
    session.sparkContext = SimpleNamespace(master="spark://127.0.0.1:7077")
    seen: list[Settings] = []

    def transform(settings: Settings) -> None:
        seen.append(settings)
        raise _Stop("stand-in transform")

    monkeypatch.setattr(spark_transform, "submitted_session", lambda: session)
    monkeypatch.setattr(spark_transform.pipeline, "transform", transform)
    monkeypatch.setenv("TREASURY_LAKE", given)
    assert spark_transform.main(["--home", str(tmp_path)]) == 1
    assert capsys.readouterr().err.splitlines() == ["Error: stand-in transform"]
    (settings,) = seen
    assert (settings.lake_uri, settings.remote_lake) == (lake_uri, remote)
    assert (settings.engine, settings.spark_master) == ("spark", "spark://127.0.0.1:7077")
    assert settings.lake == (Path(given) if remote is None else tmp_path / "lake")
