"""Hand-made bronze pages for model tests: a good public-debt row, a page and a batch writer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from treasury_lakehouse.engines.base import BronzeBatch

#: one good public_debt_transactions row, every value a string as the API sends it
PDT_ROW = {
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


def write_bronze_page(path: Path, batch: str, at: datetime, rows: list[dict[str, str]]) -> Path:
    """A bronze page file of ``rows`` with the lineage columns silver ranks by."""
    columns: dict[str, pa.Array] = {k: pa.array([r[k] for r in rows], pa.string()) for k in PDT_ROW}
    n = len(rows)
    columns["ingestion_timestamp"] = pa.array([at] * n, pa.timestamp("us", "UTC"))
    columns["batch_id"] = pa.array([batch] * n, pa.string())
    columns["page_number"] = pa.array([1] * n, pa.int32())
    columns["row_index"] = pa.array(range(n), pa.int32())
    pq.write_table(pa.table(columns), path)
    return path


def pdt_row(day: str, **changes: str) -> dict[str, str]:
    """:data:`PDT_ROW` on record date ``day`` (ISO), calendar columns to match, with changes."""
    calendar = {"record_calendar_month": day[5:7], "record_calendar_day": day[8:10]}
    return {**PDT_ROW, "record_date": day, **calendar, **changes}


def write_bronze_batch(
    directory: Path,
    batch_id: str,
    seq: int,
    rows: list[dict[str, str]],
    *,
    at: datetime | None = None,
    window: tuple[date | None, date | None] = (None, None),
) -> BronzeBatch:
    """One committed batch of one page: the page file and the batch as the engines take it."""
    stamp = at or datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=seq)
    path = write_bronze_page(directory / f"{batch_id}.parquet", batch_id, stamp, rows)
    return BronzeBatch(batch_id, seq, (path,), *window)
