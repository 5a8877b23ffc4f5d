"""The report page's figures: exact integers, every one with thousands separators."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from treasury_lakehouse.history import REVISIONS_FILE
from treasury_lakehouse.lake.commit import LakeCommit
from treasury_lakehouse.models.history import REVISION_COLUMNS
from treasury_lakehouse.report import (
    _html,
    cell_text,
    debt_limit_section,
    revisions_section,
    tax_refunds_section,
)


def test_every_integer_gets_thousands_separators() -> None:
    # a real monthly net change of 7366 once showed as "7366" (only |v| >= 10000 had them)
    assert [cell_text(v) for v in (7366, -7366, 41_103_996, 24, 0)] == [
        "7,366",
        "-7,366",
        "41,103,996",
        "24",
        "0",
    ]


def test_dates_and_month_labels_stay_as_they_are_and_null_is_a_dash() -> None:
    assert cell_text(date(2023, 6, 1)) == "2023-06-01"
    assert cell_text("2022-05") == "2022-05"
    assert cell_text(None) == "—"


def test_the_debt_limit_section_of_a_suspended_last_day_without_its_tga(tmp_path: Path) -> None:
    """Rows as gold_daily_debt_limit gives them: NULL limit and headroom while suspended, and a
    day whose TGA row is missing; the caption and table show them, nothing raises."""
    rows = [
        (date(2023, 6, 1), 31_381_439, 31_381_463, False, 24, 22_892),
        (date(2023, 6, 2), 31_400_000, None, True, None, 40_000),
        (date(2023, 6, 5), 31_741_406, None, True, None, None),
    ]

    def read(table: str, query: str) -> list[tuple[Any, ...]] | None:
        return rows if table == "gold_daily_debt_limit" else None

    section = debt_limit_section(read, tmp_path)
    [chart] = section.charts
    assert (tmp_path / chart.file).read_bytes()[:4] == b"\x89PNG"
    assert "shaded: limit suspended" in chart.caption
    assert "On 2023-06-05 the limit was suspended, with — in the TGA" in chart.caption
    [table] = section.tables
    assert table.rows[-1] == (date(2023, 6, 1), 31_381_439, 31_381_463, 24, 22_892)
    assert tax_refunds_section(read, tmp_path).note == (
        "gold_monthly_tax_refunds is not published in this lake: run `treasury run` with the "
        "datasets income_tax_refunds_issued."
    )


def _commit_with_revisions(root: Path, rows: list[tuple[Any, ...]]) -> LakeCommit:
    """A lake commit whose ``public_debt_transactions`` history holds ``rows`` as revisions
    (each ``record_date, row_key, change, column_name, old_value, new_value, revised_at``)."""
    version = root / "history" / "public_debt_transactions" / "v1"
    version.mkdir(parents=True)
    table = pa.table(
        {
            "dataset": ["public_debt_transactions"] * len(rows),
            **{
                name: [r[i] for r in rows]
                for i, name in enumerate((*REVISION_COLUMNS[1:7], "revised_at"))
            },
            "old_batch_id": ["b1"] * len(rows),
            "new_batch_id": ["b2"] * len(rows),
            "new_batch_seq": [2] * len(rows),
        }
    ).select(list(REVISION_COLUMNS))
    pq.write_table(table, version / REVISIONS_FILE)
    history = {"public_debt_transactions": "v1", "operating_cash_balance": "v1"}
    (root / "history" / "operating_cash_balance" / "v1").mkdir(parents=True)
    return LakeCommit(root, 1, "", "run", "transform", "duckdb", history=history)


def test_the_revisions_section_escapes_every_value_and_lists_the_newest_first(
    tmp_path: Path,
) -> None:
    key = '{"record_date":"2022-03-08","transaction_type":"<b>Issues</b>","security_type":null}'
    at = datetime(2026, 12, 3, 6, 48, 40, tzinfo=UTC)
    commit = _commit_with_revisions(
        tmp_path,
        [
            (date(2022, 3, 8), key, "changed", "security_type_desc", "<script>", "A & B", at),
            (date(2022, 3, 9), key, "changed", "transaction_today_amt", "7366", "-7371", at),
            (date(2022, 3, 1), key, "deleted", None, None, None, at - timedelta(days=1)),
        ],
    )
    section = revisions_section(commit)
    assert section.note is None
    counts, latest = section.tables
    assert counts.rows == [
        ("operating_cash_balance", 0, 0, 0, 0),
        ("public_debt_transactions", 2, 0, 1, 3),
    ]
    assert [row[1] for row in latest.rows] == ["2022-03-09", "2022-03-08", "2022-03-01"]
    assert latest.rows[0][5:] == ("7,366", "-7,371", "2026-12-03 06:48:40 UTC")
    assert latest.rows[0][2] == "transaction_type=<b>Issues</b>, security_type=null"
    page = _html([section])
    assert "<script>" not in page and "<b>" not in page
    assert "<td>&lt;script&gt;</td><td>A &amp; B</td>" in page
    assert "transaction_type=&lt;b&gt;Issues&lt;/b&gt;" in page


def test_the_revisions_section_without_revisions_or_histories_says_so(tmp_path: Path) -> None:
    empty = revisions_section(_commit_with_revisions(tmp_path, []))
    assert empty.tables == []
    assert empty.note is not None and empty.note.startswith("No revisions")
    older = LakeCommit(tmp_path, 1, "", "run", "transform", "duckdb")
    note = revisions_section(older).note
    assert note is not None and "written before row histories existed" in note
