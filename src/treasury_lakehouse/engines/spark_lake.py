"""Where the Spark engine's executors read and write: the driver's files, or the lake's bucket.

In local mode the executors live in the driver's JVM and read the lake's files where the driver
has them (a folder lake, or a bucket lake's cache). A cluster's executors (EMR, Dataproc, a
standalone cluster on other machines) cannot see the driver's disk, so for a lake in a bucket
:class:`SharedLake` hands them the bucket's own URIs (``s3a://``, ``gs://``):

- a committed file (a bronze batch, a silver or gold version the cache holds) is read where the
  bucket keeps it, the key being its path relative to the cache root;
- a file the engine writes is written by the executors under ``_spark/<run>/`` in the bucket,
  beside the path it has in the cache; the driver then downloads each written Parquet file into
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


def _is_marker(name: str) -> bool:
    """Spark's ``_SUCCESS`` and the ``.crc`` checksums Hadoop's local file system writes."""
    return name.startswith("_SUCCESS") or name.endswith(".crc") or name.startswith(".")


class SharedLake:
    """The lake at :attr:`uri` (as Spark names it; :attr:`store` reaches the same objects) whose
    driver-side cache is the folder :attr:`root`."""

    def __init__(self, uri: str, store: ObjectStore, root: Path) -> None:
        self.uri = uri.rstrip("/")
        self.store = store
        self.root = root.absolute()
        self.run = uuid.uuid4().hex
        #: cache paths this run wrote → their staging key
        self._staged: dict[Path, str] = {}

    def __repr__(self) -> str:
        return f"SharedLake({self.uri!r}, cache={str(self.root)!r})"

    # ------------------------------------------------------------------ names

    def _relative(self, path: Path) -> str:
        path = path.absolute()
        if not path.is_relative_to(self.root):
            raise EngineError(
                f"spark: {path} is outside the cache of the lake {self.uri} ({self.root}); "
                "a cluster's executors can only reach the lake's own files"
            )
        return path.relative_to(self.root).as_posix()

    def _key(self, path: Path) -> str:
        """The bucket key of ``path``: its staging copy if this run wrote it (or a folder above
        it), else where the committed lake keeps it."""
        path = _final(path.absolute())
        for parent in (path, *path.parents):
            staged = self._staged.get(parent)
            if staged is not None:
                rest = path.relative_to(parent).as_posix()
                return staged if rest == "." else f"{staged}/{rest}"
        return self._relative(path)

    def _staging_key(self, path: Path) -> str:
        return f"{STAGING_PREFIX}/{self.run}/{self._relative(_final(path))}"

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
        key = self._staging_key(target)
        spark_dir = f"{key}.spark"
        frame.write.mode("overwrite").parquet(f"{self.uri}/{spark_dir}")
        written = self.store.list(spark_dir + "/")
        parts = [k for k in written if not _is_marker(PurePosixPath(k).name)]
        if len(parts) != 1:
            raise EngineError(
                f"spark: expected one output file in {self.store.where(spark_dir)}, "
                f"found {len(parts)}"
            )
        data, _ = self.store.get(parts[0])
        self.store.put(key, data)  # where later reads of this run find it
        _write_local(target, data)
        self._staged[_final(target.absolute())] = key
        for name in written:
            self.store.delete(name)

    def write_partitioned(self, frame: Any, directory: Path, partition_column: str) -> None:
        """Write ``frame`` as ``directory/<partition_column>=<value>/part-*.parquet``: under the
        staging prefix by the executors, into the cache by the driver."""
        key = self._staging_key(directory)
        frame.write.mode("append").partitionBy(partition_column).parquet(f"{self.uri}/{key}")
        for name in self.store.list(key + "/"):
            relative = PurePosixPath(name).relative_to(key)
            if _is_marker(relative.name):
                self.store.delete(name)
                continue
            data, _ = self.store.get(name)
            _write_local(directory / relative, data)
        self._staged[_final(directory.absolute())] = key

    def close(self) -> None:
        """Delete this run's staging objects."""
        prefix = f"{STAGING_PREFIX}/{self.run}/"
        for name in self.store.list(prefix):
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
