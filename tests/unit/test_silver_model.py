"""Given → expected rows for the silver model on the DuckDB engine (hand-made bronze pages)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from bronze_pages import PDT_ROW, pdt_row, write_bronze_batch
from treasury_lakehouse.catalog import PUBLIC_DEBT_TRANSACTIONS
from treasury_lakehouse.engines.duckdb import DuckDBEngine
from treasury_lakehouse.models.silver import PATTERNS, silver_sql


def test_typing_dedup_and_quarantine(tmp_path: Path) -> None:
    early = datetime(2024, 1, 3, tzinfo=UTC)
    late = datetime(2024, 1, 10, tzinfo=UTC)
    first = write_bronze_batch(
        tmp_path,
        "b1",
        1,
        [
            PDT_ROW,
            # 2024-01-03: a date the second batch does not hold, so its rows stay
            pdt_row("2024-01-03", security_type="Bills", security_type_desc="Regular Series"),
            pdt_row("2024-01-03", transaction_type="Redemptions", transaction_today_amt=" -7 "),
        ],
        at=early,
    )
    second = write_bronze_batch(
        tmp_path,
        "b2",
        2,
        [
            {
                **PDT_ROW,
                "transaction_today_amt": "105",
            },  # restates the Notes issue (desc is "null")
            {**PDT_ROW, "security_type": "Bonds", "transaction_today_amt": "1e3"},
            {**PDT_ROW, "security_type": "null"},
        ],
        at=late,
    )
    engine = DuckDBEngine()
    silver_dir, quarantine_dir = tmp_path / "silver", tmp_path / "q"
    silver_dir.mkdir()
    quarantine_dir.mkdir()
    counts = engine.build_silver(
        PUBLIC_DEBT_TRANSACTIONS, [first, second], silver_dir, quarantine_dir
    )
    assert (counts.rows_in, counts.silver, counts.superseded, counts.quarantined) == (6, 3, 1, 2)
    assert counts.deleted == 0

    rows = engine.con.execute(
        f"SELECT security_type, transaction_type, security_type_desc, transaction_today_amt, "
        f"record_calendar_month, batch_id FROM read_parquet('{silver_dir}/**/*.parquet', "
        "hive_partitioning = true) ORDER BY ALL"
    ).fetchall()
    assert rows == [
        ("Bills", "Issues", "Regular Series", 100, 1, "b1"),
        ("Notes", "Issues", None, 105, 1, "b2"),  # the latest batch wins; "null" became NULL
        ("Notes", "Redemptions", None, -7, 1, "b1"),  # trimmed, exact integer
    ]
    types = dict(
        engine.con.execute(
            f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "
            f"read_parquet('{silver_dir}/**/*.parquet'))"
        ).fetchall()
    )
    assert types["transaction_today_amt"] == "BIGINT" and types["record_date"] == "DATE"

    reasons = engine.con.execute(
        f"SELECT quarantine_reason, transaction_today_amt, security_type "
        f"FROM read_parquet('{quarantine_dir}/quarantine.parquet') ORDER BY 1"
    ).fetchall()
    assert reasons == [
        ("security_type: natural key is missing", "100", "null"),
        ("transaction_today_amt: not a CURRENCY0: 1e3", "1e3", "Bonds"),
    ]
    engine.close()


def test_currency_keeps_cents_exactly() -> None:
    import re

    import duckdb

    assert re.match(PATTERNS["CURRENCY"], "36218588123456.78")
    value = (
        duckdb.connect()
        .execute("SELECT CAST('36218588123456.78' AS DECIMAL(20, 2)) AS v")
        .fetchone()
    )
    assert value == (Decimal("36218588123456.78"),)
    assert "FROM bronze" in silver_sql(PUBLIC_DEBT_TRANSACTIONS)
