"""The HTTP client of the Fiscal Data API: every page, bounded retries, a checked total."""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn
from urllib.parse import unquote, urlsplit

import httpx

from treasury_lakehouse.catalog import Dataset
from treasury_lakehouse.config import strip_userinfo
from treasury_lakehouse.errors import ApiError, IncompleteResponseError, TransientApiError
from treasury_lakehouse.ingest.paging import Page, Window, parse_page, query_params, retry_delay

log = logging.getLogger(__name__)

#: 4xx answers a retry can fix (timeout, too early, throttled); every 5xx is retried too
RETRYABLE_4XX = frozenset({408, 425, 429})
OFFLINE_HINT = (
    "the API cannot be reached: check the network and --api-url / TREASURY_API_URL, or run "
    "`treasury demo` (`make demo`) to try the pipeline offline against a local fake API"
)


def is_retryable(status: int) -> bool:
    """True for the HTTP statuses a later attempt can fix."""
    return status in RETRYABLE_4XX or status >= 500


class FiscalDataClient:
    """Reads one dataset's record-date window page by page.

    Each request may take ``timeout_s``. Transient failures (408, 425, 429, 5xx, connection errors
    and timeouts, an HTML or unreadable body on 200) are retried with exponential backoff and
    jitter, honouring ``Retry-After``, for at most ``max_retries`` retries and while the page's
    attempts and waits stay within ``retry_budget_s``: a page that never succeeds fails within
    ``timeout_s + retry_budget_s``. Other 4xx, unsupported schemes and invalid URLs fail at once.
    Credentials in ``base_url`` (``https://user:pw@host/``) are sent as basic auth and never appear
    in page URLs, messages or logs.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 30.0,
        retry_budget_s: float = 120.0,
        max_retries: int = 6,
        page_size: int = 10000,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        auth = (
            httpx.BasicAuth(unquote(parts.username), unquote(parts.password or ""))
            if parts.username
            else None
        )
        base_url = strip_userinfo(base_url)
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout_s = timeout_s
        self.retry_budget_s = retry_budget_s
        self.max_retries = max_retries
        self.page_size = page_size
        self._sleep = sleep
        self._rng = rng or random.Random()
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
        headers = {"User-Agent": "treasury-lakehouse", "Accept": "application/json"}
        self._http = httpx.Client(
            timeout=timeout, headers=headers, follow_redirects=True, auth=auth
        )

    def __enter__(self) -> FiscalDataClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def pages(self, dataset: Dataset, window: Window) -> Iterator[Page]:
        """Every page of ``dataset`` in ``window``, in order; checks the row total at the end."""
        first = self.page(dataset, window, 1)
        yield first
        received = len(first.rows)
        for number in range(2, first.total_pages + 1):
            page = self.page(dataset, window, number)
            if page.total_count != first.total_count:
                raise IncompleteResponseError(
                    f"{dataset.name}: total-count changed from {first.total_count} to "
                    f"{page.total_count} while paging ({page.url}); the data moved under us",
                    dataset=dataset.name,
                )
            received += len(page.rows)
            yield page
        if received != first.total_count:
            raise IncompleteResponseError(
                f"{dataset.name} {window}: received {received} rows but the API announced "
                f"total-count {first.total_count}",
                dataset=dataset.name,
            )

    def page(self, dataset: Dataset, window: Window, number: int) -> Page:
        """One page, retried on transient failures within the retry budget."""
        url = self.base_url + dataset.endpoint
        params = query_params(dataset, window, number, self.page_size)
        attempt, spent = 0, 0.0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                return self._get(url, params, number)
            except TransientApiError as error:
                spent += time.monotonic() - started
                delay = retry_delay(attempt, error.context.get("retry_after"), rng=self._rng)
                if attempt > self.max_retries or spent + delay > self.retry_budget_s:
                    raise _gave_up(error, attempt, spent) from error
                log.warning("%s; retry %d in %.2fs", error, attempt, delay)
                spent += delay
                self._sleep(delay)

    def _get(self, url: str, params: dict[str, str], number: int) -> Page:
        deadline = time.monotonic() + self.timeout_s
        try:
            with self._http.stream("GET", url, params=params) as response:
                content = _read_by(response, deadline)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.LocalProtocolError) as error:
            raise ApiError(f"GET {url} cannot be sent: {error}", url=url) from None
        except httpx.RequestError as error:
            raise TransientApiError(
                f"GET {url} failed: {type(error).__name__} {error}".rstrip(),
                url=url,
                unreachable=isinstance(error, (httpx.ConnectError, httpx.TimeoutException)),
            ) from error
        full_url = str(response.url)
        if response.status_code >= 400:
            _raise_for_status(response, content, full_url)
        try:
            body = json.loads(content)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            kind = response.headers.get("content-type", "unknown content type")
            raise TransientApiError(
                f"GET {full_url} answered 200 with a body that is not JSON ({kind}, "
                f"{len(content)} bytes)",
                url=full_url,
            ) from error
        return parse_page(body, number, full_url)


def _read_by(response: httpx.Response, deadline: float) -> bytes:
    """The whole body, or a timeout once ``deadline`` passes (a server trickling bytes)."""
    chunks = []
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("the answer took longer than the HTTP timeout")
    return b"".join(chunks)


def _raise_for_status(response: httpx.Response, content: bytes, url: str) -> NoReturn:
    status = response.status_code
    if is_retryable(status):
        raise TransientApiError(
            f"GET {url} answered HTTP {status}",
            url=url,
            status=status,
            retry_after=response.headers.get("Retry-After"),
        )
    raise ApiError(
        f"GET {url} answered HTTP {status}: {_api_message(content)}", url=url, status=status
    )


def _gave_up(error: TransientApiError, attempt: int, spent: float) -> TransientApiError:
    hint = f"; {OFFLINE_HINT}" if error.context.get("unreachable") else ""
    return TransientApiError(
        f"{error} (gave up after {attempt} attempts in {spent:.1f}s){hint}", **error.context
    )


def _api_message(content: bytes) -> str:
    text = content.decode("utf-8", errors="replace")
    try:
        body: Any = json.loads(text)
    except json.JSONDecodeError:
        title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        if title:
            return f"an HTML page titled {title.group(1).strip()!r} (is the endpoint right?)"
        return " ".join(text.split())[:200] or "(empty body)"
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("error", "message") if body.get(k)]
        if parts:
            return ": ".join(parts)
    return json.dumps(body)[:200]
