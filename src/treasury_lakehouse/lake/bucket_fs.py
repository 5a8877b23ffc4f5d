"""The lake's bucket as an fsspec file system, so DuckDB reads and writes ``s3://`` and ``gs://``.

DuckDB 2.0's ``httpfs`` extension cannot be had here (no build on PyPI, no download), so
:func:`register_lake_filesystem` registers this file system on a connection
(``con.register_filesystem``): ``read_parquet('s3://bucket/prefix/gold/.../x.parquet')``, globs
(``silver/<dataset>/<version>/**/*.parquet``) and ``COPY ... TO 's3://...'`` then go through the
lake's own :class:`~.store.ObjectStore` (obstore for S3, google-cloud-storage for GCS) with its
credentials from the provider's standard chain. Only the lake's bucket and prefix are served: any
other location is a one-line error.

A file is read whole into memory on open (Parquet files of this lake are at most tens of MB) and
written whole on close, with a plain put: use it for reads and for new names only (the lake's
records are written by :mod:`.remote` with conditional writes).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import duckdb
from fsspec import AbstractFileSystem

from treasury_lakehouse.errors import LakeError
from treasury_lakehouse.lake.store import ObjectMissing, ObjectStore, open_store

#: how many objects a file system keeps after reading them
_RECENT = 8
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BucketFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """``<scheme>://<bucket>/<prefix>/...`` paths as keys of one lake's store."""

    cachable = False

    def __init__(self, uri: str, store: ObjectStore | None = None) -> None:
        super().__init__()
        self.uri = uri.rstrip("/")
        self.store = store or open_store(self.uri)
        self._root = self.uri.split("://", 1)[1]  # bucket/prefix
        self._recent: dict[str, bytes] = {}

    def _key(self, path: str) -> str:
        bare = str(self._strip_protocol(path)).rstrip("/")
        if bare == self._root:
            return ""
        if not bare.startswith(self._root + "/"):
            raise LakeError(f"{path} is outside the lake {self.uri}: only its objects are served")
        return bare[len(self._root) + 1 :]

    def _path(self, key: str) -> str:
        return f"{self._root}/{key}" if key else self._root

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        key = self._key(path)
        prefix = f"{key}/" if key else ""
        entries: dict[str, dict[str, Any]] = {}
        for found in self.store.list(prefix):
            rest = found[len(prefix) :]
            head, _, tail = rest.partition("/")
            name = self._path(prefix + head)
            if tail:
                entries.setdefault(name, {"name": name, "size": 0, "type": "directory"})
            else:
                entries[name] = {"name": name, "size": None, "type": "file"}
        if not entries and key:
            if self.store.head(key) is not None:
                return [self.info(path)] if detail else [self._path(key)]
            raise FileNotFoundError(path)
        listed = sorted(entries.values(), key=lambda e: e["name"])
        return listed if detail else [e["name"] for e in listed]

    def _get(self, key: str) -> bytes:
        """The object's bytes; the last few are kept (DuckDB asks a file's size, then reads it;
        the lake's data files never change once written)."""
        data = self._recent.get(key)
        if data is None:
            data = self.store.get(key)[0]
            self._recent[key] = data
            while len(self._recent) > _RECENT:
                self._recent.pop(next(iter(self._recent)))
        return data

    def modified(self, path: str) -> datetime:
        """Objects of the lake are never rewritten: one time for all."""
        self.info(path)
        return _EPOCH

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        key = self._key(path)
        try:
            data = self._get(key) if key else None
        except ObjectMissing:
            data = None
        if data is not None:
            return {"name": self._path(key), "size": len(data), "type": "file"}
        if self.store.list(f"{key}/" if key else ""):
            return {"name": self._path(key), "size": 0, "type": "directory"}
        raise FileNotFoundError(path)

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        key = self._key(path)
        if "r" in mode:
            try:
                return io.BytesIO(self._get(key))
            except ObjectMissing:
                raise FileNotFoundError(path) from None
        self._recent.pop(key, None)
        return _Upload(self.store, key)

    def rm_file(self, path: str) -> None:
        self.store.delete(self._key(path))

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Object stores have no folders: nothing to make."""

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Object stores have no folders: nothing to make."""


class _Upload(io.BytesIO):
    """A file written whole to its key when closed."""

    def __init__(self, store: ObjectStore, key: str) -> None:
        super().__init__()
        self.store, self.key = store, key

    def close(self) -> None:
        if not self.closed:
            self.store.put(self.key, self.getvalue())
        super().close()


class _S3(BucketFileSystem):
    protocol = "s3"


class _GS(BucketFileSystem):
    protocol = "gs"


def bucket_filesystem(uri: str, store: ObjectStore | None = None) -> BucketFileSystem:
    """The file system of the lake at ``uri`` (fsspec strips its scheme by the class's
    ``protocol``, so each scheme has its class)."""
    kind = {"s3": _S3, "gs": _GS}.get(uri.split("://", 1)[0])
    if kind is None:
        raise LakeError(f"{uri} is not an s3:// or gs:// lake")
    return kind(uri, store)


def register_lake_filesystem(
    con: duckdb.DuckDBPyConnection, uri: str, store: ObjectStore | None = None
) -> BucketFileSystem:
    """Let ``con`` read and write the lake at ``uri`` (``s3://...``, ``gs://...``) by its URIs
    (through ``store``, else a store of its own)."""
    fs = bucket_filesystem(uri, store)
    con.register_filesystem(fs)
    return fs
