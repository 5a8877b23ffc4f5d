"""The star schema and the PostgreSQL DDL, without a server: calendar rows, keys, types, DDL."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from treasury_lakehouse.errors import WarehouseError
from treasury_lakehouse.models.registry import GOLD, Column
from treasury_lakehouse.warehouse import pg_ddl
from treasury_lakehouse.warehouse.base import WarehouseTable, silver_table
from treasury_lakehouse.warehouse.lake_snapshot import amount_columns, slice_sql, table_checksum
from treasury_lakehouse.warehouse.star import (
    STAR_TABLES,
    calendar_days,
    calendar_row,
    create_star,
    star_tables_for,
)


def test_calendar_rows_carry_the_federal_fiscal_calendar_and_holidays() -> None:
    new_fiscal_year = calendar_row(date(2023, 10, 2))
    assert (new_fiscal_year["fiscal_year"], new_fiscal_year["fiscal_quarter"]) == (2024, 1)
    assert calendar_row(date(2024, 1, 2))["fiscal_quarter"] == 2
    assert calendar_row(date(2024, 9, 30))["fiscal_year"] == 2024
    mlk = calendar_row(date(2024, 1, 15))
    assert mlk["federal_holiday_name"] == "Birthday of Martin Luther King, Jr."
    assert not mlk["is_business_day"] and mlk["is_federal_holiday"]
    assert calendar_row(date(2024, 1, 13))["is_weekend"]
    assert calendar_row(date(2024, 1, 16))["date_key"] == 20240116


def test_saturday_holidays_are_federal_but_the_statement_still_publishes() -> None:
    friday = calendar_row(date(2021, 6, 18))  # Juneteenth 2021 fell on a Saturday
    assert friday["federal_holiday_name"] == "Juneteenth National Independence Day (observed)"
    assert friday["is_business_day"]


def test_calendar_days_covers_every_day_in_range() -> None:
    days = calendar_days(date(2024, 2, 27), date(2024, 3, 2))
    assert days.column("calendar_date").to_pylist() == [
        date(2024, 2, 27), date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1),
        date(2024, 3, 2),
    ]  # fmt: skip
    assert calendar_days(None, None).num_rows == 0
    assert [f.name for f in days.schema] == [c.name for c in STAR_TABLES[0].columns]


def _silver_relations(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE TABLE silver_public_debt_transactions AS SELECT * FROM (VALUES "
        "(DATE '2022-04-14', 'Issues', 'Marketable', 'Bills', 'Regular Series', 10, 10, 10, 'b1'),"
        "(DATE '2022-04-14', 'Issues', 'Marketable', 'Bills', 'Cash Management Series', 5, 5, 5, "
        "'b1'),"
        "(DATE '2022-04-18', 'Redemptions', 'Nonmarketable', 'Other', NULL, 3, 3, 3, 'b2')"
        ") AS t(record_date, transaction_type, security_market, security_type, "
        "security_type_desc, transaction_today_amt, transaction_mtd_amt, transaction_fytd_amt, "
        "batch_id)"
    )
    con.execute(
        "CREATE TABLE silver_operating_cash_balance AS SELECT * FROM (VALUES "
        "(DATE '2021-09-30', 'Federal Reserve Account', 1, 2, 3, 4, 'b1'),"
        "(DATE '2022-04-14', 'Treasury General Account (TGA)', 2, 3, 4, 5, 'b1'),"
        "(DATE '2022-04-18', 'Treasury General Account (TGA) Opening Balance', 3, NULL, 4, 5, "
        "'b2'),"
        "(DATE '2022-04-18', 'Supplementary Financing Program Account', 0, NULL, 0, 0, 'b2')"
        ") AS t(record_date, account_type, open_today_bal, close_today_bal, open_month_bal, "
        "open_fiscal_year_bal, batch_id)"
    )


def test_star_tables_join_their_dimensions_with_stable_keys() -> None:
    con = duckdb.connect()
    _silver_relations(con)
    counts = create_star(con, {"silver_public_debt_transactions", "silver_operating_cash_balance"})
    assert counts == {
        "dim_date": 201, "dim_security": 3, "dim_account": 4,
        "fact_public_debt_transactions": 3, "fact_operating_cash_balance": 4,
    }  # fmt: skip
    joined = con.execute(
        "SELECT COUNT(*) FROM fact_public_debt_transactions JOIN dim_security USING "
        "(security_key) JOIN dim_date USING (date_key)"
    ).fetchall()
    assert joined == [(3,)]
    eras = con.execute(
        "SELECT account_type, era_name, is_era_layout_row, is_tga_row FROM dim_account "
        "ORDER BY era_first_date, account_type"
    ).fetchall()
    assert eras == [
        ("Federal Reserve Account", "federal_reserve_account", True, True),
        ("Treasury General Account (TGA)", "treasury_general_account", True, True),
        ("Supplementary Financing Program Account", "cash_balance_details", False, False),
        ("Treasury General Account (TGA) Opening Balance", "cash_balance_details", True, True),
    ]
    keys = con.execute("SELECT security_key FROM dim_security ORDER BY 1").fetchall()
    again = duckdb.connect()
    _silver_relations(again)
    create_star(again, {"silver_public_debt_transactions"})
    assert again.execute("SELECT security_key FROM dim_security ORDER BY 1").fetchall() == keys
    assert all(k[0] > 0 for k in keys)


def test_star_tables_need_their_sources() -> None:
    assert [t.name for t in star_tables_for({"silver_operating_cash_balance"})] == [
        "dim_date", "dim_account", "fact_operating_cash_balance",
    ]  # fmt: skip
    assert [t.name for t in star_tables_for({DSL})] == ["dim_date"]
    assert [t.name for t in star_tables_for({DSL, "silver_operating_cash_balance"})] == [
        "dim_date", "dim_account", "fact_operating_cash_balance", "fact_debt_limit",
    ]  # fmt: skip
    assert star_tables_for(set()) == []


DSL = "silver_debt_subject_to_limit"


def _debt_limit_relation(con: duckdb.DuckDBPyConnection) -> None:
    """Two days of Table III-C: one in force (old names), one suspended (new names), the second
    after every cash-balance and debt-transaction day (dim_date must still reach it)."""
    con.execute(
        f"CREATE TABLE {DSL} AS SELECT * FROM (VALUES "
        "(DATE '2022-04-14', 'Debt Held by the Public', 'null', 100),"
        "(DATE '2022-04-14', 'Intragovernmental Holdings', 'null', 50),"
        "(DATE '2022-04-14', 'Less Debt Not Subject to Limit', 'Other Debt', 4),"
        "(DATE '2022-04-14', 'Plus Other Debt Subject to Limit', 'Guaranteed', 1),"
        "(DATE '2022-04-14', 'Statutory Debt Limit', 'null', 160),"
        "(DATE '2022-10-03', 'Debt Held by the Public', 'null', 110),"
        "(DATE '2022-10-03', 'Intragovernmental Holdings', 'null', 60),"
        "(DATE '2022-10-03', 'Debt Not Subject to Limit', 'Other Debt (-)', 5),"
        "(DATE '2022-10-03', 'Statutory Debt Limit', 'null', 0)"
        ") AS t(record_date, debt_catg, debt_catg_desc, close_today_bal)"
    )


def test_fact_debt_limit_holds_the_gold_rows_keyed_by_date() -> None:
    con = duckdb.connect()
    _silver_relations(con)
    _debt_limit_relation(con)
    counts = create_star(con, {DSL, "silver_operating_cash_balance"})
    assert counts["fact_debt_limit"] == 2
    assert counts["dim_date"] == 369  # 2021-09-30 .. 2022-10-03, the debt table's last day
    fact = con.execute("SELECT * FROM fact_debt_limit ORDER BY date_key").fetchall()
    gold = con.execute(f"SELECT * FROM ({GOLD['gold_daily_debt_limit'].sql}) ORDER BY 1").fetchall()
    assert [row[1:] for row in fact] == gold
    assert fact == [
        (20220414, date(2022, 4, 14), 100, 50, 150, 147, 160, False, 13, 3),
        (20221003, date(2022, 10, 3), 110, 60, 170, 165, None, True, None, None),
    ]
    joined = con.execute(
        "SELECT calendar_date, fiscal_year FROM fact_debt_limit JOIN dim_date USING (date_key) "
        "ORDER BY 1"
    ).fetchall()
    assert joined == [(date(2022, 4, 14), 2022), (date(2022, 10, 3), 2023)]
    described = con.execute(
        "SELECT comment FROM duckdb_columns() WHERE table_name = 'fact_debt_limit' "
        "AND column_name = 'headroom_usd_mil'"
    ).fetchall()
    assert described == [(GOLD["gold_daily_debt_limit"].columns[7].description,)]
    assert "millions of USD" in described[0][0]


@pytest.mark.parametrize(
    ("duckdb_type", "postgres_type"),
    [
        ("VARCHAR", "text"), ("BIGINT", "bigint"), ("INTEGER", "integer"), ("DATE", "date"),
        ("DECIMAL(20, 2)", "numeric(20, 2)"), ("DECIMAL(38,6)", "numeric(38, 6)"),
        ("TIMESTAMPTZ", "timestamptz"), ("BOOLEAN", "boolean"),
    ],
)  # fmt: skip
def test_duckdb_types_map_to_exact_postgres_types(duckdb_type: str, postgres_type: str) -> None:
    assert pg_ddl.pg_type(duckdb_type) == postgres_type


def test_an_unknown_type_is_refused() -> None:
    with pytest.raises(WarehouseError, match="FLOAT"):
        pg_ddl.pg_type("FLOAT")


def _pdt_silver(tmp_path: Path) -> WarehouseTable:
    return silver_table("public_debt_transactions", tmp_path)


def test_silver_ddl_keeps_the_nullable_natural_key_unique(tmp_path: Path) -> None:
    table = _pdt_silver(tmp_path)
    create = pg_ddl.create_table("treasury_staging", table).as_string(None)
    assert create.startswith('CREATE TABLE "treasury_staging"."silver_public_debt_transactions"')
    assert '"transaction_today_amt" bigint' in create
    assert '"ingestion_timestamp" timestamptz' in create
    [unique, comment] = [s.as_string(None) for s in pg_ddl.key_constraints("public", table)]
    assert "UNIQUE NULLS NOT DISTINCT" in unique
    assert '"security_type_desc"' in unique
    assert comment.startswith("COMMENT ON INDEX") and "natural key" in comment


def test_gold_and_star_ddl_have_keys_indexes_and_quoted_comments() -> None:
    model = GOLD["gold_monthly_totals"]
    gold = WarehouseTable(model.name, model.description, model.columns, model.primary_key)
    [key, comment] = [s.as_string(None) for s in pg_ddl.key_constraints("public", gold)]
    assert key.endswith('PRIMARY KEY ("year", "month")')
    assert comment.startswith('COMMENT ON INDEX "public"."gold_monthly_totals_pkey" IS \'serves')
    quoted = WarehouseTable("t", "it's", (Column("c", "BIGINT", "Treasury's amount"),), ("c",))
    rendered = [s.as_string(None) for s in pg_ddl.comments("public", quoted)]
    assert rendered == [
        "COMMENT ON TABLE \"public\".\"t\" IS 'it''s'",
        'COMMENT ON COLUMN "public"."t"."c" IS \'Treasury\'\'s amount\'',
    ]
    fact = STAR_TABLES[3].warehouse_table({})
    statements = [s.as_string(None) for s in pg_ddl.key_constraints("public", fact)]
    assert any(
        'CREATE INDEX "fact_public_debt_transactions_record_date_idx"' in s for s in statements
    )
    # every index says what it serves
    created = [s for s in statements if s.startswith(("CREATE INDEX", "ALTER TABLE"))]
    described = [s for s in statements if s.startswith("COMMENT ON INDEX")]
    assert len(created) == len(described) == 3  # primary key, date, foreign key
    assert any("one_day_drilldown" in s for s in described)


def test_long_names_stay_within_postgres_limits() -> None:
    name = pg_ddl.foreign_key_name("x" * 70, STAR_TABLES[3].foreign_keys[0])
    assert len(name) <= 63 and name.endswith("_fkey")


def test_definition_hash_changes_with_a_column_type(tmp_path: Path) -> None:
    table = _pdt_silver(tmp_path)
    changed = WarehouseTable(
        table.name, table.comment, (*table.columns[:-1], Column("x", "DATE", "d")),
        table.primary_key, table.unique_key,
    )  # fmt: skip
    assert pg_ddl.definition_hash(table) != pg_ddl.definition_hash(changed)
    assert pg_ddl.definition_hash(table) == pg_ddl.definition_hash(_pdt_silver(tmp_path))


def test_slices_are_months_fiscal_years_or_the_whole_table(tmp_path: Path) -> None:
    con = duckdb.connect()
    assert "record_date" in slice_sql(_pdt_silver(tmp_path))
    month = con.execute(
        f"SELECT {slice_sql(_pdt_silver(tmp_path))} FROM (SELECT DATE '2024-03-29' AS record_date)"
    ).fetchall()
    assert month == [(202403,)]
    monthly = WarehouseTable("m", "", GOLD["gold_monthly_totals"].columns, ("year", "month"))
    assert con.execute(
        f"SELECT {slice_sql(monthly)} FROM (SELECT 2024 AS year, 2 AS month)"
    ).fetchall() == [(202402,)]
    security = WarehouseTable("s", "", GOLD["gold_security_totals"].columns, ())
    assert slice_sql(security) == 'COALESCE(CAST("fiscal_year" AS INTEGER), 0)'
    assert slice_sql(STAR_TABLES[1].warehouse_table({})) == "0"


def test_amount_columns_are_money_not_keys(tmp_path: Path) -> None:
    assert amount_columns(_pdt_silver(tmp_path)) == [
        "transaction_today_amt", "transaction_mtd_amt", "transaction_fytd_amt",
    ]  # fmt: skip
    assert amount_columns(STAR_TABLES[1].warehouse_table({})) == []


def test_table_checksum_ignores_slice_order() -> None:
    from treasury_lakehouse.warehouse.lake_snapshot import SliceStats

    a = {1: SliceStats(1, (), "x"), 2: SliceStats(2, (), "y")}
    b = {2: SliceStats(2, (), "y"), 1: SliceStats(1, (), "x")}
    assert table_checksum(a) == table_checksum(b)
    assert table_checksum(a) != table_checksum({1: SliceStats(1, (), "z"), 2: a[2]})


def test_calendar_arrow_schema_matches_the_declared_types() -> None:
    days = calendar_days(date(2024, 1, 1), date(2024, 1, 1))
    assert days.schema.field("is_business_day").type == pa.bool_()
    assert days.column("federal_holiday_name").to_pylist() == ["New Year's Day"]
