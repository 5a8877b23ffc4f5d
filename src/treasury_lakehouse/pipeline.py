"""The facade: ``ingest``, ``transform``, ``check``, ``load``, ``run``, ``status``, ``verify`` and
``repair``.

The CLI and the Airflow DAGs call only these. Each public step takes the home's lock; ``run`` takes
it once for all of its steps. ``transform`` publishes one lake commit; ``check`` and ``load`` read
one commit, resolved once (:mod:`treasury_lakehouse.lake.commit`).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from treasury_lakehouse.catalog import DATASETS, get_dataset
from treasury_lakehouse.config import Settings
from treasury_lakehouse.duckdb_connect import remove_spill_leftovers
from treasury_lakehouse.engines import open_engine
from treasury_lakehouse.engines.base import QUARANTINE_FILE, BronzeBatch, SilverCounts
from treasury_lakehouse.engines.gold import plan_gold
from treasury_lakehouse.errors import (
    CorruptLakeError,
    LakeError,
    LockHeldError,
    QualityGateError,
    SchemaDriftError,
    WarehouseError,
)
from treasury_lakehouse.history import (
    BatchTime,
    HistoryCounts,
    build_history,
    history_status,
    parse_where,
    plan_history,
    read_versions,
)
from treasury_lakehouse.incremental import SilverPlan, build_version, plan_silver
from treasury_lakehouse.ingest.bronze import BronzeStore, check_contract, require_committed
from treasury_lakehouse.ingest.client import FiscalDataClient
from treasury_lakehouse.ingest.paging import Page, Window
from treasury_lakehouse.ingest.window import dataset_window
from treasury_lakehouse.ingest.window import ingest_window as ingest_window  # re-exported
from treasury_lakehouse.lake.commit import (
    Changes,
    LakeCommit,
    Layer,
    commit_seqs,
    prune_versions,
    read_commit,
    write_commit,
)
from treasury_lakehouse.lake.files import atomic_write_json, new_version, remove_orphans
from treasury_lakehouse.lake.layout import BUILD_INFO, Lake, read_build_info
from treasury_lakehouse.lake.lock import GOLD_SCOPE, WAREHOUSE_SCOPE, dataset_scope, home_lock
from treasury_lakehouse.lake.remote import attach as attach_lake
from treasury_lakehouse.lake.repair import RepairResult, repair_lake
from treasury_lakehouse.lake.verify import VerifyReport, verify_lake
from treasury_lakehouse.lineage import Lineage
from treasury_lakehouse.lineage import datasets as lineage_of
from treasury_lakehouse.models.incremental import definition_fingerprint
from treasury_lakehouse.models.registry import GOLD_MODELS, GoldModel
from treasury_lakehouse.quality import CheckContext, QualityReport, run_checks
from treasury_lakehouse.quality.checks import all_checks
from treasury_lakehouse.quality.store import append_report, find_baseline, latest_report
from treasury_lakehouse.warehouse import open_warehouse
from treasury_lakehouse.warehouse.base import LoadResult, WarehouseTable, lake_tables
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
    #: the lake commit that published this transform's versions
    commit: int = 0
    #: per dataset: how its silver was built (``full``, ``incremental`` or ``unchanged``) and,
    #: when incremental, the record years rebuilt
    silver_builds: dict[str, str] = field(default_factory=dict)
    #: per dataset: how its row history was built, and its counts (None when carried unchanged)
    history: dict[str, HistoryCounts | None] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    run_id: str
    ingest: list[IngestResult]
    transform: TransformResult
    load: LoadResult
    extra: dict[str, Any] = field(default_factory=dict)
    quality: QualityReport | None = None


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
                lake.history_dir(name),
            ]
    if gold:
        scopes.append(GOLD_SCOPE)
        leftovers.append(settings.lake / "gold")
    if warehouse:
        scopes.append(WAREHOUSE_SCOPE)
    with home_lock(settings.lock_home, purpose, scopes):
        attach_lake(settings)  # a lake in a bucket: the cache catches up under the locks
        for directory in leftovers:
            remove_orphans(directory)
        remove_spill_leftovers(settings)
        if warehouse and settings.warehouse_kind == "duckdb":
            from treasury_lakehouse.warehouse.duckdb import remove_leftovers

            remove_leftovers(settings.duckdb_warehouse_path)
        yield


def ingest(
    settings: Settings, on_page: PageCallback | None = None, run_id: str | None = None
) -> list[IngestResult]:
    """Fetch each dataset's window from the API into a new committed bronze batch (``run_id``:
    the pipeline run its lineage events belong to; by default a new one)."""
    lineage = Lineage(run_id or _new_run_id())
    with _locked(settings, "ingest", datasets=True):
        return _ingest(settings, on_page, lineage)


def _ingest(
    settings: Settings, on_page: PageCallback | None, lineage: Lineage
) -> list[IngestResult]:
    bronze = BronzeStore(settings.lake)
    # every window first: a usage error stops the run before anything is fetched
    windows = {
        name: dataset_window(settings, get_dataset(name), bronze.watermark(name))
        for name in settings.datasets
    }
    with _api_client(settings) as client:
        return [
            _traced_ingest(settings, lineage, name, windows[name], on_page, bronze, client)
            for name in settings.datasets
        ]


def _traced_ingest(
    settings: Settings,
    lineage: Lineage,
    name: str,
    windows: tuple[Window, Window | None],
    on_page: PageCallback | None,
    bronze: BronzeStore,
    client: FiscalDataClient,
) -> IngestResult:
    """:func:`_ingest_dataset` as the lineage job ``ingest.<dataset>``."""
    with lineage.step(
        f"ingest.{name}", inputs=lambda: [lineage_of.api_dataset(settings, name)]
    ) as step:
        result = _ingest_dataset(bronze, client, name, *windows, on_page)
        step.set_outputs(lambda: [lineage_of.bronze_dataset(settings, name, result.rows)])
    return result


def _ingest_dataset(
    bronze: BronzeStore,
    client: FiscalDataClient,
    name: str,
    asked: Window,
    window: Window | None,
    on_page: PageCallback | None,
) -> IngestResult:
    """One dataset's ``asked`` window, clipped to its span (``window``): a new batch, or none.

    A window wholly outside the span asks nothing of the API; a dataset without bronze then gets
    an empty batch (an empty silver table), as it does when nothing was published from its first
    date on. An empty answer to part of the span leaves no batch (``run`` says so).
    """
    dataset = get_dataset(name)
    bronze.remove_uncommitted(name)
    log.debug("stage ingest %s", name)
    started = time.monotonic()
    counter = _PageCounter(name, on_page)
    if window is None:
        note = f"not asked: {asked} lies outside {name}'s span {dataset.span}"
        shown = f"{asked} (outside {dataset.span}: not asked)"
        batch = None if bronze.batches(name) else bronze.write_empty_batch(dataset, asked, note)
    else:
        batch = bronze.write_batch(dataset, client.pages(dataset, window), window, counter)
        shown = str(window)
        if batch is None and window.start == dataset.first_date and not bronze.batches(name):
            note = f"the API has no {name} records from its first date ({window})"
            batch = bronze.write_empty_batch(dataset, window, note)
    return IngestResult(
        dataset=name,
        window=shown,
        rows=batch.rows if batch else 0,
        pages=counter.pages,
        batch_id=batch.batch_id if batch else None,
        watermark=bronze.watermark(name),
        seconds=time.monotonic() - started,
    )


def _require_some_bronze(settings: Settings, results: list[IngestResult]) -> None:
    """In ``run``: a dataset whose first window was empty has nothing to build silver from; say
    so, naming the window, rather than let the transform ask for the ingest that just ran."""
    bronze = BronzeStore(settings.lake)
    empty = [r for r in results if r.batch_id is None and not bronze.batches(r.dataset)]
    if empty:
        committed = ", ".join(f"{r.dataset} {r.rows:,} rows" for r in results if r.batch_id)
        raise LakeError(
            "the API has no records of "
            + ", ".join(f"{r.dataset} in {r.window}" for r in empty)
            + " and bronze holds none yet, so there is nothing to transform: ask for an earlier "
            "--start (or TREASURY_START_DATE)"
            + (f"; committed meanwhile: {committed}" if committed else ""),
            datasets=[r.dataset for r in empty],
        )


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


def transform(settings: Settings, run_id: str | None = None) -> TransformResult:
    """Rebuild silver of the chosen datasets from committed bronze, then every gold table, and
    publish them all as one lake commit (other datasets' silver is carried forward)."""
    run_id = run_id or _new_run_id()
    with _locked(settings, f"transform {run_id}", datasets=True, gold=True):
        return _transform(settings, run_id, Lineage(run_id))


@dataclass(frozen=True)
class _SilverBuild:
    counts: SilverCounts
    silver: str
    quarantine: str
    plan: SilverPlan


def _transform(settings: Settings, run_id: str, lineage: Lineage) -> TransformResult:
    started = time.monotonic()
    lake = Lake(settings.lake)
    base_seq, base, silver, quarantine, history = _carried_forward(settings, lake)
    engine = open_engine(settings)
    try:
        built = _silver(settings, engine, base, lineage)
        history_counts: dict[str, HistoryCounts | None] = {}
        for name in settings.datasets:
            history[name], history_counts[name] = _build_history(settings, lake, name, base)
        changes: dict[str, frozenset[int] | None] = {}
        for build in built:
            silver[build.counts.dataset] = build.silver
            quarantine[build.counts.dataset] = build.quarantine
            if build.plan.mode != "unchanged":
                changes[build.counts.dataset] = build.plan.changes
        with lineage.step("gold", inputs=lambda: lineage_of.gold_inputs(settings, silver)) as step:
            gold, gold_versions = _build_gold(engine, lake, silver, base=base, changes=changes)
            step.set_outputs(lambda: lineage_of.gold_outputs(settings, gold))
        engine_name = str(engine.name)
    finally:
        engine.close()
    log.debug("stage commit %s", run_id)
    commit = write_commit(
        lake.root,
        base_seq=base_seq,
        run_id=run_id,
        purpose="transform",
        engine=engine_name,
        silver=silver,
        quarantine=quarantine,
        gold=gold_versions,
        counts={"silver": {b.counts.dataset: _accounting(b.counts) for b in built}, "gold": gold},
        changes=changes,
        history=history,
    )
    log.debug("stage commit prune")
    prune_versions(lake.root, settings.keep_commits)
    builds = {b.counts.dataset: _describe(b.plan) for b in built}
    return TransformResult(
        [b.counts for b in built],
        gold,
        time.monotonic() - started,
        commit.seq,
        builds,
        history_counts,
    )


def _describe(plan: SilverPlan) -> str:
    if plan.scope is None:
        return plan.mode
    return f"{plan.mode} ({', '.join(str(y) for y in sorted(plan.scope.years)) or 'no year'})"


def _accounting(counts: SilverCounts) -> dict[str, int]:
    """The row accounting of one dataset's silver build, as recorded in the lake commit."""
    return {k: v for k, v in asdict(counts).items() if k not in ("dataset", "by_batch_year")}


def _carried_forward(
    settings: Settings, lake: Lake
) -> tuple[int, LakeCommit | None, dict[str, str], dict[str, str], dict[str, str]]:
    """The commit a transform builds on (its seq, and the commit when readable), and the silver,
    quarantine and history versions it keeps of the datasets it does not rebuild (each must
    still be on disk)."""
    seqs = commit_seqs(lake.root)
    try:
        base = lake.commit()
    except LakeError:
        if set(settings.datasets) != set(DATASETS):
            raise
        log.warning("the current lake commit is unreadable; every dataset is rebuilt anew")
        return (seqs[-1] if seqs else 0), None, {}, {}, {}
    if base is None:
        return (seqs[-1] if seqs else 0), None, {}, {}, {}
    keep = [d for d in base.silver if d not in settings.datasets]
    silver = {d: base.silver[d] for d in keep}
    quarantine = {d: base.quarantine[d] for d in keep if d in base.quarantine}
    history = {d: base.history[d] for d in keep if d in base.history}
    paths = [lake.silver_dir(d) / v for d, v in silver.items()]
    paths += [lake.quarantine_dir(d) / v for d, v in quarantine.items()]
    paths += [lake.history_dir(d) / v for d, v in history.items()]
    for path in paths:
        if not path.is_dir():
            raise LakeError(
                f"{path.relative_to(lake.root)} of lake commit {base.path} is missing; "
                f"transform that dataset too (`treasury transform --dataset {path.parent.name}`)"
            )
    return base.seq, base, silver, quarantine, history


def _silver(
    settings: Settings, engine: Any, base: LakeCommit | None, lineage: Lineage
) -> list[_SilverBuild]:
    check_contracts(settings)
    bronze, lake = BronzeStore(settings.lake), Lake(settings.lake)
    return [
        _traced_silver(settings, lineage, engine, bronze, lake, name, base)
        for name in settings.datasets
    ]


def _traced_silver(
    settings: Settings,
    lineage: Lineage,
    engine: Any,
    bronze: BronzeStore,
    lake: Lake,
    name: str,
    base: LakeCommit | None,
) -> _SilverBuild:
    """:func:`_build_silver` as the lineage job ``silver.<dataset>``."""
    with lineage.step(
        f"silver.{name}", inputs=lambda: [lineage_of.bronze_dataset(settings, name)]
    ) as step:
        build = _build_silver(engine, bronze, lake, name, base, settings.full_rebuild)
        step.set_outputs(lambda: lineage_of.silver_outputs(settings, build.counts))
    return build


def _base_version(lake: Lake, base: LakeCommit | None, layer: Layer, name: str) -> Path | None:
    """The version of ``name`` in ``base``, if it is on disk."""
    version = base.versions(layer).get(name) if base is not None else None
    return version if version is not None and version.is_dir() else None


def _build_silver(
    engine: Any,
    bronze: BronzeStore,
    lake: Lake,
    name: str,
    base: LakeCommit | None,
    full: bool,
) -> _SilverBuild:
    log.debug("stage silver %s", name)
    dataset = get_dataset(name)
    batches = bronze.batches(name)
    require_committed(batches, name)
    bronze.require_intact(name, batches)  # a missing or cut page: one line naming it and `repair`
    inputs = [BronzeBatch.from_manifest(b, bronze.dataset_dir(name)) for b in batches]
    base_silver = _base_version(lake, base, "silver", name)
    base_quarantine = _base_version(lake, base, "quarantine", name)
    plan = plan_silver(
        dataset,
        inputs,
        base_silver,
        base_quarantine / QUARANTINE_FILE if base_quarantine else None,
        full=full,
    )
    log.info("silver %s: %s build (%s)", name, plan.mode, plan.reason)
    if plan.mode == "unchanged" and base_silver and base_quarantine:
        counts = SilverCounts.from_tallies(name, plan.base_tallies)
        return _SilverBuild(counts, base_silver.name, base_quarantine.name, plan)
    with (
        new_version(lake.silver_dir(name)) as silver,
        new_version(lake.quarantine_dir(name)) as quarantine,
    ):
        counts = build_version(
            engine, dataset, inputs, plan, silver.directory, quarantine.directory, silver.name
        )
    return _SilverBuild(counts, silver.name, quarantine.name, plan)


def _build_history(
    settings: Settings, lake: Lake, name: str, base: LakeCommit | None
) -> tuple[str, HistoryCounts | None]:
    """The history version of ``name`` this transform publishes (built by DuckDB for every
    engine: :mod:`treasury_lakehouse.history`), and its counts (None when carried unchanged)."""
    log.debug("stage history %s", name)
    dataset, bronze = get_dataset(name), BronzeStore(settings.lake)
    batches = bronze.batches(name)
    inputs = [BronzeBatch.from_manifest(b, bronze.dataset_dir(name)) for b in batches]
    times = {b.batch_id: BatchTime(b.commit_time, b.ingested_at) for b in batches}
    previous = _base_version(lake, base, "history", name)
    plan = plan_history(dataset, inputs, previous, full=settings.full_rebuild)
    log.info("history %s: %s build (%s)", name, plan.mode, plan.reason)
    if plan.mode == "unchanged" and previous is not None:
        return previous.name, None
    with new_version(lake.history_dir(name)) as out:
        counts = build_history(settings, dataset, inputs, times, plan, out.directory, out.name)
    return out.name, counts


def _build_gold(
    engine: Any,
    lake: Lake,
    silver_versions: dict[str, str],
    base: LakeCommit | None = None,
    changes: Changes | None = None,
) -> tuple[dict[str, int], dict[str, str]]:
    """Every gold table whose silver sources are in ``silver_versions``: rows and versions.

    ``base`` is the commit the transform built on and ``changes`` what changed in silver since
    (:attr:`LakeCommit.changes`; ``None``: unknown). A table none of whose source years changed
    keeps its base version; a few changed years are recomputed incrementally; else in full
    (:func:`~treasury_lakehouse.engines.gold.plan_gold`).
    """
    silver = {f"silver_{d}": lake.silver_dir(d) / v for d, v in silver_versions.items()}
    base_gold = base.versions("gold") if base else {}
    rows, versions = {}, {}
    for model in GOLD_MODELS:
        if not set(model.sources) <= silver.keys():
            continue
        inputs = {source: silver[source] for source in model.sources}
        log.debug("stage gold %s", model.name)
        plan = plan_gold(model, inputs, _changed_years(model, changes), base_gold.get(model.name))
        log.info("gold %s: %s (%s)", model.name, plan.mode, plan.reason)
        if plan.mode == "carried" and plan.previous is not None:
            rows[model.name] = int(read_build_info(plan.previous)["rows"])
            versions[model.name] = plan.previous.name
            continue
        with new_version(lake.gold_dir(model.name)) as out:
            rows[model.name] = engine.build_gold(
                model, inputs, out.directory, years=plan.years, previous=plan.previous
            )
            atomic_write_json(
                out.directory / BUILD_INFO,
                {
                    "engine": engine.name,
                    "version": out.name,
                    "rows": rows[model.name],
                    "definition": definition_fingerprint(model),
                    **plan.build_info(),
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
        versions[model.name] = out.name
    return rows, versions


def _changed_years(model: GoldModel, changes: Changes | None) -> frozenset[int] | None:
    """The record years of ``model``'s sources that changed (``None``: unknown or all)."""
    if changes is None:
        return None
    years: frozenset[int] = frozenset()
    for source in model.sources:
        changed = changes.get(source.removeprefix("silver_"), frozenset())
        if changed is None:
            return None
        years |= changed
    return years


def load(settings: Settings, run_id: str | None = None) -> LoadResult:
    """Publish the current lake commit's silver and gold to the warehouse, all tables at once.

    The commit is resolved once: it must name every catalog dataset's silver and every gold table,
    all on disk (:class:`LakeError` otherwise). The quality checks run on exactly that commit
    first, and a lake whose error-level checks fail is not published (:class:`QualityGateError`),
    so ``transform`` then ``load`` is gated like ``run``; then exactly that commit is published.
    """
    run_id = run_id or _new_run_id()
    lineage = Lineage(run_id)
    with _locked(settings, "load", warehouse=True):
        commit = Lake(settings.lake).require_commit()
        tables = lake_tables(commit)
        _traced_check(settings, run_id, lineage, "load", warehouse_locked=True, commit=commit)
        return _load(settings, run_id, commit, tables, lineage)


def _load(
    settings: Settings,
    run_id: str,
    commit: LakeCommit,
    tables: list[WarehouseTable],
    lineage: Lineage,
    incremental: bool = True,
) -> LoadResult:
    """Publish ``tables`` of ``commit`` as the lineage job ``load`` (``incremental``: the
    embedded warehouse may rewrite only what changed since its last load of this lake)."""
    log.debug("stage load %s", settings.warehouse_kind)
    with lineage.step(
        "load",
        inputs=lambda: lineage_of.load_inputs(settings, tables),
        outputs=lambda: lineage_of.load_outputs(settings, tables),
    ) as step:
        warehouse = open_warehouse(settings, incremental=incremental)
        result = warehouse.publish(tables, run_id, commit=commit)
        step.set_outputs(lambda: lineage_of.load_outputs(settings, tables, result.tables))
    return result


def check(settings: Settings, run_id: str | None = None) -> QualityReport:
    """Run every data-quality check on the current lake commit, without loading anything.

    The report is kept in ``<lake>/_quality`` (append-only) and in the warehouse's
    ``quality_results``; error-level failures are in ``report.failed`` (this function does not
    raise for them: ``run`` and ``load`` do, and :func:`require_passed` does on request).
    """
    run_id = run_id or _new_run_id()
    attach_lake(settings)
    return _traced_check(settings, run_id, Lineage(run_id), "check", False, gate=False)


def require_passed(report: QualityReport) -> None:
    """Raise :class:`QualityGateError` naming each failing check, day and row, if any failed."""
    _gate(report)


def _traced_check(
    settings: Settings,
    run_id: str,
    lineage: Lineage,
    stage: str,
    warehouse_locked: bool,
    commit: LakeCommit | None = None,
    gate: bool = True,
    now: datetime | None = None,
    record: bool = True,
) -> QualityReport:
    """:func:`_check` (then, when ``gate``, :func:`_gate`) as the lineage job ``check``: its
    inputs carry the checks' assertions, and a failed error-level check makes it FAIL."""
    with lineage.step("check") as step:
        report = _check(settings, run_id, stage, warehouse_locked, commit, now, record)
        step.set_inputs(lambda: lineage_of.checked_inputs(settings, report))
        if report.failed:
            step.fail(report.gate_message())
        if gate:
            _gate(report)
    return report


def _check(
    settings: Settings,
    run_id: str,
    stage: str,
    warehouse_locked: bool,
    commit: LakeCommit | None = None,
    now: datetime | None = None,
    record: bool = True,
) -> QualityReport:
    """Check ``commit`` (by default the current one, resolved once) and keep the report.

    The check starts from the last report that passed for a lake commit, when there is one and
    the lake says what changed since (:mod:`~treasury_lakehouse.quality.incremental`); else full.

    When a load will publish (``commit`` given, checks passed) into the embedded warehouse, the
    report goes into the new warehouse file before it is swapped in; otherwise it is recorded in
    the warehouse in a transaction of its own (unless not ``record``). ``now``: the checks'
    clock (``--as-of``), by default the current time.
    """
    publishing = commit is not None and stage != "check"
    if commit is None:
        commit = Lake(settings.lake).find_commit()
    log.debug("stage check %s", stage)
    context = CheckContext(now, settings.end) if now else CheckContext.current(end=settings.end)
    checks = all_checks()
    baseline = find_baseline(settings.lake, commit, checks) if commit else None
    report = run_checks(
        settings.lake, run_id, context, checks, commit=commit, settings=settings, baseline=baseline
    )
    append_report(settings.lake, report, stage)
    if not record or (publishing and not report.failed and settings.warehouse_kind == "duckdb"):
        return report
    log.debug("stage check record")
    try:
        if warehouse_locked:
            sync_quality(settings)
        else:
            with home_lock(settings.lock_home, f"{stage} {run_id}", [WAREHOUSE_SCOPE]):
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
    lineage = Lineage(run_id)
    with _locked(settings, f"run {run_id}", datasets=True, gold=True, warehouse=True):
        ingested = _ingest(settings, on_page, lineage)
        _require_some_bronze(settings, ingested)
        transformed = _transform(settings, run_id, lineage)
        commit = read_commit(settings.lake, transformed.commit).require_readable()
        tables = lake_tables(commit)
        quality = _traced_check(settings, run_id, lineage, "run", True, commit=commit)
        loaded = _load(settings, run_id, commit, tables, lineage)
    return RunResult(run_id, ingested, transformed, loaded, quality=quality)


def history(
    settings: Settings, dataset: str, day: date, where: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The versions of ``dataset``'s rows of record date ``day`` in the current lake commit,
    oldest first (``where``: ``COL=VALUE`` filters on silver columns, compared as text)."""
    spec = get_dataset(dataset)
    filters = parse_where(spec, where)
    commit = Lake(settings.lake).require_commit()
    version = commit.versions("history").get(dataset)
    if version is None:
        raise LakeError(
            f"lake commit {commit.seq} has no history of {dataset} (written before row "
            "histories existed); run `treasury transform`"
        )
    return read_versions(version, spec, day, filters)


def _new_run_id() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:6]}"


def status(settings: Settings) -> dict[str, Any]:
    """Per dataset: bronze batches and rows, silver and quarantined rows, watermark, its row
    history (:func:`~treasury_lakehouse.history.history_status`); gold rows;
    the current lake commit (or why it cannot be read); ``damaged``: how many bronze files are
    missing or of the wrong size (a cheap check without checksums: ``verify`` checks everything).
    An unreadable manifest entry raises :class:`CorruptLakeError`."""
    attach_lake(settings)
    bronze, lake = BronzeStore(settings.lake), Lake(settings.lake)
    try:
        commit, commit_error = lake.commit(), None
    except LakeError as error:
        commit, commit_error = None, str(error)
    silver = commit.versions("silver") if commit else {}
    histories = commit.versions("history") if commit else {}
    datasets = {}
    for name in settings.datasets:
        batches = bronze.batches(name)
        info = read_build_info(silver.get(name))
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
            "history": history_status(histories.get(name)),
        }
    gold_versions = commit.versions("gold") if commit else {}
    gold = {name: read_build_info(v).get("rows") for name, v in gold_versions.items()}
    damage = verify_lake(settings, checksums=False, versions=False, warehouse=False)
    result = {
        "home": str(settings.home),
        "lake": settings.remote_lake or str(settings.lake),
        "warehouse": settings.warehouse if settings.warehouse_kind == "duckdb" else "postgresql",
        "datasets": datasets,
        "gold": gold,
        "lake_commit": commit.seq if commit else None,
        "quality": _quality_status(settings),
        "damaged": len(damage.damaged),
        "damaged_files": [d.summary() for d in damage.damaged],
    }
    if commit_error:
        result["lake_commit_error"] = commit_error
    return result


def _quality_status(settings: Settings) -> dict[str, Any] | None:
    """The latest quality report kept in the lake: which checks failed and warned."""
    report = latest_report(settings.lake)
    if report is None:
        return None
    keys = ("run_id", "stage", "checked_at", "passed", "failed_checks", "warning_counts")
    return {key: report[key] for key in keys}


def status_json(settings: Settings) -> str:
    return json.dumps(status(settings), indent=2, sort_keys=True)


def verify(settings: Settings) -> VerifyReport:
    """Check that everything the lake committed is there and readable, and that the warehouse
    opens (see :mod:`treasury_lakehouse.lake.verify`); reads only, under the home's locks so that
    no run changes the lake meanwhile. Damage is in ``report.damaged`` (this function does not
    raise for it: :func:`require_intact` does)."""
    _require_lake(settings)
    scopes = [dataset_scope(name) for name in settings.datasets] + [GOLD_SCOPE, WAREHOUSE_SCOPE]
    with home_lock(settings.lock_home, "verify", scopes):
        attach_lake(settings)
        return verify_lake(settings)


def require_lake_to_mend(settings: Settings) -> None:
    """Raise :class:`LakeError` when there is no lake to verify or repair (nothing is created)."""
    _require_lake(settings)


def _require_lake(settings: Settings) -> None:
    attach_lake(settings, pull=False)  # a lake in a bucket: its cache is made on first use
    if not settings.lake.is_dir():
        raise LakeError(f"no lake at {settings.lake}: nothing to verify or repair")


def require_intact(report: VerifyReport) -> None:
    """Raise :class:`CorruptLakeError` naming the damage, if any was found."""
    if report.damaged:
        first = report.damaged[0]
        more = f" and {len(report.damaged) - 1} more" if len(report.damaged) > 1 else ""
        raise CorruptLakeError(
            f"{len(report.damaged)} damaged: {first.path}{more}; `treasury repair` sets the "
            "damage aside and fetches damaged bronze again, then `treasury run` rebuilds the rest",
            path=first.path,
        )


def repair(settings: Settings) -> RepairResult:
    """Verify, then move damaged bronze batches and a damaged warehouse file aside and fetch the
    damaged batches' windows again as new batches, under every lock (see
    :mod:`treasury_lakehouse.lake.repair`). ``run`` afterwards rebuilds silver, gold and the
    warehouse."""
    _require_lake(settings)
    with _locked(settings, "repair", datasets=True, gold=True, warehouse=True):
        return repair_lake(settings, verify_lake(settings), lambda: _api_client(settings))


def _api_client(settings: Settings) -> FiscalDataClient:
    return FiscalDataClient(
        settings.api_url,
        timeout_s=settings.timeout_s,
        retry_budget_s=settings.retry_budget_s,
        max_retries=settings.max_retries,
        page_size=settings.page_size,
    )


# ---------------------------------------------------------------------- for --as-of
# (:mod:`treasury_lakehouse.as_of` runs the same steps in a scratch home it locks itself)

locked = _locked
transform_locked = _transform
load_locked = _load
new_run_id = _new_run_id


def traced_check(
    settings: Settings,
    run_id: str,
    stage: str,
    *,
    commit: LakeCommit,
    now: datetime,
    lineage: Lineage | None = None,
    gate: bool = False,
    record: bool = True,
) -> QualityReport:
    """Check ``commit`` with the clock at ``now`` (the warehouse's lock, when needed, is the
    caller's); with ``gate``, raise :class:`QualityGateError` when an error-level check fails."""
    return _traced_check(
        settings,
        run_id,
        lineage or Lineage(run_id),
        stage,
        warehouse_locked=True,
        commit=commit,
        gate=gate,
        now=now,
        record=record,
    )
