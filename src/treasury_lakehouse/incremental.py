"""Incremental silver: which record years a transform rebuilds, and what it carries over.

A silver version is exact per record date: the authoritative batch of a date, the keys it holds
and each key's versions all live in that date. So when new batches arrive, only the record years
they hold change; every other ``record_year=<Y>/`` partition of the previous version is carried
into the new one by hard links (no byte copied or rewritten, and pruning the old version leaves
the files in place). The years rebuilt are read from the batches of those years alone.

The bookkeeping lives in each silver version's ``_build.json``: the accounting per (batch,
record year), which is also the index of which batch holds which years, and a fingerprint of
the silver definition. A build falls back to a full rebuild when it cannot trust that record:
``transform --full``, no previous version, one built by another definition or before this
bookkeeping existed, or a batch of the previous build no longer committed (``repair``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb

from treasury_lakehouse.catalog import Dataset
from treasury_lakehouse.engines.base import (
    BronzeBatch,
    Engine,
    SilverCounts,
    Tally,
    partition_dirs,
)
from treasury_lakehouse.errors import EngineError
from treasury_lakehouse.lake.files import atomic_write_json
from treasury_lakehouse.lake.layout import BUILD_INFO, read_build_info
from treasury_lakehouse.models.silver import SilverScope, silver_sql, typed_date_sql, year_of
from treasury_lakehouse.paths import parquet_list_sql
from treasury_lakehouse.sql_quote import quote_ident

log = logging.getLogger(__name__)

#: the version of the bookkeeping below; a previous build with another is rebuilt in full
BOOKKEEPING = 1
Mode = Literal["full", "incremental", "unchanged"]


def definition(dataset: Dataset) -> str:
    """A fingerprint of the silver definition: a build by another one is not built upon."""
    return hashlib.sha256(silver_sql(dataset).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SilverPlan:
    """How one dataset's silver is built this time, and why."""

    mode: Mode
    reason: str
    scope: SilverScope | None = None
    #: the previous silver version (incremental and unchanged plans build on it)
    base: Path | None = None
    base_tallies: Mapping[tuple[str, int], Tally] = field(default_factory=dict)

    @property
    def changes(self) -> frozenset[int] | None:
        """The record years this build changes (``None``: all of them)."""
        return None if self.scope is None else self.scope.years


def _tallies(info: Mapping[str, Any]) -> dict[tuple[str, int], Tally]:
    return {(str(r[0]), int(r[1])): tuple(int(v) for v in r[2:7]) for r in info["tallies"]}  # type: ignore[misc]


def plan_silver(
    dataset: Dataset,
    batches: list[BronzeBatch],
    base_silver: Path | None,
    base_quarantine: Path | None,
    *,
    full: bool = False,
) -> SilverPlan:
    """Decide between a full, an incremental and no rebuild of ``dataset``'s silver."""
    if full:
        return SilverPlan("full", "a full rebuild was asked for (--full)")
    if base_silver is None or base_quarantine is None:
        return SilverPlan("full", "no previous silver version to build on")
    info = read_build_info(base_silver)
    if info.get("bookkeeping") != BOOKKEEPING or "tallies" not in info:
        return SilverPlan("full", f"{base_silver.name} was built without incremental bookkeeping")
    if info.get("definition") != definition(dataset):
        return SilverPlan("full", f"{base_silver.name} was built by another silver definition")
    built_on = set(info.get("bronze_batches", []))
    committed = {b.batch_id for b in batches}
    gone = sorted(built_on - committed)
    if gone:
        return SilverPlan("full", f"batches of {base_silver.name} are no longer committed: {gone}")
    tallies = _tallies(info)
    new = [b for b in batches if b.batch_id not in built_on]
    if not new:
        return SilverPlan("unchanged", "no batch since", base=base_silver, base_tallies=tallies)
    years = frozenset(y for ys in batch_years(dataset, new).values() for y in ys if y != 0)
    held: dict[str, set[int]] = {}
    for batch_id, year in tallies:
        held.setdefault(batch_id, set()).add(year)
    new_ids = frozenset(b.batch_id for b in new)
    read = frozenset(
        b.batch_id for b in batches if b.batch_id in new_ids or held.get(b.batch_id, set()) & years
    )
    scope = SilverScope(years, new_ids, read, base_quarantine)
    reason = (
        f"{len(new)} new batch(es), record years {sorted(years)}, "
        f"reading {len(read)} of {len(batches)} batches"
    )
    return SilverPlan("incremental", reason, scope, base_silver, tallies)


def batch_years(dataset: Dataset, batches: list[BronzeBatch]) -> dict[str, set[int]]:
    """The record years (0: unreadable date) each batch holds, by silver's own date typing."""
    files = [f for b in batches for f in b.files]
    if not files:
        return {}
    listed = parquet_list_sql(files)
    column = quote_ident(dataset.date_column)
    day = typed_date_sql(dataset, column)
    sql = (
        f"SELECT DISTINCT batch_id, {year_of(day)} FROM "
        f"read_parquet({listed}, union_by_name = true)"
    )
    try:
        with duckdb.connect() as con:
            rows = con.execute(sql).fetchall()
    except duckdb.Error as error:
        raise EngineError(
            f"duckdb: reading the record dates of new batches failed: {error}"
        ) from error
    found: dict[str, set[int]] = {b.batch_id: set() for b in batches}
    for batch_id, year in rows:
        found.setdefault(str(batch_id), set()).add(int(year))
    return found


def merged_counts(plan: SilverPlan, built: SilverCounts) -> SilverCounts:
    """The whole dataset's accounting: the build's, and the previous one's outside its scope."""
    if plan.scope is None:
        return built
    scope = plan.scope
    kept = {
        (batch_id, year): tally
        for (batch_id, year), tally in plan.base_tallies.items()
        if year not in scope.years and not (year == 0 and batch_id in scope.new_batches)
    }
    overlap = kept.keys() & built.by_batch_year.keys()
    if overlap:
        raise EngineError(f"silver of {built.dataset}: rebuilt rows outside the scope: {overlap}")
    return SilverCounts.from_tallies(built.dataset, {**kept, **built.by_batch_year})


def carry_partitions(base: Path, silver_dir: Path, rebuilt: frozenset[int]) -> list[int]:
    """Hard-link every partition of ``base`` outside ``rebuilt`` into ``silver_dir``.

    The engine wrote the rebuilt years first (or an empty ``record_year=0`` when they hold no
    rows); that empty marker goes once a real partition is there.
    """
    carried = []
    # names relative to open directories, one scandir per partition: a daily transform carries
    # 1,736 of them, and each path lookup costs as much as the link itself
    source_fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    target_fd = os.open(silver_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for year, partition in partition_dirs(base).items():
            if year == 0 or year in rebuilt:
                continue
            name = partition.name
            try:
                os.mkdir(name, dir_fd=target_fd)
            except FileExistsError:
                raise EngineError(
                    f"silver {silver_dir.name}: {name} was both rebuilt and carried"
                ) from None
            with os.scandir(partition) as files:
                names = sorted(f.name for f in files)
            for file in names:
                relative = f"{name}/{file}"
                try:
                    os.link(relative, relative, src_dir_fd=source_fd, dst_dir_fd=target_fd)
                except OSError:  # no hard links here: link_file copies, and says so
                    link_file(partition / file, silver_dir / relative)
            carried.append(year)
    finally:
        os.close(source_fd)
        os.close(target_fd)
    written = partition_dirs(silver_dir)
    if 0 in written and len(written) > 1:
        shutil.rmtree(written[0])
    return carried


def link_file(source: str | Path, target: str | Path) -> None:
    """Hard-link ``source`` as ``target`` (a copy where the file system has no hard links)."""
    try:
        os.link(source, target)
    except OSError as error:  # a file system without hard links: copy, and say so once per file
        log.warning("cannot hard-link %s (%s); copying it", source, error)
        shutil.copy2(source, target)


def build_version(
    engine: Engine,
    dataset: Dataset,
    batches: list[BronzeBatch],
    plan: SilverPlan,
    silver_dir: Path,
    quarantine_dir: Path,
    version: str | None = None,
) -> SilverCounts:
    """Build one silver and quarantine version by ``plan`` (not ``unchanged``) into the given
    new, empty directories, with their ``_build.json``; the whole dataset's accounting.

    ``version`` is the silver version's published name (default: ``silver_dir``'s own name; a
    directory still being built has a temporary one)."""
    counts = engine.build_silver(dataset, batches, silver_dir, quarantine_dir, plan.scope)
    carried: list[int] = []
    if plan.scope is not None and plan.base is not None:
        carried = carry_partitions(plan.base, silver_dir, plan.scope.years)
        counts = merged_counts(plan, counts)
    info = {
        "engine": engine.name,
        "version": version or silver_dir.name,
        "bronze_batches": [b.batch_id for b in batches],
        "rows_in": counts.rows_in,
        "silver": counts.silver,
        "superseded": counts.superseded,
        "deleted": counts.deleted,
        "quarantined": counts.quarantined,
        **_bookkeeping(dataset, plan, counts, carried),
    }
    atomic_write_json(silver_dir / BUILD_INFO, info)
    atomic_write_json(quarantine_dir / BUILD_INFO, info)
    return counts


def _bookkeeping(
    dataset: Dataset, plan: SilverPlan, counts: SilverCounts, carried: list[int]
) -> dict[str, Any]:
    """The ``_build.json`` fields a later incremental build relies on."""
    return {
        "bookkeeping": BOOKKEEPING,
        "definition": definition(dataset),
        "mode": plan.mode,
        "plan": plan.reason,
        "rebuilt_years": None if plan.scope is None else sorted(plan.scope.years),
        "carried_years": carried,
        "tallies": [[b, y, *t] for (b, y), t in sorted(counts.by_batch_year.items())],
    }
