"""Lake URIs: a folder, s3:// or gs://, and one clear line for a URI that cannot be a lake."""

from __future__ import annotations

from pathlib import Path

import pytest

from treasury_lakehouse.errors import LakeError
from treasury_lakehouse.lake.store import LocalStore, check_key, open_store


def test_a_path_or_a_file_uri_is_a_local_store(tmp_path: Path) -> None:
    for uri in (tmp_path, str(tmp_path), f"file://{tmp_path}"):
        store = open_store(uri)
        assert isinstance(store, LocalStore) and store.root == tmp_path
        assert repr(store) == f"LocalStore({str(tmp_path)!r})"


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("ftp://bucket/lake", "scheme 'ftp' is not supported"),
        ("s3://", "'' is not a bucket name"),
        ("s3://Bad_Bucket/lake", "'Bad_Bucket' is not a bucket name"),
        ("gs://bucket/a//b", "has an empty, '.' or '..' part"),
        ("s3://bucket/../up", "has an empty, '.' or '..' part"),
        ("s3://AKIAEXAMPLE:hunter2@bucket/lake", "credentials, queries and fragments"),
        ("s3://bucket/lake?region=x", "credentials, queries and fragments"),
        ("file://host/lake", "a file:// URI names no host"),
        ("", "lake URI is empty"),
    ],
)
def test_a_bad_uri_is_one_line_naming_it_and_what_is_wrong(uri: str, says: str) -> None:
    with pytest.raises(LakeError) as error:
        open_store(uri)
    message = str(error.value)
    assert says in message and "\n" not in message, message
    assert "hunter2" not in message and "AKIAEXAMPLE" not in message
    if uri and "hunter2" not in uri:
        assert uri in message


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "a/./b", "../up", "a/"])
def test_keys_are_relative_names_without_empty_or_dot_parts(key: str) -> None:
    with pytest.raises(LakeError, match="is not a relative name"):
        check_key(key)
    assert check_key("gold/table/v1/part-0.parquet") == "gold/table/v1/part-0.parquet"
