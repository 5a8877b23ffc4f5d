"""A local, real HTTP server that behaves like the Fiscal Data API, for tests and demos.

It serves every dataset of a records folder (``records/<dataset>.jsonl.gz`` and
``meta/<dataset>.json``) at ``/services/api/fiscal_service/<endpoint>`` with the real API's query
semantics, and lets a test (or a person, over ``/_control/...``) move the publication date,
restate published records and inject faults (error statuses, latency, truncated or HTML bodies,
dropped connections). ``/_control`` answers only requests from loopback (403 otherwise), so a server
bound to a public address cannot be steered by others.
"""

from __future__ import annotations

import ipaddress
import json
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, fields
from datetime import date
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from treasury_lakehouse.testing.records import (
    DEFAULT_SORT,
    DatasetMeta,
    NoMatchingRecordsError,
    QueryError,
    Record,
    SortKey,
    apply_filters,
    build_response,
    discover_datasets,
    paginate,
    parse_query,
    read_records,
    restate_rows,
    sort_rows,
)

BASE_PATH = "/services/api/fiscal_service/"
CONTROL_PATH = "/_control/"

NOT_FOUND_HTML = (
    "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
    "<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
MAINTENANCE_HTML = (
    "<!DOCTYPE html><html><head><title>Fiscal Data - Scheduled Maintenance</title></head>"
    "<body><h1>We'll be back soon</h1><p>Fiscal Data is undergoing scheduled maintenance."
    "</p></body></html>"
)


@dataclass
class Fault:
    """One injected misbehaviour, applied to the next ``times`` matching API requests.

    ``status`` answers with that HTTP status (plus ``Retry-After: retry_after`` if given);
    ``latency_s`` waits first; ``truncate`` sends a 200 whose JSON body is cut in half;
    ``html_200`` sends a 200 maintenance page in HTML; ``drop_connection`` closes the socket
    without answering. ``path_contains`` limits the fault to request paths containing it.
    """

    status: int | None = None
    retry_after: str | None = None
    latency_s: float = 0.0
    truncate: bool = False
    html_200: bool = False
    drop_connection: bool = False
    times: int = 1
    path_contains: str | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Fault:
        """Build a fault from its JSON form (the field names), rejecting unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        return cls(**raw)

    def applies_to(self, path: str) -> bool:
        """True when this fault targets a request for ``path``."""
        return self.path_contains is None or self.path_contains in path


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that stays quiet when a client hangs up (e.g. after a timeout)."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _FaultQueue:
    """Faults consumed in order by matching requests (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[list[Any]] = deque()  # [fault, remaining]

    def extend(self, faults: list[Fault]) -> None:
        with self._lock:
            self._queue.extend([fault, fault.times] for fault in faults if fault.times > 0)

    def take(self, path: str) -> Fault | None:
        with self._lock:
            for entry in self._queue:
                fault: Fault = entry[0]
                if fault.applies_to(path):
                    entry[1] -= 1
                    if entry[1] <= 0:
                        self._queue.remove(entry)
                    return fault
        return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return [entry[0] for entry in self._queue]

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()


class _Store:
    """Datasets of a records folder, loaded lazily, with sorted views cached per sort."""

    def __init__(self, records_dir: Path) -> None:
        self.metas = discover_datasets(records_dir)
        self.by_endpoint = {meta.endpoint: meta for meta in self.metas.values()}
        self._lock = threading.RLock()
        self._rows: dict[str, list[Record]] = {}
        self._sorted: dict[tuple[str, tuple[SortKey, ...]], list[Record]] = {}

    def rows(self, name: str) -> list[Record]:
        with self._lock:
            if name not in self._rows:
                self._rows[name] = read_records(self.metas[name].records_path)
            return self._rows[name]

    def sorted_rows(self, name: str, sort: tuple[SortKey, ...]) -> list[Record]:
        with self._lock:
            key = (name, sort)
            if key not in self._sorted:
                meta = self.metas[name]
                self._sorted[key] = sort_rows(self.rows(name), sort, meta.data_types)
            return self._sorted[key]

    def restate(self, name: str, match: dict[str, str], changes: dict[str, str]) -> int:
        if name not in self.metas:
            raise KeyError(f"unknown dataset '{name}'")
        with self._lock:
            new_rows, changed = restate_rows(self.rows(name), match, changes)
            self._rows[name] = new_rows
            self._sorted = {k: v for k, v in self._sorted.items() if k[0] != name}
            return changed

    def withdraw(self, name: str, match: dict[str, str]) -> int:
        if name not in self.metas:
            raise KeyError(f"unknown dataset '{name}'")
        with self._lock:
            rows = self.rows(name)
            kept = [r for r in rows if not all(r.get(k) == str(v) for k, v in match.items())]
            if len(kept) == len(rows):
                raise NoMatchingRecordsError(f"no record matches {dict(match)}")
            self._rows[name] = kept
            self._sorted = {k: v for k, v in self._sorted.items() if k[0] != name}
            return len(rows) - len(kept)


class FakeFiscalDataApi:
    """The fake Fiscal Data API, served from a background thread.

    Use as a context manager (or call :meth:`start` / :meth:`stop`)::

        with FakeFiscalDataApi(records_dir, today=date(2024, 2, 15)) as api:
            httpx.get(api.base_url + "v1/accounting/dts/public_debt_transactions")

    ``today`` (mutable) hides records dated after it, as if not yet published. Without a ``sort``
    parameter rows come oldest first, like the real API (``default_sort`` changes that).
    """

    def __init__(
        self,
        records_dir: Path | str,
        *,
        today: date | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log_requests: bool = False,
        default_sort: str = DEFAULT_SORT,
    ) -> None:
        self.records_dir = Path(records_dir)
        self.today = today
        self.host = host
        self.port = port
        self.log_requests = log_requests
        self.default_sort = default_sort
        self._store = _Store(self.records_dir)
        self._faults = _FaultQueue()
        self._requests: list[str] = []
        self._requests_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Bind the socket and serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), _make_handler(self))
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the socket."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the CLI uses this)."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        finally:
            self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ public API

    @property
    def root_url(self) -> str:
        """``http://host:port`` of the running server."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API base URL, ending in ``/``; append an endpoint to it."""
        return self.root_url + BASE_PATH

    @property
    def datasets(self) -> dict[str, DatasetMeta]:
        """Served datasets by name."""
        return dict(self._store.metas)

    @property
    def requests(self) -> list[str]:
        """Paths with query strings of the API requests received so far (a copy)."""
        with self._requests_lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the requests received so far."""
        with self._requests_lock:
            self._requests.clear()

    def inject_faults(self, faults: list[Fault]) -> None:
        """Queue faults; each matching API request consumes the first matching one."""
        self._faults.extend(faults)

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        self._faults.clear()

    @property
    def pending_faults(self) -> list[Fault]:
        """Faults not yet consumed."""
        return self._faults.pending()

    def records(self, dataset: str) -> list[dict[str, str]]:
        """The records of ``dataset`` as served now (restatements applied; a copy)."""
        if dataset not in self.datasets:
            raise KeyError(f"unknown dataset '{dataset}'")
        return [dict(r) for r in self._store.rows(dataset)]

    def restate(self, dataset: str, match: dict[str, str], changes: dict[str, str]) -> int:
        """Change fields of the records matching ``match``; returns how many rows changed.

        Raises :class:`~treasury_lakehouse.testing.records.NoMatchingRecordsError` when none match.
        """
        return self._store.restate(dataset, match, changes)

    def withdraw(self, dataset: str, match: dict[str, str]) -> int:
        """Remove the records matching ``match`` (the source deleted or re-keyed them); returns
        how many; :class:`~treasury_lakehouse.testing.records.NoMatchingRecordsError` if none."""
        return self._store.withdraw(dataset, match)

    # ------------------------------------------------------------------ request handling

    def _record_request(self, target: str) -> None:
        with self._requests_lock:
            self._requests.append(target)

    def _take_fault(self, path: str) -> Fault | None:
        return self._faults.take(path)

    def _answer(self, path: str, query: str) -> tuple[int, dict[str, Any] | str]:
        """Status and body (dict = JSON, str = HTML) of an API GET."""
        endpoint = path[len(BASE_PATH) :].strip("/")
        meta = self._store.by_endpoint.get(endpoint) if path.startswith(BASE_PATH) else None
        if meta is None:
            return HTTPStatus.NOT_FOUND, NOT_FOUND_HTML
        params = dict(parse_qsl(query, keep_blank_values=True))
        try:
            parsed = parse_query(params, meta.data_types, self.default_sort)
        except QueryError as error:
            return HTTPStatus.BAD_REQUEST, {
                "error": "Invalid Query Param",
                "message": error.message,
            }
        rows = self._store.sorted_rows(meta.name, parsed.sort)
        selected = apply_filters(
            rows, parsed.conditions, meta.data_types, published_through=self.today
        )
        page = paginate(selected, parsed.page_number, parsed.page_size)
        return HTTPStatus.OK, build_response(page, meta)

    def _control(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Handle ``/_control/...``: health, today, restate, faults."""
        action = path[len(CONTROL_PATH) :].strip("/")
        if method == "GET" and action == "health":
            return HTTPStatus.OK, {
                "status": "ok",
                "datasets": sorted(self._store.metas),
            }
        if method == "GET" and action == "faults":
            return HTTPStatus.OK, {"faults": [asdict(f) for f in self.pending_faults]}
        if method != "POST":
            return HTTPStatus.NOT_FOUND, {"error": "Not Found", "message": path}
        try:
            payload = json.loads(body or b"null")
            return self._control_post(action, payload)
        except (ValueError, TypeError, KeyError, LookupError) as error:
            return HTTPStatus.BAD_REQUEST, {
                "error": type(error).__name__,
                "message": str(error),
            }

    def _control_post(self, action: str, payload: Any) -> tuple[int, dict[str, Any]]:
        if action == "today":
            raw = payload.get("today") if isinstance(payload, dict) else None
            self.today = date.fromisoformat(raw) if raw else None
            return HTTPStatus.OK, {"today": self.today.isoformat() if self.today else None}
        if action == "restate":
            changed = self.restate(payload["dataset"], payload["match"], payload["changes"])
            return HTTPStatus.OK, {"changed": changed}
        if action == "faults":
            faults = [Fault.from_dict(item) for item in payload]
            self.inject_faults(faults)
            return HTTPStatus.OK, {"queued": len(faults)}
        return HTTPStatus.NOT_FOUND, {
            "error": "Not Found",
            "message": f"no control '{action}'",
        }


def _make_handler(api: FakeFiscalDataApi) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to one fake API instance."""

    class Handler(_Handler):
        fake = api

    return Handler


class _Handler(BaseHTTPRequestHandler):
    """HTTP plumbing; the answers come from :class:`FakeFiscalDataApi`."""

    fake: FakeFiscalDataApi
    server_version = "nginx"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        if self.fake.log_requests:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        if split.path.startswith(CONTROL_PATH):
            self._send_control("GET", split.path, b"")
            return
        self.fake._record_request(self.path)
        fault = self.fake._take_fault(split.path)
        if fault is not None and self._apply_fault(fault):
            return
        status, body = self.fake._answer(split.path, split.query)
        if fault is not None and fault.truncate and status == HTTPStatus.OK:
            encoded = _json_bytes(body)
            self._send(HTTPStatus.OK, encoded[: len(encoded) // 2], "application/json")
            return
        self._send_body(status, body)

    def do_POST(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if split.path.startswith(CONTROL_PATH):
            self._send_control("POST", split.path, body)
            return
        self._send_body(
            HTTPStatus.METHOD_NOT_ALLOWED,
            {
                "error": "Method Not Allowed",
                "message": "The Fiscal Data API only accepts GET.",
            },
        )

    def _send_control(self, method: str, path: str, body: bytes) -> None:
        if not _is_loopback(self.client_address[0]):
            self._send_body(
                HTTPStatus.FORBIDDEN,
                {"error": "Forbidden", "message": "/_control answers only on loopback"},
            )
            return
        status, payload = self.fake._control(method, path, body)
        self._send_body(status, payload)

    def _apply_fault(self, fault: Fault) -> bool:
        """Apply a fault; True when the request has been fully answered (or dropped)."""
        if fault.latency_s > 0:
            time.sleep(fault.latency_s)
        if fault.drop_connection:
            self.close_connection = True
            return True
        if fault.html_200:
            self._send(HTTPStatus.OK, MAINTENANCE_HTML.encode(), "text/html")
            return True
        if fault.status is not None:
            self._send_fault_status(fault)
            return True
        return False

    def _send_fault_status(self, fault: Fault) -> None:
        assert fault.status is not None
        try:
            phrase = HTTPStatus(fault.status).phrase
        except ValueError:
            phrase = "Error"
        body = _json_bytes({"error": phrase, "message": "Injected fault."})
        extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        self._send(fault.status, body, "application/json", extra)

    def _send_body(self, status: int, body: dict[str, Any] | str) -> None:
        if isinstance(body, str):
            self._send(status, body.encode(), "text/html")
        else:
            self._send(status, _json_bytes(body), "application/json")

    def _send(
        self,
        status: int,
        payload: bytes,
        content_type: str,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def _is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (``::ffff:127.0.0.1``)."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _json_bytes(body: dict[str, Any] | str) -> bytes:
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body, separators=(",", ":")).encode()
