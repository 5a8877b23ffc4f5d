"""The PostgreSQL warehouse as a new user meets it, against the real server on 127.0.0.1:5432.

Each test creates its own database and drops it afterwards. Gold is compared with
``tests/independent_gold.py`` (plain Python over the API records), never with the models.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from conftest import make_settings, require_or_skip
from independent_gold import expected_gold, read_records
from treasury_lakehouse import pipeline
from treasury_lakehouse.config import mask_dsn
from treasury_lakehouse.errors import WarehouseError
from treasury_lakehouse.lake.layout import Lake
from treasury_lakehouse.models.registry import GOLD
from treasury_lakehouse.testing import FakeFiscalDataApi
from treasury_lakehouse.warehouse.base import lake_tables
from treasury_lakehouse.warehouse.postgres import PostgresWarehouse
from treasury_lakehouse.warehouse.star import STAR_TABLES

pytestmark = pytest.mark.postgres

ADMIN_DSN = os.environ.get(
    "TREASURY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PDT, OCB = "public_debt_transactions", "operating_cash_balance"
OLD_ROWS_XMIN = (
    "SELECT MIN(xmin::text) FROM fact_public_debt_transactions WHERE record_date < '2022-01-01'"
)
SILVER = ("silver_public_debt_transactions", "silver_operating_cash_balance")


def database_dsn(name: str) -> str:
    return ADMIN_DSN.rsplit("/", 1)[0] + "/" + name


@contextmanager
def fresh_database() -> Iterator[str]:
    """A uniquely named database, dropped afterwards; skips if the server is unreachable."""
    try:
        admin = psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        require_or_skip(
            f"PostgreSQL unreachable at {mask_dsn(ADMIN_DSN)} ({error}); `.ci/run` starts it"
        )
    name = f"treasury_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield database_dsn(name)
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def postgres_dsn() -> Iterator[str]:
    with fresh_database() as dsn:
        yield dsn


def query(dsn: str, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as con:
        cursor = con.execute(statement, params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


def manifest(dsn: str, run_id: str) -> dict[str, tuple[str, int, int]]:
    rows = query(
        dsn,
        "SELECT table_name, mode, row_count, rows_written FROM load_manifest WHERE run_id = %s",
        (run_id,),
    )
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def assert_gold_matches_records(dsn: str, records_dir: Path, start: date, end: date) -> None:
    pdt = read_records(records_dir, PDT, start, end)
    ocb = read_records(records_dir, OCB, start, end)
    dsl = read_records(records_dir, "debt_subject_to_limit", start, end)
    refunds = read_records(records_dir, "income_tax_refunds_issued", start, end)
    warehouse = PostgresWarehouse(dsn)
    gold = expected_gold(pdt, ocb, dsl, refunds)
    assert set(gold) == set(GOLD)
    for table, rows in gold.items():
        assert sorted(warehouse.table_rows(table)) == rows, table
    assert query(dsn, "SELECT COUNT(*) FROM silver_public_debt_transactions") == [(len(pdt),)]
    assert query(dsn, "SELECT COUNT(*) FROM fact_operating_cash_balance") == [(len(ocb),)]
    total = sum(
        int(r["transaction_today_amt"]) for r in pdt if r["transaction_today_amt"] != "null"
    )
    assert query(dsn, "SELECT SUM(transaction_today_amt) FROM fact_public_debt_transactions") == [
        (total,)
    ]


def assert_no_duplicates(dsn: str) -> None:
    grains = {name: model.primary_key for name, model in GOLD.items()}
    grains |= {t.name: t.primary_key for t in STAR_TABLES}
    grains["silver_public_debt_transactions"] = (
        "record_date", "transaction_type", "security_market", "security_type",
        "security_type_desc",
    )  # fmt: skip
    grains["silver_operating_cash_balance"] = ("record_date", "account_type")
    for table, key in grains.items():
        columns = ", ".join(key)
        [(rows, distinct)] = query(
            dsn,
            f"SELECT COUNT(*), (SELECT COUNT(*) FROM (SELECT DISTINCT {columns} FROM {table}) "
            f"AS d) FROM {table}",
        )
        assert rows == distinct > 0, table


def assert_documented_and_keyed(dsn: str) -> None:
    """Every gold and star table: a primary key on its grain, comments on table and columns."""
    tables = [*GOLD, *(t.name for t in STAR_TABLES), *SILVER]
    for table in tables:
        [(comment,)] = query(dsn, "SELECT obj_description(%s::regclass, 'pg_class')", (table,))
        assert comment, table
        missing = query(
            dsn,
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped AND col_description(attrelid, attnum) IS NULL",
            (table,),
        )
        assert missing == [], table
    for name, model in GOLD.items():
        key = query(
            dsn,
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
            (name,),
        )
        assert sorted(r[0] for r in key) == sorted(model.primary_key), name
    [(definition,)] = query(
        dsn,
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'silver_public_debt_transactions' "
        "AND indexdef LIKE '%UNIQUE%'",
    )
    assert "NULLS NOT DISTINCT" in definition and "security_type_desc" in definition


def assert_reader_can_only_read(dsn: str) -> None:
    with psycopg.connect(dsn) as con:
        con.execute("SET ROLE treasury_reader")
        assert con.execute("SELECT COUNT(*) FROM gold_daily_totals").fetchone() != (0,)
        con.execute(
            "SELECT COUNT(*) FROM fact_public_debt_transactions JOIN dim_date USING (date_key)"
        )
        con.execute("SELECT COUNT(*) FROM load_manifest")
        statements = [
            "INSERT INTO gold_monthly_totals VALUES (1999, 1, 1, 1, 1, 0)",
            "DELETE FROM gold_daily_totals",
            "UPDATE dim_security SET security_type = 'x'",
            "TRUNCATE gold_daily_totals",
            "CREATE TABLE public.mine (x int)",
            "SELECT * FROM treasury_load.published_slices",
        ]
        for statement in statements:
            with pytest.raises(psycopg.errors.InsufficientPrivilege), con.transaction():
                con.execute(statement)  # type: ignore[arg-type]


def assert_star_is_consistent(dsn: str) -> None:
    for fact, dim, key in (
        ("fact_public_debt_transactions", "dim_security", "security_key"),
        ("fact_operating_cash_balance", "dim_account", "account_key"),
    ):
        [(facts, joined)] = query(
            dsn,
            f"SELECT (SELECT COUNT(*) FROM {fact}), (SELECT COUNT(*) FROM {fact} "
            f"JOIN {dim} USING ({key}) JOIN dim_date USING (date_key))",
        )
        assert facts == joined > 0
    [(facts, joined)] = query(
        dsn,
        "SELECT (SELECT COUNT(*) FROM fact_debt_limit), (SELECT COUNT(*) FROM fact_debt_limit "
        "JOIN gold_daily_debt_limit USING (record_date) JOIN dim_date USING (date_key))",
    )
    assert facts == joined > 0
    [(first, last, days)] = query(
        dsn, "SELECT MIN(calendar_date), MAX(calendar_date), COUNT(*) FROM dim_date"
    )
    assert days == (last - first).days + 1
    foreign_keys = query(dsn, "SELECT conname FROM pg_constraint WHERE contype = 'f'")
    assert len(foreign_keys) == 5  # fact_debt_limit references dim_date


@pytest.mark.shared_data
def test_new_user_two_runs_on_the_real_records(
    real_api: FakeFiscalDataApi, shared_records: Path, tmp_path: Path, postgres_dsn: str
) -> None:
    start = date(2024, 1, 2)
    settings = make_settings(tmp_path / "home", real_api, start=start, warehouse=postgres_dsn)
    real_api.today = date(2024, 2, 15)
    # the shared Debt to the Penny sample has no 2024 (only 1993 and 2025 Q1): its 1993 page goes
    # into bronze first, else the first run stops (no records of it in the window)
    penny = make_settings(
        tmp_path / "home", real_api, datasets=("debt_to_penny",), end=date(1993, 8, 31)
    )
    pipeline.ingest(penny)
    first = pipeline.run(settings)
    assert first.load.warehouse == postgres_dsn and not first.load.skipped
    assert_gold_matches_records(postgres_dsn, shared_records, start, date(2024, 2, 15))

    real_api.today = date(2024, 3, 29)
    second = pipeline.run(settings)
    assert_gold_matches_records(postgres_dsn, shared_records, start, date(2024, 3, 29))
    assert_no_duplicates(postgres_dsn)
    assert_documented_and_keyed(postgres_dsn)
    assert_reader_can_only_read(postgres_dsn)
    assert_star_is_consistent(postgres_dsn)

    loaded = manifest(postgres_dsn, second.run_id)
    assert loaded["gold_daily_totals"][1] == len(
        PostgresWarehouse(postgres_dsn).table_rows("gold_daily_totals")
    )
    [(batches,)] = query(
        postgres_dsn,
        "SELECT bronze_batches FROM load_manifest WHERE run_id = %s AND table_name = %s",
        (second.run_id, "silver_public_debt_transactions"),
    )
    assert next(i.batch_id for i in second.ingest if i.dataset == PDT) in batches
    [(holiday, business)] = query(
        postgres_dsn,
        "SELECT federal_holiday_name, is_business_day FROM dim_date "
        "WHERE calendar_date = '2024-02-19'",
    )
    assert (holiday, business) == ("Washington's Birthday", False)


def test_same_scenario_on_synthetic_records_is_incremental_and_idempotent(
    fake_api: FakeFiscalDataApi, synthetic_records: Path, tmp_path: Path, postgres_dsn: str
) -> None:
    start, end = date(2021, 9, 1), date(2022, 5, 31)
    settings = make_settings(tmp_path / "home", fake_api, start=start, warehouse=postgres_dsn)
    fake_api.today = date(2022, 5, 13)
    first = pipeline.run(settings)
    assert set(manifest(postgres_dsn, first.run_id).values()) <= {
        ("create", rows, rows) for rows in first.load.tables.values()
    }
    [(old_xmin,)] = query(postgres_dsn, OLD_ROWS_XMIN)

    fake_api.today = end
    second = pipeline.run(settings.with_overrides(start=date(2022, 5, 2)))
    assert_gold_matches_records(postgres_dsn, synthetic_records, start, end)
    assert_no_duplicates(postgres_dsn)
    assert_documented_and_keyed(postgres_dsn)
    assert_reader_can_only_read(postgres_dsn)
    assert_star_is_consistent(postgres_dsn)

    loaded = manifest(postgres_dsn, second.run_id)
    commits = query(
        postgres_dsn,
        "SELECT DISTINCT lake_commit FROM load_manifest WHERE run_id = %s",
        [second.run_id],
    )
    assert commits == [(second.transform.commit,)] and second.transform.commit == 2
    for table in ("silver_public_debt_transactions", "fact_public_debt_transactions", "dim_date"):
        mode, rows, written = loaded[table]
        assert mode == "incremental" and 0 < written < rows / 4, (table, loaded[table])
    assert loaded["gold_security_totals"][0] in ("incremental", "unchanged")
    # rows of untouched months were not rewritten
    assert query(postgres_dsn, OLD_ROWS_XMIN) == [(old_xmin,)]
    eras = query(postgres_dsn, "SELECT DISTINCT era_name FROM dim_account ORDER BY 1")
    assert [e[0] for e in eras] == [
        "cash_balance_details",
        "federal_reserve_account",
        "treasury_general_account",
    ]

    # loading the same lake again changes nothing
    before = query(postgres_dsn, "SELECT COUNT(*) FROM load_manifest")
    again = pipeline.load(settings)
    assert again.skipped
    assert query(postgres_dsn, "SELECT COUNT(*) FROM load_manifest") == before
    assert_gold_matches_records(postgres_dsn, synthetic_records, start, end)


def test_an_audit_failure_publishes_nothing(
    fake_api: FakeFiscalDataApi, tmp_path: Path, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path / "home", fake_api, start=date(2021, 9, 1))
    fake_api.today = date(2021, 11, 30)
    pipeline.run(settings)
    tables = lake_tables(Lake(settings.lake))
    warehouse = PostgresWarehouse(postgres_dsn)
    warehouse.publish(tables, "good")
    before = warehouse.table_rows("gold_daily_totals")

    from treasury_lakehouse.warehouse import lake_snapshot, postgres

    real_stats = lake_snapshot.LakeSnapshot.slice_stats

    def lying_stats(self: Any, table: Any) -> Any:
        stats = real_stats(self, table)
        if table.name == "gold_daily_totals":
            stats = {
                s: lake_snapshot.SliceStats(v.rows, tuple(x + 1 for x in v.sums), v.checksum + "x")
                for s, v in stats.items()
            }
        return stats

    monkeypatch.setattr(lake_snapshot.LakeSnapshot, "slice_stats", lying_stats)
    # the same lake versions would be skipped without reading them: make the loader look
    monkeypatch.setattr(postgres, "published_from_same_lake", lambda *args: None)
    with pytest.raises(WarehouseError, match="audit failed for gold_daily_totals"):
        warehouse.publish(tables, "bad")
    assert warehouse.table_rows("gold_daily_totals") == before
    assert query(postgres_dsn, "SELECT COUNT(*) FROM load_manifest WHERE run_id = 'bad'") == [(0,)]


def test_errors_mask_the_password_and_fit_on_one_line(postgres_dsn: str) -> None:
    secret = "s3cr3t-Pa55"
    dsn = database_dsn(f"no_such_database_{uuid.uuid4().hex[:6]}").replace(
        "postgres@", f"postgres:{secret}@"
    )
    with pytest.raises(WarehouseError) as caught:
        PostgresWarehouse(dsn).table_rows("gold_daily_totals")
    message = str(caught.value)
    assert secret not in message and "***" in message and "\n" not in message
    assert "does not exist" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize("host_port", ["127.0.0.1:1", "192.0.2.1:5432"])
def test_an_unreachable_host_fails_fast(host_port: str) -> None:
    dsn = f"postgresql://someone:hunter2@{host_port}/warehouse"
    started = time.monotonic()
    with pytest.raises(WarehouseError) as caught:
        PostgresWarehouse(dsn).publish([], "run")
    assert time.monotonic() - started < 8
    message = str(caught.value)
    assert message.startswith(
        "cannot connect to the PostgreSQL warehouse postgresql://someone:***@"
    )
    assert "hunter2" not in message and "\n" not in message


def test_history_tables_are_kept_and_readable(
    fake_api: FakeFiscalDataApi, tmp_path: Path, postgres_dsn: str
) -> None:
    settings = make_settings(tmp_path / "home", fake_api, start=date(2021, 9, 1))
    fake_api.today = date(2021, 10, 29)
    pipeline.run(settings)
    query(postgres_dsn, "CREATE TABLE quality_results (run_id text, check_name text)")
    query(postgres_dsn, "INSERT INTO quality_results VALUES ('r0', 'kept')")
    PostgresWarehouse(postgres_dsn).publish(lake_tables(Lake(settings.lake)), "r1")
    assert query(postgres_dsn, "SELECT * FROM quality_results") == [("r0", "kept")]
    with psycopg.connect(postgres_dsn) as con:
        con.execute("SET ROLE treasury_reader")
        assert con.execute("SELECT COUNT(*) FROM quality_results").fetchone() == (1,)


def test_the_cli_loads_postgres_and_reports_a_bad_warehouse_in_one_line(
    fake_api: FakeFiscalDataApi, tmp_path: Path, postgres_dsn: str
) -> None:
    from click.testing import CliRunner

    from treasury_lakehouse.cli import main

    common = ["--home", str(tmp_path / "home"), "--api-url", fake_api.base_url]
    fake_api.today = date(2021, 10, 29)
    result = CliRunner().invoke(
        main, ["run", *common, "--start", "2021-09-01", "--warehouse", postgres_dsn]
    )
    assert result.exit_code == 0, result.output
    assert f"warehouse  {postgres_dsn}" in result.output
    assert query(postgres_dsn, "SELECT COUNT(*) > 0 FROM gold_daily_totals") == [(True,)]

    bad = "postgresql://loader:Sup3r-s3cret@127.0.0.1:1/treasury"
    result = CliRunner().invoke(main, ["load", *common, "--warehouse", bad])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot connect to the PostgreSQL")
    assert "Sup3r-s3cret" not in result.output and "loader:***@" in result.output


def test_both_warehouses_hold_the_same_star_and_gold_rows(
    fake_api: FakeFiscalDataApi, tmp_path: Path, postgres_dsn: str
) -> None:
    from treasury_lakehouse.warehouse.duckdb import DuckDBWarehouse

    settings = make_settings(tmp_path / "home", fake_api, start=date(2021, 9, 1))
    fake_api.today = date(2022, 5, 31)
    pipeline.run(settings)  # into the embedded DuckDB warehouse
    embedded = DuckDBWarehouse(settings.duckdb_warehouse_path)
    PostgresWarehouse(postgres_dsn).publish(lake_tables(Lake(settings.lake)), "parity")
    server = PostgresWarehouse(postgres_dsn)
    for table in [*GOLD, *(t.name for t in STAR_TABLES)]:
        assert sorted(server.table_rows(table)) == sorted(embedded.table_rows(table)), table


def test_a_second_load_into_the_same_database_fails_fast(postgres_dsn: str) -> None:
    from treasury_lakehouse.warehouse.postgres import LOAD_LOCK_KEY

    with psycopg.connect(postgres_dsn, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOAD_LOCK_KEY,))
        with pytest.raises(WarehouseError, match="another treasury load is publishing"):
            PostgresWarehouse(postgres_dsn).publish([], "second")
