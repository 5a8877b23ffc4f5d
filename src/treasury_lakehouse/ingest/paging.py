"""Pure paging, filter and retry logic for the Fiscal Data API (no HTTP here)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date
from email.utils import parsedate_to_datetime
from typing import Any

from treasury_lakehouse.catalog import Dataset
from treasury_lakehouse.config import strip_userinfo
from treasury_lakehouse.errors import TransientApiError

MAX_PAGE_SIZE = 10000


@dataclass(frozen=True)
class Window:
    """An inclusive ``record_date`` window; ``None`` on a side means unbounded."""

    start: date | None
    end: date | None

    def __str__(self) -> str:
        return f"{self.start or '…'}..{self.end or '…'}"


def filter_expression(dataset: Dataset, window: Window) -> str | None:
    """The API's ``filter=`` value for a record-date window."""
    parts = []
    if window.start is not None:
        parts.append(f"{dataset.date_column}:gte:{window.start.isoformat()}")
    if window.end is not None:
        parts.append(f"{dataset.date_column}:lte:{window.end.isoformat()}")
    return ",".join(parts) or None


def query_params(dataset: Dataset, window: Window, page: int, page_size: int) -> dict[str, str]:
    """Query parameters for one page; never a partial ``fields=`` list (the API would aggregate)."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page size {page_size} is outside 1..{MAX_PAGE_SIZE}")
    params = {
        "sort": ",".join(dataset.sort),
        "page[number]": str(page),
        "page[size]": str(page_size),
    }
    expression = filter_expression(dataset, window)
    if expression:
        params["filter"] = expression
    return params


@dataclass(frozen=True)
class Page:
    """One page of an API answer."""

    number: int
    rows: list[dict[str, str]]
    meta: dict[str, Any]
    url: str

    @property
    def total_count(self) -> int:
        return int(self.meta["total-count"])

    @property
    def total_pages(self) -> int:
        return int(self.meta["total-pages"])


def parse_page(body: Any, number: int, url: str) -> Page:
    """Check the shape of a decoded page; malformed is transient (a proxy page, a cut body).

    The page keeps ``url`` without credentials: it is stored in bronze and shown in messages.
    """
    url = strip_userinfo(url)
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise TransientApiError(f"page {number} of {url} has no 'data' list", url=url)
    meta = body.get("meta")
    if not isinstance(meta, dict) or "total-count" not in meta or "total-pages" not in meta:
        raise TransientApiError(f"page {number} of {url} has no 'meta' with totals", url=url)
    return Page(number=number, rows=body["data"], meta=meta, url=url)


def retry_delay(
    attempt: int,
    retry_after: str | None,
    *,
    base_s: float = 0.5,
    cap_s: float = 30.0,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based).

    ``Retry-After`` (seconds or an HTTP date) wins when given; otherwise exponential backoff with
    full jitter, capped.
    """
    if retry_after:
        honoured = parse_retry_after(retry_after)
        if honoured is not None:
            return min(honoured, cap_s * 4)
    ceiling = min(cap_s, base_s * (2 ** (attempt - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)


def parse_retry_after(value: str) -> float | None:
    """``Retry-After`` as seconds from now, or ``None`` when it cannot be read."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import datetime

    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def drift(dataset: Dataset, data_types: Mapping[str, str]) -> list[str]:
    """Differences between a response's ``meta.dataTypes`` and the catalog, one line each."""
    lines = []
    for name in data_types.keys() - dataset.columns.keys():
        lines.append(f"+ {name}: {data_types[name]} (new field, not in the catalog)")
    for name in dataset.columns.keys() - data_types.keys():
        lines.append(f"- {name}: {dataset.columns[name]} (in the catalog, missing from the API)")
    for name in dataset.columns.keys() & data_types.keys():
        if dataset.columns[name] != data_types[name]:
            lines.append(f"~ {name}: catalog {dataset.columns[name]}, API {data_types[name]}")
    return sorted(lines, key=lambda line: line[2:])
