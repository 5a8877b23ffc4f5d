"""The facade: ``ingest``, ``transform``, ``check``, ``load``, ``run`` and ``status``.

The CLI and the Airflow DAGs call only these. Each public step takes the home's lock; ``run`` takes
it once for all of its steps.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from treasury_lakehouse.catalog import get_dataset
from treasury_lakehouse.config import Settings
from treasury_lakehouse.engines import open_engine
from treasury_lakehouse.engines.base import BronzeBatch, SilverCounts
from treasury_lakehouse.errors import (
    LakeError,
    LockHeldError,
    QualityGateError,
    SchemaDriftError,
    WarehouseError,
)
from treasury_lakehouse.ingest.bronze import BronzeStore, check_contract, require_committed
from treasury_lakehouse.ingest.client import FiscalDataClient
from treasury_lakehouse.ingest.paging import Page, Window
from treasury_lakehouse.lake.files import atomic_write_json, new_version, remove_orphans
from treasury_lakehouse.lake.layout import BUILD_INFO, Lake, read_build_info
from treasury_lakehouse.lake.lock import GOLD_SCOPE, WAREHOUSE_SCOPE, dataset_scope, home_lock
from treasury_lakehouse.models.registry import GOLD_MODELS
from treasury_lakehouse.quality import CheckContext, QualityReport, run_checks
from treasury_lakehouse.quality.store import append_report, latest_report
from treasury_lakehouse.warehouse import open_warehouse
from treasury_lakehouse.warehouse.base import LoadResult, lake_tables
from treasury_lakehouse.warehouse.quality_store import sync_quality

log = logging.getLogger(__name__)

#: called once per page fetched: (dataset, page) — the CLI draws its progress bar with it
PageCallback = Callable[[str, Page], None]


@dataclass(frozen=True)
class IngestResult:
    dataset: str
    window: str
    rows: int
    pages: int
    batch_id: str | None
    watermark: date | None
    seconds: float


@dataclass(frozen=True)
class TransformResult:
    silver: list[SilverCounts]
    gold: dict[str, int]
    seconds: float


@dataclass(frozen=True)
class RunResult:
    run_id: str
    ingest: list[IngestResult]
    transform: TransformResult
    load: LoadResult
    extra: dict[str, Any] = field(default_factory=dict)
    quality: QualityReport | None = None


def ingest_window(settings: Settings, watermark: date | None) -> Window:
    """The record-date window of the next ingestion.

    An explicit ``--start`` is a backfill; otherwise the committed watermark minus the lookback
    (to catch restatements), or the initial start date on the first run.
    """
    if settings.start is not None:
        start = settings.start
    elif watermark is not None:
        start = watermark - timedelta(days=settings.lookback_days)
    else:
        start = settings.initial_start
    return Window(start, settings.end)


@contextmanager
def _locked(
    settings: Settings,
    purpose: str,
    *,
    datasets: bool = False,
    gold: bool = False,
    warehouse: bool = False,
) -> Iterator[None]:
    """Hold the locks a step needs and clean what a crashed run left in the parts they cover."""
    lake = Lake(settings.lake)
    scopes, leftovers = [], []
    if datasets:
        for name in settings.datasets:
            scopes.append(dataset_scope(name))
            leftovers += [
                BronzeStore(settings.lake).dataset_dir(name),
                lake.silver_dir(name),
                lake.quarantine_dir(name),
            ]
    if gold:
        scopes.append(GOLD_SCOPE)
        leftovers.append(settings.lake / "gold")
    if warehouse:
        scopes.append(WAREHOUSE_SCOPE)
    with home_lock(settings.home, purpose, scopes):
        for directory in leftovers:
            remove_orphans(directory)
        yield


def ingest(settings: Settings, on_page: PageCallback | None = None) -> list[IngestResult]:
    """Fetch each dataset's window from the API into a new committed bronze batch."""
    with _locked(settings, "ingest", datasets=True):
        return _ingest(settings, on_page)


def _ingest(settings: Settings, on_page: PageCallback | None) -> list[IngestResult]:
    bronze = BronzeStore(settings.lake)
    results = []
    with FiscalDataClient(
        settings.api_url,
        timeout_s=settings.timeout_s,
        max_retries=settings.max_retries,
        max_wait_s=settings.max_retry_wait_s,
        page_size=settings.page_size,
    ) as client:
        for name in settings.datasets:
            dataset = get_dataset(name)
            bronze.remove_uncommitted(name)
            window = ingest_window(settings, bronze.watermark(name))
            started = time.monotonic()
            counter = _PageCounter(name, on_page)
            batch = bronze.write_batch(dataset, client.pages(dataset, window), window, counter)
            results.append(
                IngestResult(
                    dataset=name,
                    window=str(window),
                    rows=batch.rows if batch else 0,
                    pages=counter.pages,
                    batch_id=batch.batch_id if batch else None,
                    watermark=bronze.watermark(name),
                    seconds=time.monotonic() - started,
                )
            )
    return results


class _PageCounter:
    def __init__(self, dataset: str, on_page: PageCallback | None) -> None:
        self.dataset, self.on_page, self.pages = dataset, on_page, 0

    def __call__(self, page: Page) -> None:
        self.pages += 1
        if self.on_page:
            self.on_page(self.dataset, page)


def check_contracts(settings: Settings) -> None:
    """Stop before silver when the newest batch's fields or ``dataTypes`` left the catalog."""
    bronze = BronzeStore(settings.lake)
    problems = []
    for name in settings.datasets:
        batches = bronze.batches(name)
        require_committed(batches, name)
        newest = batches[-1]
        differences = check_contract(get_dataset(name), newest)
        if differences:
            problems.append(f"{name} (batch {newest.batch_id}):\n  " + "\n  ".join(differences))
    if problems:
        raise SchemaDriftError(
            "the API's schema differs from the catalog; silver was not built (bronze keeps "
            "every field). Update catalog.py after review:\n" + "\n".join(problems)
        )


def transform(settings: Settings) -> TransformResult:
    """Rebuild silver of the chosen datasets from committed bronze, then every gold table."""
    with _locked(settings, "transform", datasets=True, gold=True):
        return _transform(settings)


def _transform(settings: Settings) -> TransformResult:
    started = time.monotonic()
    engine = open_engine(settings)
    try:
        silver = _silver(settings, engine)
        gold = _build_gold(engine, Lake(settings.lake))
    finally:
        engine.close()
    return TransformResult(silver, gold, time.monotonic() - started)


def build_silver(settings: Settings) -> list[SilverCounts]:
    """Rebuild silver (and quarantine) of the chosen datasets only."""
    with _locked(settings, "silver", datasets=True):
        engine = open_engine(settings)
        try:
            return _silver(settings, engine)
        finally:
            engine.close()


def build_gold(settings: Settings) -> dict[str, int]:
    """Rebuild every gold table whose silver sources are published."""
    with _locked(settings, "gold", gold=True):
        engine = open_engine(settings)
        try:
            return _build_gold(engine, Lake(settings.lake))
        finally:
            engine.close()


def _silver(settings: Settings, engine: Any) -> list[SilverCounts]:
    check_contracts(settings)
    bronze, lake = BronzeStore(settings.lake), Lake(settings.lake)
    return [_build_silver(engine, bronze, lake, name) for name in settings.datasets]


def _build_silver(engine: Any, bronze: BronzeStore, lake: Lake, name: str) -> SilverCounts:
    dataset = get_dataset(name)
    batches = bronze.batches(name)
    require_committed(batches, name)
    inputs = [BronzeBatch.from_manifest(b, bronze.dataset_dir(name)) for b in batches]
    with (
        new_version(lake.silver_dir(name)) as silver_dir,
        new_version(lake.quarantine_dir(name)) as quarantine_dir,
    ):
        counts: SilverCounts = engine.build_silver(dataset, inputs, silver_dir, quarantine_dir)
        info = {
            "engine": engine.name,
            "version": silver_dir.name.split(".tmp-")[0],
            "bronze_batches": [b.batch_id for b in batches],
            "rows_in": counts.rows_in,
            "silver": counts.silver,
            "superseded": counts.superseded,
            "deleted": counts.deleted,
            "quarantined": counts.quarantined,
        }
        atomic_write_json(silver_dir / BUILD_INFO, info)
        atomic_write_json(quarantine_dir / BUILD_INFO, info)
    return counts


def _build_gold(engine: Any, lake: Lake) -> dict[str, int]:
    silver = lake.published_silver()
    rows = {}
    for model in GOLD_MODELS:
        if not set(model.sources) <= silver.keys():
            continue
        inputs = {source: silver[source] for source in model.sources}
        with new_version(lake.gold_dir(model.name)) as out_dir:
            rows[model.name] = engine.build_gold(model, inputs, out_dir)
            atomic_write_json(
                out_dir / BUILD_INFO,
                {
                    "engine": engine.name,
                    "version": out_dir.name.split(".tmp-")[0],
                    "rows": rows[model.name],
                    "silver_versions": {s: p.name for s, p in inputs.items()},
                    "bronze_batches": sorted(
                        {
                            b
                            for s in inputs.values()
                            for b in read_build_info(s).get("bronze_batches", [])
                        }
                    ),
                },
            )
    return rows


def load(settings: Settings, run_id: str | None = None) -> LoadResult:
    """Publish the lake's silver and gold to the warehouse, all tables at once.

    The quality checks run first: a lake whose error-level checks fail is not published
    (:class:`QualityGateError`), so ``transform`` then ``load`` is gated like ``run``.
    """
    run_id = run_id or _new_run_id()
    with _locked(settings, "load", warehouse=True):
        _gate(_check(settings, run_id, stage="load", warehouse_locked=True))
        return _load(settings, run_id)


def _load(settings: Settings, run_id: str) -> LoadResult:
    tables = lake_tables(Lake(settings.lake))
    if not tables:
        raise LakeError(f"nothing to load: {settings.lake} has no silver or gold yet")
    return open_warehouse(settings).publish(tables, run_id)


def check(settings: Settings, run_id: str | None = None) -> QualityReport:
    """Run every data-quality check on what the lake has published, without loading anything.

    The report is kept in ``<lake>/_quality`` (append-only) and in the warehouse's
    ``quality_results``; error-level failures are in ``report.failed`` (this function does not
    raise for them: ``run`` and ``load`` do, and :func:`require_passed` does on request).
    """
    return _check(settings, run_id or _new_run_id(), stage="check", warehouse_locked=False)


def require_passed(report: QualityReport) -> None:
    """Raise :class:`QualityGateError` naming each failing check, day and row, if any failed."""
    _gate(report)


def _check(settings: Settings, run_id: str, stage: str, warehouse_locked: bool) -> QualityReport:
    report = run_checks(settings.lake, run_id, CheckContext.current(end=settings.end))
    append_report(settings.lake, report, stage)
    try:
        if warehouse_locked:
            sync_quality(settings)
        else:
            with home_lock(settings.home, f"{stage} {run_id}", [WAREHOUSE_SCOPE]):
                sync_quality(settings)
    except (WarehouseError, LockHeldError) as error:  # kept in the lake; synced next time
        log.warning("quality results of %s not yet in the warehouse: %s", run_id, error)
    return report


def _gate(report: QualityReport) -> None:
    if report.failed:
        raise QualityGateError(
            f"quality gate: nothing was published, the warehouse keeps its previous version "
            f"(run {report.run_id}). {report.gate_message()}",
            run_id=report.run_id,
            failed=[f"{r.check} on {r.table}" for r in report.failed],
        )


def run(settings: Settings, on_page: PageCallback | None = None) -> RunResult:
    """Ingest, transform and load under one lock: what ``treasury run`` and the DAG do."""
    run_id = _new_run_id()
    with _locked(settings, f"run {run_id}", datasets=True, gold=True, warehouse=True):
        ingested = _ingest(settings, on_page)
        transformed = _transform(settings)
        quality = _check(settings, run_id, stage="run", warehouse_locked=True)
        _gate(quality)
        loaded = _load(settings, run_id)
    return RunResult(run_id, ingested, transformed, loaded, quality=quality)


def _new_run_id() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:6]}"


def status(settings: Settings) -> dict[str, Any]:
    """Per dataset: bronze batches and rows, silver and quarantined rows, watermark; gold rows."""
    bronze, lake = BronzeStore(settings.lake), Lake(settings.lake)
    datasets = {}
    for name in settings.datasets:
        batches = bronze.batches(name)
        info = read_build_info(lake.current_silver(name))
        watermark = bronze.watermark(name)
        datasets[name] = {
            "bronze_batches": len(batches),
            "bronze_rows": sum(b.rows for b in batches),
            "silver_rows": info.get("silver"),
            "superseded_rows": info.get("superseded"),
            "deleted_rows": info.get("deleted"),
            "quarantined_rows": info.get("quarantined"),
            "watermark": watermark.isoformat() if watermark else None,
            "last_batch": batches[-1].batch_id if batches else None,
        }
    gold = {name: read_build_info(v).get("rows") for name, v in lake.published_gold().items()}
    return {
        "home": str(settings.home),
        "warehouse": settings.warehouse if settings.warehouse_kind == "duckdb" else "postgresql",
        "datasets": datasets,
        "gold": gold,
        "quality": _quality_status(settings),
    }


def _quality_status(settings: Settings) -> dict[str, Any] | None:
    """The latest quality report kept in the lake: which checks failed and warned."""
    report = latest_report(settings.lake)
    if report is None:
        return None
    keys = ("run_id", "stage", "checked_at", "passed", "failed_checks", "warning_counts")
    return {key: report[key] for key in keys}


def status_json(settings: Settings) -> str:
    return json.dumps(status(settings), indent=2, sort_keys=True)
