"""Every model on every engine: one test body, parametrized over the engines (Ibis-style).

The ``engine`` fixture runs each test once per engine in ``conftest.ENGINES``. On the full real
records of ../shared/fiscaldata (1993–2026, all eight datasets) every engine must produce, through
the facade's ``transform``, gold equal to ``tests/independent_gold.py`` (plain Python over the
records) with the declared column types, silver row counts equal to the records, and — on every
engine but the reference (DuckDB), where it would compare DuckDB with itself — silver tables equal
to the reference's row for row with the same Arrow types. Hand-made bad values must land in
quarantine with the same reasons on every engine.

A known gap of one engine goes into ``KNOWN_GAPS`` and becomes a strict expected failure: the
suite breaks the day the gap is fixed, so the entry gets removed. There is none today.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bronze_pages import PDT_ROW, write_bronze_batch
from independent_gold import expected_gold, read_records
from treasury_lakehouse import pipeline
from treasury_lakehouse.catalog import DATASETS, PUBLIC_DEBT_TRANSACTIONS
from treasury_lakehouse.config import Settings
from treasury_lakehouse.engines import open_engine
from treasury_lakehouse.engines.base import QUARANTINE_FILE, BronzeBatch, Engine, SilverCounts
from treasury_lakehouse.lake.layout import Lake
from treasury_lakehouse.models.registry import GOLD_MODELS, GoldModel
from treasury_lakehouse.testing import FakeFiscalDataApi
from treasury_lakehouse.warehouse.base import WarehouseTable, lake_tables

REFERENCE = "duckdb"
#: (engine, what) → why it differs; each is applied as a strict xfail
KNOWN_GAPS: dict[tuple[str, str], str] = {}
#: from Debt to the Penny's first date (each dataset's window is clipped to its own span)
FIRST_DAY, LAST_DAY = date(1993, 4, 1), date(2026, 12, 31)


def known_gap(request: pytest.FixtureRequest, engine: Engine, what: str) -> None:
    reason = KNOWN_GAPS.get((engine.name, what))
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


class _KeepOpen:
    """The module's engine, handed to the facade; its session outlives each ``transform``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.name = engine.name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.engine, attribute)

    def close(self) -> None:
        """The ``engine`` fixture closes the engine once, after the module."""


@dataclass(frozen=True)
class BuiltLake:
    home: Path
    silver: list[SilverCounts]
    gold: dict[str, int]

    def tables(self) -> dict[str, WarehouseTable]:
        return {t.name: t for t in lake_tables(Lake(self.home / "lake"))}


def transform_with(engine: Engine, bronze: Path, home: Path) -> BuiltLake:
    """Run the facade's ``transform`` over a copy of ``bronze`` with this engine instance."""
    shutil.copytree(bronze, home / "lake" / "bronze")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "open_engine", lambda settings: _KeepOpen(engine))
        result = pipeline.transform(Settings(home=home, engine=engine.name))  # type: ignore[arg-type]
    return BuiltLake(home, result.silver, result.gold)


@pytest.fixture(scope="module")
def parity_records(request: pytest.FixtureRequest) -> Path:
    """The real records of ../shared/fiscaldata; where they are absent, the synthetic sample
    (all three cash-balance layouts), so the shared bodies run on every machine."""
    try:
        return Path(request.getfixturevalue("shared_records"))
    except pytest.skip.Exception:
        return Path(request.getfixturevalue("synthetic_records"))


@pytest.fixture(scope="module")
def real_bronze(parity_records: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bronze of every record of every catalog dataset, ingested through the fake API."""
    home = tmp_path_factory.mktemp("real-bronze")
    with FakeFiscalDataApi(parity_records) as api:
        settings = Settings(home=home, api_url=api.base_url, start=FIRST_DAY, timeout_s=30.0)
        pipeline.ingest(settings)
    return home / "lake" / "bronze"


@pytest.fixture(scope="module")
def reference(real_bronze: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltLake]:
    engine = open_engine(Settings(engine=REFERENCE))
    try:
        yield transform_with(engine, real_bronze, tmp_path_factory.mktemp("reference"))
    finally:
        engine.close()


@pytest.fixture(scope="module")
def built(engine: Engine, real_bronze: Path, tmp_path_factory: pytest.TempPathFactory) -> BuiltLake:
    return transform_with(engine, real_bronze, tmp_path_factory.mktemp(f"built-{engine.name}"))


def read_sorted(table: WarehouseTable) -> pa.Table:
    """A published table as one Arrow table in a deterministic order (key, then lineage)."""
    names = [c.name for c in table.columns]
    parts = [pq.read_table(f, columns=names) for f in table.files]
    data = pa.concat_tables(parts).replace_schema_metadata(None)
    key = list(table.primary_key or table.unique_key)
    key += [c for c in ("batch_id",) if c in names and c not in key]
    return data.sort_by([(c, "ascending") for c in key])


def _nullable(table: pa.Table) -> pa.Table:
    return table.cast(pa.schema([f.with_nullable(True) for f in table.schema]))


def assert_same_table(actual: pa.Table, expected: pa.Table) -> None:
    """Same column names, Arrow types and values, row for row.

    Parquet's REQUIRED flag is left out: it is a writer's detail, not the data's (DuckDB marks a
    column required when its statistics saw no NULL; Spark when the plan proves none).
    """
    actual, expected = _nullable(actual), _nullable(expected)
    assert actual.schema == expected.schema, f"{actual.schema}\n!=\n{expected.schema}"
    assert actual.num_rows == expected.num_rows
    if not actual.equals(expected):
        for number, (got, want) in enumerate(
            zip(actual.to_pylist(), expected.to_pylist(), strict=True)
        ):
            assert got == want, f"first difference at row {number}"


# --- the shared bodies ---------------------------------------------------------------------


#: the Arrow type each declared gold column type must have in the lake's Parquet
ARROW_TYPES = {"BIGINT": pa.int64(), "INTEGER": pa.int32(), "DATE": pa.date32(),
               "VARCHAR": pa.string(), "BOOLEAN": pa.bool_()}  # fmt: skip


@pytest.mark.parametrize("model", GOLD_MODELS, ids=lambda m: m.name)
def test_gold_model_equals_the_independent_computation(
    request: pytest.FixtureRequest,
    engine: Engine,
    built: BuiltLake,
    parity_records: Path,
    model: GoldModel,
) -> None:
    """Each engine's gold against plain Python over the API records (never engine vs engine)."""
    known_gap(request, engine, model.name)
    actual = read_sorted(built.tables()[model.name])
    assert [(f.name, f.type) for f in actual.schema] == [
        (c.name, ARROW_TYPES[c.sql_type]) for c in model.columns
    ]
    assert built.gold[model.name] == actual.num_rows > 0
    records = {
        name: read_records(parity_records, name, FIRST_DAY, LAST_DAY)
        for name in (
            "public_debt_transactions",
            "operating_cash_balance",
            "debt_subject_to_limit",
            "income_tax_refunds_issued",
        )
    }
    rows = [tuple(r.values()) for r in actual.to_pylist()]
    assert rows == expected_gold(*records.values())[model.name]


def test_silver_tables_and_row_counts_equal_the_reference(
    request: pytest.FixtureRequest, engine: Engine, built: BuiltLake, parity_records: Path
) -> None:
    """Row counts against the records on every engine; tables against DuckDB's on the others
    (DuckDB against itself would prove nothing)."""
    known_gap(request, engine, "silver")
    records = {
        name: len(read_records(parity_records, name, FIRST_DAY, LAST_DAY)) for name in DATASETS
    }  # e.g. 8,934 and 29,500 of the first two on the real records; one version of each key
    # and none bad
    assert {c.dataset: (c.rows_in, c.silver, c.quarantined) for c in built.silver} == {
        name: (count, count, 0) for name, count in records.items()
    }
    if engine.name == REFERENCE:
        return
    reference: BuiltLake = request.getfixturevalue("reference")
    assert built.silver == reference.silver
    tables, expected = built.tables(), reference.tables()
    # (row histories, silver_<dataset>_history: tests/integration/test_history.py compares them)
    silver = sorted(n for n in expected if n.startswith("silver_") and not n.endswith("_history"))
    assert silver == sorted(f"silver_{name}" for name in DATASETS)  # Debt to the Penny's
    # DECIMAL(20,2) and the empty table of a dataset outside the sample's span included
    for name in silver:
        assert_same_table(read_sorted(tables[name]), read_sorted(expected[name]))
        assert all(f.name.endswith(".parquet") for f in tables[name].files)
        assert {f.parent.name for f in tables[name].files} == {
            f.parent.name for f in expected[name].files
        }  # the same record_year=<year> partitions


# --- quarantine: hand-made bad values -------------------------------------------------------

#: (changes to a good row, the quarantine reason every engine must give)
BAD_VALUES: list[tuple[dict[str, str], str]] = [
    ({"transaction_today_amt": "N/A"}, "transaction_today_amt: not a CURRENCY0: N/A"),
    ({"transaction_today_amt": "1e3"}, "transaction_today_amt: not a CURRENCY0: 1e3"),
    # Java's `$` also matches before a final line break: the Spark override must catch this
    ({"transaction_mtd_amt": "12\n"}, "transaction_mtd_amt: not a CURRENCY0: 12\n"),
    ({"record_date": "2024-02-30"}, "record_date: not a DATE: 2024-02-30"),
    ({"record_date": "2024-1-2"}, "record_date: not a DATE: 2024-1-2"),
    ({"src_line_nbr": "1234567890"}, "src_line_nbr: not a INTEGER: 1234567890"),
    ({"record_calendar_month": "13"}, "record_calendar_month: not a MONTH: 13"),
    ({"security_type": " null "}, "security_type: natural key is missing"),
    (
        {"transaction_type": "", "record_fiscal_quarter": "5"},
        "transaction_type: natural key is missing; record_fiscal_quarter: not a QUARTER: 5",
    ),
]


def _quarantine(
    engine: Engine, bronze: list[BronzeBatch], out: Path
) -> tuple[SilverCounts, pa.Table]:
    silver_dir, quarantine_dir = out / "silver", out / "quarantine"
    silver_dir.mkdir(parents=True)
    quarantine_dir.mkdir()
    counts = engine.build_silver(PUBLIC_DEBT_TRANSACTIONS, bronze, silver_dir, quarantine_dir)
    table = pq.read_table(quarantine_dir / QUARANTINE_FILE).replace_schema_metadata(None)
    return counts, table


def test_bad_values_are_quarantined_with_the_same_reasons(
    request: pytest.FixtureRequest, engine: Engine, tmp_path: Path
) -> None:
    known_gap(request, engine, "quarantine")
    first = [PDT_ROW, *({**PDT_ROW, **changes} for changes, _ in BAD_VALUES)]
    bronze = [
        write_bronze_batch(tmp_path, "b1", 1, first, window=(date(2024, 1, 1), date(2024, 1, 3))),
        write_bronze_batch(
            tmp_path,
            "b2",
            2,
            [{**PDT_ROW, "transaction_today_amt": "105"}],  # restates the good row
            window=(date(2024, 1, 2), date(2024, 1, 2)),
        ),
    ]
    counts, quarantined = _quarantine(engine, bronze, tmp_path / engine.name)
    assert counts == SilverCounts("public_debt_transactions", 11, 1, 1, 0, len(BAD_VALUES))
    assert quarantined.column("quarantine_reason").to_pylist() == [r for _, r in BAD_VALUES]
    assert quarantined.column("row_index").to_pylist() == list(range(1, len(BAD_VALUES) + 1))
    # b2 holds 2024-01-02, so those rows are resolved; an unreadable date stays outstanding
    # because b2's window does not contain b1's
    assert quarantined.column("quarantine_status").to_pylist() == [
        "outstanding" if "record_date" in reason else "resolved" for _, reason in BAD_VALUES
    ]

    if engine.name == REFERENCE:
        return  # the reasons above are the reference; DuckDB against itself proves nothing
    reference = open_engine(Settings(engine=REFERENCE))
    try:
        _, expected = _quarantine(reference, bronze, tmp_path / "reference")
    finally:
        reference.close()
    assert_same_table(quarantined, expected)
