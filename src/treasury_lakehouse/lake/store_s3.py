"""An S3 lake (``s3://bucket/prefix``) through obstore: create-if-absent with
``If-None-Match: *``, replace-if-match with ``If-Match: <ETag>``.

Configured by the standard chain only: obstore reads the ``AWS_*`` variables (keys, session token,
``AWS_ENDPOINT_URL``, region, web identity, container and instance credentials); with
``AWS_PROFILE`` the credentials (and the profile's region) come from boto3's chain. Plain http is
allowed only when ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``) says http.

An S3 ETag of a single-part upload is the MD5 of its bytes: writing the same bytes again gives the
same ETag, so a replace-if-match cannot tell A → B → A from A. Every conditional record the lake
writes carries a fresh id (a lease's owner, a commit's run) so this never arises.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from treasury_lakehouse.errors import LakeError
from treasury_lakehouse.lake.store import (
    BucketStore,
    ObjectMissing,
    Version,
    missing_extra,
    store_failure,
)


class S3Store(BucketStore):
    """An S3 bucket (or an S3-compatible store) through obstore, conditional writes with
    ``If-None-Match: *`` and ``If-Match: <ETag>``."""

    scheme = "s3"

    def __init__(self, bucket: str, prefix: str) -> None:
        super().__init__(bucket, prefix)
        self._store = _obstore_s3(bucket)

    def get(self, key: str) -> tuple[bytes, Version]:
        import obstore

        with self._errors(key):
            result = obstore.get(self._store, self._name(key))
            return bytes(result.bytes()), _etag(result.meta)

    def head(self, key: str) -> Version | None:
        import obstore

        try:
            with self._errors(key):
                return _etag(obstore.head(self._store, self._name(key)))
        except ObjectMissing:
            return None

    def put(self, key: str, data: bytes) -> Version:
        return self._put(key, data, "overwrite")

    def create(self, key: str, data: bytes) -> Version:
        return self._put(key, data, "create")

    def replace(self, key: str, data: bytes, version: Version) -> Version:
        return self._put(key, data, {"e_tag": version}, version)

    def _put(self, key: str, data: bytes, mode: Any, version: Version | None = None) -> Version:
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        try:
            with self._errors(key, passing=(AlreadyExistsError, PreconditionError)):
                result = obstore.put(self._store, self._name(key), data, mode=mode)
        except AlreadyExistsError:
            raise self._exists_error(key) from None
        except PreconditionError:
            raise self._mismatch_error(key, version or "?") from None
        except ObjectMissing:
            if version is not None:  # If-Match on an object deleted meanwhile
                raise self._mismatch_error(key, version) from None
            raise self._bucket_missing(key) from None
        return str(result["e_tag"])

    def list(self, prefix: str = "") -> list[str]:
        import obstore

        # obstore lists whole path segments: list the folder holding the prefix, then filter
        folder = prefix.rpartition("/")[0]
        start = self._name(folder) if folder else self.prefix
        with self._errors(prefix or "."):
            found = [m["path"] for chunk in obstore.list(self._store, start or None) for m in chunk]
        return sorted(self._key(p) for p in found if self._key(p).startswith(prefix))

    def delete(self, key: str) -> None:
        import obstore

        try:
            with self._errors(key):
                obstore.delete(self._store, self._name(key))
        except ObjectMissing:
            pass

    @contextmanager
    def _errors(self, key: str, passing: tuple[type[Exception], ...] = ()) -> Iterator[None]:
        """obstore's errors as one-line :class:`ObjectStoreError`: the backend's own text can be
        long, and a store should name its URI, never its configuration."""
        from obstore.exceptions import BaseError, NotFoundError

        try:
            yield
        except passing:
            raise
        except (NotFoundError, FileNotFoundError):  # obstore raises the latter for a 404
            raise self._missing_error(key) from None
        except BaseError as error:
            raise store_failure(self, key, error) from None


def _obstore_s3(bucket: str) -> Any:
    """An obstore S3 store for ``bucket``, configured by the standard chain only."""
    try:
        from obstore.store import S3Store as ObstoreS3
    except ImportError:
        raise missing_extra("s3", "obstore") from None
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
    options: dict[str, Any] = {}
    if endpoint.startswith("http://"):
        options["client_options"] = {"allow_http": True}
    profile = os.environ.get("AWS_PROFILE")
    if profile:  # obstore reads no profiles itself: boto3's chain does (and the profile's region)
        options["credential_provider"] = _profile_credentials(profile)
    return ObstoreS3(bucket, **options)


def _profile_credentials(profile: str) -> Any:
    try:
        from botocore.exceptions import BotoCoreError
        from obstore.auth.boto3 import Boto3CredentialProvider
    except ImportError:
        raise missing_extra("s3", "boto3 (for AWS_PROFILE)") from None
    try:
        return Boto3CredentialProvider()
    except (ValueError, BotoCoreError) as error:
        raise LakeError(
            f"AWS_PROFILE={profile} gives no credentials ({type(error).__name__}): check the "
            "profile in the AWS config and credentials files"
        ) from None


def _etag(meta: Any) -> Version:
    e_tag = meta.get("e_tag") if isinstance(meta, dict) else None
    if not e_tag:
        raise LakeError("the S3 server returned no ETag: conditional writes are impossible")
    return str(e_tag)
