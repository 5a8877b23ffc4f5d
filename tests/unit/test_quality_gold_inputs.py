"""What gold reads must be whole: quarantined rows of gold's inputs, statement days without a TGA
value, and record dates that vanished from the source's newest answer.

The quarantine and TGA rules are pure functions tested with hand-written rows; the vanished-date
check is one DuckDB query, run here over two hand-built bronze batches written by the real
``BronzeStore`` and read by the real runner.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from bronze_pages import PDT_ROW
from treasury_lakehouse.catalog import (
    DATASETS,
    DEBT_SUBJECT_TO_LIMIT,
    INCOME_TAX_REFUNDS_ISSUED,
    OPERATING_CASH_BALANCE,
    PUBLIC_DEBT_TRANSACTIONS,
)
from treasury_lakehouse.ingest.bronze import BronzeStore
from treasury_lakehouse.ingest.paging import Page, Window
from treasury_lakehouse.quality.checks import (
    all_checks,
    describe_reason,
    gold_fed_by,
    quarantined_rows,
)
from treasury_lakehouse.quality.runner import run_checks
from treasury_lakehouse.quality.spec import CheckContext
from treasury_lakehouse.quality.treasury import tga_continuity
from treasury_lakehouse.quality.vanished import window_bounds

CTX = CheckContext(datetime(2024, 6, 1, tzinfo=UTC))
TGA = "Treasury General Account (TGA)"
PDT = PUBLIC_DEBT_TRANSACTIONS.name


def quarantined(reason: str, status: str | None = None, **values: Any) -> dict[str, Any]:
    row = {"record_date": "2022-01-12", "account_type": TGA, "quarantine_reason": reason, **values}
    if status is not None:
        row["quarantine_status"] = status
    return row


# --------------------------------------------------------------------------- quarantine


def test_the_datasets_gold_reads_have_error_level_quarantine_checks() -> None:
    assert gold_fed_by(OPERATING_CASH_BALANCE) == (
        "gold_daily_cash_balance",
        "gold_daily_debt_limit",
    )
    assert "gold_daily_totals" in gold_fed_by(PUBLIC_DEBT_TRANSACTIONS)
    assert gold_fed_by(DEBT_SUBJECT_TO_LIMIT) == ("gold_daily_debt_limit",)
    assert gold_fed_by(INCOME_TAX_REFUNDS_ISSUED) == ("gold_monthly_tax_refunds",)
    severities = {c.table: c.severity for c in all_checks() if c.name == "quarantined_rows"}
    feeding = (OPERATING_CASH_BALANCE.name, PDT, DEBT_SUBJECT_TO_LIMIT.name,
               INCOME_TAX_REFUNDS_ISSUED.name)  # fmt: skip
    # the other catalog datasets feed no gold yet: their quarantine is a warning
    assert severities == {f"quarantine_{d}": "error" if d in feeding else "warn" for d in DATASETS}


def test_an_outstanding_row_feeding_gold_is_an_error_naming_dataset_day_key_column_value() -> None:
    reason = "close_today_bal: not a CURRENCY0: 77,1234"
    check = quarantined_rows(OPERATING_CASH_BALANCE)
    # without the status column (a quarantine written before it existed) a row is outstanding
    for row in (quarantined(reason), quarantined(reason, "outstanding")):
        [finding] = check([row], CTX)
        assert finding.severity == "error"
        assert finding.day == date(2022, 1, 12)
        assert finding.row == f"record_date=2022-01-12, account_type={TGA}"
        assert finding.message.startswith(
            "operating_cash_balance row quarantined: "
            "column close_today_bal raw value '77,1234' is not a CURRENCY0; "
            "it feeds gold_daily_cash_balance"
        )


def test_a_resolved_row_is_a_warning() -> None:
    row = quarantined("close_today_bal: not a CURRENCY0: 77,1234", "resolved")
    [finding] = quarantined_rows(OPERATING_CASH_BALANCE)([row], CTX)
    assert finding.severity == "warn" and "resolved" in finding.message


def test_a_dataset_that_feeds_no_gold_keeps_quarantine_as_a_warning() -> None:
    deposits = dataclasses.replace(OPERATING_CASH_BALANCE, name="federal_tax_deposits")
    assert gold_fed_by(deposits) == ()
    [finding] = quarantined_rows(deposits)([quarantined("open_today_bal: not a CURRENCY0: x")], CTX)
    assert finding.severity == "warn"
    assert finding.message == (
        "federal_tax_deposits row quarantined: column open_today_bal raw value 'x' is not a "
        "CURRENCY0"
    )


def test_reasons_with_several_parts_and_line_breaks_stay_on_one_line() -> None:
    reason = "transaction_type: natural key is missing; transaction_mtd_amt: not a CURRENCY0: 12\n"
    assert describe_reason(reason) == (
        "transaction_type: natural key is missing; "
        "column transaction_mtd_amt raw value '12\\n' is not a CURRENCY0"
    )


# --------------------------------------------------------------------------- TGA gaps


def tga_day(day: date, opening: int | None, closing: int | None) -> dict[str, Any]:
    return {"record_date": day, "tga_opening_balance_usd_mil": opening,
            "tga_closing_balance_usd_mil": closing}  # fmt: skip


def test_a_statement_day_without_a_tga_value_is_a_continuity_error_not_a_skip() -> None:
    rows = [
        tga_day(date(2022, 1, 11), 100, 200),
        tga_day(date(2022, 1, 12), None, None),  # statement rows, but gold has no TGA value
        tga_day(date(2022, 1, 13), 300, 400),
    ]
    [finding] = tga_continuity(rows, CTX)
    assert (finding.severity, finding.day) == ("error", date(2022, 1, 12))
    assert "statement rows but no TGA opening balance and closing balance" in finding.message


def test_a_missing_closing_balance_is_reported_once_even_on_the_last_day() -> None:
    rows = [tga_day(date(2022, 1, 11), 100, 200), tga_day(date(2022, 1, 12), 200, None)]
    [finding] = tga_continuity(rows, CTX)
    assert finding.day == date(2022, 1, 12) and "no TGA closing balance" in finding.message


# --------------------------------------------------------------------------- vanished dates


@pytest.mark.parametrize(
    ("window", "bounds"),
    [
        ("2024-01-02..2024-01-31", (date(2024, 1, 2), date(2024, 1, 31))),
        ("…..2024-01-31", (None, date(2024, 1, 31))),
        ("2024-01-02..…", (date(2024, 1, 2), None)),
        ("…..…", (None, None)),
    ],
)
def test_manifest_windows_parse_as_window_prints_them(
    window: str, bounds: tuple[date | None, date | None]
) -> None:
    assert str(Window(*bounds)) == window
    assert window_bounds(window) == bounds


def write_batch(lake: Path, window: Window, days: list[str]) -> str:
    rows = [{**PDT_ROW, "record_date": day} for day in days]
    page = Page(1, rows, {"total-count": len(rows), "total-pages": 1}, "http://fake/pdt")
    batch = BronzeStore(lake).write_batch(PUBLIC_DEBT_TRANSACTIONS, [page], window)
    assert batch is not None
    return batch.batch_id


def vanished(lake: Path) -> list[tuple[date | None, str, str]]:
    checks = [c for c in all_checks() if c.name == "vanished_record_date" and PDT in c.table]
    [result] = run_checks(lake, "test", CTX, checks).results
    assert result.severity == "error"
    return [(f.day, f.row, f.message) for f in result.findings]


def test_a_day_missing_from_the_newest_batch_covering_it_has_vanished(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    first = write_batch(lake, Window(date(2024, 1, 2), date(2024, 1, 5)),
                        ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"])  # fmt: skip
    second = write_batch(lake, Window(date(2024, 1, 3), None), ["2024-01-03", "2024-01-05"])
    [(day, row, message)] = vanished(lake)
    assert day == date(2024, 1, 4)
    assert row == f"record_date=2024-01-04, batch_id={second}"
    assert f"batch {second} (seq 2, window 2024-01-03..…) asked for it" in message
    assert f"batch {first} (seq 1) had them" in message


def test_days_outside_the_newer_window_and_days_held_again_have_not_vanished(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    write_batch(lake, Window(None, date(2024, 1, 5)), ["2024-01-02", "2024-01-03", "2024-01-05"])
    # a narrower backfill: 01-02 and 01-05 lie outside it; 01-03 is held again
    write_batch(lake, Window(date(2024, 1, 3), date(2024, 1, 4)), ["2024-01-03"])
    assert vanished(lake) == []
