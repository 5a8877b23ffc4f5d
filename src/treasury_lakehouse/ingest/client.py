"""The HTTP client of the Fiscal Data API: every page, bounded retries, a checked total."""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from treasury_lakehouse.catalog import Dataset
from treasury_lakehouse.errors import ApiError, IncompleteResponseError, TransientApiError
from treasury_lakehouse.ingest.paging import Page, Window, parse_page, query_params, retry_delay

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class FiscalDataClient:
    """Reads one dataset's record-date window page by page.

    Transient failures (429, 5xx, connection errors, an HTML or unreadable body on 200) are retried
    with exponential backoff and jitter, honouring ``Retry-After``, within ``max_retries`` per page
    and ``max_wait_s`` of waiting in all; any other 4xx fails at once with the API's message.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 60.0,
        max_retries: int = 6,
        max_wait_s: float = 120.0,
        page_size: int = 10000,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.max_retries = max_retries
        self.max_wait_s = max_wait_s
        self.page_size = page_size
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._waited_s = 0.0
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
        headers = {"User-Agent": "treasury-lakehouse", "Accept": "application/json"}
        self._http = httpx.Client(timeout=timeout, headers=headers, follow_redirects=True)

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
        """One page, retried on transient failures."""
        url = self.base_url + dataset.endpoint
        params = query_params(dataset, window, number, self.page_size)
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._get(url, params, number)
            except TransientApiError as error:
                delay = retry_delay(attempt, error.context.get("retry_after"), rng=self._rng)
                if attempt > self.max_retries or self._waited_s + delay > self.max_wait_s:
                    raise TransientApiError(
                        f"{error} (gave up after {attempt} attempts and "
                        f"{self._waited_s:.1f}s of waiting)",
                        **error.context,
                    ) from error
                log.warning("%s; retry %d in %.2fs", error, attempt, delay)
                self._waited_s += delay
                self._sleep(delay)

    def _get(self, url: str, params: dict[str, str], number: int) -> Page:
        try:
            response = self._http.get(url, params=params)
        except httpx.TransportError as error:
            raise TransientApiError(f"GET {url} failed: {error!r}", url=url) from error
        full_url = str(response.url)
        if response.status_code in RETRYABLE_STATUS:
            raise TransientApiError(
                f"GET {full_url} answered HTTP {response.status_code}",
                url=full_url,
                status=response.status_code,
                retry_after=response.headers.get("Retry-After"),
            )
        if response.status_code >= 400:
            raise ApiError(
                f"GET {full_url} answered HTTP {response.status_code}: {_api_message(response)}",
                url=full_url,
                status=response.status_code,
            )
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            kind = response.headers.get("content-type", "unknown content type")
            raise TransientApiError(
                f"GET {full_url} answered 200 with a body that is not JSON ({kind}, "
                f"{len(response.content)} bytes)",
                url=full_url,
            ) from error
        return parse_page(body, number, full_url)


def _api_message(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        title = re.search(r"<title>(.*?)</title>", response.text, re.IGNORECASE | re.DOTALL)
        if title:
            return f"an HTML page titled {title.group(1).strip()!r} (is the endpoint right?)"
        text = " ".join(response.text.split())
        return text[:200] or "(empty body)"
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("error", "message") if body.get(k)]
        if parts:
            return ": ".join(parts)
    return json.dumps(body)[:200]
