"""The one SQL-quoting helper: what it writes is read back as exactly what went in."""

from __future__ import annotations

import duckdb
import pytest

from treasury_lakehouse.sql_quote import quote_ident, quote_literal, quote_spark_ident

AWKWARD = ["plain", "it's", 'say "hi"', "a''b", "/lake/silver/v-1/record_year=2024/*.parquet", ""]


@pytest.mark.parametrize("text", AWKWARD)
def test_literal_and_identifier_round_trip_through_duckdb(text: str) -> None:
    with duckdb.connect() as con:
        assert con.execute(f"SELECT {quote_literal(text)}").fetchone() == (text,)
        if text:
            con.execute(f"CREATE TABLE t ({quote_ident(text)} INTEGER)")
            assert [d[0] for d in con.execute("SELECT * FROM t").description] == [text]


def test_none_is_null_and_other_values_are_their_text() -> None:
    assert quote_literal(None) == "NULL"
    assert quote_literal(2024) == "'2024'"


def test_spark_identifiers_are_back_quoted() -> None:
    assert quote_spark_ident("a`b") == "`a``b`"
