"""As of a past time: silver, gold and the warehouse as a run at that time published them.

``--as-of T`` (``transform``, ``check``, ``load``, ``report``) works in a scratch home,
``<home>/as-of/<T>/``, that nothing treats as current:

- ``lake/bronze/<dataset>/`` holds hard links (copies where the file system has none) of the
  home's committed bronze batches that a run at T could see: each dataset's batches in manifest
  sequence, up to the last one committed at or before T. The sequence, not the clock, orders
  them, so a clock set back never lets a later batch in ahead of an earlier one. Links are made
  batch files first, manifest entry last, as bronze commits them: a crash leaves an uncommitted
  batch the next call removes.
- silver, gold and the row histories are built there by the ordinary transform, from those
  batches alone: what an incremental run at T built equals a full build of the same batches (the
  incremental tests prove it), and a history built from them ends every interval T did not yet
  know of at NULL, as the run at T wrote it.
- ``check --as-of`` judges that state with the clock set to T; ``report --as-of`` writes
  ``<home>/as-of/<T>/report/``; ``load --as-of T --warehouse URL`` gates and publishes it into URL
  (never by default into the home's warehouse: that would roll it back).

A second call for the same T reuses the scratch lake when the batches it holds are still the
ones committed by T (``as_of.json``). A batch ``treasury repair`` moved aside after T is not
there; its refetched window is a later batch, so a state before the repair cannot be rebuilt.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from treasury_lakehouse import pipeline
from treasury_lakehouse.catalog import DATASETS
from treasury_lakehouse.config import Settings, default_warehouse
from treasury_lakehouse.errors import ConfigError, LakeError
from treasury_lakehouse.incremental import link_file
from treasury_lakehouse.ingest.bronze import BronzeStore
from treasury_lakehouse.ingest.manifest import Batch, ManifestEntry
from treasury_lakehouse.lake.files import atomic_write_json, temporary_sibling
from treasury_lakehouse.lake.layout import Lake
from treasury_lakehouse.lake.lock import WAREHOUSE_SCOPE, home_lock
from treasury_lakehouse.lineage import Lineage
from treasury_lakehouse.paths import require_lake, require_writable_home
from treasury_lakehouse.pipeline import TransformResult
from treasury_lakehouse.quality import QualityReport
from treasury_lakehouse.warehouse.base import LoadResult, lake_tables, missing_tables

log = logging.getLogger(__name__)

#: the scratch homes' folder inside the home
AS_OF_DIR = "as-of"
#: what a scratch home was built from: the time and each dataset's batch ids
MARKER = "as_of.json"


def parse_as_of(text: str) -> datetime:
    """``--as-of``: ISO 8601, a date or a date and time; without an offset it is UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"--as-of: {text!r} is not an ISO 8601 time (2026-12-01T18:30:00Z, "
            "2026-12-01T13:30:00-05:00 or 2026-12-01; no offset means UTC)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    now = datetime.now(UTC)
    if value > now:
        raise ConfigError(
            f"--as-of {value.isoformat()} is later than now ({now.isoformat(timespec='seconds')}): "
            "batches committed until then are not known yet"
        )
    return value


def stamp(at: datetime) -> str:
    """The scratch home's folder name of ``at`` (UTC, to the microsecond when it has one)."""
    text = at.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{text}.{at.microsecond:06d}Z" if at.microsecond else f"{text}Z"


@dataclass(frozen=True)
class Snapshot:
    """The scratch home of one time and the batches it holds per dataset."""

    at: datetime
    home: Path
    batches: dict[str, tuple[str, ...]]

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    def settings(self, base: Settings, warehouse: str | None = None) -> Settings:
        """``base`` pointed at the scratch home: only the datasets with a batch by then, and its
        own embedded warehouse unless ``warehouse`` names one."""
        scratch = base.with_overrides(home=self.home, lake_uri="")  # its own lake folder
        return scratch.with_overrides(
            datasets=tuple(self.batches),
            warehouse=warehouse or default_warehouse(self.home),
        )

    def built(self) -> bool:
        """Whether the scratch lake holds a transform of exactly these batches."""
        try:
            marker = json.loads((self.home / MARKER).read_text())
        except (OSError, ValueError):
            return False
        return bool(marker.get("batches") == {k: list(v) for k, v in self.batches.items()})

    def mark_built(self, commit: int) -> None:
        atomic_write_json(
            self.home / MARKER,
            {
                "as_of": self.at.isoformat(),
                "commit": commit,
                "batches": {k: list(v) for k, v in self.batches.items()},
            },
        )


def known_batches(entries: list[Batch], at: datetime) -> list[Batch]:
    """The batches a run at ``at`` could see: in sequence, up to the first committed later."""
    seen = []
    for batch in entries:
        if _time(batch.commit_time) > at:
            break
        seen.append(batch)
    return seen


def _time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def snapshot(settings: Settings, at: datetime) -> Snapshot:
    """Link the home's bronze as of ``at`` into its scratch home (see the module's docstring)."""
    home_bronze = BronzeStore(settings.lake)
    home = settings.home / AS_OF_DIR / stamp(at)
    scratch_bronze = BronzeStore(home / "lake")
    batches: dict[str, tuple[str, ...]] = {}
    first: list[str] = []
    for name in DATASETS:
        every = home_bronze.batches(name)
        if every:
            first.append(every[0].commit_time)
        seen = known_batches(every, at)
        if not seen:
            continue
        _link_dataset(home_bronze, scratch_bronze, name, seen)
        batches[name] = tuple(b.batch_id for b in seen)
    if not batches:
        earliest = f"; the first was committed at {min(first)}" if first else ""
        raise LakeError(
            f"no bronze batch of {settings.lake} was committed at or before {at.isoformat()}"
            f"{earliest}"
        )
    return Snapshot(at, home, batches)


def _link_dataset(home: BronzeStore, scratch: BronzeStore, name: str, seen: list[Batch]) -> None:
    """Make ``scratch``'s committed batches of ``name`` exactly ``seen`` (already linked ones
    stay; one that should not be there, left by a state before a repair, means starting anew)."""
    wanted, directory = {b.batch_id for b in seen}, scratch.dataset_dir(name)
    if directory.is_dir():
        if any(b.batch_id not in wanted for b in scratch.batches(name)):
            log.info("as-of bronze of %s holds other batches: linked anew", name)
            shutil.rmtree(directory)
        else:
            scratch.remove_uncommitted(name)
    have = {b.batch_id for b in scratch.batches(name)}
    entries = {e.batch_id: e for e in home.entries(name)}
    for batch in seen:
        if batch.batch_id not in have:
            _link_batch(home, scratch, name, batch, entries[batch.batch_id])


def _link_batch(
    home: BronzeStore, scratch: BronzeStore, name: str, batch: Batch, entry: ManifestEntry
) -> None:
    source, target = home.dataset_dir(name), scratch.dataset_dir(name)
    for relative in batch.committed_files:
        _link(source / relative, target / relative)
    _link(entry.path, target / "_manifest" / entry.path.name)  # last: the batch counts from here


def _link(source: Path, target: Path) -> None:
    """``target`` as a hard link of ``source`` (a copy across file systems), made under a
    temporary name and renamed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(target)
    try:
        link_file(source, tmp)
    except FileNotFoundError:
        raise LakeError(
            f"bronze file {source} vanished while the as-of lake was linked (moved aside by "
            "`treasury repair`?); run the command again"
        ) from None
    os.replace(tmp, target)


# ---------------------------------------------------------------------- the commands


@dataclass(frozen=True)
class AsOfBuild:
    """A scratch home built as of a time: its settings, and the transform that built it now
    (``None`` when an earlier call had built it from the same batches)."""

    snapshot: Snapshot
    settings: Settings
    transform: TransformResult | None


@contextmanager
def _scratch(settings: Settings, at: datetime, run_id: str) -> Iterator[AsOfBuild]:
    """Link bronze as of ``at`` and build silver and gold there (unless already built), holding
    the scratch home's lock for the whole command."""
    require_lake(settings)
    home = settings.home / AS_OF_DIR / stamp(at)
    home.mkdir(parents=True, exist_ok=True)
    with home_lock(home, f"as-of {run_id}", [AS_OF_DIR]):
        shot = snapshot(settings, at)
        scratch = shot.settings(settings)
        result = None
        if not shot.built() or Lake(shot.lake).find_commit() is None:
            log.info("as of %s: building %s", at.isoformat(), home)
            with pipeline.locked(scratch, f"as-of transform {run_id}", datasets=True, gold=True):
                result = pipeline.transform_locked(scratch, run_id, Lineage(run_id))
            shot.mark_built(result.commit)
        yield AsOfBuild(shot, scratch, result)


def transform(settings: Settings, at: datetime) -> AsOfBuild:
    """Build silver and gold as of ``at`` in the scratch home (nothing current changes)."""
    run_id = pipeline.new_run_id()
    with _scratch(settings, at, run_id) as build:
        return build


def check(settings: Settings, at: datetime) -> tuple[AsOfBuild, QualityReport]:
    """Run every check on the state as of ``at``, the checks' clock set to ``at``; the report is
    kept in the scratch lake only."""
    run_id = pipeline.new_run_id()
    with _scratch(settings, at, run_id) as build:
        commit = Lake(build.snapshot.lake).require_commit()
        report = pipeline.traced_check(
            build.settings, run_id, "check", commit=commit, now=at, record=False
        )
        return build, report


def load(settings: Settings, at: datetime, warehouse: str) -> tuple[AsOfBuild, LoadResult]:
    """Gate the state as of ``at`` and publish it, whole, into ``warehouse`` (a URL the caller
    names: the home's own warehouse only when named, since that rolls it back to ``at``)."""
    run_id = pipeline.new_run_id()
    with _scratch(settings, at, run_id) as build:
        target = build.settings.with_overrides(warehouse=warehouse)
        require_writable_home(target)
        commit = Lake(build.snapshot.lake).require_commit()
        missing = missing_tables(commit)
        if missing:
            raise LakeError(
                f"as of {at.isoformat()} no run could have published {', '.join(missing)}: "
                f"no batch of their datasets had been committed by then (datasets with one: "
                f"{', '.join(build.snapshot.batches)}); nothing was published"
            )
        scopes = [WAREHOUSE_SCOPE] if _same_warehouse(target, settings) else []
        with home_lock(settings.lock_home, f"load --as-of {run_id}", scopes):
            lineage, tables = Lineage(run_id), lake_tables(commit)
            pipeline.traced_check(
                target, run_id, "load", commit=commit, now=at, lineage=lineage, gate=True
            )
            result = pipeline.load_locked(
                target, run_id, commit, tables, lineage, incremental=False
            )
        return build, result


def report(settings: Settings, at: datetime) -> tuple[AsOfBuild, Path]:
    """The HTML report of the state as of ``at``, in ``<home>/as-of/<at>/report/``."""
    from treasury_lakehouse.report import build_report

    run_id = pipeline.new_run_id()
    with _scratch(settings, at, run_id) as build:
        return build, build_report(build.settings)


def _same_warehouse(target: Settings, home: Settings) -> bool:
    """Whether ``target`` publishes into the warehouse the home's commands use."""
    if target.warehouse_kind != home.warehouse_kind:
        return False
    if target.warehouse_kind == "duckdb":
        return target.duckdb_warehouse_path.resolve() == home.duckdb_warehouse_path.resolve()
    return target.warehouse == home.warehouse
