"""Vintages and lineage together (issue 14, done when), through the CLI and the fake API over
real HTTP, on each engine and each warehouse.

A backfill is run and a copy of its warehouse is kept; then a later run brings a restated row, a
re-keyed row and a withdrawn row (the changes of :mod:`test_history`). Then the history's intervals
meet, ``revisions`` has one row per changed column plus the added and deleted keys, ``load
--as-of`` a time between the two runs equals the kept copy table by table, ``explain`` reconciles
on the restated day, and an OpenLineage receiver got START and COMPLETE for every step of both
runs.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from psycopg import sql
from test_history import (
    AMOUNTS,
    BACKFILL_TODAY,
    FIRST_DAY,
    LATER_TODAY,
    PDT,
    REKEYED,
    RESTATED,
    WITHDRAWN,
    _key,
)
from test_postgres_warehouse import ADMIN_DSN, database_dsn, fresh_database

from lineage_receiver import LineageReceiver, assert_spec_fields, by_job
from treasury_lakehouse.catalog import DATASETS
from treasury_lakehouse.cli import main
from treasury_lakehouse.history import REVISIONS_FILE, history_files
from treasury_lakehouse.lake.layout import Lake
from treasury_lakehouse.testing import FakeFiscalDataApi, generate_records

STEPS = (
    {f"ingest.{name}" for name in DATASETS}
    | {f"silver.{name}" for name in DATASETS}
    | {"gold", "check", "load"}
)
#: run metadata, not data: which run loaded what, and the checks' reports (their run ids differ)
RUN_TABLES = ("load_manifest", "quality_results")

VARIANTS = [
    pytest.param(("duckdb", "duckdb"), id="duckdb-engine-duckdb-warehouse"),
    pytest.param(
        ("spark", "duckdb"), id="spark-engine", marks=(pytest.mark.spark, pytest.mark.slow)
    ),
    pytest.param(("duckdb", "postgres"), id="postgres-warehouse", marks=pytest.mark.postgres),
]


@dataclass(frozen=True)
class Vintages:
    home: Path
    engine: str
    warehouse: str
    #: a copy of the warehouse as the backfill left it: a file URL, or a PostgreSQL DSN
    kept: str
    between: datetime
    events: list[dict[str, Any]]
    restated_before: dict[str, str]

    def cli(self, *args: str) -> Any:
        common = ["--home", str(self.home), "--engine", self.engine]
        return CliRunner().invoke(main, [*args, *common], catch_exceptions=False)

    def lake_rows(self, what: str) -> list[dict[str, Any]]:
        version = Lake(self.home / "lake").require_commit().versions("history")[PDT]
        files = history_files(version) if what == "history" else [version / REVISIONS_FILE]
        return [r for f in files for r in pq.read_table(f).to_pylist()]


@pytest.fixture(scope="module")
def vintage_records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vintages") / "records"
    generate_records(out, date(2022, 2, 1), date(2022, 3, 31), seed=7)
    return out


@pytest.fixture(scope="module", params=VARIANTS)
def vintages(
    request: pytest.FixtureRequest,
    vintage_records: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Vintages]:
    engine, kind = request.param
    home = tmp_path_factory.mktemp("home").resolve()
    with _warehouses(kind, home) as (warehouse, keep, kept):
        yield from _run_vintages(vintage_records, home, engine, warehouse, keep, kept)


@pytest.fixture
def lineage_free(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OPENLINEAGE"):
            monkeypatch.delenv(name)


def _run_vintages(
    records: Path, home: Path, engine: str, warehouse: str, keep: Any, kept: str
) -> Iterator[Vintages]:
    saved = {k: v for k, v in os.environ.items() if k.startswith("OPENLINEAGE")}
    for name in saved:
        del os.environ[name]
    try:
        with FakeFiscalDataApi(records) as api, LineageReceiver() as receiver:
            os.environ["OPENLINEAGE_URL"] = receiver.url
            common = ["--home", str(home), "--engine", engine, "--api-url", api.base_url]
            common += ["--warehouse", warehouse]
            api.today = BACKFILL_TODAY
            _invoke("run", *common, "--start", FIRST_DAY.isoformat())
            keep()
            between = datetime.now(UTC)
            time.sleep(0.01)  # the later batches are committed strictly after it
            before = _change_the_source(api)
            api.today = LATER_TODAY
            _invoke("run", *common)
            events = receiver.events
    finally:
        for name in list(os.environ):
            if name.startswith("OPENLINEAGE"):
                del os.environ[name]
        os.environ.update(saved)
    yield Vintages(home, engine, warehouse, kept, between, events, before)


def _invoke(*args: str) -> None:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _change_the_source(api: FakeFiscalDataApi) -> dict[str, str]:
    """The restated, re-keyed and withdrawn rows of :func:`test_history.run_scenario`."""
    [before] = [r for r in api.records(PDT) if all(r[k] == v for k, v in RESTATED.items())]
    assert api.restate(PDT, RESTATED, {c: str(int(before[c]) + 5) for c in AMOUNTS}) == 1
    later = {k: v for k, v in RESTATED.items() if k != "record_date"}
    for row in api.records(PDT):
        if row["record_date"] == "2022-03-10" and all(row[k] == v for k, v in later.items()):
            changes = {c: str(int(row[c]) + 5) for c in AMOUNTS[1:]}
            api.restate(PDT, {**later, "record_date": "2022-03-10"}, changes)
    assert api.restate(PDT, REKEYED, {"security_type_desc": "Rekeyed"}) == 1
    assert api.withdraw(PDT, WITHDRAWN) == 1
    return dict(before)


class _warehouses:
    """The warehouse URL of a variant, how to keep a copy of it, and the copy's URL."""

    def __init__(self, kind: str, home: Path) -> None:
        self.kind, self.home = kind, home
        self._databases: list[str] = []

    def __enter__(self) -> tuple[str, Any, str]:
        if self.kind == "duckdb":
            path, copy = self.home / "warehouse.duckdb", self.home.parent / "kept.duckdb"
            return f"duckdb:///{path}", lambda: shutil.copyfile(path, copy), f"duckdb:///{copy}"
        self._fresh = fresh_database()
        dsn = self._fresh.__enter__()
        source = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
        copy = f"{source}_kept"
        self._databases.append(copy)

        def keep() -> None:
            with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        sql.Identifier(copy), sql.Identifier(str(source))
                    )
                )

        return dsn, keep, database_dsn(copy)

    def __exit__(self, *exc: object) -> None:
        if self.kind == "duckdb":
            return
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            for name in self._databases:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        self._fresh.__exit__(None, None, None)


def test_the_history_intervals_meet(vintages: Vintages) -> None:
    history = vintages.lake_rows("history")
    by_key: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in sorted(history, key=lambda r: r["batch_seq"]):
        by_key.setdefault(_key(row), []).append(row)
    replaced = 0
    for versions in by_key.values():
        for old, new in itertools.pairwise(versions):
            assert old["known_to"] == new["known_from"]
            replaced += 1
        assert versions[-1]["known_to"] is None
    assert replaced == 3  # the restated row; the re-keyed and the withdrawn rows' deletions


def test_revisions_one_row_per_changed_column_plus_added_and_deleted_keys(
    vintages: Vintages,
) -> None:
    revisions = vintages.lake_rows("revisions")
    before = vintages.restated_before
    changed = sorted(
        (r["record_date"], r["column_name"], r["old_value"], r["new_value"])
        for r in revisions
        if r["change"] == "changed"
    )
    day = date(2022, 3, 9)
    assert changed == sorted((day, c, before[c], str(int(before[c]) + 5)) for c in AMOUNTS)
    keys = sorted(
        (r["change"], json.loads(r["row_key"])["security_type_desc"])
        for r in revisions
        if r["change"] != "changed"
    )
    assert keys == [
        ("added", "Rekeyed"),
        ("deleted", "Cash Management Series"),
        ("deleted", "Regular Series"),
    ]


def test_load_as_of_between_the_runs_equals_the_kept_copy(
    vintages: Vintages, tmp_path: Path, lineage_free: None
) -> None:
    with _target(vintages, tmp_path) as target:
        result = vintages.cli(
            "load", "--as-of", vintages.between.isoformat(), "--warehouse", target
        )
        assert result.exit_code == 0, result.output
        assert "not current" in result.output
        kept, rebuilt = _tables(vintages.kept), _tables(target)
    assert sorted(kept) == sorted(rebuilt)
    assert {"silver_public_debt_transactions_history", "revisions", "gold_daily_totals"} <= set(
        kept
    )
    for name in sorted(kept):
        assert rebuilt[name] == kept[name], f"{name} differs from the kept copy"
    current = _tables(vintages.warehouse)
    differs = [n for n in kept if current[n] != kept[n]]
    assert "silver_public_debt_transactions" in differs and "revisions" in differs


def test_explain_reconciles_on_the_restated_day(vintages: Vintages, lineage_free: None) -> None:
    result = vintages.cli("explain", "gold_daily_totals", "record_date=2022-03-09", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["reconciled"] is True
    restated = [
        r
        for r in out["silver"]
        if all(str(r[k]) == v for k, v in RESTATED.items() if k != "record_date")
    ]
    assert [str(r["transaction_today_amt"]) for r in restated] == [
        str(int(vintages.restated_before["transaction_today_amt"]) + 5)
    ]


def test_the_receiver_got_start_and_complete_for_every_step_of_both_runs(
    vintages: Vintages,
) -> None:
    events = vintages.events
    for event in events:
        assert_spec_fields(event)
    assert by_job(events) == {job: ["START", "COMPLETE"] * 2 for job in STEPS}


class _target:
    """A fresh warehouse for ``load --as-of``, of the variant's kind."""

    def __init__(self, vintages: Vintages, tmp_path: Path) -> None:
        self.vintages, self.tmp_path = vintages, tmp_path

    def __enter__(self) -> str:
        if self.vintages.warehouse.startswith("duckdb"):
            return f"duckdb:///{self.tmp_path / 'as-of.duckdb'}"
        self._fresh = fresh_database()
        return self._fresh.__enter__()

    def __exit__(self, *exc: object) -> None:
        if not self.vintages.warehouse.startswith("duckdb"):
            self._fresh.__exit__(None, None, None)


def _tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every data table of a warehouse (not :data:`RUN_TABLES`), rows sorted."""
    if url.startswith("duckdb"):
        path = url.removeprefix("duckdb:///")
        with duckdb.connect(path, read_only=True) as con:
            names = [
                r[0]
                for r in con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
                ).fetchall()
            ]
            return {
                n: con.execute(f'SELECT * FROM "{n}" ORDER BY ALL').fetchall()
                for n in names
                if n not in RUN_TABLES
            }
    with psycopg.connect(url) as con:
        names = [
            r[0]
            for r in con.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        tables = {}
        for name in names:
            if name in RUN_TABLES:
                continue
            width = len(
                con.execute(
                    sql.SQL("SELECT * FROM {} LIMIT 0").format(sql.Identifier(name))
                ).description
                or []
            )
            order = sql.SQL(", ").join(sql.Literal(i + 1) for i in range(width))
            tables[name] = con.execute(
                sql.SQL("SELECT * FROM {} ORDER BY {}").format(sql.Identifier(name), order)
            ).fetchall()
        return tables


def test_transform_check_and_report_as_of_leave_the_current_state_alone(
    vintages: Vintages, lineage_free: None
) -> None:
    lake = Lake(vintages.home / "lake")
    commit_before = lake.require_commit().seq
    tables_before = _tables(vintages.warehouse)
    at = vintages.between.isoformat()
    scratch = vintages.home / "as-of"

    first = vintages.cli("transform", "--as-of", at)
    assert first.exit_code == 0, first.output
    assert "not current" in first.output
    again = vintages.cli("transform", "--as-of", at)
    assert again.exit_code == 0 and "already built" in again.output, again.output
    checked = vintages.cli("check", "--as-of", at)
    assert checked.exit_code == 0, checked.output
    assert "quality" in checked.output
    reported = vintages.cli("report", "--as-of", at)
    assert reported.exit_code == 0, reported.output
    [page] = list(scratch.glob("*/report/index.html"))
    assert str(page) in reported.output

    assert lake.require_commit().seq == commit_before
    assert _tables(vintages.warehouse) == tables_before
    # the scratch lake's silver is the backfill's: the restated row has its first amount
    [as_of_lake] = [p / "lake" for p in scratch.iterdir()]
    silver = Lake(as_of_lake).require_silver(PDT)
    rows = [r for f in silver.rglob("*.parquet") for r in pq.read_table(f).to_pylist()]
    [restated] = [r for r in rows if all(str(r[k]) == v for k, v in RESTATED.items())]
    before = vintages.restated_before["transaction_today_amt"]
    assert Decimal(str(restated["transaction_today_amt"])) == Decimal(before)
    assert not [r for r in rows if r["security_type_desc"] == "Rekeyed"]
