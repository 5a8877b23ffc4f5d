"""Given → expected rows for the silver model on the DuckDB engine (hand-made bronze pages)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from treasury_lakehouse.catalog import PUBLIC_DEBT_TRANSACTIONS
from treasury_lakehouse.engines.duckdb import DuckDBEngine
from treasury_lakehouse.models.silver import PATTERNS, silver_sql

BASE = {
    "record_date": "2024-01-02",
    "transaction_type": "Issues",
    "security_market": "Marketable",
    "security_type": "Notes",
    "security_type_desc": "null",
    "transaction_today_amt": "100",
    "transaction_mtd_amt": "100",
    "transaction_fytd_amt": "900",
    "table_nbr": "IIIA",
    "table_nm": "Public Debt Transactions",
    "src_line_nbr": "3",
    "record_fiscal_year": "2024",
    "record_fiscal_quarter": "2",
    "record_calendar_year": "2024",
    "record_calendar_quarter": "1",
    "record_calendar_month": "01",
    "record_calendar_day": "02",
}


def _page(path: Path, batch: str, at: datetime, rows: list[dict[str, str]]) -> Path:
    columns = {k: pa.array([r[k] for r in rows], pa.string()) for k in BASE}
    n = len(rows)
    columns["batch_id"] = pa.array([batch] * n)
    columns["ingestion_timestamp"] = pa.array([at] * n, pa.timestamp("us", "UTC"))
    columns["page_number"] = pa.array([1] * n, pa.int32())
    columns["row_index"] = pa.array(range(n), pa.int32())
    pq.write_table(pa.table(columns), path)
    return path


def test_typing_dedup_and_quarantine(tmp_path: Path) -> None:
    early = datetime(2024, 1, 3, tzinfo=UTC)
    late = datetime(2024, 1, 10, tzinfo=UTC)
    first = _page(
        tmp_path / "a.parquet",
        "b1",
        early,
        [
            BASE,
            {**BASE, "security_type": "Bills", "security_type_desc": "Regular Series"},
            {**BASE, "transaction_type": "Redemptions", "transaction_today_amt": " -7 "},
        ],
    )
    second = _page(
        tmp_path / "b.parquet",
        "b2",
        late,
        [
            {**BASE, "transaction_today_amt": "105"},  # restates the Notes issue (desc is "null")
            {**BASE, "security_type": "Bonds", "transaction_today_amt": "1e3"},
            {**BASE, "security_type": "null"},
        ],
    )
    engine = DuckDBEngine()
    silver_dir, quarantine_dir = tmp_path / "silver", tmp_path / "q"
    silver_dir.mkdir()
    quarantine_dir.mkdir()
    counts = engine.build_silver(
        PUBLIC_DEBT_TRANSACTIONS, [first, second], silver_dir, quarantine_dir
    )
    assert (counts.rows_in, counts.silver, counts.superseded, counts.quarantined) == (6, 3, 1, 2)

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
