"""``treasury explain`` (issue 14, part 5) through the real CLI, after runs against the fake API
over real HTTP: every gold table reconciles with the right silver rows and bronze pages; a
restated row is explained by the newer batch; a tampered gold file fails naming the column; a bad
key is one line."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from conftest import make_settings
from independent_gold import read_records
from treasury_lakehouse import pipeline
from treasury_lakehouse.cli import main
from treasury_lakehouse.ingest.bronze import BronzeStore
from treasury_lakehouse.lake.layout import Lake
from treasury_lakehouse.testing import FakeFiscalDataApi

PDT, OCB = "public_debt_transactions", "operating_cash_balance"
DSL, REFUNDS = "debt_subject_to_limit", "income_tax_refunds_issued"
DAY = date(2022, 1, 5)
#: one key per gold table, and the datasets its silver rows come from
KEYS: dict[str, tuple[list[str], set[str]]] = {
    "gold_daily_totals": (["record_date=2022-01-05"], {PDT}),
    "gold_monthly_totals": (["year=2022", "month=1"], {PDT}),
    "gold_monthly_debt_growth": (["year=2022", "month=1"], {PDT}),
    "gold_security_totals": (
        ["fiscal_year=2022", "security_market=Marketable", "security_type=Bills"],
        {PDT},
    ),
    "gold_monthly_security_flows": (
        [
            "year=2022",
            "month=1",
            "security_market=Marketable",
            "security_type=Bills",
            "transaction_type=Issues",
        ],
        {PDT},
    ),
    "gold_daily_cash_balance": (["record_date=2022-01-05"], {OCB}),
    "gold_daily_debt_limit": (["record_date=2022-01-05"], {DSL, OCB}),
    "gold_monthly_tax_refunds": (["year=2022", "month=1"], {REFUNDS}),
}


def explain(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["explain", "--home", str(home), *args])


@pytest.fixture
def home(fake_api: FakeFiscalDataApi, tmp_path: Path) -> Path:
    """A home with one run over 2022-01-03..2022-01-14."""
    fake_api.today = date(2022, 1, 14)
    pipeline.run(make_settings(tmp_path, fake_api, start=date(2022, 1, 3)))
    return tmp_path


def _batch_ids(home: Path, dataset: str) -> list[str]:
    return [b.batch_id for b in BronzeStore(home / "lake").batches(dataset)]


def _requested(fake_api: FakeFiscalDataApi, url: str) -> bool:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" in fake_api.requests


@pytest.mark.parametrize("table", sorted(KEYS))
def test_explain_reconciles_every_gold_table(
    table: str, home: Path, fake_api: FakeFiscalDataApi
) -> None:
    key, datasets = KEYS[table]
    result = explain(home, table, *key, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"table", "key", "gold", "silver", "bronze", "reconciled"}
    assert out["table"] == table and out["reconciled"] is True
    assert out["key"] == {
        k: (int(v) if v.isdigit() else v) for k, v in (pair.split("=") for pair in key)
    }
    assert {r["dataset"] for r in out["silver"]} == datasets
    assert out["bronze"] and all(
        set(e) == {"batch_id", "file", "request_url", "ingested_at"} for e in out["bronze"]
    )
    for row in out["silver"]:
        assert row["batch_id"] in _batch_ids(home, row["dataset"])
        assert row["bronze_file"] in {e["file"] for e in out["bronze"]}
    for evidence in out["bronze"]:
        assert (home / "lake" / evidence["file"]).is_file(), evidence
        assert evidence["file"].startswith("bronze/")
        assert _requested(fake_api, evidence["request_url"]), evidence["request_url"]
        assert date.fromisoformat(evidence["ingested_at"][:10])
    amounts = [v for k, v in out["gold"].items() if k.endswith("_usd_mil")]
    assert all(isinstance(v, int | None) for v in amounts)  # never floats


def test_explain_lists_the_day_s_silver_rows_and_prints_sections(
    home: Path, synthetic_records: Path
) -> None:
    result = explain(home, "gold_daily_totals", "record_date=2022-01-05", "--json")
    out = json.loads(result.stdout)
    records = read_records(synthetic_records, PDT, DAY, DAY)
    assert len(out["silver"]) == len(records)
    issues = sum(
        int(r["transaction_today_amt"]) for r in records if r["transaction_type"] == "Issues"
    )
    assert out["gold"]["issues_usd_mil"] == issues
    assert {r["record_date"] for r in out["silver"]} == {"2022-01-05"}

    text = explain(home, "gold_daily_totals", "record_date=2022-01-05")
    assert text.exit_code == 0, text.output
    for heading in ("gold row", "silver rows: public_debt_transactions", "bronze pages", "GET "):
        assert heading in text.output
    assert "reconciled yes" in text.output


def test_explain_names_the_batch_that_restated_a_row(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    fake_api.today = date(2022, 3, 15)
    pipeline.run(make_settings(tmp_path, fake_api, start=date(2022, 3, 1)))
    [first] = _batch_ids(tmp_path, PDT)
    match = {
        "record_date": "2022-03-14",
        "transaction_type": "Redemptions",
        "security_market": "Marketable",
        "security_type": "Bills",
    }
    assert fake_api.restate(PDT, match, {"transaction_today_amt": "1"}) == 1
    fake_api.today = date(2022, 3, 31)
    pipeline.run(make_settings(tmp_path, fake_api))
    newer = _batch_ids(tmp_path, PDT)[-1]
    assert newer != first

    result = explain(tmp_path, "gold_daily_totals", "record_date=2022-03-14", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["reconciled"] is True
    restated = [r for r in out["silver"] if all(r[k] == v for k, v in match.items())]
    assert [(r["batch_id"], r["transaction_today_amt"]) for r in restated] == [(newer, 1)]
    assert {e["batch_id"] for e in out["bronze"]} == {newer}
    assert all(f"batch-{newer}/" in e["file"] for e in out["bronze"])
    # the incremental gold build recomputed the running sum over the merged months
    growth = explain(tmp_path, "gold_monthly_debt_growth", "year=2022", "month=3")
    assert growth.exit_code == 0 and "reconciled yes" in growth.output, growth.output


def _tamper(home: Path, table: str, column: str, day: date) -> None:
    """Rewrite one amount of the published gold Parquet file in place."""
    version = Lake(home / "lake").published_gold()[table]
    path = version / f"{table}.parquet"
    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    for row in rows:
        if row["record_date"] == day:
            row[column] += 1
    schema = pq.read_schema(path)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def test_a_tampered_gold_file_exits_1_naming_the_column(home: Path) -> None:
    _tamper(home, "gold_daily_totals", "redemptions_usd_mil", DAY)
    result = explain(home, "gold_daily_totals", "record_date=2022-01-05", "--json")
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["reconciled"] is False
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: gold_daily_totals redemptions_usd_mil is ")

    text = explain(home, "gold_daily_totals", "record_date=2022-01-05")
    assert text.exit_code == 1
    assert "reconciled NO: redemptions_usd_mil" in text.stdout
    other_day = explain(home, "gold_daily_totals", "record_date=2022-01-06")
    assert other_day.exit_code == 0, other_day.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["gold_daily_totals", "day=2022-01-05"],
            "Error: 'day' is not a key column of gold_daily_totals; its key is record_date=...",
        ),
        (
            ["gold_daily_totals", "record_date=2030-01-02"],
            "Error: gold_daily_totals has no row record_date=2030-01-02 in lake commit 1",
        ),
        (
            ["gold_monthly_totals", "year=2022"],
            "Error: gold_monthly_totals needs its whole key year=... month=...; missing month",
        ),
        (
            ["gold_daily_totals", "record_date=5 Jan"],
            "Error: record_date='5 Jan' is not a date (YYYY-MM-DD)",
        ),
    ],
)
def test_a_bad_key_is_one_line_and_exits_2(home: Path, args: list[str], message: str) -> None:
    result = explain(home, *args)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [message]


def test_no_credential_shows_and_an_unpublished_table_is_one_line(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    fake_api.today = date(2022, 1, 7)
    with_credentials = fake_api.base_url.replace("http://", "http://analyst:s3cret@")
    settings = make_settings(
        tmp_path, fake_api, api_url=with_credentials, start=date(2022, 1, 3), datasets=(OCB,)
    )
    pipeline.ingest(settings)
    pipeline.transform(settings)
    shown = explain(tmp_path, "gold_daily_cash_balance", "record_date=2022-01-05", "--json")
    assert shown.exit_code == 0, shown.output
    assert "s3cret" not in shown.output and "analyst" not in shown.output
    [evidence] = json.loads(shown.stdout)["bronze"]
    assert _requested(fake_api, evidence["request_url"])
    result = explain(tmp_path, "gold_daily_totals", "record_date=2022-01-05")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: gold_daily_totals is not published in lake commit 1; run `treasury run` with the "
        "datasets public_debt_transactions"
    ]
