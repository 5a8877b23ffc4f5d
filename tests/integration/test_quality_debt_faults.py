"""Each injected break of the cross-dataset checks blocks publishing, caught and named by its own
check (issue #10).

The lake is the synthetic one of ``test_quality_faults.py`` (2021-12..2022-02, all eight
datasets, served over real HTTP by the fake API); a break is a restatement on the server or an
edit of a copy of the records. Each test asserts every check that does not pass, so a break is
caught by the check meant for it and by no other one unless the break truly is two.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from test_quality_faults import PDT, edited_copy, not_passing, record

from conftest import make_settings
from treasury_lakehouse import pipeline
from treasury_lakehouse.errors import QualityGateError
from treasury_lakehouse.quality import QualityReport
from treasury_lakehouse.testing import FakeFiscalDataApi

DEBT, PENNY, REFUNDS = "debt_subject_to_limit", "debt_to_penny", "income_tax_refunds_issued"
DEBT_SILVER, PENNY_SILVER = f"silver_{DEBT}", f"silver_{PENNY}"
HELD = "Debt Held by the Public"
DAY, NEXT = "2022-01-12", "2022-01-13"
START, END = date(2021, 12, 1), date(2022, 2, 28)


def blocked(api: FakeFiscalDataApi, home: Path, check: str) -> QualityReport:
    """Run the pipeline: it must refuse to publish, naming ``check``; the report of the lake."""
    settings = make_settings(home, api, start=START, end=END)
    with pytest.raises(QualityGateError, match=check):
        pipeline.run(settings)
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert tables == {"quality_results"}  # results kept, nothing published
    return pipeline.check(settings)


def test_a_transaction_the_holdings_do_not_show_fails_the_debt_identity_only(
    synthetic_records: Path, tmp_path: Path
) -> None:
    """'Other' issues +100 on one day, its month- and fiscal-year-to-date carried on (the running
    totals stay right): only the holdings disagree."""
    line = {"transaction_type": "Issues", "security_type": "Other"}

    def issue_more(rows: list[dict[str, Any]]) -> list[Any]:
        for r in rows:
            if all(r[k] == v for k, v in line.items()) and r["record_date"] >= DAY:
                r["transaction_fytd_amt"] = str(int(r["transaction_fytd_amt"]) + 100)
                if r["record_date"][:7] == DAY[:7]:
                    r["transaction_mtd_amt"] = str(int(r["transaction_mtd_amt"]) + 100)
                if r["record_date"] == DAY:
                    r["transaction_today_amt"] = str(int(r["transaction_today_amt"]) + 100)
        return rows

    records = edited_copy(synthetic_records, tmp_path / "records", PDT, issue_more)
    with FakeFiscalDataApi(records) as api:
        report = blocked(api, tmp_path / "home", "debt_identity")
    assert not_passing(report) == {("debt_identity", DEBT_SILVER, "fail")}
    [finding] = report.result("debt_identity").findings
    assert (finding.severity, finding.day) == ("error", date(2022, 1, 12))
    assert finding.row == f"record_date={DAY}, {HELD} + Intragovernmental Holdings"
    assert "!= net issuance" in finding.message and finding.message.endswith("off by -100")


def test_one_days_debt_held_by_the_public_plus_100_breaks_three_identities(
    fake_api: FakeFiscalDataApi, synthetic_records: Path, tmp_path: Path
) -> None:
    """The close of one day +100: the day's change no longer matches issuance, the next day no
    longer opens at it, and the statement no longer matches Debt to the Penny."""
    row = {"record_date": DAY, "debt_catg": HELD}
    close = int(record(synthetic_records, DEBT, **row)["close_today_bal"])
    fake_api.restate(DEBT, row, {"close_today_bal": str(close + 100)})
    report = blocked(fake_api, tmp_path, "debt_identity")
    assert not_passing(report) == {
        ("debt_identity", DEBT_SILVER, "fail"),
        ("debt_continuity", DEBT_SILVER, "fail"),
        ("debt_to_penny_vs_statement", PENNY_SILVER, "fail"),
    }
    [identity] = report.result("debt_identity").findings
    assert identity.day == date(2022, 1, 12) and identity.message.endswith("off by +100")
    assert f"-> {close + 100:,}" in identity.message
    [continuity] = report.result("debt_continuity").findings
    assert continuity.day == date(2022, 1, 13)
    assert continuity.row == f"record_date={NEXT}, debt_catg={HELD}, debt_catg_desc=NULL"
    assert f"close_today_bal {close + 100:,} million USD of {DAY}" in continuity.message
    [penny] = report.result("debt_to_penny_vs_statement").findings
    assert penny.day == date(2022, 1, 12) and f"{HELD} {close + 100:,}" in penny.message


def test_a_broken_opening_fails_the_debt_continuity_only(
    fake_api: FakeFiscalDataApi, synthetic_records: Path, tmp_path: Path
) -> None:
    row = {"record_date": NEXT, "debt_catg": "Less Debt Not Subject to Limit",
           "debt_catg_desc": "Federal Financing Bank"}  # fmt: skip
    opening = int(record(synthetic_records, DEBT, **row)["open_today_bal"])
    fake_api.restate(DEBT, row, {"open_today_bal": str(opening + 5)})
    report = blocked(fake_api, tmp_path, "debt_continuity")
    assert not_passing(report) == {("debt_continuity", DEBT_SILVER, "fail")}
    [finding] = report.result("debt_continuity").findings
    assert finding.day == date(2022, 1, 13)
    assert "debt_catg_desc=Federal Financing Bank" in finding.row
    assert finding.message == (
        f"open_today_bal {opening + 5:,} million USD != close_today_bal {opening:,} million USD "
        f"of {DAY} (previous business day), off by +5"
    )


def _penny(synthetic_records: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Any:
    def change(rows: list[dict[str, Any]]) -> list[Any]:
        for r in rows:
            if r["record_date"] == DAY:
                edit(r)
        return rows

    return edited_copy(synthetic_records, tmp_path / "records", PENNY, change)


def _plus(value: str, amount: str) -> str:
    return f"{Decimal(value) + Decimal(amount):.2f}"


def test_a_debt_to_the_penny_total_plus_5_million_fails_against_the_statement_and_its_parts(
    synthetic_records: Path, tmp_path: Path
) -> None:
    def more(r: dict[str, Any]) -> None:
        r["tot_pub_debt_out_amt"] = _plus(r["tot_pub_debt_out_amt"], "5000000.00")

    with FakeFiscalDataApi(_penny(synthetic_records, tmp_path, more)) as api:
        report = blocked(api, tmp_path / "home", "debt_to_penny_vs_statement")
    assert not_passing(report) == {
        ("debt_to_penny_vs_statement", PENNY_SILVER, "fail"),
        ("debt_to_penny_parts", PENNY_SILVER, "fail"),  # the parts no longer add up to it
    }
    [statement] = report.result("debt_to_penny_vs_statement").findings
    assert (
        statement.day == date(2022, 1, 12)
        and statement.row == f"record_date={DAY}, tot_pub_debt_out_amt"
    )
    off = Decimal(statement.message.rsplit("off by ", 1)[1].replace(",", ""))
    assert Decimal(4) <= off <= Decimal(6)  # +5 on a figure within ±1 of the statement's
    [parts] = report.result("debt_to_penny_parts").findings
    assert parts.day == date(2022, 1, 12) and parts.message.endswith("off by -5,000,000.00")


def test_held_by_the_public_and_total_plus_5_million_fail_against_the_statement_only(
    synthetic_records: Path, tmp_path: Path
) -> None:
    def more(r: dict[str, Any]) -> None:
        for column in ("debt_held_public_amt", "tot_pub_debt_out_amt"):
            r[column] = _plus(r[column], "5000000.00")

    with FakeFiscalDataApi(_penny(synthetic_records, tmp_path, more)) as api:
        report = blocked(api, tmp_path / "home", "debt_to_penny_vs_statement")
    assert not_passing(report) == {("debt_to_penny_vs_statement", PENNY_SILVER, "fail")}


def test_a_cent_more_intragovernmental_fails_the_penny_parts_only(
    synthetic_records: Path, tmp_path: Path
) -> None:
    def cent(r: dict[str, Any]) -> None:
        r["intragov_hold_amt"] = _plus(r["intragov_hold_amt"], "0.01")

    with FakeFiscalDataApi(_penny(synthetic_records, tmp_path, cent)) as api:
        report = blocked(api, tmp_path / "home", "debt_to_penny_parts")
    assert not_passing(report) == {("debt_to_penny_parts", PENNY_SILVER, "fail")}
    [finding] = report.result("debt_to_penny_parts").findings
    assert finding.day == date(2022, 1, 12) and finding.message.endswith("off by +0.01")


def test_an_unknown_tax_refund_type_is_an_error_that_names_it(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    row = {"record_date": DAY, "tax_refund_type": "IRS Tax Refunds Business",
           "tax_refund_type_desc": "EFT"}  # fmt: skip
    assert fake_api.restate(REFUNDS, row, {"tax_refund_type": "IRS Tax Refunds Estates"}) == 1
    report = blocked(fake_api, tmp_path, "tax_refund_category")
    assert not_passing(report) == {
        ("tax_refund_category", f"silver_{REFUNDS}", "fail"),
        ("known_values:tax_refund_type", f"silver_{REFUNDS}", "warn"),  # a new name, too
    }
    [finding] = report.result("tax_refund_category").findings
    assert finding.day == date(2022, 1, 12)
    assert "tax_refund_type=IRS Tax Refunds Estates" in finding.row
    assert "tax_refund_type 'IRS Tax Refunds Estates' is in none of the categories" in (
        finding.message
    )


def test_a_limit_below_the_debt_fails_the_headroom_check_only(
    fake_api: FakeFiscalDataApi, synthetic_records: Path, tmp_path: Path
) -> None:
    holdings = [record(synthetic_records, DEBT, record_date=DAY, debt_catg=name)
                for name in (HELD, "Intragovernmental Holdings")]  # fmt: skip
    total = sum(int(r["close_today_bal"]) for r in holdings)
    limit = {"record_date": DAY, "debt_catg": "Statutory Debt Limit"}
    fake_api.restate(DEBT, limit, {"close_today_bal": str(total - 2_000_000),
                                   "open_today_bal": str(total - 2_000_000)})  # fmt: skip
    report = blocked(fake_api, tmp_path, "headroom")
    assert not_passing(report) == {("headroom", "gold_daily_debt_limit", "fail")}
    [finding] = report.result("headroom").findings
    assert (finding.day, finding.row) == (date(2022, 1, 12), f"record_date={DAY}, headroom_usd_mil")
    assert f"exceeds the statutory limit {total - 2_000_000:,} million USD in force" in (
        finding.message
    )
    assert "headroom -" in finding.message


def test_a_run_of_other_datasets_neither_runs_nor_fails_the_cross_dataset_checks(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    """Only Table III-C (so neither of its partners), with one of its days broken."""
    row = {"record_date": DAY, "debt_catg": HELD}
    fake_api.restate(DEBT, row, {"open_today_bal": "1"})  # continuity broken twice over
    settings = make_settings(tmp_path, fake_api, start=START, end=END, datasets=(DEBT, REFUNDS))
    report = build_and_check(settings)
    names = {r.check for r in report.results}
    assert "debt_continuity" in names  # its one table is there: it runs, and fails
    assert not {"debt_identity", "debt_to_penny_vs_statement", "debt_to_penny_parts"} & names
    assert not_passing(report) == {("debt_continuity", DEBT_SILVER, "fail")}
    others = make_settings(tmp_path / "other", fake_api, start=START, end=END,
                           datasets=(PDT, "operating_cash_balance"))  # fmt: skip
    checked = build_and_check(others)  # publishing wants every table: the check is the gate
    assert checked.passed, checked.gate_message()
    assert not {r.check for r in checked.results} & {
        "debt_identity", "debt_continuity", "debt_to_penny_vs_statement", "debt_to_penny_parts",
        "headroom", "tax_refund_category",
    }  # fmt: skip


def build_and_check(settings: Any) -> QualityReport:
    pipeline.ingest(settings)
    pipeline.transform(settings)
    return pipeline.check(settings)
