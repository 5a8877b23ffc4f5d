"""OpenLineage run events, received by a local HTTP receiver (``tests/lineage_receiver.py``).

Tried as a user would: ``treasury run`` with ``OPENLINEAGE_URL`` set sends START and COMPLETE for
every step, each event carrying the fields the spec requires and the facets (schema, column
lineage, row counts, data-quality assertions); a step that fails sends FAIL; a receiver that is
down fails nothing and is logged once; without configuration nothing is sent or imported.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb
import pytest
from click.testing import CliRunner
from psycopg.conninfo import conninfo_to_dict
from test_postgres_warehouse import fresh_database

from conftest import make_settings
from lineage_receiver import LineageReceiver, assert_spec_fields, by_job, closed_port
from treasury_lakehouse import pipeline
from treasury_lakehouse.catalog import DATASETS
from treasury_lakehouse.cli import main
from treasury_lakehouse.errors import QualityGateError, WarehouseError
from treasury_lakehouse.lineage import lineage_configured, parent_run_id
from treasury_lakehouse.testing import FakeFiscalDataApi

OCB = "operating_cash_balance"
STEPS = (
    {f"ingest.{name}" for name in DATASETS}
    | {f"silver.{name}" for name in DATASETS}
    | {"gold", "check", "load"}
)
LINEAGE_LOGGER = "treasury_lakehouse.lineage.emitter"


@pytest.fixture
def lineage_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """No OpenLineage configuration from the outer shell, the working directory or ~; and none
    left behind (the client copies OPENLINEAGE_URL into OPENLINEAGE__TRANSPORT__... variables)."""
    for name in list(os.environ):
        if name.startswith("OPENLINEAGE"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    yield monkeypatch
    for name in list(os.environ):
        if name.startswith("OPENLINEAGE__"):
            del os.environ[name]


@pytest.fixture
def receiver() -> Iterator[LineageReceiver]:
    with LineageReceiver() as server:
        yield server


def _dataset(events: list[dict[str, Any]], job: str, kind: str, name: str) -> dict[str, Any]:
    """The ``kind`` (inputs/outputs) dataset ``name`` of ``job``'s last event."""
    [event] = [e for e in events if e["job"]["name"] == job and e["eventType"] != "START"][-1:]
    [found] = [d for d in event[kind] if d["name"] == name]
    return found


def test_treasury_run_sends_start_and_complete_for_every_step_with_facets(
    fake_api: FakeFiscalDataApi,
    tmp_path: Path,
    lineage_env: pytest.MonkeyPatch,
    receiver: LineageReceiver,
) -> None:
    lineage_env.setenv("OPENLINEAGE_URL", receiver.url)
    fake_api.today = date(2022, 5, 20)
    home = (tmp_path / "home").resolve()
    args = ["run", "--home", str(home), "--api-url", fake_api.base_url, "--start", "2022-03-01"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output

    events = receiver.events
    assert set(receiver.paths) == {"/api/v1/lineage"}
    for event in events:
        assert_spec_fields(event)
        assert event["job"]["namespace"] == "treasury-lakehouse"
        assert event["schemaURL"].startswith("https://openlineage.io/spec/")
    assert by_job(events) == {job: ["START", "COMPLETE"] for job in STEPS}
    # one run per step; every step a child of the same pipeline run
    assert len({e["run"]["runId"] for e in events}) == len(STEPS)
    parents = {(p["job"]["name"], p["run"]["runId"]) for p in _parents(events)}
    [(parent_job, parent_id)] = parents
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        [run_id] = con.execute("SELECT DISTINCT run_id FROM load_manifest").fetchone() or [None]
        daily_rows = con.execute("SELECT COUNT(*) FROM gold_daily_totals").fetchone()[0]
    assert (parent_job, parent_id) == ("pipeline", parent_run_id(str(run_id)))

    # ingest: the API endpoint in, the bronze directory out (file URI naming), with row counts
    lake = home / "lake"
    ingest = [e for e in events if e["job"]["name"] == f"ingest.{OCB}"][-1]
    [api] = ingest["inputs"]
    assert api["namespace"] == f"http://127.0.0.1:{urlsplit(fake_api.base_url).port}"
    assert api["name"].endswith("/" + DATASETS[OCB].endpoint)
    [bronze] = ingest["outputs"]
    assert (bronze["namespace"], bronze["name"]) == ("file", str(lake / "bronze" / OCB))
    assert bronze["outputFacets"]["outputStatistics"]["rowCount"] > 0

    # silver: schema with types
    silver = _dataset(events, f"silver.{OCB}", "outputs", str(lake / "silver" / OCB))
    fields = {f["name"]: f["type"] for f in silver["facets"]["schema"]["fields"]}
    assert fields["record_date"] == "DATE" and fields["batch_id"] == "VARCHAR"

    # gold: row counts and column lineage derived from the SQL
    gold_dir = str(lake / "gold" / "gold_daily_totals")
    gold = _dataset(events, "gold", "outputs", gold_dir)
    assert gold["outputFacets"]["outputStatistics"]["rowCount"] == daily_rows
    issues = gold["facets"]["columnLineage"]["fields"]["issues_usd_mil"]["inputFields"]
    pdt = str(lake / "silver" / "public_debt_transactions")
    assert {(f["namespace"], f["name"], f["field"]) for f in issues} == {
        ("file", pdt, "transaction_today_amt"),
        ("file", pdt, "transaction_type"),
    }

    # check: the gate's assertions on the tables it read
    checked = _dataset(
        events, "check", "inputs", gold_dir.replace("daily_totals", "daily_cash_balance")
    )
    assertions = checked["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert any(a["assertion"] == "tga_continuity" and a["success"] for a in assertions)

    # load: the DuckDB warehouse is a file dataset, one per table
    warehouse = _dataset(
        events, "load", "outputs", f"{home / 'warehouse.duckdb'}/main.gold_daily_totals"
    )
    assert warehouse["namespace"] == "file"
    assert warehouse["outputFacets"]["outputStatistics"]["rowCount"] == daily_rows


def _parents(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["run"]["facets"]["parent"] for e in events]


def test_a_failed_quality_gate_sends_fail_for_check_with_its_assertions(
    fake_api: FakeFiscalDataApi,
    synthetic_records: Path,
    tmp_path: Path,
    lineage_env: pytest.MonkeyPatch,
    receiver: LineageReceiver,
) -> None:
    lineage_env.setenv("OPENLINEAGE_URL", receiver.url)
    match = {
        "record_date": "2022-05-17",
        "account_type": "Treasury General Account (TGA) Closing Balance",
    }
    closing = _original(synthetic_records, match)["open_today_bal"]
    fake_api.restate(OCB, match, {"open_today_bal": str(int(closing) - 2_000)})
    settings = make_settings(tmp_path, fake_api, start=date(2022, 5, 2), end=date(2022, 5, 31))
    with pytest.raises(QualityGateError):
        pipeline.run(settings)

    events = receiver.events
    jobs = by_job(events)
    assert jobs["check"] == ["START", "FAIL"]
    assert "load" not in jobs and jobs["gold"] == ["START", "COMPLETE"]
    [failed] = [e for e in events if e["job"]["name"] == "check" and e["eventType"] == "FAIL"]
    assert_spec_fields(failed)
    assert "quality gate" in failed["run"]["facets"]["errorMessage"]["message"]
    broken = {
        (a["assertion"], d["name"].rsplit("/", 1)[-1])
        for d in failed["inputs"]
        for a in d["inputFacets"]["dataQualityAssertions"]["assertions"]
        if not a["success"]
    }
    assert ("tga_continuity", "gold_daily_cash_balance") in broken


def _original(records: Path, match: dict[str, str]) -> dict[str, str]:
    import gzip

    with gzip.open(records / "records" / f"{OCB}.jsonl.gz", "rt") as handle:
        rows = [json.loads(line) for line in handle]
    [row] = [r for r in rows if all(r[k] == v for k, v in match.items())]
    return dict(row)


def test_an_unreachable_postgresql_warehouse_sends_fail_for_load_without_the_password(
    fake_api: FakeFiscalDataApi,
    tmp_path: Path,
    lineage_env: pytest.MonkeyPatch,
    receiver: LineageReceiver,
) -> None:
    lineage_env.setenv("OPENLINEAGE_URL", receiver.url)
    fake_api.today = date(2022, 5, 20)
    port = closed_port()
    dsn = f"postgresql://treasury:s3cret-pw@127.0.0.1:{port}/lakehouse"
    settings = make_settings(tmp_path, fake_api, start=date(2022, 5, 2), warehouse=dsn)
    with pytest.raises(WarehouseError):
        pipeline.run(settings)

    jobs = by_job(receiver.events)
    assert jobs["load"] == ["START", "FAIL"] and jobs["check"] == ["START", "COMPLETE"]
    assert not any("s3cret-pw" in body for body in receiver.bodies)
    [failed] = [
        e for e in receiver.events if e["job"]["name"] == "load" and e["eventType"] == "FAIL"
    ]
    names = {(d["namespace"], d["name"]) for d in failed["outputs"]}
    assert (f"postgres://127.0.0.1:{port}", "lakehouse.public.gold_daily_totals") in names
    assert "cannot connect" in failed["run"]["facets"]["errorMessage"]["message"]


@pytest.mark.postgres
def test_a_load_into_postgresql_names_its_tables_by_host_port_and_database(
    fake_api: FakeFiscalDataApi,
    tmp_path: Path,
    lineage_env: pytest.MonkeyPatch,
    receiver: LineageReceiver,
) -> None:
    lineage_env.setenv("OPENLINEAGE_URL", receiver.url)
    fake_api.today = date(2022, 5, 20)
    with fresh_database() as dsn:
        settings = make_settings(tmp_path, fake_api, start=date(2022, 5, 2), warehouse=dsn)
        result = pipeline.run(settings)
    params = conninfo_to_dict(dsn)
    namespace = f"postgres://{params.get('host', 'localhost')}:{params.get('port', 5432)}"

    assert by_job(receiver.events) == {job: ["START", "COMPLETE"] for job in STEPS}
    table = f"{params['dbname']}.public.gold_daily_totals"
    loaded = _dataset(receiver.events, "load", "outputs", table)
    assert loaded["namespace"] == namespace
    rows = loaded["outputFacets"]["outputStatistics"]["rowCount"]
    assert rows == result.load.tables["gold_daily_totals"] > 0


def test_a_receiver_that_is_down_fails_nothing_and_is_logged_once(
    fake_api: FakeFiscalDataApi,
    tmp_path: Path,
    lineage_env: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # configured through OPENLINEAGE_CONFIG this time, without the client's retries
    config = tmp_path / "lineage.yml"
    config.write_text(
        "transport:\n  type: http\n"
        f"  url: http://127.0.0.1:{closed_port()}\n"
        "  retry:\n    total: 0\n"
    )
    lineage_env.setenv("OPENLINEAGE_CONFIG", str(config))
    fake_api.today = date(2022, 5, 20)
    settings = make_settings(tmp_path / "home", fake_api, start=date(2022, 5, 2))
    with caplog.at_level(logging.WARNING):
        result = pipeline.run(settings)
    assert result.quality is not None and result.quality.passed
    lines = [r.getMessage() for r in caplog.records if r.name == LINEAGE_LOGGER]
    assert len(lines) == 1, lines
    assert "OpenLineage events of run" in lines[0] and "not sent" in lines[0]


def test_nothing_is_sent_or_imported_without_configuration(
    fake_api: FakeFiscalDataApi,
    tmp_path: Path,
    lineage_env: pytest.MonkeyPatch,
    receiver: LineageReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert not lineage_configured()
    # importing the client would now fail: a step that tried would log a warning
    lineage_env.setitem(sys.modules, "openlineage", None)
    lineage_env.setitem(sys.modules, "openlineage.client", None)
    fake_api.today = date(2022, 5, 20)
    settings = make_settings(tmp_path / "home", fake_api, start=date(2022, 5, 2))
    with caplog.at_level(logging.DEBUG):
        pipeline.run(settings)
    assert receiver.bodies == []
    assert not [r for r in caplog.records if r.name.startswith("treasury_lakehouse.lineage")]

    lineage_env.setenv("OPENLINEAGE_URL", receiver.url)
    lineage_env.setenv("OPENLINEAGE_DISABLED", "true")
    assert not lineage_configured()
