"""The synthetic DTS record generator."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from treasury_lakehouse.calendar import business_days, is_business_day
from treasury_lakehouse.catalog import DATASETS, era_of
from treasury_lakehouse.testing import generate_records
from treasury_lakehouse.testing.__main__ import main as tools_cli
from treasury_lakehouse.testing.generator import (
    OPERATING_CASH_BALANCE_META,
    PUBLIC_DEBT_TRANSACTIONS_META,
    operating_cash_balance,
    public_debt_transactions,
)
from treasury_lakehouse.testing.measure import measure_dataset, measure_records
from treasury_lakehouse.testing.records import discover_datasets, read_records
from treasury_lakehouse.testing.statement_tables import other_tables

START, END = date(2021, 9, 20), date(2022, 10, 14)
Rows = list[dict[str, str]]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("gen")
    return out, generate_records(out, START, END, seed=7)


@pytest.fixture(scope="module")
def debt(generated: tuple[Path, dict[str, int]]) -> Rows:
    return read_records(generated[0] / "records" / "public_debt_transactions.jsonl.gz")


@pytest.fixture(scope="module")
def cash(generated: tuple[Path, dict[str, int]]) -> Rows:
    return read_records(generated[0] / "records" / "operating_cash_balance.jsonl.gz")


def _by_date(rows: Rows) -> dict[str, Rows]:
    grouped: dict[str, Rows] = defaultdict(list)
    for row in rows:
        grouped[row["record_date"]].append(row)
    return grouped


def test_layout_meta_and_counts(generated: tuple[Path, dict[str, int]], debt: Rows) -> None:
    out, written = generated
    metas = discover_datasets(out)
    assert set(metas) == set(DATASETS)  # every catalog dataset is served
    assert metas["public_debt_transactions"].endpoint == PUBLIC_DEBT_TRANSACTIONS_META["endpoint"]
    raw = json.loads((out / "meta" / "operating_cash_balance.json").read_text())
    for key in ("endpoint", "labels", "dataTypes", "dataFormats"):
        assert raw[key] == OPERATING_CASH_BALANCE_META[key]
    assert written["public_debt_transactions"] == len(debt)
    assert list(debt[0]) == list(PUBLIC_DEBT_TRANSACTIONS_META["labels"])


def test_other_tables_follow_the_catalog_eras_and_spans(tmp_path: Path) -> None:
    """Each table only within its span, each day in its era's rows-per-day bounds, with the era's
    row names and unique natural keys; meta from the catalog; Debt to the Penny adds up."""
    written = generate_records(tmp_path, date(2022, 9, 1), date(2023, 3, 31), seed=5)
    metas = discover_datasets(tmp_path)
    for name in other_tables():
        dataset = DATASETS[name]
        assert dict(metas[name].data_types) == dict(dataset.columns)
        assert metas[name].endpoint == dataset.endpoint
        rows = read_records(tmp_path / "records" / f"{name}.jsonl.gz")
        assert written[name] == len(rows) > 0
        keys = {tuple(r[c] for c in dataset.natural_key) for r in rows}
        assert len(keys) == len(rows), name
        for day, day_rows in _by_date(rows).items():
            record_date = date.fromisoformat(day)
            assert dataset.first_date <= record_date <= (dataset.last_date or record_date)
            era = era_of(dataset, record_date)
            low, high = dataset.row_bounds()[era.name if era else None]
            assert low <= len(day_rows) <= high, (name, day)
            if era and dataset.row_name_column:
                assert {r[dataset.row_name_column] for r in day_rows} <= set(era.row_names)
    for row in read_records(tmp_path / "records" / "debt_to_penny.jsonl.gz"):
        parts = Decimal(row["debt_held_public_amt"]) + Decimal(row["intragov_hold_amt"])
        assert parts == Decimal(row["tot_pub_debt_out_amt"])


def test_the_debt_tables_agree_as_the_real_ones_do(
    generated: tuple[Path, dict[str, int]], debt: Rows
) -> None:
    """Table III-C's holdings move by Table III-A's net issuance each day and open at the last
    close; the limit stays above the debt; Debt to the Penny's parts round to the holdings."""
    folder = generated[0] / "records"
    limit = _by_date(read_records(folder / "debt_subject_to_limit.jsonl.gz"))
    holdings = ("Debt Held by the Public", "Intragovernmental Holdings")
    net: dict[str, int] = defaultdict(int)
    for row in debt:
        sign = 1 if row["transaction_type"] == "Issues" else -1
        net[row["record_date"]] += sign * int(row["transaction_today_amt"])
    assert set(limit) == set(net)
    previous: dict[str, int] | None = None
    for day, rows in sorted(limit.items()):
        by_name = {r["debt_catg"]: r for r in rows if r["debt_catg_desc"] == "null"}
        close = {n: int(by_name[n]["close_today_bal"]) for n in holdings}
        change = sum(close[n] - int(by_name[n]["open_today_bal"]) for n in holdings)
        assert change == net[day], day
        if previous is not None:
            assert {n: int(by_name[n]["open_today_bal"]) for n in holdings} == previous, day
        previous = close
        assert int(by_name["Statutory Debt Limit"]["close_today_bal"]) > sum(close.values())
    for row in read_records(folder / "debt_to_penny.jsonl.gz"):
        by_name = {r["debt_catg"]: r for r in limit[row["record_date"]]}
        for column, name in zip(
            ("debt_held_public_amt", "intragov_hold_amt"), holdings, strict=True
        ):
            millions = Decimal(row[column]) / 10**6
            assert abs(millions - int(by_name[name]["close_today_bal"])) < Decimal("0.5")


def test_business_days_only(debt: Rows, cash: Rows) -> None:
    expected = [d.isoformat() for d in business_days(START, END)]
    assert sorted(_by_date(debt)) == expected
    assert sorted(_by_date(cash)) == expected
    assert all(is_business_day(date.fromisoformat(d)) for d in _by_date(cash))
    assert "2021-10-11" not in _by_date(debt)  # Columbus Day


def test_debt_rows_per_day_and_table_number(debt: Rows) -> None:
    days = _by_date(debt)
    assert len(days["2022-09-09"]) == 25
    assert {r["table_nbr"] for r in days["2022-09-09"]} == {"III-A"}
    assert len(days["2022-09-12"]) == 23
    assert {r["table_nbr"] for r in days["2022-09-12"]} == {"IIIA"}
    assert [r["src_line_nbr"] for r in days["2022-09-12"]] == [
        str(n) for n in (*range(1, 14), *range(15, 25))
    ]
    hope = [r for r in days["2022-09-09"] if r["security_type"] == "Hope Bonds"]
    assert [r["src_line_nbr"] for r in hope] == ["10", "22"]
    assert all(r["security_type_desc"] == "null" for r in hope)
    descs = {(r["security_type"], r["security_type_desc"]) for r in days["2022-09-12"]}
    assert ("Bills", "Cash Management Series") in descs
    assert ("United States Savings Securities", "Interest Increment") in descs
    assert any(int(r["transaction_today_amt"]) < 0 for r in debt)


def test_debt_calendar_fields(debt: Rows) -> None:
    row = next(r for r in debt if r["record_date"] == "2021-10-01")
    assert row["record_fiscal_year"] == "2022"
    assert row["record_fiscal_quarter"] == "1"
    assert row["record_calendar_quarter"] == "4"
    assert (row["record_calendar_month"], row["record_calendar_day"]) == ("10", "01")


def test_mtd_fytd_running_sums_with_resets(debt: Rows) -> None:
    # START is mid-September of FY 2021: running sums are checked from October 2021 (FY 2022) on
    mtd: dict[tuple[str, ...], int] = {}
    fytd: dict[tuple[str, ...], int] = {}
    month = fiscal = ""
    for row in (r for r in debt if r["record_date"] >= "2021-10-01"):
        key = (row["transaction_type"], row["security_type"], row["security_type_desc"])
        if row["record_date"][:7] != month:
            month, mtd = row["record_date"][:7], {}
        if row["record_fiscal_year"] != fiscal:
            fiscal, fytd = row["record_fiscal_year"], {}
        mtd[key] = mtd.get(key, 0) + int(row["transaction_today_amt"])
        fytd[key] = fytd.get(key, 0) + int(row["transaction_today_amt"])
        assert int(row["transaction_mtd_amt"]) == mtd[key], row
        assert int(row["transaction_fytd_amt"]) == fytd[key], row
    assert fiscal == "2023"  # the range crosses a fiscal year start (2022-10-03)
    for first_day in ("2021-10-01", "2022-10-03"):
        rows = [r for r in debt if r["record_date"] == first_day]
        assert all(r["transaction_fytd_amt"] == r["transaction_today_amt"] for r in rows)
    november = [r for r in debt if r["record_date"] == "2021-11-01"]
    assert all(r["transaction_mtd_amt"] == r["transaction_today_amt"] for r in november)
    assert any(r["transaction_fytd_amt"] != r["transaction_today_amt"] for r in november)


def test_cash_layouts_by_date(cash: Rows) -> None:
    days = _by_date(cash)
    names = {d: [r["account_type"] for r in rows] for d, rows in days.items()}
    others = ["Supplementary Financing Program Account", "Short-Term Cash Investments (Table V)"]
    assert names["2021-09-30"] == ["Federal Reserve Account", *others]
    assert names["2021-10-01"] == ["Treasury General Account (TGA)", *others]
    assert names["2022-04-15"] == ["Treasury General Account (TGA)", *others]
    assert names["2022-04-18"] == [
        "Treasury General Account (TGA) Opening Balance",
        "Total TGA Deposits (Table II)",
        "Total TGA Withdrawals (Table II) (-)",
        "Treasury General Account (TGA) Closing Balance",
    ]
    assert {r["sub_table_name"] for r in days["2021-09-30"]} == {"Type of account"}
    assert {r["sub_table_name"] for r in days["2022-04-18"]} == {"Cash Balance Details"}
    assert {r["close_today_bal"] for r in days["2022-04-18"]} == {"null"}
    assert [r["src_line_nbr"] for r in days["2022-04-18"]] == ["1", "2", "3", "4"]


def _tga(rows: Rows) -> tuple[int, int, int, int]:
    """Opening, closing, month opening and fiscal-year opening of a day, in any layout."""
    if len(rows) == 3:
        main = rows[0]
        return (
            int(main["open_today_bal"]),
            int(main["close_today_bal"]),
            int(main["open_month_bal"]),
            int(main["open_fiscal_year_bal"]),
        )
    opening, _, _, closing = rows
    return (
        int(opening["open_today_bal"]),
        int(closing["open_today_bal"]),
        int(opening["open_month_bal"]),
        int(opening["open_fiscal_year_bal"]),
    )


def test_tga_continuity_and_opening_balances(cash: Rows) -> None:
    days = sorted(_by_date(cash).items())
    month_open: dict[str, int] = {}
    fy_open: dict[str, int] = {}
    for (_, today), (_, tomorrow) in itertools.pairwise(days):
        assert _tga(today)[1] == _tga(tomorrow)[0]
    for day, rows in days:
        opening, closing, open_month, open_fy = _tga(rows)
        assert opening > 0 and closing > 0
        month_open.setdefault(day[:7], opening)
        assert open_month == month_open[day[:7]] or day[:7] == "2021-09"
        fy_open.setdefault(rows[0]["record_fiscal_year"], opening)
        if rows[0]["record_fiscal_year"] != "2021":
            assert open_fy == fy_open[rows[0]["record_fiscal_year"]]


def test_newest_layout_identity(cash: Rows) -> None:
    for day, rows in _by_date(cash).items():
        if len(rows) != 4:
            continue
        opening, deposits, withdrawals, closing = (int(r["open_today_bal"]) for r in rows)
        assert closing == opening + deposits - withdrawals, day
        assert rows[3]["open_month_bal"] == rows[3]["open_fiscal_year_bal"] == str(closing)


def test_deterministic_and_slice_stable(tmp_path: Path) -> None:
    first = generate_records(tmp_path / "a", date(2024, 1, 2), date(2024, 2, 29), seed=3)
    again = generate_records(tmp_path / "b", date(2024, 1, 2), date(2024, 2, 29), seed=3)
    assert first == again
    for name in first:
        a = (tmp_path / "a" / "records" / f"{name}.jsonl.gz").read_bytes()
        b = (tmp_path / "b" / "records" / f"{name}.jsonl.gz").read_bytes()
        assert a == b
    other_seed = list(public_debt_transactions(date(2024, 1, 2), date(2024, 1, 2), seed=4))
    same_seed = list(public_debt_transactions(date(2024, 1, 2), date(2024, 1, 2), seed=3))
    assert other_seed != same_seed
    short = list(operating_cash_balance(date(2024, 2, 1), date(2024, 2, 5), seed=3))
    long = list(operating_cash_balance(date(2024, 1, 2), date(2024, 2, 5), seed=3))
    assert short == [r for r in long if r["record_date"] >= "2024-02-01"]


def test_end_before_start_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="before"):
        generate_records(tmp_path, date(2024, 2, 1), date(2024, 1, 1))


def test_measure_finds_the_generated_records_within_the_catalog_bounds(tmp_path: Path) -> None:
    """``python -m treasury_lakehouse.testing measure``: the tool that measured the catalog's
    rows-per-day bounds on the real records; a name no era lists, or a day too long, is flagged."""
    generate_records(tmp_path, date(2022, 9, 1), date(2023, 3, 31), seed=5)
    measures = measure_records(tmp_path)
    assert {m.dataset for m in measures} == set(DATASETS)
    assert all(m.within_bounds for m in measures)
    eras = {(m.dataset, m.era) for m in measures}
    assert ("debt_subject_to_limit", "less_plus_rows") in eras
    assert ("debt_subject_to_limit", "not_subject_rows") in eras
    rows = read_records(tmp_path / "records" / "inter_agency_tax_transfers.jsonl.gz")
    rows.append({**rows[0], "classification": "Taxes - Moon Dust"})
    [odd] = measure_dataset(DATASETS["inter_agency_tax_transfers"], rows)
    assert (odd.max_rows, odd.unlisted_names, odd.within_bounds) == (
        5,
        ("Taxes - Moon Dust",),
        False,
    )
    result = CliRunner().invoke(tools_cli, ["measure", "--records", str(tmp_path)])
    assert result.exit_code == 0 and "debt_to_penny" in result.output, result.output
