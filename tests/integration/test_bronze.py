"""The bronze commit protocol: a batch counts only once its manifest entry is written."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import make_settings
from treasury_lakehouse import pipeline
from treasury_lakehouse.errors import TransientApiError
from treasury_lakehouse.ingest import bronze as bronze_module
from treasury_lakehouse.ingest.bronze import METADATA_COLUMNS, BronzeStore
from treasury_lakehouse.ingest.paging import Page
from treasury_lakehouse.testing import FakeFiscalDataApi, Fault

OCB = "operating_cash_balance"


def _digest(paths: list[Path]) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_batch_holds_values_exactly_as_received_with_metadata(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path, fake_api, start=date(2022, 4, 14), end=date(2022, 4, 18), datasets=(OCB,)
    )
    [result] = pipeline.ingest(settings)
    store = BronzeStore(settings.lake)
    [batch] = store.batches(OCB)
    assert batch.rows == result.rows == 3 + 3 + 4  # 04-14/15: old layout, 04-18: the new one
    table = pq.read_table(store.files(OCB)).to_pylist()
    assert all(r["batch_id"] == batch.batch_id for r in table)
    assert set(METADATA_COLUMNS) <= set(table[0])
    closing = [r for r in table if r["account_type"].endswith("Closing Balance")]
    assert closing[0]["close_today_bal"] == "null"  # the API's literal string, kept as received
    assert closing[0]["record_calendar_month"] == "04"
    assert (store.dataset_dir(OCB) / f"batch-{batch.batch_id}" / "api_meta.json").exists()


def _crash_before_manifest(home: str, api_url: str) -> None:
    def die(*args: object, **kwargs: object) -> None:
        os._exit(9)  # the process dies after the data files, before the manifest entry

    bronze_module.atomic_write_json = die  # type: ignore[assignment]
    settings = pipeline.Settings(
        home=Path(home), api_url=api_url, datasets=(OCB,), start=date(2022, 1, 3)
    )
    pipeline.ingest(settings)


def test_crash_between_data_file_and_manifest_leaves_nothing_visible(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path, fake_api, datasets=(OCB,), start=date(2021, 12, 1), end=date(2021, 12, 31)
    )
    pipeline.ingest(settings)
    store = BronzeStore(settings.lake)
    committed = _digest(store.files(OCB))

    child = multiprocessing.get_context("spawn").Process(
        target=_crash_before_manifest, args=(str(tmp_path), fake_api.base_url)
    )
    child.start()
    child.join(60)
    assert child.exitcode == 9
    orphans = [p for p in store.dataset_dir(OCB).iterdir() if p.name.startswith("batch-")]
    assert len(orphans) == 2  # the committed batch and the crashed one's files
    assert len(store.batches(OCB)) == 1 and _digest(store.files(OCB)) == committed

    pipeline.ingest(
        make_settings(
            tmp_path, fake_api, datasets=(OCB,), start=date(2022, 1, 3), end=date(2022, 1, 31)
        )
    )
    batch_dirs = [p for p in store.dataset_dir(OCB).iterdir() if p.name.startswith("batch-")]
    assert len(batch_dirs) == 2 == len(store.batches(OCB))  # the orphan was cleaned up
    assert {k: v for k, v in _digest(store.files(OCB)).items() if k in committed} == committed


def test_failed_fetch_commits_nothing(fake_api: FakeFiscalDataApi, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, fake_api, datasets=(OCB,), page_size=20, max_retries=1, start=date(2022, 1, 3)
    )

    def fail_after_first_page(dataset: str, page: Page) -> None:
        fake_api.inject_faults([Fault(status=500, times=5)])

    with pytest.raises(TransientApiError, match="HTTP 500"):
        pipeline.ingest(settings, on_page=fail_after_first_page)
    store = BronzeStore(settings.lake)
    assert store.batches(OCB) == []
    assert not list(store.dataset_dir(OCB).glob("batch-*"))


def test_empty_answer_commits_no_batch(fake_api: FakeFiscalDataApi, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, fake_api, datasets=(OCB,), start=date(2030, 1, 1))
    [result] = pipeline.ingest(settings)
    assert result.rows == 0 and result.batch_id is None
    assert BronzeStore(settings.lake).batches(OCB) == []
