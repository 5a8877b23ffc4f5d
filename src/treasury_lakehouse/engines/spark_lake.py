"""Where the Spark engine's executors read and write: the driver's files, or the lake's bucket.

In local mode the executors live in the driver's JVM and read the lake's files where the driver
has them (a folder lake, or a bucket lake's cache). A cluster's executors (EMR, Dataproc, a
standalone cluster on other machines) cannot see the driver's disk, so for a lake in a bucket
:class:`SharedLake` hands them the bucket's own URIs (``s3a://``, ``gs://``):

- a committed file (a bronze batch, a silver or gold version the cache holds) is read where the
  bucket keeps it, the key being its path relative to the cache root;
- a file the engine writes is written by the executors under ``_spark/<run>/`` in the bucket,
  at the path it has in the cache; the driver then downloads each written Parquet file into
  the cache, where the lake commit publishes it as it publishes the DuckDB engine's files
  (uploaded, then committed with a conditional write). Later reads of this run's outputs (gold
  reads the silver just built) go to the staging copy.

:meth:`SharedLake.close` deletes the run's staging objects. A killed driver leaves them behind:
nothing names them, so readers and ``verify`` never see them, and removing ``_spark/`` (or a
bucket lifecycle rule on it) reclaims the space.

No pyspark import here: a frame is anything with Spark's ``.write``.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from treasury_lakehouse.errors import EngineError
from treasury_lakehouse.lake.files import TMP_MARK
from treasury_lakehouse.lake.store import ObjectStore

#: the bucket prefix of the engine's staging objects
STAGING_PREFIX = "_spark"

#: the characters of a Hadoop glob (``org.apache.hadoop.fs.GlobPattern``)
_HADOOP_GLOB_CHARS = "\\*?[]{}"


def glob_escaped(uri: str) -> str:
    """``uri`` for ``DataFrameReader.parquet``, which expands every path as a Hadoop glob: each
    glob character gets a backslash (Hadoop's escape), so a name is read as itself."""
    return "".join("\\" + char if char in _HADOOP_GLOB_CHARS else char for char in uri)


def spark_lake_uri(uri: str) -> str:
    """The URI Spark's Hadoop connectors give a lake in a bucket: ``s3://`` as ``s3a://``
    (hadoop-aws; EMR maps ``s3a`` to it as well), ``gs://`` as itself."""
    if uri.startswith("s3://"):
        return "s3a://" + uri.removeprefix("s3://")
    return uri


def _is_part(key: str) -> bool:
    """A Parquet file Spark wrote (``part-*.parquet``), not ``_SUCCESS``, a ``.crc`` checksum
    or a directory marker (a key ending in ``/``, which S3A may leave)."""
    name = key.rpartition("/")[2]
    return name.startswith("part-") and name.endswith(".parquet")


class SharedLake:
    """The lake at :attr:`uri` (as Spark names it; :attr:`store` reaches the same objects) whose
    driver-side cache is the folder :attr:`root`.

    This run's objects: ``_spark/<run>/lake/<path in the lake>`` mirrors what it wrote (read
    back by Spark as the lake's layout), ``_spark/<run>/out/<n>/`` holds a single-file write as
    Spark leaves it (a folder of one ``part-*.parquet``).
    """

    def __init__(self, uri: str, store: ObjectStore, root: Path) -> None:
        self.uri = uri.rstrip("/")
        self.store = store
        self.root = root.absolute()
        self.run = uuid.uuid4().hex
        self.prefix = f"{STAGING_PREFIX}/{self.run}"
        #: what this run wrote: files and folders of the cache, by their final names
        self._staged: set[Path] = set()
        self._outputs = 0

    def __repr__(self) -> str:
        return f"SharedLake({self.uri!r}, cache={str(self.root)!r})"

    # ------------------------------------------------------------------ names

    def _relative(self, path: Path) -> str:
        if not path.is_relative_to(self.root):
            raise EngineError(
                f"spark: {path} is outside the cache of the lake {self.uri} ({self.root}); "
                "a cluster's executors can only reach the lake's own files"
            )
        return path.relative_to(self.root).as_posix()

    def _staging_key(self, path: Path) -> str:
        return f"{self.prefix}/lake/{self._relative(_final(path.absolute()))}"

    def _key(self, path: Path) -> str:
        """The bucket key of ``path``: its staging copy if this run wrote it, a folder above it
        or a file below it, else where the committed lake keeps it."""
        path = _final(path.absolute())
        if any(path.is_relative_to(s) or s.is_relative_to(path) for s in self._staged):
            return self._staging_key(path)
        return self._relative(path)

    def read_uri(self, path: Path) -> str:
        """The URI executors read ``path`` of the cache by (glob characters escaped)."""
        return glob_escaped(f"{self.uri}/{self._key(path)}")

    def base_uri(self, path: Path) -> str:
        """:meth:`read_uri` unescaped, for options taken literally (``basePath``)."""
        return f"{self.uri}/{self._key(path)}"

    # ------------------------------------------------------------------ writes

    def write_single_file(self, frame: Any, target: Path) -> None:
        """Write ``frame`` (one partition) as the Parquet file ``target`` of the cache: the
        executors write it under the staging prefix, the driver downloads it."""
        self._outputs += 1
        output = f"{self.prefix}/out/{self._outputs}"
        frame.write.mode("overwrite").parquet(f"{self.uri}/{output}")
        parts = [k for k in self.store.list(output + "/") if _is_part(k)]
        if len(parts) != 1:
            raise EngineError(
                f"spark: expected one output file in {self.store.where(output)}, found {len(parts)}"
            )
        data, _ = self.store.get(parts[0])
        self.store.put(self._staging_key(target), data)  # where later reads of this run look
        _write_local(target, data)
        self._staged.add(_final(target.absolute()))

    def write_partitioned(self, frame: Any, directory: Path, partition_column: str) -> None:
        """Write ``frame`` as ``directory/<partition_column>=<value>/part-*.parquet``: under the
        staging prefix by the executors, into the cache by the driver."""
        key = self._staging_key(directory)
        frame.write.mode("append").partitionBy(partition_column).parquet(f"{self.uri}/{key}")
        for name in filter(_is_part, self.store.list(key + "/")):
            data, _ = self.store.get(name)
            _write_local(directory / PurePosixPath(name).relative_to(key), data)
        self._staged.add(_final(directory.absolute()))

    def close(self) -> None:
        """Delete this run's staging objects."""
        for name in self.store.list(self.prefix + "/"):
            if not name.endswith("/"):
                self.store.delete(name)
        self._staged.clear()


def _final(path: Path) -> Path:
    """``path`` with a version being built (``<name><TMP_MARK>building``) named as the version it
    becomes: gold reads the silver version this run built by its final name."""
    return Path(*(part.split(TMP_MARK)[0] if TMP_MARK in part else part for part in path.parts))


def _write_local(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)
