"""The lake's object store: a local folder, an S3 bucket or a GCS bucket, with conditional writes.

A lake on object storage has no rename and no ``flock``, so every record that must never be
overwritten (commit files, manifests, lock leases) is written with one of two conditional writes:

- :meth:`ObjectStore.create`: create-if-absent; the loser gets :class:`AlreadyExists`;
- :meth:`ObjectStore.replace`: replace-if-the-version-matches (S3 ETag, GCS generation); a stale
  version gets :class:`VersionMismatch` and the object is unchanged.

Immutable data files (Parquet partitions, bronze batches) are written with :meth:`ObjectStore.put`
under names no other writer uses. Keys are ``/``-separated and relative to the store's prefix.

=========  ==============================  ==========================================
backend    create-if-absent                replace-if-match
=========  ==============================  ==========================================
local      hard link of a flushed file     a short ``flock``, version = content hash
s3         ``If-None-Match: *`` (obstore)  ``If-Match: <ETag>`` (obstore)
gs         ``ifGenerationMatch=0``         ``ifGenerationMatch=<generation>``
=========  ==============================  ==========================================

:class:`LocalStore` is here; :mod:`.store_s3` (obstore) and :mod:`.store_gcs`
(google-cloud-storage, the ``cloud`` extra) are imported only when a URI names them.
Credentials and endpoints come only from each provider's standard chain: for S3 the ``AWS_*``
variables (``AWS_ENDPOINT_URL`` for MinIO, Ceph, R2 or a local server; plain http only when that
URL says http), ``AWS_PROFILE`` and instance or task roles; for GCS Application Default
Credentials, and ``STORAGE_EMULATOR_HOST`` for an emulator. A store shows only its URI (scheme,
bucket, prefix): no secret is ever part of a ``repr``, a log line or an error.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from treasury_lakehouse.errors import LakeError
from treasury_lakehouse.lake.files import TMP_MARK, atomic_write_bytes, create_exclusive

#: a version as the backend names it: a content hash (local), an ETag (S3), a generation (GCS)
Version = str
SCHEMES = ("s3", "gs")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")


class ObjectStoreError(LakeError):
    """An object-store call failed (context ``uri``, ``key``)."""


class ObjectMissing(ObjectStoreError):
    """The key names no object."""


class AlreadyExists(ObjectStoreError):
    """A create-if-absent lost: the key exists (another writer created it first)."""


class VersionMismatch(ObjectStoreError):
    """A replace-if-match lost: the object is not (or no longer) at the version given."""


class ObjectStore(ABC):
    """One lake's objects: keys relative to :attr:`uri`."""

    uri: str

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"

    def where(self, key: str) -> str:
        """The object's full URI, for messages."""
        return f"{self.uri.rstrip('/')}/{key}"

    @abstractmethod
    def get(self, key: str) -> tuple[bytes, Version]:
        """The object's bytes and the version they are; :class:`ObjectMissing` if absent."""

    @abstractmethod
    def head(self, key: str) -> Version | None:
        """The object's current version, or ``None`` if there is none."""

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    @abstractmethod
    def put(self, key: str, data: bytes) -> Version:
        """Write unconditionally (immutable data under a name no other writer uses)."""

    @abstractmethod
    def create(self, key: str, data: bytes) -> Version:
        """Write only if ``key`` does not exist; :class:`AlreadyExists` otherwise."""

    @abstractmethod
    def replace(self, key: str, data: bytes, version: Version) -> Version:
        """Write only if ``key`` is at ``version``; :class:`VersionMismatch` otherwise."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """The keys under ``prefix`` (a key prefix, not only a folder), sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object (unconditionally; no error if it is already gone)."""

    def _exists_error(self, key: str) -> AlreadyExists:
        return AlreadyExists(
            f"{self.where(key)} already exists: another writer created it first",
            uri=self.uri,
            key=key,
        )

    def _mismatch_error(self, key: str, version: Version) -> VersionMismatch:
        return VersionMismatch(
            f"{self.where(key)} is no longer at version {version}: another writer changed it",
            uri=self.uri,
            key=key,
        )

    def _missing_error(self, key: str) -> ObjectMissing:
        return ObjectMissing(f"{self.where(key)} does not exist", uri=self.uri, key=key)


def check_key(key: str) -> str:
    """``key`` if it is a relative ``/``-separated name without empty, ``.`` or ``..`` parts."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise LakeError(f"object key {key!r} is not a relative name such as 'gold/table/v1/x'")
    return key


def _join(prefix: str, key: str) -> str:
    return f"{prefix}/{key}" if prefix else key


# ---------------------------------------------------------------- local folder


class LocalStore(ObjectStore):
    """A folder. Versions are SHA-256 hashes of the content: a replace-if-match compares the
    content it read, under a short ``flock`` of ``<root>/.store.lock`` (two writes of the same
    bytes are one version, which no caller can tell apart)."""

    LOCK_FILE = ".store.lock"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = str(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def get(self, key: str) -> tuple[bytes, Version]:
        try:
            data = self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise self._missing_error(key) from None
        return data, _content_version(data)

    def head(self, key: str) -> Version | None:
        try:
            return self.get(key)[1]
        except ObjectMissing:
            return None

    def put(self, key: str, data: bytes) -> Version:
        atomic_write_bytes(self._path(key), data)
        return _content_version(data)

    def create(self, key: str, data: bytes) -> Version:
        path = self._path(key)
        try:
            create_exclusive(path, data)  # a hard link, which fails if the name exists
        except LakeError:
            if path.exists():
                raise self._exists_error(key) from None
            raise
        return _content_version(data)

    def replace(self, key: str, data: bytes, version: Version) -> Version:
        with self._locked():
            if self.head(key) != version:
                raise self._mismatch_error(key, version)
            return self.put(key, data)

    def list(self, prefix: str = "") -> list[str]:
        # walk only the folder holding the prefix: a lake's commit log sits beside its data
        folder = prefix.rpartition("/")[0]
        base = self._path(folder) if folder else self.root
        if not base.is_dir():
            return []
        keys = (
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and TMP_MARK not in p.name
        )
        return sorted(k for k in keys if k.startswith(prefix) and k != self.LOCK_FILE)

    def delete(self, key: str) -> None:
        with self._locked():
            self._path(key).unlink(missing_ok=True)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / self.LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held for one read and one write only
            yield
        finally:
            os.close(fd)


def _content_version(data: bytes) -> Version:
    return hashlib.sha256(data).hexdigest()[:32]


class BucketStore(ObjectStore):
    """What the S3 and GCS stores share: a bucket, a prefix, and keys joined under it."""

    scheme: str

    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket, self.prefix = bucket, prefix
        self.uri = f"{self.scheme}://{bucket}/{prefix}".rstrip("/")

    def _name(self, key: str) -> str:
        """The object's name in the bucket."""
        return _join(self.prefix, check_key(key))

    def _key(self, name: str) -> str:
        return name.removeprefix(f"{self.prefix}/") if self.prefix else name

    def _bucket_missing(self, key: str) -> ObjectStoreError:
        return ObjectStoreError(
            f"{self.where(key)}: the bucket {self.bucket} does not exist (or is not visible "
            "with these credentials)",
            uri=self.uri,
            key=key,
        )


# ---------------------------------------------------------------- shared by the backends


def store_failure(store: ObjectStore, key: str, error: Exception) -> ObjectStoreError:
    """One line: the object, the kind of failure, and the first line of the backend's text."""
    first = (str(error).strip().splitlines() or [""])[0][:300]
    failure = ObjectStoreError(
        f"{store.where(key)}: {type(error).__name__}: {first}", uri=store.uri, key=key
    )
    failure.transient = _looks_transient(error)
    return failure


def _looks_transient(error: Exception) -> bool:
    code = getattr(error, "code", None)
    return code in (429, 500, 502, 503, 504) or "timed out" in str(error).lower()


def missing_extra(scheme: str, package: str) -> LakeError:
    return LakeError(f"a {scheme}:// lake needs {package}: pip install 'treasury-lakehouse[cloud]'")


def open_store(uri: str | Path) -> ObjectStore:
    """The store of a lake URI: a local path, ``s3://bucket/prefix`` or ``gs://bucket/prefix``.

    A bad URI is a one-line :class:`LakeError` naming it and what is wrong.
    """
    if isinstance(uri, Path):
        return LocalStore(uri)
    parts = urlsplit(uri)
    if parts.scheme in ("", "file"):
        if parts.scheme == "file" and parts.netloc not in ("", "localhost"):
            raise LakeError(f"lake URI {uri!r}: a file:// URI names no host (file:///path)")
        path = parts.path if parts.scheme == "file" else uri
        if not path:
            raise LakeError("lake URI is empty: give a folder, s3://bucket/prefix or gs://...")
        return LocalStore(Path(path))
    if parts.scheme not in SCHEMES:
        raise LakeError(
            f"lake URI {_shown(uri)!r}: scheme {parts.scheme!r} is not supported "
            "(a local folder, s3://bucket/prefix or gs://bucket/prefix)"
        )
    bucket, prefix = _bucket_and_prefix(uri, parts)
    if parts.scheme == "s3":
        from treasury_lakehouse.lake.store_s3 import S3Store

        return S3Store(bucket, prefix)
    from treasury_lakehouse.lake.store_gcs import GCSStore

    return GCSStore(bucket, prefix)


def _bucket_and_prefix(uri: str, parts: Any) -> tuple[str, str]:
    shown = _shown(uri)
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise LakeError(
            f"lake URI {shown!r}: credentials, queries and fragments have no place in a lake "
            "URI (credentials come from the provider's standard chain)"
        )
    bucket = parts.netloc
    if not _BUCKET.match(bucket):
        raise LakeError(
            f"lake URI {shown!r}: {bucket!r} is not a bucket name (3-63 lowercase letters, "
            "digits, dots, hyphens or underscores)"
        )
    prefix = parts.path.strip("/")
    if prefix:
        try:
            check_key(prefix)
        except LakeError:
            raise LakeError(
                f"lake URI {shown!r}: the prefix {prefix!r} has an empty, '.' or '..' part"
            ) from None
    return bucket, prefix


def _shown(uri: str) -> str:
    """``uri`` without anything before an ``@`` in its authority (never echo a credential)."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]).geturl()
