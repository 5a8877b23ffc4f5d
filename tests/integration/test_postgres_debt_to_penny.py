"""Debt to the Penny, the first real ``CURRENCY`` data, in PostgreSQL: NUMERIC(20,2) exact to the
cent, keyed and documented; and the datasets a window leaves out of their span load as empty,
keyed, documented tables. Real records (``shared_data``) and the server on 127.0.0.1:5432
(``postgres``); each test creates and drops its own database."""

from __future__ import annotations

import gzip
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from test_postgres_warehouse import fresh_database, query

from conftest import make_settings
from treasury_lakehouse import pipeline
from treasury_lakehouse.catalog import DATASETS, DEBT_TO_PENNY
from treasury_lakehouse.testing import FakeFiscalDataApi

pytestmark = [pytest.mark.postgres, pytest.mark.shared_data]

AMOUNTS = ("debt_held_public_amt", "intragov_hold_amt", "tot_pub_debt_out_amt")


def test_debt_to_penny_round_trips_exactly_and_empty_tables_load(
    real_api: FakeFiscalDataApi, shared_records: Path, tmp_path: Path
) -> None:
    with gzip.open(shared_records / "records" / "debt_to_penny.jsonl.gz", "rt") as handle:
        source = {r["record_date"]: r for r in map(json.loads, handle)}
    with fresh_database() as dsn:
        # 1993: only Debt to the Penny has a span there; every statement table loads empty
        first = make_settings(
            tmp_path, real_api, start=date(1993, 4, 1), end=date(1993, 8, 31), warehouse=dsn
        )
        pipeline.run(first)
        for name in DATASETS:
            [(rows,)] = query(dsn, f"SELECT COUNT(*) FROM silver_{name}")
            assert rows == (100 if name == DEBT_TO_PENNY.name else 0), name
            [(comment,)] = query(dsn, "SELECT obj_description(%s::regclass)", (f"silver_{name}",))
            assert comment and DATASETS[name].title in comment
        # then 2025 Q1, with both parts given
        pipeline.run(first.with_overrides(start=date(2025, 1, 2), end=date(2025, 3, 31)))
        loaded = query(dsn, f"SELECT record_date, {', '.join(AMOUNTS)} FROM silver_debt_to_penny")
        assert len(loaded) == len(source) == 161
        for day, *amounts in loaded:
            row = source[day.isoformat()]
            assert amounts == [None if row[c] == "null" else Decimal(row[c]) for c in AMOUNTS]
        types = query(
            dsn,
            "SELECT column_name, numeric_precision, numeric_scale FROM information_schema.columns "
            "WHERE table_name = 'silver_debt_to_penny' AND column_name LIKE '%%_amt'",
        )
        assert {(c, p, s) for c, p, s in types} == {(c, 20, 2) for c in AMOUNTS}
        key = query(
            dsn,
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'silver_debt_to_penny'::regclass "
            "AND i.indisprimary",
        )
        assert key == [("record_date",)]
        [(described,)] = query(
            dsn,
            "SELECT col_description(attrelid, attnum) FROM pg_attribute WHERE attrelid = "
            "'silver_debt_to_penny'::regclass AND attname = 'tot_pub_debt_out_amt'",
        )
        assert "USD (dollars and cents)" in described and "CURRENCY" in described
