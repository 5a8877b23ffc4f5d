"""Each check is a pure function of rows: tested here with a handful of hand-written rows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from treasury_lakehouse.catalog import OPERATING_CASH_BALANCE, PUBLIC_DEBT_TRANSACTIONS
from treasury_lakehouse.quality.checks import (
    ROWS_PER_DAY,
    accepted_values,
    all_checks,
    not_null,
    rows_per_day,
    unique,
)
from treasury_lakehouse.quality.results import CheckResult, Finding, QualityReport
from treasury_lakehouse.quality.spec import CheckContext
from treasury_lakehouse.quality.treasury import (
    TGA_CLOSING,
    TGA_DEPOSITS,
    TGA_OPENING,
    TGA_WITHDRAWALS,
    grade,
    negative_balances,
    running_total,
    tga_continuity,
    tga_flows,
)

CTX = CheckContext(datetime(2024, 6, 1, tzinfo=UTC))
KEY = PUBLIC_DEBT_TRANSACTIONS.natural_key


def cash_day(day: date, opening: int | None, closing: int | None) -> dict[str, Any]:
    return {
        "record_date": day,
        "tga_opening_balance_usd_mil": opening,
        "tga_closing_balance_usd_mil": closing,
    }


def debt(day: date, today: int, mtd: int, fytd: int, **key: str | None) -> dict[str, Any]:
    line = {"transaction_type": "Issues", "security_market": "Marketable",
            "security_type": "Notes", "security_type_desc": None, **key}  # fmt: skip
    return {"record_date": day, **line, "transaction_today_amt": today,
            "transaction_mtd_amt": mtd, "transaction_fytd_amt": fytd}  # fmt: skip


def detail_rows(
    day: date, opening: int, deposits: int, withdrawals: int, closing: int
) -> list[dict[str, Any]]:
    amounts = {TGA_OPENING: opening, TGA_DEPOSITS: deposits, TGA_WITHDRAWALS: withdrawals,
               TGA_CLOSING: closing}  # fmt: skip
    return [
        {"record_date": day, "account_type": name, "open_today_bal": value, "close_today_bal": None}
        for name, value in amounts.items()
    ]


# --------------------------------------------------------------------------- identities


def test_grade_is_exact_then_rounding_then_error() -> None:
    assert grade(0, 2) is None
    assert grade(-2, 2) == "warn"
    assert grade(3, 2) == "error"


def test_tga_continuity_names_the_day_whose_closing_is_off() -> None:
    rows = [
        cash_day(date(2022, 1, 11), 100, 200),
        cash_day(date(2022, 1, 12), 200, 2_300),  # off by 2,000
        cash_day(date(2022, 1, 13), 300, 400),
    ]
    [finding] = tga_continuity(rows, CTX)
    assert finding.severity == "error"
    assert finding.day == date(2022, 1, 12)
    assert "tga_closing_balance_usd_mil" in finding.row
    assert "off by +2,000" in finding.message and "2022-01-13" in finding.message


def test_tga_continuity_spans_weekends_and_skips_pairs_with_a_missing_day() -> None:
    rows = [
        cash_day(date(2022, 1, 7), 1, 50),  # Friday → Monday
        cash_day(date(2022, 1, 10), 50, 60),
        # 2022-01-11 missing: 01-10 → 01-12 is not a pair (completeness reports the day)
        cash_day(date(2022, 1, 12), 999, 70),
    ]
    assert tga_continuity(rows, CTX) == []


def test_tga_continuity_reports_a_missing_closing_balance() -> None:
    rows = [cash_day(date(2022, 1, 11), 100, None), cash_day(date(2022, 1, 12), 200, 300)]
    [finding] = tga_continuity(rows, CTX)
    assert finding.day == date(2022, 1, 11) and "missing" in finding.message


def test_tga_flows_grades_rounding_as_warning_and_more_as_error() -> None:
    rows = (
        detail_rows(date(2024, 2, 12), 100, 50, 30, 120)  # exact
        + detail_rows(date(2024, 2, 13), 100, 50, 30, 121)  # rounding
        + detail_rows(date(2024, 2, 14), 100, 50, 30, 2_120)  # broken
    )
    findings = tga_flows(rows, CTX)
    assert [(f.day, f.severity) for f in findings] == [
        (date(2024, 2, 13), "warn"),
        (date(2024, 2, 14), "error"),
    ]
    assert TGA_CLOSING in findings[1].row and "off by +2,000" in findings[1].message


def test_tga_flows_ignores_older_layouts_and_incomplete_days() -> None:
    old = [{"record_date": date(2022, 1, 12), "account_type": "Treasury General Account (TGA)",
            "open_today_bal": 1, "close_today_bal": 5}]  # fmt: skip
    partial = detail_rows(date(2024, 2, 13), 100, 50, 30, 999)[:3]
    assert tga_flows(old + partial, CTX) == []


def test_negative_balance_flags_balances_not_flows() -> None:
    rows = [
        {"record_date": date(2022, 1, 12), "account_type": "Treasury General Account (TGA)",
         "open_today_bal": 10, "close_today_bal": -500, "open_month_bal": 1,
         "open_fiscal_year_bal": 1},
        {"record_date": date(2024, 2, 13), "account_type": TGA_WITHDRAWALS,
         "open_today_bal": -3, "close_today_bal": None, "open_month_bal": -3,
         "open_fiscal_year_bal": -3},
    ]  # fmt: skip
    [finding] = negative_balances(rows, CTX)
    assert finding.day == date(2022, 1, 12) and finding.severity == "error"
    assert "Treasury General Account (TGA)" in finding.row
    assert "close_today_bal" in finding.message


MTD = running_total("transaction_mtd_amt", lambda d: (d.year, d.month), "month")


def test_running_totals_follow_the_previous_business_day_and_reset_each_month() -> None:
    rows = [
        debt(date(2024, 1, 31), 10, 500, 900),
        debt(date(2024, 2, 1), 7, 7, 907),  # first business day of February: mtd = today
        debt(date(2024, 2, 2), 5, 12, 912),  # Friday
        debt(date(2024, 2, 5), 3, 16, 915),  # Monday, rounding +1
        debt(date(2024, 2, 6), 1, 100, 916),  # broken
    ]
    findings = MTD(rows, CTX)
    assert [(f.day, f.severity) for f in findings] == [
        (date(2024, 2, 5), "warn"),
        (date(2024, 2, 6), "error"),
    ]
    assert "security_type=Notes" in findings[1].row


def test_running_totals_check_only_pairs_of_days_both_present() -> None:
    rows = [debt(date(2024, 2, 13), 5, 999, 999), debt(date(2024, 2, 15), 5, 7, 7)]
    assert MTD(rows, CTX) == []  # the lake starts mid-month; 02-14 is missing


def test_running_totals_match_lines_by_natural_key() -> None:
    rows = [
        debt(date(2024, 2, 12), 5, 50, 50, security_type_desc="Regular Series"),
        debt(date(2024, 2, 12), 9, 90, 90, security_type_desc="Cash Management Series"),
        debt(date(2024, 2, 13), 1, 51, 51, security_type_desc="Regular Series"),
        debt(date(2024, 2, 13), 1, 91, 91, security_type_desc="Cash Management Series"),
    ]
    assert MTD(rows, CTX) == []


def test_fiscal_year_to_date_resets_on_october_first() -> None:
    from treasury_lakehouse.calendar import fiscal_year

    fytd = running_total("transaction_fytd_amt", fiscal_year, "fiscal year")
    rows = [debt(date(2021, 9, 30), 5, 80, 5_000), debt(date(2021, 10, 1), 4, 4, 4),
            debt(date(2021, 10, 4), 2, 6, 9)]  # fmt: skip
    [finding] = fytd(rows, CTX)
    assert finding.day == date(2021, 10, 4) and finding.severity == "warn"


# --------------------------------------------------------------------------- generic


def test_not_null_and_unique_name_the_row() -> None:
    rows: list[dict[str, Any]] = [
        {"record_date": date(2024, 1, 2), "account_type": None},
        {"record_date": date(2024, 1, 3), "account_type": "A"},
        {"record_date": date(2024, 1, 3), "account_type": "A"},
    ]
    key = ("record_date", "account_type")
    [null] = not_null(key, key)(rows, CTX)
    assert null.day == date(2024, 1, 2) and "account_type is NULL" in null.message
    [dup] = unique(key)(rows, CTX)
    assert dup.day == date(2024, 1, 3) and dup.row == "record_date=2024-01-03, account_type=A"
    assert "2 times" in dup.message


def test_unique_within_a_batch_allows_restated_versions_in_later_batches() -> None:
    rows = [
        {"record_date": "2024-01-03", "account_type": "A", "batch_id": "b1"},
        {"record_date": "2024-01-03", "account_type": "A", "batch_id": "b2"},
    ]
    assert unique(("record_date", "account_type"), within="batch_id")(rows, CTX) == []
    [dup] = unique(("record_date", "account_type"), within="batch_id")(rows + rows[:1], CTX)
    assert dup.day == date(2024, 1, 3) and "batch b1" in dup.message


def test_accepted_and_known_values() -> None:
    rows = [debt(date(2024, 1, 2), 1, 1, 1, transaction_type="Exchanges"),
            debt(date(2024, 1, 2), 1, 1, 1, security_type="Floating Rate Notes")]  # fmt: skip
    [bad] = accepted_values("transaction_type", ("Issues", "Redemptions"), KEY, "error")(rows, CTX)
    assert bad.severity == "error" and "'Exchanges'" in bad.message
    [new] = accepted_values("security_type", ("Notes",), KEY, "warn")(rows, CTX)
    assert new.severity == "warn" and "Floating Rate Notes" in new.row


@pytest.mark.parametrize(
    ("day", "rows", "ok"),
    [
        (date(2021, 9, 30), 3, True),  # Federal Reserve Account layout
        (date(2021, 9, 30), 5, False),
        (date(2022, 1, 12), 2, False),  # TGA layout: 3 rows
        (date(2024, 2, 13), 4, True),  # Cash Balance Details: 4 rows
        (date(2024, 2, 13), 3, False),
    ],
)
def test_rows_per_day_bounds_follow_the_layout_era(day: date, rows: int, ok: bool) -> None:
    check = rows_per_day(OPERATING_CASH_BALANCE, ROWS_PER_DAY[OPERATING_CASH_BALANCE.name])
    findings = check([{"record_date": day, "account_type": str(i)} for i in range(rows)], CTX)
    assert (findings == []) is ok
    if not ok:
        assert findings[0].day == day and f"{rows} rows" in findings[0].message


def test_every_check_has_a_unique_name_per_table_and_is_documented() -> None:
    from pathlib import Path

    checks = all_checks()
    assert len({(c.name, c.table) for c in checks}) == len(checks)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "quality.md").read_text()
    for check in checks:
        assert f"`{check.name.split(':')[0]}" in doc, check.name


# --------------------------------------------------------------------------- reports


def test_report_fails_only_on_error_findings_and_names_day_and_row() -> None:
    warn = Finding("warn", date(2024, 2, 13), "r1", "off by +1")
    error = Finding("error", date(2024, 2, 14), "r2", "off by +2,000")
    report = QualityReport("run-1", datetime(2024, 2, 15, tzinfo=UTC), (
        CheckResult("tga_flows", "t", "error", "d", "±2", 10, (warn,)),
        CheckResult("tga_continuity", "g", "error", "d", "0", 10, (error,)),
        CheckResult("unique_key", "g", "error", "d", "none", 10),
    ))  # fmt: skip
    assert [r.check for r in report.failed] == ["tga_continuity"]
    assert report.warning_counts() == {"tga_flows on t": 1}
    message = report.gate_message()
    assert "tga_continuity on g" in message and "2024-02-14 [r2] off by +2,000" in message
    assert "\n" not in message
    rows = report.to_rows()
    assert [(r["check_name"], r["status"], r["error_count"]) for r in rows] == [
        ("tga_flows", "warn", 0), ("tga_continuity", "fail", 1), ("unique_key", "pass", 0),
    ]  # fmt: skip
    assert report.summary() == "3 checks: 1 passed, 1 warned (tga_flows on t 1), 1 failed"
