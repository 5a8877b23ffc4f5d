"""Publishing the DAG bundle to a bucket (the CI job ``publish-dags-bundle``), against the local S3
server: every file read back byte for byte, a previous bundle's stale DAG file removed."""

from __future__ import annotations

from pathlib import Path

import pytest

from treasury_lakehouse.errors import ConfigError
from treasury_lakehouse.lake.store import open_store
from treasury_lakehouse.orchestration.bundle import build_bundle, main, publish_bundle
from treasury_lakehouse.testing.object_servers import TEST_BUCKET, LocalServer

REPO = Path(__file__).resolve().parents[2]
CI_WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"


def test_the_bundle_is_published_to_s3_byte_for_byte(
    tmp_path: Path, s3_env: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = build_bundle(REPO, tmp_path / "dags-bundle").directory
    uri = f"s3://{TEST_BUCKET}/{tmp_path.name}/composer"
    store = open_store(uri)
    store.put("dags/renamed_long_ago.py", b"# a DAG file of an earlier bundle")

    assert main(["publish", uri, "--bundle", str(bundle)]) == 0
    assert "file(s) published" in capsys.readouterr().out

    local = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert local == ["dags/treasury_medallion.py", "requirements.txt"]
    assert store.list() == local  # the stale DAG file is gone
    for key in local:
        assert store.get(key)[0] == (bundle / key).read_bytes(), key
    assert publish_bundle(bundle, uri)[0] == "requirements.txt"  # again: the same files


def test_publishing_refuses_a_folder_that_is_not_a_bundle_and_a_local_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError, match="is not a DAG bundle"):
        publish_bundle(tmp_path, "s3://bucket/dags")
    assert main(["publish", "s3://bucket/dags", "--bundle", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("Error: ") and error.count("\n") == 1
    with pytest.raises(ConfigError, match="publish to a bucket"):
        publish_bundle(tmp_path, str(tmp_path / "elsewhere"))


def test_ci_publishes_the_bundle_with_the_bucket_from_a_repository_variable() -> None:
    workflow = CI_WORKFLOW.read_text()
    job = workflow[workflow.index("  publish-dags-bundle:") :]
    assert "make dags-publish" in job and "vars.DAGS_BUNDLE_URI" in job
    assert "secrets." not in job  # credentials from the provider's chain (OIDC), not a key
