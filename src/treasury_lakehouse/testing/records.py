"""Records folders and the Fiscal Data query semantics, as pure functions.

A records folder holds ``records/<dataset>.jsonl.gz`` (one API ``data`` item per line) and
``meta/<dataset>.json`` (``endpoint``, ``labels``, ``dataTypes``, ``dataFormats``). The functions
below parse the API's query parameters (``filter``, ``sort``, ``fields``, ``page[number]``,
``page[size]``), apply them to a list of string-valued dicts and shape the response body exactly
like the real API does. Everything here works on plain data so it can be tested without a server.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote

Record = dict[str, str]

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 10000
#: the real API's order when no ``sort`` is given: oldest first (two recorded default-parameter
#: responses, debt_to_penny and public_debt_transactions, both start with the earliest dates)
DEFAULT_SORT = "record_date"
OPERATORS = ("eq", "lt", "lte", "gt", "gte", "in")
NUMERIC_TYPES = frozenset(
    {
        "CURRENCY0",
        "CURRENCY",
        "INTEGER",
        "NUMBER",
        "PERCENTAGE",
        "YEAR",
        "QUARTER",
        "MONTH",
        "DAY",
    }
)
NULL = "null"


class QueryError(ValueError):
    """A query parameter the API would answer with HTTP 400 ``Invalid Query Param``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NoMatchingRecordsError(LookupError):
    """A restatement matched no record."""


@dataclass(frozen=True)
class DatasetMeta:
    """What ``meta/<dataset>.json`` says about one dataset."""

    name: str
    endpoint: str
    labels: Mapping[str, str]
    data_types: Mapping[str, str]
    data_formats: Mapping[str, str]
    records_path: Path

    @property
    def fields(self) -> tuple[str, ...]:
        """Field names in API order."""
        return tuple(self.labels)


@dataclass(frozen=True)
class Condition:
    """One ``field:op:value`` term of a ``filter`` parameter."""

    field: str
    op: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class SortKey:
    """One term of a ``sort`` parameter."""

    field: str
    descending: bool = False


@dataclass(frozen=True)
class Query:
    """A parsed, validated request."""

    conditions: tuple[Condition, ...] = ()
    sort: tuple[SortKey, ...] = (SortKey("record_date"),)
    page_number: int = 1
    page_size: int = DEFAULT_PAGE_SIZE


@dataclass(frozen=True)
class Page:
    """One page of a result."""

    rows: list[Record]
    page_number: int
    page_size: int
    total_count: int

    @property
    def total_pages(self) -> int:
        """Number of pages of the whole result (0 when it is empty)."""
        return -(-self.total_count // self.page_size)


@dataclass
class LoadedDataset:
    """A dataset's meta and its records (in file order)."""

    meta: DatasetMeta
    rows: list[Record] = field(default_factory=list)


# --------------------------------------------------------------------------- loading


def discover_datasets(records_dir: Path) -> dict[str, DatasetMeta]:
    """Datasets of a records folder that have both a meta file and a records file, by name."""
    found: dict[str, DatasetMeta] = {}
    for meta_path in sorted((records_dir / "meta").glob("*.json")):
        name = meta_path.stem
        records_path = records_dir / "records" / f"{name}.jsonl.gz"
        if records_path.exists():
            found[name] = read_meta(meta_path, records_path)
    return found


def read_meta(meta_path: Path, records_path: Path) -> DatasetMeta:
    """Read one ``meta/<dataset>.json``."""
    raw = json.loads(meta_path.read_text(encoding="utf-8"))
    return DatasetMeta(
        name=meta_path.stem,
        endpoint=str(raw["endpoint"]).strip("/"),
        labels=dict(raw["labels"]),
        data_types=dict(raw["dataTypes"]),
        data_formats=dict(raw["dataFormats"]),
        records_path=records_path,
    )


def read_records(path: Path) -> list[Record]:
    """Read a ``.jsonl.gz`` file of records (key order preserved)."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


# --------------------------------------------------------------------------- parsing


def parse_query(
    params: Mapping[str, str], data_types: Mapping[str, str], default_sort: str = DEFAULT_SORT
) -> Query:
    """Validate the query parameters of a request against a dataset's fields.

    ``params`` maps parameter names (URL-decoded, e.g. ``page[size]``) to their value;
    ``default_sort`` applies when there is no ``sort``. Raises :class:`QueryError` for anything
    the real API would reject.
    """
    fields_param = params.get("fields")
    if fields_param is not None:
        check_fields(fields_param, data_types)
    return Query(
        conditions=parse_filter(params.get("filter", ""), data_types),
        sort=parse_sort(params.get("sort") or default_sort, data_types),
        page_number=_parse_positive_int(params.get("page[number]"), "page[number]", 1),
        page_size=parse_page_size(params.get("page[size]")),
    )


def split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses (``in:(a,b)`` stays one term)."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


def parse_filter(text: str, data_types: Mapping[str, str]) -> tuple[Condition, ...]:
    """Parse ``field:op:value,field2:in:(a,b)`` into conditions."""
    return tuple(_parse_condition(term, data_types) for term in split_top_level(text))


def _parse_condition(term: str, data_types: Mapping[str, str]) -> Condition:
    pieces = term.split(":", 2)
    if len(pieces) != 3:
        raise QueryError(f"Invalid filter term '{term}': expected field:operator:value.")
    name, op, value = (piece.strip() for piece in pieces)
    _require_field(name, data_types, "filter")
    if op not in OPERATORS:
        raise QueryError(
            f"Invalid filter operator '{op}' for field '{name}'; "
            f"valid operators are {', '.join(OPERATORS)}."
        )
    if op != "in":
        return Condition(name, op, (value,))
    if not (value.startswith("(") and value.endswith(")")):
        raise QueryError(f"Invalid filter value for 'in' on field '{name}': expected (a,b,...).")
    values = tuple(v.strip() for v in value[1:-1].split(",") if v.strip())
    return Condition(name, op, values)


def parse_sort(text: str, data_types: Mapping[str, str]) -> tuple[SortKey, ...]:
    """Parse ``f,-g`` into sort keys (``-`` means descending)."""
    keys: list[SortKey] = []
    for term in (t.strip() for t in text.split(",")):
        if not term:
            continue
        descending = term.startswith("-")
        name = term.lstrip("+-")
        _require_field(name, data_types, "sort")
        keys.append(SortKey(name, descending))
    return tuple(keys)


def check_fields(text: str, data_types: Mapping[str, str]) -> None:
    """Accept a ``fields`` list only when it names every field (the fake does not aggregate)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        _require_field(name, data_types, "fields")
    missing = [name for name in data_types if name not in names]
    if missing:
        raise QueryError(
            "Partial field lists are not supported by the fake API (the real API aggregates "
            f"rows over the fields given); missing: {', '.join(missing)}."
        )


def parse_page_size(value: str | None) -> int:
    """``page[size]``: default 100, at most 10000."""
    size = _parse_positive_int(value, "page[size]", DEFAULT_PAGE_SIZE)
    if size > MAX_PAGE_SIZE:
        raise QueryError(
            f"Invalid value for page[size]: {size}. The maximum page size is {MAX_PAGE_SIZE}."
        )
    return size


def _parse_positive_int(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise QueryError(f"Invalid value for {name}: '{value}' is not an integer.") from None
    if number < 1:
        raise QueryError(f"Invalid value for {name}: {number}. It must be at least 1.")
    return number


def _require_field(name: str, data_types: Mapping[str, str], where: str) -> None:
    if name not in data_types:
        raise QueryError(f"Invalid {where} field: '{name}' is not a field of this dataset.")


# --------------------------------------------------------------------------- evaluating


def comparable(value: str, data_type: str) -> Decimal | str | None:
    """The value as compared by the API: a Decimal for numeric types, else the string.

    ``"null"`` (and anything not numeric in a numeric column) gives None, which matches no
    ordering comparison.
    """
    if value == NULL:
        return None
    if data_type not in NUMERIC_TYPES:
        return value
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def matches(row: Record, condition: Condition, data_types: Mapping[str, str]) -> bool:
    """True when a record satisfies one condition."""
    return compile_condition(condition, data_types)(row)


_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
}


def compile_condition(
    condition: Condition, data_types: Mapping[str, str]
) -> Callable[[Record], bool]:
    """A predicate for one condition, with its values parsed once.

    ``eq``/``in`` match the exact string or (numeric fields) the same number; orderings compare
    ISO dates and strings as strings, numeric fields as numbers, and never match ``"null"``.
    """
    name, data_type = condition.field, data_types.get(condition.field, "STRING")
    exact = frozenset(condition.values)
    rights = [r for r in (comparable(v, data_type) for v in condition.values) if r is not None]
    if condition.op in ("eq", "in"):
        targets = frozenset(rights)
        return lambda row: (
            row.get(name, NULL) in exact or comparable(row.get(name, NULL), data_type) in targets
        )
    ordering, bound = _ORDERINGS[condition.op], rights[0] if rights else None
    if bound is None:
        return lambda row: False

    def predicate(row: Record) -> bool:
        left = comparable(row.get(name, NULL), data_type)
        return left is not None and type(left) is type(bound) and ordering(left, bound)

    return predicate


def apply_filters(
    rows: Iterable[Record],
    conditions: Sequence[Condition],
    data_types: Mapping[str, str],
    *,
    published_through: date | None = None,
) -> list[Record]:
    """Rows satisfying every condition (and dated on or before ``published_through``)."""
    selected: Iterable[Record] = rows
    if published_through is not None:
        cutoff = published_through.isoformat()
        selected = (r for r in selected if r.get("record_date", "") <= cutoff)
    if not conditions:
        return list(selected)
    predicates = [compile_condition(c, data_types) for c in conditions]
    return [r for r in selected if all(p(r) for p in predicates)]


def sort_rows(
    rows: Iterable[Record], keys: Sequence[SortKey], data_types: Mapping[str, str]
) -> list[Record]:
    """Stable multi-key sort; numeric fields sort numerically, ``"null"`` sorts last."""
    result = list(rows)
    for key in reversed(keys):
        data_type = data_types.get(key.field, "STRING")
        result.sort(key=_sort_key(key.field, data_type), reverse=key.descending)
    return result


def _sort_key(name: str, data_type: str) -> Callable[[Record], tuple[int, Decimal | str]]:
    numeric = data_type in NUMERIC_TYPES

    def key(row: Record) -> tuple[int, Decimal | str]:
        value = comparable(row.get(name, NULL), data_type)
        if value is None:
            return (1, Decimal(0) if numeric else "")
        return (0, value)

    return key


def paginate(rows: Sequence[Record], page_number: int, page_size: int) -> Page:
    """The requested page of a result (empty beyond the last page)."""
    start = (page_number - 1) * page_size
    return Page(list(rows[start : start + page_size]), page_number, page_size, len(rows))


# --------------------------------------------------------------------------- responses


def page_fragment(page_number: int, page_size: int) -> str:
    """A links fragment, e.g. ``&page%5Bnumber%5D=2&page%5Bsize%5D=100``."""
    return (
        f"&{quote('page[number]', safe='')}={page_number}"
        f"&{quote('page[size]', safe='')}={page_size}"
    )


def build_links(page: Page) -> dict[str, str | None]:
    """The ``links`` object: query fragments without the filter or sort, like the API."""
    last = max(page.total_pages, 1)
    number, size = page.page_number, page.page_size
    return {
        "self": page_fragment(number, size),
        "first": page_fragment(1, size),
        "prev": page_fragment(number - 1, size) if number > 1 else None,
        "next": page_fragment(number + 1, size) if number < page.total_pages else None,
        "last": page_fragment(last, size),
    }


def build_response(page: Page, meta: DatasetMeta) -> dict[str, Any]:
    """The full response body for a page."""
    return {
        "data": page.rows,
        "meta": {
            "count": len(page.rows),
            "labels": dict(meta.labels),
            "dataTypes": dict(meta.data_types),
            "dataFormats": dict(meta.data_formats),
            "total-count": page.total_count,
            "total-pages": page.total_pages,
        },
        "links": build_links(page),
    }


def restate_rows(
    rows: Sequence[Record], match: Mapping[str, str], changes: Mapping[str, str]
) -> tuple[list[Record], int]:
    """A copy of ``rows`` with ``changes`` applied to every row matching ``match``.

    Returns the new list and the number of rows changed; raises :class:`NoMatchingRecordsError`
    when nothing matches and :class:`KeyError` for a field the records do not have.
    """
    if rows:
        for name in (*match, *changes):
            if name not in rows[0]:
                raise KeyError(f"unknown field '{name}'")
    result: list[Record] = []
    changed = 0
    for row in rows:
        if all(row.get(k) == str(v) for k, v in match.items()):
            row = {**row, **{k: str(v) for k, v in changes.items()}}
            changed += 1
        result.append(row)
    if changed == 0:
        raise NoMatchingRecordsError(f"no record matches {dict(match)}")
    return result, changed
