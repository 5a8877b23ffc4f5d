"""Lineage without a pipeline: dataset naming, column lineage from the gold SQL, configuration,
and how a step's events follow its outcome (a recording client stands in for the transport)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from treasury_lakehouse.config import Settings
from treasury_lakehouse.lineage import Lineage, lineage_configured, parent_run_id
from treasury_lakehouse.lineage.columns import gold_column_lineage
from treasury_lakehouse.lineage.datasets import (
    api_dataset,
    file_dataset,
    lake_table,
    load_outputs,
    warehouse_location,
)
from treasury_lakehouse.lineage.model import LineageDataset
from treasury_lakehouse.models.registry import GOLD_MODELS
from treasury_lakehouse.warehouse.base import WarehouseTable


@pytest.fixture
def no_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    for name in list(os.environ):
        if name.startswith("OPENLINEAGE"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    yield monkeypatch


@pytest.mark.parametrize(
    ("dsn", "namespace", "prefix"),
    [
        (
            "postgresql://u:secret@db.example:6543/lake",
            "postgres://db.example:6543",
            "lake.public.",
        ),
        ("postgresql://u@localhost/lake", "postgres://localhost:5432", "lake.public."),
        ("postgresql://u:secret@/w?host=10.0.0.5", "postgres://10.0.0.5:5432", "w.public."),
    ],
)
def test_postgresql_tables_are_named_by_host_port_and_database_without_the_password(
    dsn: str, namespace: str, prefix: str
) -> None:
    location = warehouse_location(Settings(warehouse=dsn))
    assert location == (namespace, prefix)
    assert "secret" not in repr(location)


def test_the_duckdb_warehouse_is_a_file_dataset_per_table(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    table = WarehouseTable("gold_daily_totals", "", (), ())
    [output] = load_outputs(settings, [table], {"gold_daily_totals": 7})
    expected = f"{(tmp_path / 'warehouse.duckdb').resolve()}/main.gold_daily_totals"
    assert (output.namespace, output.name, output.rows) == ("file", expected, 7)


@pytest.mark.parametrize(
    ("table", "directory"),
    [
        ("silver_debt_to_penny", "silver/debt_to_penny"),
        ("received_debt_to_penny", "silver/debt_to_penny"),
        ("vanished_debt_to_penny", "bronze/debt_to_penny"),
        ("gold_daily_totals", "gold/gold_daily_totals"),
    ],
)
def test_checked_tables_are_the_lake_directories_they_read(
    tmp_path: Path, table: str, directory: str
) -> None:
    settings = Settings(home=tmp_path)
    dataset = lake_table(settings, table)
    assert dataset.namespace == "file"
    relative = Path(dataset.name).relative_to(settings.lake.resolve())
    assert relative.as_posix() == directory


def test_the_api_endpoint_is_named_without_credentials() -> None:
    settings = Settings(api_url="https://user:pw@api.example:8443/services/api/fiscal_service/")
    dataset = api_dataset(settings, "operating_cash_balance")
    assert dataset.namespace == "https://api.example:8443"
    assert dataset.name == "/services/api/fiscal_service/v1/accounting/dts/operating_cash_balance"


@pytest.mark.parametrize("model", GOLD_MODELS, ids=lambda m: m.name)
def test_every_gold_column_derives_from_columns_of_its_silver_sources(model: Any) -> None:
    sources = {
        s: file_dataset(Path("/lake/silver") / s.removeprefix("silver_")) for s in model.sources
    }
    lineage = dict(gold_column_lineage(model, sources))
    assert list(lineage) == model.column_names
    names = {d.name for d in sources.values()}
    for column, inputs in lineage.items():
        assert inputs, f"{model.name}.{column} has no source column"
        assert {i.name for i in inputs} <= names


def test_configuration_is_the_clients_standard_one(
    no_config: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert not lineage_configured()
    no_config.setenv("OPENLINEAGE_URL", "http://127.0.0.1:5000")
    assert lineage_configured()
    no_config.setenv("OPENLINEAGE_DISABLED", "true")
    assert not lineage_configured()
    no_config.delenv("OPENLINEAGE_DISABLED")
    no_config.delenv("OPENLINEAGE_URL")
    (tmp_path / "openlineage.yml").write_text("transport:\n  type: console\n")
    assert lineage_configured()


class RecordingClient:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[Any] = []
        self.fail = fail

    def emit(self, event: Any) -> None:
        if self.fail:
            raise ConnectionError("receiver http://u:pw@host/ down\nsecond line")
        self.events.append(event)


def _enabled(client: RecordingClient) -> Lineage:
    lineage = Lineage("20260101T000000Z-abcdef")
    lineage.enabled, lineage._client = True, client
    return lineage


def test_a_step_sends_start_then_complete_with_outputs_and_the_parent_run() -> None:
    client = RecordingClient()
    lineage = _enabled(client)
    with lineage.step("gold", inputs=lambda: [LineageDataset("file", "/in")]) as step:
        step.set_outputs(lambda: [LineageDataset("file", "/out", rows=3)])
    start, complete = client.events
    assert [start.eventType.value, complete.eventType.value] == ["START", "COMPLETE"]
    assert start.run.runId == complete.run.runId
    parent = complete.run.facets["parent"]
    assert parent.run.runId == parent_run_id("20260101T000000Z-abcdef")
    assert complete.outputs[0].outputFacets["outputStatistics"].rowCount == 3


def test_a_step_that_raises_sends_fail_and_the_error_propagates() -> None:
    client = RecordingClient()
    with pytest.raises(ValueError, match="broken"), _enabled(client).step("load"):
        raise ValueError("broken")
    assert [e.eventType.value for e in client.events] == ["START", "FAIL"]
    assert client.events[1].run.facets["errorMessage"].message == "ValueError: broken"


def test_a_delivery_failure_is_logged_once_and_the_steps_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lineage = _enabled(RecordingClient(fail=True))
    done = []
    with caplog.at_level(logging.WARNING):
        for job in ("ingest.a", "silver.a", "gold"):
            with lineage.step(job):
                done.append(job)
    assert done == ["ingest.a", "silver.a", "gold"]
    [line] = [r.getMessage() for r in caplog.records]
    assert "ConnectionError: receiver http://u:***@host/ down" in line
    assert "second line" not in line


def test_disabled_lineage_constructs_no_client(no_config: pytest.MonkeyPatch) -> None:
    lineage = Lineage("run")
    with lineage.step("gold") as step:
        step.set_outputs(lambda: pytest.fail("outputs are not computed when disabled"))
    assert lineage._client is None


def test_a_missing_client_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "openlineage", None)
    monkeypatch.setitem(sys.modules, "openlineage.client", None)
    lineage = Lineage("run")
    lineage.enabled = True
    with caplog.at_level(logging.WARNING), lineage.step("gold"):
        pass
    [line] = [r.getMessage() for r in caplog.records]
    assert "treasury-lakehouse[lineage]" in line
