"""Is everything the lake committed still there and readable?

Checks, each reported as a :class:`Damage` naming the file or version:

- every bronze manifest entry parses (types, names, dataset);
- every committed bronze file exists and has the size and sha256 its entry recorded (entries
  written before checksums were recorded: the file exists and its Parquet footer opens — a note,
  not damage);
- every version the lake references (silver, quarantine, gold) exists and its Parquet footers and
  ``_build.json`` open;
- the warehouse opens (the DuckDB file read-only, listing its tables; PostgreSQL: a connection).

Nothing here writes; :mod:`treasury_lakehouse.lake.repair` acts on the damage found.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow.parquet as pq

from treasury_lakehouse.config import Settings, mask_dsn
from treasury_lakehouse.engines.base import partition_name
from treasury_lakehouse.errors import LakeError, TreasuryError
from treasury_lakehouse.ingest.bronze import Batch, BronzeStore
from treasury_lakehouse.lake.commit import (
    carried_by_reference,
    carried_versions,
    commit_path,
    commit_seqs,
    read_commit,
)
from treasury_lakehouse.lake.files import TMP_MARK
from treasury_lakehouse.lake.layout import BUILD_INFO, Lake
from treasury_lakehouse.lake.remote import RemoteLake, mirror_of

DamageKind = Literal["manifest", "bronze", "refetch", "version", "commit", "warehouse"]


@dataclass(frozen=True)
class Damage:
    """One damaged thing: what it is, where, and what is wrong with it."""

    kind: DamageKind
    path: str
    problem: str
    dataset: str | None = None
    #: for bronze damage: the batch, its manifest entry and its window ("start..end", … unbounded)
    batch_id: str | None = None
    seq: int | None = None
    entry: str | None = None
    window: str | None = None

    def summary(self) -> str:
        what = {
            "manifest": "bronze manifest entry",
            "bronze": "bronze file",
            "refetch": "window of a damaged batch moved aside, not yet fetched again:",
            "version": "lake version",
            "commit": "lake reference",
            "warehouse": "warehouse",
        }[self.kind]
        batch = f" ({self.dataset} batch {self.batch_id})" if self.kind == "bronze" else ""
        return f"{what} {self.path}{batch}: {self.problem}"


@dataclass
class VerifyReport:
    """What was checked, what is damaged, and notes that are not damage."""

    checksums: bool
    damaged: list[Damage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.damaged

    def count(self, what: str, n: int = 1) -> None:
        self.checked[what] = self.checked.get(what, 0) + n

    def summary(self) -> str:
        counts = ", ".join(f"{n:,} {what}" for what, n in self.checked.items()) or "nothing"
        verdict = "no damage" if self.ok else f"{len(self.damaged)} damaged"
        return f"{verdict}; checked {counts}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checksums": self.checksums,
            "checked": self.checked,
            "damaged": [asdict(d) for d in self.damaged],
            "notes": self.notes,
        }


def verify_lake(
    settings: Settings, *, checksums: bool = True, versions: bool = True, warehouse: bool = True
) -> VerifyReport:
    """Check the bronze of ``settings.datasets``, then (optionally) every referenced version and
    the warehouse. ``checksums=False, versions=False, warehouse=False`` is the cheap check of
    ``treasury status`` (entries parse, files exist with their recorded size)."""
    report = VerifyReport(checksums=checksums)
    bronze = BronzeStore(settings.lake)
    for name in settings.datasets:
        verify_bronze(bronze, name, report)
    head = None
    if versions:
        head = verify_commit_log(Lake(settings.lake), report)
        verify_versions(Lake(settings.lake), report)
        mirror = mirror_of(settings.lake)
        if mirror is not None:
            verify_bucket(mirror, bronze, settings.datasets, head, report)
    if warehouse:
        verify_warehouse(settings, report, head)
    return report


def verify_bucket(
    mirror: RemoteLake,
    bronze: BronzeStore,
    datasets: Iterable[str],
    head_seq: int | None,
    report: VerifyReport,
) -> None:
    """A lake in a bucket: every batch the cache holds is committed in the bucket, and every
    version the newest commit retains is there complete (its ``_uploaded.json``)."""
    for name in datasets:
        prefix = f"bronze/{name}/_manifest/"
        held = set(mirror.store.list(prefix))
        for entry in bronze.entries(name):
            report.count("bucket manifest entries")
            key = f"{prefix}{entry.path.name}"
            if key not in held:
                report.damaged.append(
                    Damage(
                        "manifest",
                        mirror.store.where(key),
                        "is in the cache but not in the bucket",
                        dataset=name,
                        batch_id=entry.batch_id,
                        seq=entry.seq,
                        entry=str(entry.path),
                    )
                )
    if head_seq is None:
        return
    try:
        head = read_commit(mirror.root, head_seq)
        retained = head.retained()
    except LakeError:  # the commit log's and the versions' own checks report it
        return
    report.count("bucket versions", len(retained))
    for where in mirror.missing_versions(retained):
        report.damaged.append(
            Damage("version", where, f"is named by lake commit {head.seq} but not complete")
        )


def verify_bronze(bronze: BronzeStore, dataset: str, report: VerifyReport) -> None:
    """Entries parse; files exist with their recorded size (and sha256 if ``report.checksums``)."""
    unrecorded = 0
    for entry in bronze.entries(dataset):
        report.count("manifest entries")
        if entry.batch is None:
            report.damaged.append(
                Damage(
                    "manifest",
                    str(entry.path),
                    f"does not parse ({entry.problem})",
                    dataset=dataset,
                    batch_id=entry.batch_id,
                    seq=entry.seq,
                    entry=str(entry.path),
                )
            )
            continue
        batch = entry.batch
        report.count("bronze files", len(batch.committed_files))
        found = bronze.damage(batch, checksums=report.checksums)
        if not batch.file_sha256:
            unrecorded += 1
            if report.checksums and not found:
                found = _unreadable_footers(bronze.dataset_dir(dataset), batch)
        for path, problem in found:
            report.damaged.append(_bronze_damage(batch, entry.path, path, problem))
    for marker in bronze.pending_refetches(dataset):
        problem = "run `treasury repair` to fetch it"
        report.damaged.append(Damage("refetch", str(marker), problem, dataset=dataset))
    if unrecorded and report.checksums:
        report.notes.append(
            f"{dataset}: no checksum recorded in {unrecorded} batch(es) written before checksums "
            "were kept: only existence and Parquet footers checked"
        )


def _bronze_damage(batch: Batch, entry: Path, path: Path, problem: str) -> Damage:
    return Damage(
        "bronze",
        str(path),
        problem,
        dataset=batch.dataset,
        batch_id=batch.batch_id,
        seq=batch.seq,
        entry=str(entry),
        window=batch.window,
    )


def _unreadable_footers(base: Path, batch: Batch) -> list[tuple[Path, str]]:
    found = []
    for name in batch.files:
        problem = parquet_problem(base / name)
        if problem:
            found.append((base / name, problem))
    return found


def parquet_problem(path: Path) -> str | None:
    """Why a Parquet file's footer does not open, or ``None``."""
    try:
        pq.read_metadata(path)
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ... for a bad file
        return f"Parquet footer does not open ({' '.join(str(error).split())[:160]})"
    return None


def referenced_versions(lake: Lake) -> dict[str, Path]:
    """Every version the lake references, keyed ``silver/<dataset>``, ``quarantine/<dataset>``,
    ``gold/<table>``. The one place verify resolves references, only through :class:`Lake`'s
    published_silver, current_quarantine and published_gold."""
    versions: dict[str, Path] = {}
    for table, version in lake.published_silver().items():
        dataset = table.removeprefix("silver_")
        versions[f"silver/{dataset}"] = version
        quarantine = lake.current_quarantine(dataset)
        if quarantine is not None:
            versions[f"quarantine/{dataset}"] = quarantine
    for table, version in lake.published_gold().items():
        versions[f"gold/{table}"] = version
    for dataset, version in lake.published_history().items():
        versions[f"history/{dataset}"] = version
        for source in sorted(carried_versions(version)):  # partitions it carries by reference
            versions[f"history/{dataset}/carried from/{source.name}"] = source
    return versions


def verify_commit_log(lake: Lake, report: VerifyReport) -> int | None:
    """Commit records are numbered 1, 2, ... and never removed: a gap is a lost record. Returns
    the head's seq (``None`` before the first transform)."""
    seqs = commit_seqs(lake.root)
    report.count("lake commits", len(seqs))
    if not seqs:
        return None
    for missing in sorted(set(range(1, seqs[-1] + 1)) - set(seqs)):
        path = commit_path(lake.root, missing)
        if lost_commit_note(path).exists():  # repair recorded the loss
            report.notes.append(f"commit record {path.name} was lost (recorded by repair)")
            continue
        report.damaged.append(Damage("commit", str(path), "commit record missing from the log"))
    return seqs[-1]


def lost_commit_note(path: Path) -> Path:
    """Where ``treasury repair`` records that the commit record ``path`` was lost."""
    return path.with_name(path.name.removesuffix(".json") + ".lost")


def verify_versions(lake: Lake, report: VerifyReport) -> None:
    """Every referenced version exists, its ``_build.json`` parses and its Parquet footers open."""
    try:
        versions = referenced_versions(lake)
    except (LakeError, OSError, ValueError) as error:
        report.damaged.append(Damage("commit", str(lake.root), " ".join(str(error).split())))
        return
    for name, version in versions.items():
        report.count("versions")
        dataset = name.split("/")[1]
        for path, problem in _version_problems(version, report):
            report.damaged.append(Damage("version", str(path), f"{name}: {problem}", dataset))


def _version_problems(version: Path, report: VerifyReport) -> Iterable[tuple[Path, str]]:
    if not version.is_dir():
        yield version, "referenced but missing"
        return
    info = version / BUILD_INFO
    if info.exists():
        try:
            json.loads(info.read_bytes())
        except (OSError, ValueError) as error:
            yield info, f"does not parse ({type(error).__name__})"
        else:
            try:
                carried = carried_by_reference(version)
            except LakeError as error:
                yield info, str(error)
                carried = {}
            for year, source in carried.items():
                partition = source / partition_name(year)
                if not partition.is_dir():
                    yield partition, "carried by reference but missing"
    for path in sorted(version.rglob("*.parquet")):
        if TMP_MARK in path.name:
            continue
        report.count("Parquet footers")
        problem = parquet_problem(path)
        if problem:
            yield path, problem


def verify_warehouse(settings: Settings, report: VerifyReport, head: int | None = None) -> None:
    """The DuckDB file opens read-only and lists its tables; a PostgreSQL warehouse connects.
    A DuckDB warehouse that loaded a lake commit newer than the lake's head shows the newest
    commit records were lost (the lake would otherwise quietly fall back to an older commit)."""
    if settings.warehouse_kind == "postgresql":
        _verify_postgres(settings, report)
        return
    path = settings.duckdb_warehouse_path
    if not path.exists():
        report.notes.append(f"no warehouse file at {path} yet (`treasury load` creates it)")
        return
    import duckdb

    try:
        with duckdb.connect(str(path), read_only=True) as con:
            tables = con.execute("SELECT COUNT(*) FROM duckdb_tables()").fetchone()
    except (duckdb.Error, OSError) as error:
        problem = f"does not open as a DuckDB database ({' '.join(str(error).split())[:200]})"
        report.damaged.append(Damage("warehouse", str(path), problem))
        return
    report.count("warehouse tables", int(tables[0]) if tables else 0)
    loaded = _loaded_commit(path)
    if head is not None and loaded is not None and loaded > head:
        problem = (
            f"loaded lake commit {loaded}, but the lake's newest commit record is {head}: "
            f"commit records after {head} are missing from {settings.lake / '_commits'}"
        )
        report.damaged.append(Damage("commit", str(path), problem))


def _loaded_commit(path: Path) -> int | None:
    """The lake commit of the DuckDB warehouse's latest load (``load_manifest``), if any."""
    import duckdb

    try:
        with duckdb.connect(str(path), read_only=True) as con:
            row = con.execute(
                "SELECT lake_commit FROM load_manifest ORDER BY loaded_at DESC LIMIT 1"
            ).fetchone()
    except (duckdb.Error, OSError):  # an older warehouse without the column, or no loads yet
        return None
    return int(row[0]) if row and row[0] is not None else None


def _verify_postgres(settings: Settings, report: VerifyReport) -> None:
    from treasury_lakehouse.warehouse.postgres import PostgresWarehouse  # type: ignore[import-not-found,unused-ignore]

    try:
        with PostgresWarehouse(settings.warehouse).connect() as con:
            con.execute("SELECT 1")
    except TreasuryError as error:
        report.damaged.append(Damage("warehouse", mask_dsn(settings.warehouse), str(error)))
        return
    report.count("warehouse connections")
