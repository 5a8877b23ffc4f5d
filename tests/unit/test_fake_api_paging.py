"""Filter, sort, paging and response shaping of the fake API, on small dicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from treasury_lakehouse.testing.records import (
    Condition,
    DatasetMeta,
    NoMatchingRecordsError,
    Page,
    QueryError,
    SortKey,
    apply_filters,
    build_links,
    build_response,
    paginate,
    parse_filter,
    parse_page_size,
    parse_query,
    parse_sort,
    restate_rows,
    sort_rows,
    split_top_level,
)

TYPES = {"record_date": "DATE", "kind": "STRING", "amt": "CURRENCY0"}
ROWS = [
    {"record_date": "2024-01-02", "kind": "a", "amt": "9"},
    {"record_date": "2024-01-02", "kind": "b", "amt": "10"},
    {"record_date": "2024-01-03", "kind": "a", "amt": "-5"},
    {"record_date": "2024-01-04", "kind": "c", "amt": "null"},
    {"record_date": "2024-01-05", "kind": "b", "amt": "100"},
]


def test_split_keeps_in_lists_together() -> None:
    assert split_top_level("a:eq:1,b:in:(x,y),c:gt:2") == ["a:eq:1", "b:in:(x,y)", "c:gt:2"]


def test_parse_filter() -> None:
    conditions = parse_filter("record_date:gte:2024-01-03,kind:in:(a, b)", TYPES)
    assert conditions == (
        Condition("record_date", "gte", ("2024-01-03",)),
        Condition("kind", "in", ("a", "b")),
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("nope:eq:1", "'nope'"),
        ("kind:like:a", "'like'"),
        ("kind", "field:operator:value"),
        ("kind:in:a,b", "(a,b,...)"),
    ],
)
def test_bad_filters_name_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(QueryError, match="Invalid") as caught:
        parse_filter(text, TYPES)
    assert fragment in caught.value.message


def test_dates_compare_as_strings_numbers_numerically() -> None:
    rows = apply_filters(ROWS, parse_filter("amt:gt:9", TYPES), TYPES)
    assert [r["amt"] for r in rows] == ["10", "100"]  # as strings "9" > "10" would differ
    rows = apply_filters(ROWS, parse_filter("record_date:lte:2024-01-03", TYPES), TYPES)
    assert len(rows) == 3
    rows = apply_filters(ROWS, parse_filter("amt:lt:0", TYPES), TYPES)
    assert [r["amt"] for r in rows] == ["-5"]


def test_eq_in_and_null() -> None:
    assert len(apply_filters(ROWS, parse_filter("kind:in:(a,c)", TYPES), TYPES)) == 3
    assert len(apply_filters(ROWS, parse_filter("amt:eq:null", TYPES), TYPES)) == 1
    assert len(apply_filters(ROWS, parse_filter("amt:eq:10.0", TYPES), TYPES)) == 1
    assert len(apply_filters(ROWS, parse_filter("amt:gte:-1000", TYPES), TYPES)) == 4


def test_published_through_cut_off() -> None:
    from datetime import date

    rows = apply_filters(ROWS, (), TYPES, published_through=date(2024, 1, 3))
    assert [r["record_date"] for r in rows] == ["2024-01-02", "2024-01-02", "2024-01-03"]


def test_sort_multi_key_stable_numeric_nulls_last() -> None:
    keys = parse_sort("kind,-amt", TYPES)
    assert keys == (SortKey("kind"), SortKey("amt", descending=True))
    assert [(r["kind"], r["amt"]) for r in sort_rows(ROWS, keys, TYPES)] == [
        ("a", "9"),
        ("a", "-5"),
        ("b", "100"),
        ("b", "10"),
        ("c", "null"),
    ]
    ascending = sort_rows(ROWS, parse_sort("amt", TYPES), TYPES)
    assert [r["amt"] for r in ascending] == ["-5", "9", "10", "100", "null"]
    by_date_desc = sort_rows(ROWS, parse_sort("-record_date", TYPES), TYPES)
    assert [r["kind"] for r in by_date_desc] == ["b", "c", "a", "a", "b"]  # ties keep order


def test_unknown_sort_field() -> None:
    with pytest.raises(QueryError, match="'bogus'"):
        parse_sort("record_date,-bogus", TYPES)


def test_page_size_limits() -> None:
    assert parse_page_size(None) == 100
    assert parse_page_size("10000") == 10000
    with pytest.raises(QueryError, match="10000"):
        parse_page_size("10001")
    for bad in ("0", "-1", "x"):
        with pytest.raises(QueryError):
            parse_page_size(bad)


def test_parse_query_defaults_and_fields() -> None:
    query = parse_query({}, TYPES)
    assert (query.page_number, query.page_size) == (1, 100)
    assert query.sort == (SortKey("record_date"),)
    assert parse_query({"fields": "amt,kind,record_date"}, TYPES).conditions == ()
    with pytest.raises(QueryError, match="Partial field lists"):
        parse_query({"fields": "record_date,amt"}, TYPES)
    with pytest.raises(QueryError, match="page\\[number\\]"):
        parse_query({"page[number]": "0"}, TYPES)


def test_paginate_and_links() -> None:
    page = paginate(ROWS, 2, 2)
    assert page.rows == ROWS[2:4]
    assert (page.total_count, page.total_pages) == (5, 3)
    assert build_links(page) == {
        "self": "&page%5Bnumber%5D=2&page%5Bsize%5D=2",
        "first": "&page%5Bnumber%5D=1&page%5Bsize%5D=2",
        "prev": "&page%5Bnumber%5D=1&page%5Bsize%5D=2",
        "next": "&page%5Bnumber%5D=3&page%5Bsize%5D=2",
        "last": "&page%5Bnumber%5D=3&page%5Bsize%5D=2",
    }
    last = build_links(paginate(ROWS, 3, 2))
    assert last["next"] is None
    first = build_links(paginate(ROWS, 1, 100))
    assert first["prev"] is None and first["next"] is None
    assert first["last"] == "&page%5Bnumber%5D=1&page%5Bsize%5D=100"
    assert paginate(ROWS, 9, 2).rows == []


def test_build_response_shape() -> None:
    meta = DatasetMeta(
        "x", "v1/x", {k: k.title() for k in TYPES}, TYPES, {k: "String" for k in TYPES}, Path()
    )
    body = build_response(Page(ROWS[:2], 1, 2, 5), meta)
    assert list(body) == ["data", "meta", "links"]
    assert list(body["meta"]) == [
        "count", "labels", "dataTypes", "dataFormats", "total-count", "total-pages",
    ]  # fmt: skip
    assert body["meta"]["count"] == 2
    assert body["meta"]["total-count"] == 5
    assert body["meta"]["total-pages"] == 3


def test_restate_rows_copies_and_counts() -> None:
    new_rows, changed = restate_rows(ROWS, {"kind": "a"}, {"amt": "1"})
    assert changed == 2
    assert [r["amt"] for r in new_rows] == ["1", "10", "1", "null", "100"]
    assert ROWS[0]["amt"] == "9"  # the input is untouched
    assert list(new_rows[0]) == list(ROWS[0])  # field order kept
    with pytest.raises(NoMatchingRecordsError):
        restate_rows(ROWS, {"kind": "zzz"}, {"amt": "1"})
    with pytest.raises(KeyError):
        restate_rows(ROWS, {"kind": "a"}, {"nope": "1"})
