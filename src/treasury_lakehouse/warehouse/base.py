"""What a warehouse receives: tables described once, from the gold registry and the catalog."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from treasury_lakehouse.catalog import DATASETS, UNIT, get_dataset
from treasury_lakehouse.errors import LakeError
from treasury_lakehouse.lake.commit import LakeCommit
from treasury_lakehouse.lake.layout import Lake, read_build_info
from treasury_lakehouse.models.registry import GOLD, GOLD_MODELS, Column
from treasury_lakehouse.models.silver import silver_columns


@dataclass(frozen=True)
class WarehouseTable:
    """One table to publish: its Parquet source, columns, key and comments."""

    name: str
    comment: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    #: a natural key with nullable parts cannot be a primary key: it becomes a unique index
    unique_key: tuple[str, ...] = ()
    files: tuple[Path, ...] = ()
    build: dict[str, Any] = field(default_factory=dict)

    @property
    def parquet_glob(self) -> str:
        return str(self.files[0]) if len(self.files) == 1 else "[]"


@dataclass(frozen=True)
class LoadResult:
    warehouse: str
    tables: dict[str, int]
    seconds: float
    skipped: bool = False
    #: only what changed since the lake commit the warehouse held was rewritten
    incremental: bool = False


class Warehouse(Protocol):
    kind: str

    def publish(
        self, tables: list[WarehouseTable], run_id: str, commit: LakeCommit | None = None
    ) -> LoadResult:
        """Replace the published tables with these, all at once or not at all; ``commit`` is
        the lake commit they come from (its ``seq`` is recorded in ``load_manifest``; its
        ``changes`` let a warehouse rewrite only what changed since the commit it holds)."""
        ...

    def table_rows(self, name: str) -> list[tuple[Any, ...]]:
        """Every row of a published table, ordered by its key (for tests and reports)."""
        ...


def _parquet_files(version: Path) -> tuple[Path, ...]:
    return tuple(sorted(p for p in version.rglob("*.parquet") if ".tmp-" not in p.name))


def silver_table(dataset_name: str, version: Path) -> WarehouseTable:
    dataset = get_dataset(dataset_name)
    columns = []
    for name in silver_columns(dataset):
        if name in dataset.columns:
            api_type = dataset.columns[name]
            unit = f" ({UNIT[api_type]})" if api_type in UNIT else ""
            description = f"{dataset.labels.get(name, name)}{unit}; API type {api_type}"
            columns.append(Column(name, dataset.silver_type(name), description))
        elif name == "batch_id":
            columns.append(Column(name, "VARCHAR", "bronze batch this row version came from"))
        else:
            columns.append(Column(name, "TIMESTAMPTZ", "when that bronze batch was ingested (UTC)"))
    nullable = set(dataset.nullable_key_columns)
    return WarehouseTable(
        name=f"silver_{dataset.name}",
        comment=f"{dataset.title}: typed rows, one per natural key "
        f"({', '.join(dataset.natural_key)})",
        columns=tuple(columns),
        primary_key=() if nullable else dataset.natural_key,
        unique_key=dataset.natural_key if nullable else (),
        files=_parquet_files(version),
        build=read_build_info(version),
    )


#: the history table of a dataset is ``silver_<dataset>_history``
HISTORY_SUFFIX = "_history"
REVISIONS = "revisions"

_HISTORY_COLUMNS = {
    "batch_id": ("VARCHAR", "bronze batch that first delivered this version (or deleted the key)"),
    "ingestion_timestamp": ("TIMESTAMPTZ", "when that bronze batch was ingested (UTC)"),
    "batch_seq": ("BIGINT", "manifest sequence of that batch: the order of versions"),
    "known_from": ("TIMESTAMPTZ", "commit time of that batch (UTC): from when this was known"),
    "known_to": (
        "TIMESTAMPTZ",
        "commit time (UTC) of the batch that replaced or deleted this version; NULL while current",
    ),
    "is_deleted": (
        "BOOLEAN",
        "true for the version recording a deletion (the key missing from the batch "
        "authoritative for its date); its columns hold the values deleted",
    ),
}
_REVISION_COLUMNS = (
    Column("dataset", "VARCHAR", "catalog dataset (silver table silver_<dataset>)"),
    Column("record_date", "DATE", "record date of the row revised"),
    Column("row_key", "VARCHAR", "natural key as a JSON object (catalog key order, text values)"),
    Column("change", "VARCHAR", "changed, added (to a date already published) or deleted"),
    Column("column_name", "VARCHAR", "column whose value changed (changed only)"),
    Column("old_value", "VARCHAR", "value before, exact text (changed only)"),
    Column("new_value", "VARCHAR", "value after, exact text (changed only)"),
    Column("old_batch_id", "VARCHAR", "bronze batch of the version replaced or deleted"),
    Column("new_batch_id", "VARCHAR", "bronze batch that made the change"),
    Column("revised_at", "TIMESTAMPTZ", "commit time of the new batch (UTC)"),
    Column("new_batch_seq", "BIGINT", "manifest sequence of the new batch: the order of changes"),
)


def is_silver_table(name: str) -> bool:
    """A silver table proper (not a dataset's history, which shares the prefix)."""
    return name.startswith("silver_") and not name.endswith(HISTORY_SUFFIX)


def missing_tables(commit: LakeCommit) -> list[str]:
    """Catalog datasets without silver, gold models without a version in ``commit``, and (unless
    the commit predates row histories and has none) datasets without a history."""
    missing = [f"silver_{name}" for name in DATASETS if name not in commit.silver]
    missing += [model.name for model in GOLD_MODELS if model.name not in commit.gold]
    if not commit.history:  # written before row histories: loaded without them until transform
        return missing
    return missing + [
        f"silver_{name}{HISTORY_SUFFIX}" for name in DATASETS if name not in commit.history
    ]


def history_table(dataset_name: str, version: Path) -> WarehouseTable:
    """``silver_<dataset>_history``: every distinct version of each natural key."""
    from treasury_lakehouse.history import history_files

    dataset = get_dataset(dataset_name)
    silver = silver_table(dataset_name, version)
    columns = [c for c in silver.columns if c.name in dataset.columns]
    columns += [Column(n, t, d) for n, (t, d) in _HISTORY_COLUMNS.items()]
    key = (*dataset.natural_key, "batch_seq")
    nullable = set(dataset.nullable_key_columns)
    return WarehouseTable(
        name=f"silver_{dataset.name}{HISTORY_SUFFIX}",
        comment=f"{dataset.title}: every distinct version of each natural key "
        f"({', '.join(dataset.natural_key)}) across bronze batches, in manifest order, with "
        "known_from/known_to (batch commit times, UTC)",
        columns=tuple(columns),
        primary_key=() if nullable else key,
        unique_key=key if nullable else (),
        files=tuple(history_files(version)),
        build=read_build_info(version),
    )


def revisions_table(versions: dict[str, Path]) -> WarehouseTable:
    """``revisions``: one row per change of a row, over every dataset's history version."""
    from treasury_lakehouse.history import REVISIONS_FILE

    return WarehouseTable(
        name=REVISIONS,
        comment="One row per revision of a published row: a changed column (old and new value "
        "as exact text), a key added to a date already published, or a key deleted",
        columns=_REVISION_COLUMNS,
        primary_key=(),
        files=tuple(v / REVISIONS_FILE for _, v in sorted(versions.items())),
        build={
            "version": ",".join(f"{d}:{v.name}" for d, v in sorted(versions.items())),
            "bronze_batches": [],
        },
    )


def lake_tables(source: LakeCommit | Lake) -> list[WarehouseTable]:
    """Every silver and gold table of a lake commit (by default the current one), ready to load.

    A warehouse never gets fewer tables than the catalog and the gold registry define: a commit
    that lacks one, or names a version that is not on disk, is refused with one line.
    """
    commit = source.require_commit() if isinstance(source, Lake) else source.require_readable()
    missing = missing_tables(commit)
    if missing:
        raise LakeError(
            f"lake commit {commit.path} lacks {', '.join(missing)}; the warehouse is not "
            "published: run `treasury transform` (every dataset) first"
        )
    tables = [silver_table(name, version) for name, version in commit.versions("silver").items()]
    history = commit.versions("history")
    tables += [history_table(name, version) for name, version in history.items()]
    if history:
        tables.append(revisions_table(history))
    for name, version in commit.versions("gold").items():
        model = GOLD[name]
        tables.append(
            WarehouseTable(
                name=name,
                comment=model.description,
                columns=model.columns,
                primary_key=model.primary_key,
                files=_parquet_files(version),
                build=read_build_info(version),
            )
        )
    return tables
