"""Incremental gold equals a full recompute, on every engine (Hypothesis and fixed edge cases).

Silver S1 and S2 of both datasets differ only in a set of record years A (rewritten, emptied, or
new before and after every existing year). For every gold model, ``build_gold(S2, years=A,
previous=full gold of S1)`` must equal the full ``build_gold(S2)``: the same file, the same
column names and types, the same rows in the same order. The silver partitions are written here
directly in the layout the engines publish (``record_year=<Y>/`` Parquet files of the catalog's
silver types).

Dates lean on the edges: January 1, September 30 and October 1 (the federal fiscal year turns),
December 31. Spark, seconds per build, runs few examples; DuckDB many.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from treasury_lakehouse import pipeline
from treasury_lakehouse.catalog import (
    DEBT_SUBJECT_TO_LIMIT,
    INCOME_TAX_REFUNDS_ISSUED,
    OPERATING_CASH_BALANCE,
    PUBLIC_DEBT_TRANSACTIONS,
    Dataset,
)
from treasury_lakehouse.engines.base import Engine
from treasury_lakehouse.engines.duckdb import DuckDBEngine
from treasury_lakehouse.lake.commit import Changes, LakeCommit, write_commit
from treasury_lakehouse.lake.files import new_version_name
from treasury_lakehouse.lake.layout import BUILD_INFO, Lake, read_build_info
from treasury_lakehouse.models.registry import GOLD_MODELS

EXAMPLES = {"duckdb": 60, "spark": 2}
#: the years S1 may hold; A may also name the years around them (new before and after)
OLD_YEARS = range(2019, 2023)
ANY_YEARS = range(2017, 2025)
EDGES = ((1, 1), (9, 30), (10, 1), (12, 31))
ACCOUNTS = (
    "Federal Reserve Account",
    "Treasury General Account (TGA)",
    "Treasury General Account (TGA) Opening Balance",
    "Treasury General Account (TGA) Closing Balance",
    "Deposits",
)
#: both names of the debt table's adjustment rows, its other rows, and one gold ignores
DEBT_CATEGORIES = (*DEBT_SUBJECT_TO_LIMIT.row_names(), "Total Public Debt Outstanding")
#: the refund rows of both layouts and one of no category (counted in the total only)
REFUND_TYPES = (*INCOME_TAX_REFUNDS_ISSUED.row_names(), "Some New Refund")
PDT = PUBLIC_DEBT_TRANSACTIONS.name
#: the silver tables gold reads
GOLD_INPUTS = (
    PUBLIC_DEBT_TRANSACTIONS,
    OPERATING_CASH_BALANCE,
    DEBT_SUBJECT_TO_LIMIT,
    INCOME_TAX_REFUNDS_ISSUED,
)
LINEAGE_TYPES = {"batch_id": "VARCHAR", "ingestion_timestamp": "TIMESTAMP"}

Row = dict[str, Any]
#: dataset → record year → its silver rows
Silver = dict[str, dict[int, list[Row]]]


def write_silver(directory: Path, dataset: Dataset, years: Mapping[int, list[Row]]) -> Path:
    """``directory`` as a published silver version: a ``record_year=<Y>`` folder per year."""
    directory.mkdir(parents=True)
    columns = [*dataset.columns, *LINEAGE_TYPES]
    types = {c: dataset.silver_type(c) for c in dataset.columns} | LINEAGE_TYPES
    rows = [r for year in sorted(years) for r in years[year]]
    con = duckdb.connect()
    con.execute("CREATE TABLE silver (" + ", ".join(f'"{c}" {types[c]}' for c in columns) + ")")
    if rows:
        con.executemany(
            f"INSERT INTO silver VALUES ({', '.join('?' for _ in columns)})",
            [[r.get(c, "b1" if c == "batch_id" else None) for c in columns] for r in rows],
        )
        con.execute(
            f"COPY (SELECT *, CAST(EXTRACT(YEAR FROM record_date) AS INTEGER) AS record_year "
            f"FROM silver) TO '{directory}' (FORMAT PARQUET, PARTITION_BY (record_year))"
        )
    else:  # the engines' empty silver: one empty file with the schema
        (directory / "record_year=0").mkdir()
        con.execute(
            f"COPY (SELECT * FROM silver) TO '{directory}/record_year=0/empty.parquet' "
            "(FORMAT PARQUET)"
        )
    con.close()
    return directory


def write_lake(root: Path, silver: Silver) -> dict[str, Path]:
    return {f"silver_{d.name}": write_silver(root / d.name, d, silver[d.name]) for d in GOLD_INPUTS}


def build(engine: Engine, silver_dirs: dict[str, Path], out: Path, **incremental: Any) -> Path:
    out.mkdir(parents=True)
    for model in GOLD_MODELS:
        inputs = {s: silver_dirs[s] for s in model.sources}
        engine.build_gold(model, inputs, out, **incremental)
    return out


def types(schema: pa.Schema) -> list[tuple[str, pa.DataType]]:
    """Names and types; not nullability, which the engines derive from the data's statistics
    (a full build over an empty silver writes an optional ``record_date``, else a required)."""
    return [(field.name, field.type) for field in schema]


def assert_incremental_equals_full(
    engine: Engine, root: Path, before: Silver, after: Silver, years: frozenset[int]
) -> None:
    previous = build(engine, write_lake(root / "s1", before), root / "gold-s1")
    s2 = write_lake(root / "s2", after)
    full = build(engine, s2, root / "gold-full")
    incremental = build(engine, s2, root / "gold-inc", years=years, previous=previous)
    assert sorted(p.name for p in incremental.iterdir()) == sorted(
        p.name for p in full.iterdir()
    ), "the same files"
    for model in GOLD_MODELS:
        expected = pq.read_table(full / f"{model.name}.parquet")
        got = pq.read_table(incremental / f"{model.name}.parquet")
        assert types(got.schema) == types(expected.schema), model.name
        assert got.to_pylist() == expected.to_pylist(), f"{model.name} after changing {years}"


# --- generated silver --------------------------------------------------------------------


@st.composite
def record_dates(draw: st.DrawFn, year: int) -> date:
    if draw(st.booleans()):
        month, day = draw(st.sampled_from(EDGES))
        return date(year, month, day)
    return draw(st.dates(date(year, 1, 1), date(year, 12, 31)))


AMOUNTS = st.one_of(st.none(), st.integers(-(10**6), 10**9))


def pdt_rows(year: int) -> st.SearchStrategy[list[Row]]:
    row = st.fixed_dictionaries(
        {
            "record_date": record_dates(year),
            "transaction_type": st.sampled_from(("Issues", "Redemptions")),
            "security_market": st.sampled_from(("Marketable", "Nonmarketable")),
            "security_type": st.sampled_from(("Bills", "Notes", "Savings")),
            "transaction_today_amt": AMOUNTS,
        }
    )
    return st.lists(row, max_size=12)


def cash_rows(year: int) -> st.SearchStrategy[list[Row]]:
    row = st.fixed_dictionaries(
        {
            "record_date": record_dates(year),
            "account_type": st.sampled_from(ACCOUNTS),
            "open_today_bal": AMOUNTS,
            "close_today_bal": AMOUNTS,
        }
    )
    return st.lists(row, max_size=6)


def debt_rows(year: int) -> st.SearchStrategy[list[Row]]:
    row = st.fixed_dictionaries(
        {
            "record_date": record_dates(year),
            "debt_catg": st.sampled_from(DEBT_CATEGORIES),
            "close_today_bal": st.one_of(st.just(0), AMOUNTS),  # a 0 limit is a suspension
        }
    )
    return st.lists(row, max_size=8)


def refund_rows(year: int) -> st.SearchStrategy[list[Row]]:
    row = st.fixed_dictionaries(
        {
            "record_date": record_dates(year),
            "tax_refund_type": st.sampled_from(REFUND_TYPES),
            "tax_refund_today_amt": AMOUNTS,
        }
    )
    return st.lists(row, max_size=6)


@st.composite
def silver_of(draw: st.DrawFn, years: frozenset[int]) -> Silver:
    """Rows of every year in ``years`` (a year may draw none: it stays or becomes empty)."""
    return {
        PUBLIC_DEBT_TRANSACTIONS.name: {y: draw(pdt_rows(y)) for y in sorted(years)},
        OPERATING_CASH_BALANCE.name: {y: draw(cash_rows(y)) for y in sorted(years)},
        DEBT_SUBJECT_TO_LIMIT.name: {y: draw(debt_rows(y)) for y in sorted(years)},
        INCOME_TAX_REFUNDS_ISSUED.name: {y: draw(refund_rows(y)) for y in sorted(years)},
    }


@dataclass(frozen=True)
class Change:
    before: Silver
    after: Silver
    years: frozenset[int]


def changed(before: Silver, years: frozenset[int], new: Silver) -> Silver:
    return {d: {**before[d], **new[d]} for d in before}


@st.composite
def changes(draw: st.DrawFn) -> Change:
    """S1 over some of :data:`OLD_YEARS`; S2 with the years A drawn anew."""
    old = draw(st.frozensets(st.sampled_from(OLD_YEARS)))
    before = draw(silver_of(old))
    years = draw(st.frozensets(st.sampled_from(ANY_YEARS), min_size=1, max_size=3))
    return Change(before, changed(before, years, draw(silver_of(years))), years)


def test_incremental_gold_equals_a_full_recompute(engine: Engine) -> None:
    @settings(
        max_examples=EXAMPLES[engine.name],
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(change=changes())
    def check(change: Change) -> None:
        with tempfile.TemporaryDirectory(prefix="incremental-gold-") as scratch:
            assert_incremental_equals_full(
                engine, Path(scratch), change.before, change.after, change.years
            )

    check()


# --- fixed edge cases ----------------------------------------------------------------------


def pdt(day: str, amount: int, kind: str = "Issues", market: str = "Marketable") -> Row:
    return {
        "record_date": date.fromisoformat(day),
        "transaction_type": kind,
        "security_market": market,
        "security_type": "Notes",
        "transaction_today_amt": amount,
    }


def tga(day: str, opening: int, closing: int) -> Row:
    return {
        "record_date": date.fromisoformat(day),
        "account_type": "Treasury General Account (TGA)",
        "open_today_bal": opening,
        "close_today_bal": closing,
    }


def debt(day: str, category: str, amount: int | None) -> Row:
    return {"record_date": date.fromisoformat(day), "debt_catg": category,
            "close_today_bal": amount}  # fmt: skip


def refund(day: str, kind: str, amount: int) -> Row:
    return {"record_date": date.fromisoformat(day), "tax_refund_type": kind,
            "tax_refund_today_amt": amount}  # fmt: skip


def lake_of(
    pdt_years: dict[int, list[Row]],
    cash_years: dict[int, list[Row]],
    debt_years: dict[int, list[Row]] | None = None,
    refund_years: dict[int, list[Row]] | None = None,
) -> Silver:
    return {
        PUBLIC_DEBT_TRANSACTIONS.name: pdt_years,
        OPERATING_CASH_BALANCE.name: cash_years,
        DEBT_SUBJECT_TO_LIMIT.name: debt_years or {},
        INCOME_TAX_REFUNDS_ISSUED.name: refund_years or {},
    }


BEFORE = lake_of(
    {
        2020: [pdt("2020-09-30", 5), pdt("2020-10-01", 7, "Redemptions")],
        2021: [pdt("2021-01-04", 11), pdt("2021-09-30", 13), pdt("2021-10-01", 17)],
        2022: [pdt("2022-12-30", 19, market="Nonmarketable")],
    },
    {2020: [tga("2020-12-31", 1, 2)], 2021: [tga("2021-01-04", 2, 3)], 2022: []},
    {
        2020: [debt("2020-12-31", "Debt Held by the Public", 50)],
        2021: [
            debt("2021-01-04", "Debt Held by the Public", 60),
            debt("2021-01-04", "Intragovernmental Holdings", 20),
            debt("2021-01-04", "Statutory Debt Limit", 90),
        ],
        2022: [debt("2022-12-30", "Debt Not Subject to Limit", 1)],
    },
    {2021: [refund("2021-01-04", "IRS Tax Refunds Individual", 8)]},
)


def test_fiscal_year_edges_emptied_years_and_new_years_on_both_sides(
    engine: Engine, tmp_path: Path
) -> None:
    """2021 changes on both sides of October 1 (fiscal years 2021 and 2022 move), 2022 becomes
    empty, 2018 arrives before every year and 2024 after; 2020 is untouched but shares fiscal
    year 2021 with the change."""
    new = lake_of(
        {
            2018: [pdt("2018-12-31", 23)],
            2021: [pdt("2021-09-30", 29, "Redemptions"), pdt("2021-10-01", 31)],
            2022: [],
            2024: [pdt("2024-01-01", 37)],
        },
        {2018: [tga("2018-10-01", 4, 5)], 2021: [], 2022: [], 2024: [tga("2024-09-30", 6, 7)]},
        {
            2018: [debt("2018-10-01", "Statutory Debt Limit", 0)],
            2021: [debt("2021-09-30", "Less Debt Not Subject to Limit", 3)],
            2022: [],
            2024: [debt("2024-09-30", "Intragovernmental Holdings", 9)],
        },
        {2021: [], 2024: [refund("2024-01-01", "Taxes - Business Tax Refunds (EFT)", 4)]},
    )
    years = frozenset({2018, 2021, 2022, 2024})
    assert_incremental_equals_full(engine, tmp_path, BEFORE, changed(BEFORE, years, new), years)


def test_partitions_outside_the_needed_years_are_not_read(engine: Engine, tmp_path: Path) -> None:
    """Partition pruning: a damaged file in a year no affected period draws from is never
    opened (a full build would fail on it)."""
    new = lake_of(
        {2022: [pdt("2022-06-01", 41)]},
        {2022: [tga("2022-06-01", 8, 9)]},
        {2022: [debt("2022-06-01", "Debt Held by the Public", 70)]},
        {2022: [refund("2022-06-01", "IRS Tax Refunds Business", 2)]},
    )
    years = frozenset({2022})
    after = changed(BEFORE, years, new)
    previous = build(engine, write_lake(tmp_path / "s1", BEFORE), tmp_path / "gold-s1")
    s2 = write_lake(tmp_path / "s2", after)
    expected = build(engine, s2, tmp_path / "gold-full")
    for silver in s2.values():  # fiscal year 2022 draws from 2021: 2020 is not needed
        for damaged in (silver / "record_year=2020").glob("*.parquet"):
            damaged.write_bytes(b"not parquet")
    got = build(engine, s2, tmp_path / "gold-inc", years=years, previous=previous)
    for model in GOLD_MODELS:
        table = f"{model.name}.parquet"
        assert pq.read_table(got / table).to_pylist() == pq.read_table(expected / table).to_pylist()


# --- the facade: carry forward, incremental, or full ---------------------------------------


def publish_silver(lake: Lake, silver: Silver) -> dict[str, str]:
    """Each dataset's silver as a new version under the lake; dataset → version name."""
    versions = {}
    for dataset in GOLD_INPUTS:
        name = new_version_name()
        write_silver(lake.silver_dir(dataset.name) / name, dataset, silver[dataset.name])
        versions[dataset.name] = name
    return versions


def commit_gold(lake: Lake, silver: dict[str, str], base: LakeCommit | None = None) -> LakeCommit:
    with closing(DuckDBEngine()) as engine:
        _, gold = pipeline._build_gold(engine, lake, silver)
    return write_commit(
        lake.root,
        base_seq=base.seq if base else 0,
        run_id="test",
        purpose="transform",
        engine="duckdb",
        silver=silver,
        quarantine={},
        gold=gold,
    )


def build_infos(lake: Lake, versions: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {t: read_build_info(lake.gold_dir(t) / v) for t, v in versions.items()}


@pytest.fixture
def lake_with_gold(tmp_path: Path) -> tuple[Lake, LakeCommit]:
    """A lake whose commit holds silver :data:`BEFORE` and full gold over it."""
    lake = Lake(tmp_path / "lake")
    return lake, commit_gold(lake, publish_silver(lake, BEFORE))


def test_the_facade_carries_unchanged_tables_and_recomputes_few_years_incrementally(
    lake_with_gold: tuple[Lake, LakeCommit], caplog: pytest.LogCaptureFixture
) -> None:
    lake, base = lake_with_gold
    years = frozenset({2022})
    after = changed(BEFORE, years, lake_of({2022: [pdt("2022-03-01", 43)]}, {}))
    silver = {**base.silver, PDT: publish_silver(lake, after)[PDT]}
    changes: Changes = {PDT: years}
    with (
        caplog.at_level(logging.INFO, "treasury_lakehouse.pipeline"),
        closing(DuckDBEngine()) as engine,
    ):
        rows, versions = pipeline._build_gold(engine, lake, silver, base, changes)
    infos = build_infos(lake, versions)

    # the other datasets did not change: their tables keep the base version, no new one
    for carried in ("gold_daily_cash_balance", "gold_daily_debt_limit", "gold_monthly_tax_refunds"):
        assert versions[carried] == base.gold[carried]
        assert len(list(lake.gold_dir(carried).iterdir())) == 1
        assert rows[carried] == infos[carried]["rows"]
    # 2022 is one of the three silver years: the daily and monthly tables recompute it alone
    for table in ("gold_daily_totals", "gold_monthly_totals", "gold_monthly_debt_growth"):
        assert versions[table] != base.gold[table]
        assert infos[table]["mode"] == "incremental", infos[table]
        assert infos[table]["years"] == [2022] and infos[table]["partitions_read"] == [2022]
        assert infos[table]["previous_version"] == base.gold[table]
    # fiscal year 2022 and 2023 draw from 2021 too: two of three partitions, a full build
    assert infos["gold_security_totals"]["mode"] == "full"
    assert "need 2 of 3 silver partitions" in infos["gold_security_totals"]["mode_reason"]
    assert "gold gold_daily_totals: incremental" in caplog.text
    assert "gold gold_daily_cash_balance: carried" in caplog.text

    with closing(DuckDBEngine()) as engine:
        expected = build(engine, write_lake(lake.root / "expected", after), lake.root / "full")
    for table, version in versions.items():
        got = pq.read_table(lake.gold_dir(table) / version / f"{table}.parquet")
        assert got.to_pylist() == pq.read_table(expected / f"{table}.parquet").to_pylist()


@pytest.mark.parametrize(
    ("changes", "tamper", "reason"),
    [
        (None, False, "the changed record years are unknown"),
        ({PDT: None}, False, "the changed record years are unknown"),
        ({PDT: frozenset({2020, 2021})}, False, "need 2 of 3 silver partitions"),
        ({PDT: frozenset({2022})}, True, "was built by another model definition"),
    ],
    ids=["unknown", "whole-dataset", "most-years", "old-definition"],
)
def test_the_facade_falls_back_to_a_full_build(
    lake_with_gold: tuple[Lake, LakeCommit],
    changes: Changes | None,
    tamper: bool,
    reason: str,
) -> None:
    lake, base = lake_with_gold
    table = "gold_daily_totals"
    if tamper:  # as if an older release had built the base with another SQL
        info_file = lake.gold_dir(table) / base.gold[table] / BUILD_INFO
        info_file.write_text(json.dumps({**json.loads(info_file.read_text()), "definition": "0"}))
    with closing(DuckDBEngine()) as engine:
        _, versions = pipeline._build_gold(engine, lake, dict(base.silver), base, changes)
    info = build_infos(lake, versions)[table]
    assert info["mode"] == "full" and reason in info["mode_reason"], info
    assert "years" not in info


def test_without_a_base_every_table_is_built_in_full(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    with closing(DuckDBEngine()) as engine:
        _, versions = pipeline._build_gold(engine, lake, publish_silver(lake, BEFORE))
    for info in build_infos(lake, versions).values():
        assert info["mode"] == "full" and info["mode_reason"] == "no previous version"
        assert len(info["definition"]) == 16
