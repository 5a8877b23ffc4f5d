"""Does this Spark session's driver have the Hadoop connector of an object-store location?

The pip ``pyspark`` ships Hadoop's client but no object-store connector: ``s3a://`` ends in a
``ClassNotFoundException`` for ``S3AFileSystem`` deep in a Java stack. EMR and Dataproc put their
connectors on the classpath. :func:`require_connector` asks the driver JVM, before any job runs,
whether the FileSystem class Hadoop would use for the scheme can be loaded, and otherwise raises an
:class:`EngineError` of one line: the scheme, the missing class and what provides it.

No pyspark import here (the session is duck-typed; py4j is imported when a check runs), so the
spark-submit job can classify its arguments before it starts a JVM.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from treasury_lakehouse.errors import EngineError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

S3A_CLASS = "org.apache.hadoop.fs.s3a.S3AFileSystem"
GCS_CONNECTOR_CLASS = "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem"
#: Hadoop 3.5's own GCS connector (the hadoop-gcp module), ``fs.gs.impl`` of its core-default.xml
HADOOP_GCP_CLASS = "org.apache.hadoop.fs.gs.GoogleHadoopFileSystem"
EMRFS_CLASS = "com.amazon.ws.emr.hadoop.fs.EmrFileSystem"

#: the schemes checked, with the class used when neither the session nor Hadoop's configuration
#: names one in ``fs.<scheme>.impl`` (EMR's own configuration maps ``s3`` to EMRFS)
CONNECTOR_SCHEMES: dict[str, str] = {"s3a": S3A_CLASS, "s3": S3A_CLASS, "gs": GCS_CONNECTOR_CLASS}

#: a class of the AWS SDK that S3A needs beside hadoop-aws: SDK v2 from Hadoop 3.4, v1 before
_AWS_SDK_V2_CLASS = "software.amazon.awssdk.services.s3.S3Client"
_AWS_SDK_V1_CLASS = "com.amazonaws.services.s3.AmazonS3"


@dataclass(frozen=True)
class Provider:
    """Which jar holds a FileSystem class, and where a cluster gets it (``{hadoop}``: version)."""

    jar: str
    where: str


_PROVIDERS: dict[str, Provider] = {
    S3A_CLASS: Provider(
        "hadoop-aws {hadoop} and the AWS SDK bundle",
        "EMR ships them; elsewhere spark-submit --packages org.apache.hadoop:hadoop-aws:{hadoop} "
        "(which brings the AWS SDK bundle)",
    ),
    GCS_CONNECTOR_CLASS: Provider(
        "the GCS connector (gcs-connector for Hadoop 3)",
        "Dataproc ships it; elsewhere add the GCS connector's shaded jar with spark-submit --jars",
    ),
    HADOOP_GCP_CLASS: Provider(
        "hadoop-gcp {hadoop} (Hadoop's GCS connector)",
        "Dataproc ships the GCS connector; elsewhere spark-submit --packages "
        "org.apache.hadoop:hadoop-gcp:{hadoop}, or the GCS connector's jar with "
        f"--conf spark.hadoop.fs.gs.impl={GCS_CONNECTOR_CLASS}",
    ),
    EMRFS_CLASS: Provider("EMRFS", "only EMR ships it; elsewhere use s3a:// with hadoop-aws"),
}
_OTHER = Provider(
    "the jar that provides it (named by fs.{scheme}.impl)",
    "add that jar with spark-submit --jars or --packages",
)


def location_scheme(location: str | Path) -> str:
    """The lower-case scheme of a URI, ``""`` for a local path; a bare scheme (``s3a``,
    ``s3a:``, ``s3a://``) of :data:`CONNECTOR_SCHEMES` counts as that scheme."""
    if isinstance(location, Path):
        return ""
    bare = location.strip().lower().removesuffix("//").removesuffix(":")
    if bare in CONNECTOR_SCHEMES:
        return bare
    scheme = urlsplit(location.strip()).scheme.lower()
    return "" if len(scheme) == 1 else scheme  # C:\lake is a Windows path, not a scheme


def shown_location(location: str | Path) -> str:
    """A location fit for a message: no user or password, query or fragment of a URI."""
    parts = urlsplit(str(location))
    if parts.scheme and parts.netloc:
        return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"
    return str(location)


def require_connector(session: SparkSession, location: str | Path) -> None:
    """Raise :class:`EngineError` (one line) if the driver cannot load the Hadoop FileSystem of
    ``location``'s scheme: ``s3a``/``s3`` and ``gs`` are checked; local paths, ``file:`` and
    other schemes need no connector of ours. The class is the session's
    ``spark.hadoop.fs.<scheme>.impl``, else Hadoop's ``fs.<scheme>.impl``, else the scheme's
    usual one. A Spark Connect session (no driver JVM here) is not checked.
    """
    scheme = location_scheme(location)
    if scheme not in CONNECTOR_SCHEMES:
        return
    jvm = getattr(session, "_jvm", None)
    if jvm is None:
        return
    filesystem = _filesystem_class(session, scheme)
    hadoop = str(jvm.org.apache.hadoop.util.VersionInfo.getVersion())
    provider = _PROVIDERS.get(filesystem, _OTHER)
    where = provider.where.format(hadoop=hadoop)
    if not _loadable(jvm, filesystem):
        jar = provider.jar.format(hadoop=hadoop, scheme=scheme)
        raise EngineError(
            f"spark: {scheme}:// needs the Hadoop FileSystem {filesystem} from {jar}, which "
            f"this Spark session (Hadoop {hadoop}) cannot load: {where}",
            scheme=scheme,
            filesystem=filesystem,
        )
    if filesystem == S3A_CLASS:
        sdk = _AWS_SDK_V2_CLASS if _version(hadoop) >= (3, 4) else _AWS_SDK_V1_CLASS
        if not _loadable(jvm, sdk):
            raise EngineError(
                f"spark: {scheme}:// needs the AWS SDK bundle beside hadoop-aws {hadoop} "
                f"({sdk}), which this Spark session cannot load: {where}",
                scheme=scheme,
                filesystem=sdk,
            )


def _filesystem_class(session: SparkSession, scheme: str) -> str:
    key = f"fs.{scheme}.impl"
    configured = session.conf.get(f"spark.hadoop.{key}", None)
    if not configured:
        # spark-submit's --conf spark.hadoop.*, the cluster's core-site.xml and core-default.xml
        configured = session._jsc.hadoopConfiguration().get(key)
    return str(configured).strip() if configured else CONNECTOR_SCHEMES[scheme]


def _loadable(jvm: Any, name: str) -> bool:
    """``Class.forName`` without initialising, through the loader that sees ``--jars``."""
    from py4j.protocol import Py4JError, Py4JJavaError  # type: ignore[import-untyped]

    try:
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
        jvm.java.lang.Class.forName(name, False, loader)
    except Py4JJavaError:  # ClassNotFoundException, NoClassDefFoundError, ...
        return False
    except Py4JError as error:  # the JVM did not answer: not a missing connector
        first = (str(error).strip().splitlines() or [repr(error)])[0]
        raise EngineError(f"spark: cannot ask the driver JVM for {name}: {first}") from error
    return True


def _version(text: str) -> tuple[int, int]:
    found = re.match(r"(\d+)\.(\d+)", text)
    return (int(found[1]), int(found[2])) if found else (0, 0)
