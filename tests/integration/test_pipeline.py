"""The pipeline on synthetic records (no ../shared needed): incremental runs, quarantine, schema
drift, the lock, and the embedded warehouse's contract."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from conftest import make_settings
from independent_gold import expected_gold, read_records
from treasury_lakehouse import pipeline
from treasury_lakehouse.errors import LockHeldError, QualityGateError, SchemaDriftError
from treasury_lakehouse.lake.layout import Lake
from treasury_lakehouse.lake.lock import dataset_scope, home_lock
from treasury_lakehouse.models.registry import GOLD_MODELS
from treasury_lakehouse.testing import FakeFiscalDataApi
from treasury_lakehouse.warehouse.duckdb import DuckDBWarehouse

PDT, OCB = "public_debt_transactions", "operating_cash_balance"
DSL, REFUNDS = "debt_subject_to_limit", "income_tax_refunds_issued"


def test_incremental_run_rereads_the_lookback_and_keeps_the_latest_version(
    fake_api: FakeFiscalDataApi, synthetic_records: Path, tmp_path: Path
) -> None:
    fake_api.today = date(2022, 3, 15)
    first = pipeline.run(make_settings(tmp_path, fake_api, start=date(2022, 3, 1)))
    windows = {r.dataset: r.window for r in first.ingest}
    assert windows[PDT] == windows[OCB] == "2022-03-01..…"

    fake_api.today = date(2022, 3, 31)
    match = {
        "record_date": "2022-03-14",
        "transaction_type": "Redemptions",
        "security_market": "Marketable",
        "security_type": "Bills",
    }
    fake_api.restate(PDT, match, {"transaction_today_amt": "1"})
    second = pipeline.run(make_settings(tmp_path, fake_api))
    windows = {r.dataset: r.window for r in second.ingest}
    assert windows[PDT] == windows[OCB] == "2022-03-08..…"  # watermark - 7 days

    counts = {c.dataset: c for c in second.transform.silver}
    pdt_days_reread = 6  # 2022-03-08..03-15 business days read twice
    assert counts[PDT].superseded == pdt_days_reread * 25
    assert counts[PDT].rows_in == counts[PDT].silver + counts[PDT].superseded
    version = Lake(tmp_path / "lake").current_silver(PDT)
    silver = duckdb.sql(
        f"SELECT transaction_today_amt FROM read_parquet('{version}/**/*.parquet') "
        "WHERE record_date = DATE '2022-03-14' AND transaction_type = 'Redemptions' "
        "AND security_type = 'Bills'"
    ).fetchall()
    assert silver == [(1,)]

    pdt = read_records(synthetic_records, PDT, date(2022, 3, 1), date(2022, 3, 31))
    ocb, dsl, refunds = (
        read_records(synthetic_records, d, date(2022, 3, 1), date(2022, 3, 31))
        for d in (OCB, DSL, REFUNDS)
    )
    for r in pdt:
        if all(r[k] == v for k, v in match.items()):
            r["transaction_today_amt"] = "1"
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    gold = expected_gold(pdt, ocb, dsl, refunds)
    assert set(gold) == {m.name for m in GOLD_MODELS}
    for table, rows in gold.items():
        assert sorted(warehouse.table_rows(table)) == rows, table


def test_bad_values_are_quarantined_with_a_reason_never_dropped(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    tga = {"record_date": "2022-01-05", "account_type": "Treasury General Account (TGA)"}
    fake_api.restate(OCB, tga, {"open_today_bal": "12,5"})
    notes = {"record_date": "2022-01-06", "security_type": "Notes", "transaction_type": "Issues"}
    fake_api.restate(PDT, notes, {"transaction_today_amt": "N/A"})
    sfp = {"record_date": "2022-01-07", "account_type": "Supplementary Financing Program Account"}
    fake_api.restate(OCB, sfp, {"account_type": "null"})
    settings = make_settings(tmp_path, fake_api, start=date(2022, 1, 3), end=date(2022, 1, 31))
    with pytest.raises(QualityGateError, match="quarantined_rows on quarantine_"):
        pipeline.run(settings)  # both datasets feed gold: an outstanding bad row blocks publishing
    counts = {c.dataset: c for c in pipeline.transform(settings).silver}
    assert counts[OCB].quarantined == 2 and counts[PDT].quarantined == 1
    for c in counts.values():
        assert c.rows_in == c.silver + c.superseded + c.quarantined

    lake = Lake(settings.lake)
    ocb_q = pq.read_table(str(lake.current_quarantine(OCB) / "quarantine.parquet")).to_pylist()
    reasons = sorted(r["quarantine_reason"] for r in ocb_q)
    assert reasons == [
        "account_type: natural key is missing",
        "open_today_bal: not a CURRENCY0: 12,5",
    ]
    assert {r["open_today_bal"] for r in ocb_q} >= {"12,5"}  # raw value kept as received
    pdt_q = pq.read_table(str(lake.current_quarantine(PDT) / "quarantine.parquet")).to_pylist()
    assert pdt_q[0]["quarantine_reason"] == "transaction_today_amt: not a CURRENCY0: N/A"
    assert pipeline.status(settings)["datasets"][OCB]["quarantined_rows"] == 2


def _drifted_records(source: Path, target: Path) -> None:
    shutil.copytree(source, target)
    meta_path = target / "meta" / f"{OCB}.json"
    meta = json.loads(meta_path.read_text())
    meta["dataTypes"]["open_today_bal"] = "CURRENCY"
    meta["dataTypes"]["new_sweep_account"] = "STRING"
    meta["labels"]["new_sweep_account"] = "New"
    meta["dataFormats"]["new_sweep_account"] = "String"
    meta_path.write_text(json.dumps(meta))
    path = target / "records" / f"{OCB}.jsonl.gz"
    with gzip.open(path, "rt") as handle:
        rows = [json.loads(line) for line in handle]
    with gzip.open(path, "wt") as handle:
        for row in rows:
            handle.write(json.dumps({**row, "new_sweep_account": "x"}) + "\n")


def test_schema_drift_stops_before_silver_and_keeps_new_fields_in_bronze(
    synthetic_records: Path, tmp_path: Path
) -> None:
    records = tmp_path / "drifted"
    _drifted_records(synthetic_records, records)
    with FakeFiscalDataApi(records) as api:
        settings = make_settings(
            tmp_path / "home", api, start=date(2022, 1, 3), end=date(2022, 1, 7)
        )
        with pytest.raises(SchemaDriftError) as error:
            pipeline.run(settings)
    message = str(error.value)
    assert "+ new_sweep_account: STRING (new field, not in the catalog)" in message
    assert "~ open_today_bal: catalog CURRENCY0, API CURRENCY" in message
    assert Lake(settings.lake).current_silver(OCB) is None  # silver was not built
    bronze = pq.read_table(sorted((settings.lake / "bronze" / OCB).rglob("*.parquet"))[0])
    assert "new_sweep_account" in bronze.column_names
    assert not (tmp_path / "home" / "warehouse.duckdb").exists()


def test_a_second_run_on_the_same_home_fails_fast_naming_the_holder(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, fake_api, start=date(2022, 1, 3))
    with (
        home_lock(tmp_path, "run by a test", [dataset_scope(OCB)]),
        pytest.raises(LockHeldError, match=r"pid \d+ on .* \(run by a test"),
    ):
        pipeline.run(settings)
    assert fake_api.requests == []  # failed before touching the API


def test_warehouse_has_keys_comments_and_is_replaced_atomically(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, fake_api, start=date(2022, 4, 1), end=date(2022, 4, 29))
    pipeline.run(settings)
    path = tmp_path / "warehouse.duckdb"
    reader = duckdb.connect(str(path), read_only=True)
    before = reader.execute("SELECT COUNT(*) FROM gold_daily_totals").fetchone()

    pipeline.run(make_settings(tmp_path, fake_api, start=date(2022, 4, 1), end=date(2022, 5, 31)))
    # a reader that opened the old file keeps a complete old version
    assert reader.execute("SELECT COUNT(*) FROM gold_daily_totals").fetchone() == before
    reader.close()
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT COUNT(*) FROM gold_daily_totals").fetchone()[0] > before[0]
        keys = dict(
            con.execute(
                "SELECT table_name, list_sort(constraint_column_names) FROM duckdb_constraints() "
                "WHERE constraint_type = 'PRIMARY KEY'"
            ).fetchall()
        )
        for model in GOLD_MODELS:
            assert keys[model.name] == sorted(model.primary_key)
            assert con.execute(
                "SELECT comment FROM duckdb_tables() WHERE table_name = ?", [model.name]
            ).fetchone()[0]
            uncommented = con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND "
                "(comment IS NULL OR comment = '')",
                [model.name],
            ).fetchall()
            assert uncommented == []
        assert keys["silver_operating_cash_balance"] == ["account_type", "record_date"]
        runs = con.execute("SELECT COUNT(DISTINCT run_id) FROM load_manifest").fetchone()[0]
        assert runs == 2
    assert not list(tmp_path.glob("warehouse.duckdb.tmp-*"))
