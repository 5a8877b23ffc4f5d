"""Row history and revisions (issue 14, parts 1-3), through the fake API over real HTTP.

A backfill, then a later run whose lookback window brings a restated row, a re-keyed row and a
withdrawn row; every other row of the window is delivered again unchanged. The history, the
revisions, ``treasury history`` and both warehouses are checked against what the API changed.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from test_postgres_warehouse import fresh_database, query

from conftest import make_settings
from treasury_lakehouse import pipeline
from treasury_lakehouse.catalog import get_dataset
from treasury_lakehouse.cli import main
from treasury_lakehouse.config import Settings
from treasury_lakehouse.engines.base import BronzeBatch
from treasury_lakehouse.history import (
    REVISIONS_FILE,
    BatchTime,
    build_history,
    history_files,
    json_value,
    plan_history,
)
from treasury_lakehouse.ingest.bronze import BronzeStore
from treasury_lakehouse.lake.commit import read_commit
from treasury_lakehouse.lake.layout import BUILD_INFO, Lake
from treasury_lakehouse.report import build_report
from treasury_lakehouse.testing import FakeFiscalDataApi, generate_records
from treasury_lakehouse.warehouse.base import lake_tables
from treasury_lakehouse.warehouse.duckdb import DuckDBWarehouse
from treasury_lakehouse.warehouse.duckdb_incremental import plan_incremental

PDT = "public_debt_transactions"
FIRST_DAY, BACKFILL_TODAY, LATER_TODAY = date(2022, 3, 1), date(2022, 3, 9), date(2022, 3, 10)
RESTATED = {
    "record_date": "2022-03-09",
    "transaction_type": "Issues",
    "security_market": "Marketable",
    "security_type": "Notes",
}
REKEYED = {
    "record_date": "2022-03-08",
    "transaction_type": "Issues",
    "security_market": "Marketable",
    "security_type": "Bills",
    "security_type_desc": "Regular Series",
}
WITHDRAWN = {
    "record_date": "2022-03-08",
    "transaction_type": "Issues",
    "security_market": "Marketable",
    "security_type": "Bills",
    "security_type_desc": "Cash Management Series",
}
AMOUNTS = ("transaction_today_amt", "transaction_mtd_amt", "transaction_fytd_amt")


@dataclass(frozen=True)
class Scenario:
    home: Path
    api: FakeFiscalDataApi
    settings: Settings
    restated_before: dict[str, str]

    def history(self, dataset: str = PDT) -> list[dict[str, Any]]:
        version = Lake(self.settings.lake).require_commit().versions("history")[dataset]
        return [r for f in history_files(version) for r in pq.read_table(f).to_pylist()]

    def revisions(self, dataset: str = PDT) -> list[dict[str, Any]]:
        version = Lake(self.settings.lake).require_commit().versions("history")[dataset]
        return pq.read_table(version / REVISIONS_FILE).to_pylist()


def run_scenario(records: Path, home: Path, **overrides: Any) -> Iterator[Scenario]:
    """The backfill, then the later run with the three changes at the source."""
    with FakeFiscalDataApi(records) as api:
        api.today = BACKFILL_TODAY
        pipeline.run(make_settings(home, api, start=FIRST_DAY, **overrides))
        [before] = [r for r in api._store.rows(PDT) if all(r[k] == v for k, v in RESTATED.items())]
        changes = {c: str(int(before[c]) + 5) for c in AMOUNTS}
        assert api.restate(PDT, RESTATED, changes) == 1
        # later days' running totals move with it (the gate checks them); 03-10 is not yet out
        later = {k: v for k, v in RESTATED.items() if k != "record_date"}
        for row in api._store.rows(PDT):
            if row["record_date"] == "2022-03-10" and all(row[k] == v for k, v in later.items()):
                api.restate(
                    PDT,
                    {**later, "record_date": "2022-03-10"},
                    {c: str(int(row[c]) + 5) for c in AMOUNTS[1:]},
                )
        assert api.restate(PDT, REKEYED, {"security_type_desc": "Rekeyed"}) == 1
        assert api.withdraw(PDT, WITHDRAWN) == 1
        api.today = LATER_TODAY
        settings = make_settings(home, api, **overrides)
        pipeline.run(settings)
        yield Scenario(home, api, settings, dict(before))


@pytest.fixture(scope="module")
def history_records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("history") / "records"
    generate_records(out, date(2022, 2, 1), date(2022, 3, 31), seed=7)
    return out


@pytest.fixture(scope="module")
def scenario(history_records: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    yield from run_scenario(history_records, tmp_path_factory.mktemp("home"))


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        row[c]
        for c in (
            "record_date",
            "transaction_type",
            "security_market",
            "security_type",
            "security_type_desc",
        )
    )


def _matches(row: dict[str, Any], match: dict[str, str]) -> bool:
    return all(str(row[k]) == v for k, v in match.items())


def test_history_intervals_meet_and_current_versions_equal_silver(scenario: Scenario) -> None:
    history = scenario.history()
    by_key: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in sorted(history, key=lambda r: r["batch_seq"]):
        by_key.setdefault(_key(row), []).append(row)
    for versions in by_key.values():
        for old, new in itertools.pairwise(versions):
            assert old["known_to"] == new["known_from"]  # the intervals meet
            assert old["known_from"] < new["known_from"]
        assert versions[-1]["known_to"] is None
    silver_dir = Lake(scenario.settings.lake).require_silver(PDT)
    silver = [r for f in silver_dir.rglob("*.parquet") for r in pq.read_table(f).to_pylist()]
    current = [r for r in history if r["known_to"] is None and not r["is_deleted"]]
    columns = [c for c in silver[0] if c not in ("batch_id", "ingestion_timestamp")]
    assert sorted(tuple(r[c] for c in columns) for r in current) == sorted(
        tuple(r[c] for c in columns) for r in silver
    )


def test_a_row_delivered_again_unchanged_starts_no_new_version(scenario: Scenario) -> None:
    history = scenario.history()
    seqs = sorted({r["batch_seq"] for r in history})
    assert len(seqs) == 2  # the backfill and the later batch
    unchanged = [
        r
        for r in history
        if r["record_date"] == date(2022, 3, 8)
        and _matches(r, RESTATED | {"record_date": "2022-03-08"})
    ]
    assert len(unchanged) == 1 and unchanged[0]["batch_seq"] == seqs[0]
    assert unchanged[0]["known_to"] is None
    # the later batch re-delivered every row of 03-02..03-09: versions it started are the changes
    later = [r for r in history if r["batch_seq"] == seqs[1] and r["record_date"] <= BACKFILL_TODAY]
    assert sorted(
        (str(r["record_date"]), r["security_type_desc"], r["is_deleted"]) for r in later
    ) == [
        ("2022-03-08", "Cash Management Series", True),
        ("2022-03-08", "Regular Series", True),
        ("2022-03-08", "Rekeyed", False),
        ("2022-03-09", None, False),
    ]


def test_revisions_one_row_per_changed_column_plus_added_and_deleted(scenario: Scenario) -> None:
    revisions = scenario.revisions()
    history = scenario.history()
    batches = sorted({(r["batch_seq"], r["batch_id"]) for r in history})
    (_, first), (_, second) = batches
    changed = sorted(
        (r["column_name"], r["old_value"], r["new_value"])
        for r in revisions
        if r["change"] == "changed"
    )
    before = scenario.restated_before
    assert changed == sorted((c, before[c], str(int(before[c]) + 5)) for c in AMOUNTS)
    assert {r["record_date"] for r in revisions if r["change"] == "changed"} == {date(2022, 3, 9)}
    keys = sorted((r["change"], r["row_key"]) for r in revisions if r["change"] != "changed")
    key = '{{"record_date":"2022-03-08","transaction_type":"Issues","security_market":' \
        '"Marketable","security_type":"Bills","security_type_desc":"{}"}}'  # fmt: skip
    assert keys == [
        ("added", key.format("Rekeyed")),
        ("deleted", key.format("Cash Management Series")),
        ("deleted", key.format("Regular Series")),
    ]
    assert len(revisions) == 6
    for r in revisions:
        assert r["new_batch_id"] == second
        assert r["old_batch_id"] == (None if r["change"] == "added" else first)
        assert r["revised_at"] is not None
        assert r["dataset"] == PDT


def test_the_report_lists_the_latest_revisions(scenario: Scenario) -> None:
    """The report's "Latest revisions": the restated amounts old and new, the re-keyed and the
    withdrawn rows, and the count per dataset."""
    page = build_report(scenario.settings).read_text()
    section = page.split("<h2>Latest revisions</h2>", 1)[1].split("</section>", 1)[0]
    before = scenario.restated_before
    for column in AMOUNTS:
        old, new = int(before[column]), int(before[column]) + 5
        cells = f"<td>{column}</td><td>{old:,}</td><td>{new:,}</td>"
        assert cells in section, column
    assert section.count("<td>changed</td>") == 3
    assert section.count("<td>deleted</td>") == 2 and section.count("<td>added</td>") == 1
    assert "security_type_desc=Rekeyed" in section
    assert "<td>public_debt_transactions</td><td>3</td><td>1</td><td>2</td><td>6</td>" in section
    assert "All 6 revisions, newest first" in section
    assert "<td>2022-03-09</td>" in section and "UTC</td>" in section


def test_status_shows_each_datasets_history(scenario: Scenario) -> None:
    history = scenario.history()
    current = [r for r in history if r["known_to"] is None]
    expected = {
        "version": Lake(scenario.settings.lake).require_commit().history[PDT],
        "versions": len(history),
        "current_rows": sum(not r["is_deleted"] for r in current),
        "deleted_rows": sum(r["is_deleted"] for r in current),
        "revisions": 6,
    }
    assert expected["deleted_rows"] == 2
    home = ["--home", str(scenario.home)]
    report = json.loads(CliRunner().invoke(main, ["status", *home, "--json"]).output)
    assert report["datasets"][PDT]["history"] == expected
    assert expected["current_rows"] == report["datasets"][PDT]["silver_rows"]
    text = CliRunner().invoke(main, ["status", *home])
    assert text.exit_code == 0, text.output
    [line] = [x for x in text.output.splitlines() if x.startswith(f"{PDT} ") and "history" in x]
    assert line.split() == [
        PDT,
        "history",
        "versions",
        f"{expected['versions']:,}",
        "current",
        f"{expected['current_rows']:,}",
        "deleted",
        "2",
        "revisions",
        "6",
    ]


def test_history_cli_text_and_json(scenario: Scenario) -> None:
    common = ["--home", str(scenario.home), "--dataset", PDT, "--date", "2022-03-09"]
    where = [f"--where={k}={v}" for k, v in RESTATED.items() if k != "record_date"]
    result = CliRunner().invoke(main, ["history", *common, *where, "--json"])
    assert result.exit_code == 0, result.output
    versions = json.loads(result.output)
    assert len(versions) == 2
    old, new = versions
    assert old["known_to"] == new["known_from"] and new["known_to"] is None
    assert old["transaction_today_amt"] == int(scenario.restated_before["transaction_today_amt"])
    assert new["transaction_today_amt"] == old["transaction_today_amt"] + 5
    assert isinstance(new["transaction_fytd_amt"], int)  # amounts exact, never floats
    assert not old["is_deleted"] and not new["is_deleted"]
    assert {"batch_id", "known_from", "known_to", "is_deleted", "security_type_desc"} <= set(new)

    text = CliRunner().invoke(main, ["history", *common, *where])
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert len(lines) == 2 and ".. current" in lines[1]
    assert f"transaction_today_amt={new['transaction_today_amt']}" in lines[1]

    null = CliRunner().invoke(main, ["history", *common, *where, "--where=security_type_desc=null"])
    assert null.output == text.output

    every = json.loads(CliRunner().invoke(main, ["history", *common, "--json"]).output)
    assert len(every) == 26  # 25 rows of the day, one of them restated

    bad = CliRunner().invoke(main, ["history", *common, "--where", "colour=red"])
    assert bad.exit_code == 1
    assert bad.output.strip().splitlines() == [bad.output.strip()]
    assert "'colour' is not a column of silver_public_debt_transactions" in bad.output


def test_the_duckdb_warehouse_has_history_and_revisions_with_comments(scenario: Scenario) -> None:
    with duckdb.connect(str(scenario.home / "warehouse.duckdb"), read_only=True) as con:
        tables = dict(
            con.execute(
                "SELECT table_name, comment FROM duckdb_tables() WHERE table_name LIKE "
                "'%history' OR table_name = 'revisions'"
            ).fetchall()
        )
        assert len(tables) == 9 and all(tables.values())
        uncommented = con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE (table_name LIKE "
            "'%history' OR table_name = 'revisions') AND comment IS NULL"
        ).fetchall()
        assert uncommented == []
        rows = con.execute(
            "SELECT change, COUNT(*) FROM revisions WHERE dataset = ? GROUP BY ALL ORDER BY 1",
            [PDT],
        ).fetchall()
        assert rows == [("added", 1), ("changed", 3), ("deleted", 2)]
        history = con.execute(
            f"SELECT COUNT(*) FROM silver_{PDT}_history WHERE known_to IS NULL AND NOT is_deleted"
        ).fetchone()
        silver = con.execute(f"SELECT COUNT(*) FROM silver_{PDT}").fetchone()
        assert history == silver


def test_the_later_batch_appended_to_the_history_as_a_full_rebuild_would(
    scenario: Scenario, tmp_path: Path
) -> None:
    version = Lake(scenario.settings.lake).require_commit().versions("history")[PDT]
    info = json.loads((version / BUILD_INFO).read_text())
    assert (info["mode"], info["rebuilt_years"]) == ("incremental", [2022])
    bronze = BronzeStore(scenario.settings.lake)
    batches = bronze.batches(PDT)
    inputs = [BronzeBatch.from_manifest(b, bronze.dataset_dir(PDT)) for b in batches]
    times = {b.batch_id: BatchTime(b.commit_time, b.ingested_at) for b in batches}
    dataset = get_dataset(PDT)
    plan = plan_history(dataset, inputs, None)
    assert plan.mode == "full"
    build_history(scenario.settings, dataset, inputs, times, plan, tmp_path, "full")
    full = [r for f in history_files(tmp_path) for r in pq.read_table(f).to_pylist()]
    assert sorted(map(repr, full)) == sorted(map(repr, scenario.history()))
    revisions = pq.read_table(tmp_path / REVISIONS_FILE).to_pylist()
    assert sorted(map(repr, revisions)) == sorted(map(repr, scenario.revisions()))


@pytest.mark.postgres
def test_the_postgres_warehouse_has_history_and_revisions_with_comments(
    history_records: Path, tmp_path: Path
) -> None:
    with fresh_database() as dsn:
        scenario = next(run_scenario(history_records, tmp_path / "home", warehouse=dsn))
        comments = query(
            dsn,
            "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class AS c "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
            "AND c.relkind = 'r' AND (c.relname LIKE '%history' OR c.relname = 'revisions')",
        )
        assert len(comments) == 9 and all(comment for _, comment in comments)
        uncommented = query(
            dsn,
            "SELECT table_name, column_name FROM information_schema.columns WHERE "
            "table_schema = 'public' AND (table_name LIKE '%history' OR table_name = 'revisions') "
            "AND col_description(('public.' || quote_ident(table_name))::regclass, "
            "ordinal_position) IS NULL",
        )
        assert uncommented == []
        changes = query(
            dsn,
            "SELECT change, column_name, old_value, new_value FROM revisions "
            "WHERE dataset = %s ORDER BY 1, 2",
            (PDT,),
        )
        before = scenario.restated_before
        assert changes == [
            ("added", None, None, None),
            *sorted(("changed", c, before[c], str(int(before[c]) + 5)) for c in AMOUNTS),
            ("deleted", None, None, None),
            ("deleted", None, None, None),
        ]
        lake = sorted(
            repr((str(r["record_date"]), r["security_type_desc"], r["batch_seq"], r["is_deleted"]))
            for r in scenario.history()
        )
        warehouse = query(
            dsn,
            f"SELECT record_date::text, security_type_desc, batch_seq, is_deleted, known_to "
            f"FROM silver_{PDT}_history",
        )
        assert sorted(repr(r[:4]) for r in warehouse) == lake
        current = query(
            dsn,
            f"SELECT COUNT(*) FROM silver_{PDT}_history WHERE known_to IS NULL AND NOT is_deleted",
        )
        assert current == query(dsn, f"SELECT COUNT(*) FROM silver_{PDT}")


def _comparable(rows: list[dict[str, Any]]) -> list[str]:
    """History rows without what differs between two homes (batch ids and wall-clock times)."""
    drop = ("batch_id", "ingestion_timestamp", "known_from", "known_to", "revised_at")
    drop += ("old_batch_id", "new_batch_id")
    return sorted(
        repr(({k: v for k, v in r.items() if k not in drop}, r.get("known_to") is None))
        for r in rows
    )


@pytest.mark.spark
@pytest.mark.slow
def test_the_spark_engine_gives_the_same_history(
    history_records: Path, scenario: Scenario, tmp_path: Path
) -> None:
    spark = next(run_scenario(history_records, tmp_path / "home", engine="spark"))
    for dataset in ("public_debt_transactions", "operating_cash_balance"):
        assert _comparable(spark.history(dataset)) == _comparable(scenario.history(dataset))
    assert _comparable(spark.revisions()) == _comparable(scenario.revisions())


def _warehouse_history(path: Path, scenario: Scenario) -> list[str]:
    columns = [c for c in scenario.history()[0] if c != "record_year"]
    names = ", ".join(f'"{c}"' for c in columns)
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(f"SELECT {names} FROM silver_{PDT}_history").fetchall()
    return sorted(repr(tuple(json_value(v) for v in row)) for row in rows)


def test_an_incremental_duckdb_load_rewrites_the_appended_history_years(
    scenario: Scenario, tmp_path: Path
) -> None:
    """The file holds the backfill's commit; the later commit's history was appended right on
    that version, so the load rewrites its record year 2022 in place (not the whole table)."""
    lake = Lake(scenario.settings.lake)
    latest = lake.require_commit()
    previous = read_commit(lake.root, latest.seq - 1)
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb", full_rebuild_share=2.0)
    warehouse.publish(lake_tables(previous), "first", commit=previous)
    tables = lake_tables(latest)
    plan = plan_incremental(warehouse.path, tables, latest, 2.0)
    assert set(plan.history.values()) == {frozenset({2022})}
    assert f"silver_{PDT}_history" in plan.history
    result = warehouse.publish(tables, "later", commit=latest)
    assert result.incremental
    lake_rows = sorted(
        repr(tuple(json_value(r[c]) for c in r if c != "record_year")) for r in scenario.history()
    )
    assert _warehouse_history(warehouse.path, scenario) == lake_rows
    assert sorted(warehouse.table_rows("revisions")) == sorted(
        DuckDBWarehouse(scenario.home / "warehouse.duckdb").table_rows("revisions")
    )
