"""A local OpenLineage receiver for tests: an HTTP server on 127.0.0.1 that keeps every event
POSTed to it (what Marquez's ``/api/v1/lineage`` would get)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

#: the fields the OpenLineage spec requires of every run event
REQUIRED = ("eventTime", "producer", "schemaURL", "eventType")


class LineageReceiver:
    """``with LineageReceiver() as receiver``: events in ``receiver.events`` (parsed) and
    ``receiver.bodies`` (as sent)."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.append(self.rfile.read(length).decode())
                receiver.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body in self.bodies]

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def by_job(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Job name -> its event types in the order received."""
    jobs: dict[str, list[str]] = {}
    for event in events:
        jobs.setdefault(event["job"]["name"], []).append(event["eventType"])
    return jobs


def assert_spec_fields(event: dict[str, Any]) -> None:
    """Every field the spec requires of a run event is there and not empty."""
    for name in REQUIRED:
        assert event.get(name), f"{name} missing from {event}"
    assert event["run"]["runId"] and event["job"]["namespace"] and event["job"]["name"]
