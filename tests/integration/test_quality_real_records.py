"""On the real records every error-level check passes, and the warnings found are counted.

The warnings are the statements' own rounding (each figure is rounded to a million on its own),
the holes in the real ``public_debt_transactions`` (2005-10-07..2021-06-23) and ``debt_to_penny``
(1993-08-23..2024-12-31) samples, and samples that end before the run's end date.
"""

from __future__ import annotations

import gzip
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import make_settings
from treasury_lakehouse import pipeline
from treasury_lakehouse.cli import main
from treasury_lakehouse.quality import QualityReport
from treasury_lakehouse.testing import FakeFiscalDataApi
from treasury_lakehouse.warehouse.quality_store import read_quality

pytestmark = pytest.mark.shared_data

LAST_DAY = date(2026, 6, 23)
PDT, OCB = "silver_public_debt_transactions", "silver_operating_cash_balance"
#: warn findings on the real records, per check and table (measured; see docs/quality.md)
EXPECTED_WARNINGS = {
    f"tga_flows on {OCB}": 347,  # closing = opening + deposits - withdrawals, off by ±1
    f"running_total_mtd on {PDT}": 3803,  # month-to-date off by ±1
    f"running_total_fytd on {PDT}": 3964,  # fiscal-year-to-date off by ±1
    f"completeness on {PDT}": 1,  # one hole in the source, 3,948 business days
    # Δ debt outstanding vs net issuance, off by 1..4 on 691 of the 1,051 common days
    "debt_identity on silver_debt_subject_to_limit": 691,
    # Debt to the Penny's sample: 1993-04-01..1993-08-20, then 2025 Q1
    "completeness on silver_debt_to_penny": 1,
    # samples that end before LAST_DAY (2025-09-02; Debt to the Penny 2025-03-31); the tables the
    # 2023-02-14 redesign ended are not expected after 2023-02-13
    "freshness on silver_debt_subject_to_limit": 1,
    "freshness on silver_income_tax_refunds_issued": 1,
    "freshness on silver_inter_agency_tax_transfers": 1,
    "freshness on silver_debt_to_penny": 1,
}


def test_real_records_pass_every_error_check_and_report_rounding_warnings(
    real_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, real_api, end=LAST_DAY)
    result = pipeline.run(settings)
    report = result.quality
    assert report is not None
    assert report.failed == ()
    assert report.warning_counts() == EXPECTED_WARNINGS
    for check in ("tga_flows", "running_total_mtd", "running_total_fytd"):
        warnings = report.result(check).warnings
        assert all(m.message.endswith(("off by +1", "off by -1")) for m in warnings), check
    assert report.result("tga_continuity").findings == ()  # exact on all three layouts
    assert_cross_dataset_checks(report)

    kept = {(r["check_name"], r["table_name"]): r for r in read_quality(settings)}
    assert kept[("tga_flows", OCB)]["warning_count"] == 347
    assert kept[("tga_flows", OCB)]["status"] == "warn"

    cli = ["--home", str(tmp_path), "--api-url", real_api.base_url, "--end", LAST_DAY.isoformat()]
    checked = CliRunner().invoke(main, ["check", *cli])
    assert checked.exit_code == 0, checked.output
    assert f"running_total_mtd on {PDT} 3,803" in checked.output
    status = CliRunner().invoke(main, ["status", *cli])
    assert "passed; warnings: " in status.output


def assert_cross_dataset_checks(report: QualityReport) -> None:
    """The figures of docs/gold.md, "Cross-dataset checks", measured on the real records."""
    identity = report.result("debt_identity")
    assert identity.rows_checked == 1_051  # the days of both debt tables
    offs = [int(f.message.rsplit("off by ", 1)[1]) for f in identity.findings]
    assert len(offs) == 691 and max(abs(o) for o in offs) == 4
    penny = report.result("debt_to_penny_vs_statement")
    assert (penny.rows_checked, penny.findings) == (61, ())  # within ±1 on every common day
    for check in ("debt_continuity", "debt_to_penny_parts", "tax_refund_category"):
        assert report.result(check).findings == (), check
    assert report.result("debt_continuity").rows_checked == 18_280
    headroom = report.result("headroom")  # the limit in force on 901 days, at least 23 left
    assert (headroom.rows_checked, headroom.findings) == (2_428, ())
    assert report.result("tax_refund_category").rows_checked == 11_218


def test_debt_to_the_penny_is_within_a_million_of_the_statement_on_the_records(
    shared_records: Path,
) -> None:
    """The measured figure of docs/gold.md, from the records themselves (exact decimals)."""

    def rows(name: str) -> list[dict[str, str]]:
        with gzip.open(shared_records / "records" / f"{name}.jsonl.gz", "rt") as handle:
            return [json.loads(line) for line in handle]

    holdings = ("Debt Held by the Public", "Intragovernmental Holdings")
    totals: dict[str, int] = {}
    for r in rows("debt_subject_to_limit"):
        if r["debt_catg"] in holdings:
            totals[r["record_date"]] = totals.get(r["record_date"], 0) + int(r["close_today_bal"])
    gaps = {
        r["record_date"]: Decimal(r["tot_pub_debt_out_amt"]).scaleb(-6) - totals[r["record_date"]]
        for r in rows("debt_to_penny")
        if r["record_date"] in totals
    }
    assert len(gaps) == 61
    widest = max(gaps, key=lambda day: abs(gaps[day]))
    assert (widest, gaps[widest]) == ("2025-01-15", Decimal("-0.86453599"))
