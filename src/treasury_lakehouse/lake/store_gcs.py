"""A GCS lake (``gs://bucket/prefix``) through google-cloud-storage: create-if-absent with
``ifGenerationMatch=0``, replace-if-match with ``ifGenerationMatch=<generation>``.

Credentials are Application Default Credentials; ``STORAGE_EMULATOR_HOST`` points the client at an
emulator (anonymous there). Every write makes a new generation, so versions never repeat.
fake-gcs-server ignores ``ifGenerationMatch`` on deletes, so nothing here relies on a conditional
delete.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from treasury_lakehouse.errors import LakeError
from treasury_lakehouse.lake.store import (
    BucketStore,
    ObjectStoreError,
    Version,
    check_key,
    missing_extra,
    store_failure,
)


class GCSStore(BucketStore):
    """A GCS bucket through google-cloud-storage, conditional writes with ``ifGenerationMatch``
    (``0``: the object must not exist)."""

    scheme = "gs"

    def __init__(self, bucket: str, prefix: str) -> None:
        super().__init__(bucket, prefix)
        try:
            from google.cloud import storage
        except ImportError:
            raise missing_extra("gs", "google-cloud-storage") from None
        from google.auth.exceptions import DefaultCredentialsError

        try:
            self._client = storage.Client()
        except DefaultCredentialsError:
            raise LakeError(
                f"{self.uri}: no Google Application Default Credentials (run `gcloud auth "
                "application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS, or run on "
                "GCP with a service account)"
            ) from None
        self._bucket = self._client.bucket(bucket)

    def get(self, key: str) -> tuple[bytes, Version]:
        from google.api_core.exceptions import PreconditionFailed

        for _ in range(5):  # the object changed between the two calls: read the new one
            with self._errors(key):
                blob = self._bucket.get_blob(self._name(key))
                if blob is None:
                    raise self._missing_error(key)
                try:
                    data = blob.download_as_bytes(if_generation_match=blob.generation)
                except PreconditionFailed:
                    continue
            return bytes(data), str(blob.generation)
        raise ObjectStoreError(f"{self.where(key)} kept changing while being read; try again")

    def head(self, key: str) -> Version | None:
        with self._errors(key):
            blob = self._bucket.get_blob(self._name(key))
        return None if blob is None else str(blob.generation)

    def put(self, key: str, data: bytes) -> Version:
        return self._upload(key, data, None)

    def create(self, key: str, data: bytes) -> Version:
        return self._upload(key, data, 0)

    def replace(self, key: str, data: bytes, version: Version) -> Version:
        if not version.isdigit():
            raise self._mismatch_error(key, version)
        return self._upload(key, data, int(version))

    def _upload(self, key: str, data: bytes, generation: int | None) -> Version:
        from google.api_core.exceptions import PreconditionFailed

        blob = self._bucket.blob(self._name(key))
        try:
            with self._errors(key, passing=(PreconditionFailed,)):
                blob.upload_from_string(data, if_generation_match=generation)
        except PreconditionFailed:
            if generation == 0:
                raise self._exists_error(key) from None
            raise self._mismatch_error(key, str(generation)) from None
        return str(blob.generation)

    def list(self, prefix: str = "") -> list[str]:
        if prefix.rstrip("/"):
            check_key(prefix.rstrip("/"))
        start = f"{self.prefix}/{prefix}" if self.prefix else prefix
        with self._errors(prefix or "."):
            names = [b.name for b in self._client.list_blobs(self.bucket, prefix=start)]
        return sorted(self._key(n) for n in names)

    def delete(self, key: str) -> None:
        from google.api_core.exceptions import NotFound

        try:
            with self._errors(key, passing=(NotFound,)):
                self._bucket.blob(self._name(key)).delete()
        except NotFound:
            pass

    @contextmanager
    def _errors(self, key: str, passing: tuple[type[Exception], ...] = ()) -> Iterator[None]:
        from google.api_core.exceptions import GoogleAPIError
        from google.auth.exceptions import GoogleAuthError

        try:
            yield
        except passing:
            raise
        except (GoogleAPIError, GoogleAuthError) as error:
            raise store_failure(self, key, error) from None
