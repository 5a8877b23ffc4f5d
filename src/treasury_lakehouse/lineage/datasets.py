"""The datasets each step reads and writes, named by the OpenLineage naming conventions.

* Lake tables (bronze, silver, quarantine, gold): namespace ``file``, name the table's absolute
  directory (the stable table, not one of its versions).
* The Fiscal Data API endpoint: namespace ``scheme://host[:port]`` of the API URL (credentials
  dropped), name the endpoint path.
* PostgreSQL tables: namespace ``postgres://host:port``, name ``database.schema.table``; the
  password never appears.
* The embedded DuckDB warehouse is a file: namespace ``file``, name ``<absolute path of the
  file>/<schema>.<table>`` for each of its tables.

Pure functions of the settings and the step's results; no I/O beyond resolving paths.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from treasury_lakehouse.catalog import get_dataset
from treasury_lakehouse.config import Settings
from treasury_lakehouse.engines.base import SilverCounts
from treasury_lakehouse.ingest.bronze import BronzeStore
from treasury_lakehouse.lake.layout import Lake
from treasury_lakehouse.lineage.model import Assertion, ColumnLineage, LineageDataset
from treasury_lakehouse.models.registry import GOLD, GoldModel
from treasury_lakehouse.models.silver import silver_columns
from treasury_lakehouse.quality.results import QualityReport
from treasury_lakehouse.warehouse.base import WarehouseTable

FILE_NAMESPACE = "file"
POSTGRES_SCHEMA = "public"
DUCKDB_SCHEMA = "main"


def file_dataset(
    path: Path,
    fields: tuple[tuple[str, str], ...] = (),
    rows: int | None = None,
    column_lineage: ColumnLineage = (),
    assertions: tuple[Assertion, ...] = (),
) -> LineageDataset:
    """A lake table or file: namespace ``file``, name its absolute path."""
    return LineageDataset(
        FILE_NAMESPACE, str(path.resolve()), fields, rows, column_lineage, assertions
    )


def api_dataset(settings: Settings, dataset: str) -> LineageDataset:
    """The API endpoint a dataset is fetched from (no user, password, query or fragment)."""
    url = urlsplit(settings.api_url)
    host = url.hostname or ""
    netloc = f"{host}:{url.port}" if url.port else host
    path = url.path.rstrip("/") + "/" + get_dataset(dataset).endpoint
    return LineageDataset(f"{url.scheme}://{netloc}", path)


def bronze_dataset(settings: Settings, dataset: str, rows: int | None = None) -> LineageDataset:
    """A dataset's bronze: the API's fields as received, typed by the API's ``dataTypes``."""
    columns = tuple(get_dataset(dataset).columns.items())
    return file_dataset(BronzeStore(settings.lake).dataset_dir(dataset), fields=columns, rows=rows)


def silver_dataset(settings: Settings, dataset: str, rows: int | None = None) -> LineageDataset:
    return file_dataset(
        Lake(settings.lake).silver_dir(dataset), fields=silver_fields(dataset), rows=rows
    )


def silver_fields(dataset: str) -> tuple[tuple[str, str], ...]:
    """Silver's columns and types, as :func:`~treasury_lakehouse.warehouse.base.silver_table`
    describes them (without listing the table's files)."""
    entry = get_dataset(dataset)
    provenance = {"batch_id": "VARCHAR"}
    return tuple(
        (
            name,
            entry.silver_type(name)
            if name in entry.columns
            else provenance.get(name, "TIMESTAMPTZ"),
        )
        for name in silver_columns(entry)
    )


def quarantine_dataset(settings: Settings, dataset: str, rows: int | None) -> LineageDataset:
    return file_dataset(Lake(settings.lake).quarantine_dir(dataset), rows=rows)


def silver_outputs(settings: Settings, counts: SilverCounts) -> list[LineageDataset]:
    return [
        silver_dataset(settings, counts.dataset, counts.silver),
        quarantine_dataset(settings, counts.dataset, counts.quarantined),
    ]


def gold_dataset(
    settings: Settings, model: GoldModel, rows: int | None = None, with_lineage: bool = False
) -> LineageDataset:
    from treasury_lakehouse.lineage.columns import gold_column_lineage

    lake = Lake(settings.lake)
    sources = {s: file_dataset(lake.silver_dir(s.removeprefix("silver_"))) for s in model.sources}
    return file_dataset(
        lake.gold_dir(model.name),
        fields=tuple((c.name, c.sql_type) for c in model.columns),
        rows=rows,
        column_lineage=gold_column_lineage(model, sources) if with_lineage else (),
    )


def gold_inputs(settings: Settings, datasets: Iterable[str]) -> list[LineageDataset]:
    return [silver_dataset(settings, name) for name in datasets]


def gold_outputs(settings: Settings, rows: Mapping[str, int]) -> list[LineageDataset]:
    """Each gold table built (or carried), with its rows and its columns' sources."""
    return [gold_dataset(settings, GOLD[name], n, with_lineage=True) for name, n in rows.items()]


def lake_table(
    settings: Settings, table: str, assertions: tuple[Assertion, ...] = ()
) -> LineageDataset:
    """A lake table by its warehouse or quality-check name: ``silver_<dataset>``, ``gold_...``,
    and the checks' relations over them (``received_<dataset>``: silver with its quarantined
    keys; ``vanished_<dataset>``: every bronze batch)."""
    lake = Lake(settings.lake)
    path = lake.root / table
    if table in GOLD:
        path = lake.gold_dir(table)
    bronze = BronzeStore(settings.lake).dataset_dir
    for prefix, directory in (
        ("silver_", lake.silver_dir),
        ("received_", lake.silver_dir),
        ("quarantine_", lake.quarantine_dir),
        ("bronze_", bronze),
        ("vanished_", bronze),
    ):
        if table.startswith(prefix):
            path = directory(table.removeprefix(prefix))
    return file_dataset(path, assertions=assertions)


def checked_inputs(settings: Settings, report: QualityReport) -> list[LineageDataset]:
    """Each lake table the quality checks read, with one assertion per check."""
    by_table: dict[Path, list[Assertion]] = {}
    for result in report.results:
        table = Path(lake_table(settings, result.table).name)
        by_table.setdefault(table, []).append(
            Assertion(
                assertion=result.check,
                # a check that only warned did not hold, but would not block publishing
                success=result.status == "pass",
                severity="warn" if result.status == "warn" else result.severity,
                description=result.description,
                actual=f"{len(result.errors)} errors, {len(result.warnings)} warnings "
                f"in {result.rows_checked} rows",
            )
        )
    return [file_dataset(path, assertions=tuple(found)) for path, found in by_table.items()]


def load_inputs(settings: Settings, tables: list[WarehouseTable]) -> list[LineageDataset]:
    return [lake_table(settings, table.name) for table in tables]


def load_outputs(
    settings: Settings, tables: list[WarehouseTable], rows: Mapping[str, int] | None = None
) -> list[LineageDataset]:
    """The warehouse tables a load publishes (with their rows once it has)."""
    schemas = {table.name: _fields(table) for table in tables}
    names = list(rows) if rows is not None else list(schemas)
    namespace, prefix = warehouse_location(settings)
    return [
        LineageDataset(
            namespace,
            f"{prefix}{name}",
            fields=schemas.get(name, ()),
            rows=rows.get(name) if rows is not None else None,
        )
        for name in names
    ]


def warehouse_location(settings: Settings) -> tuple[str, str]:
    """The namespace of the warehouse's tables and the prefix of their names."""
    if settings.warehouse_kind == "duckdb":
        return FILE_NAMESPACE, f"{settings.duckdb_warehouse_path.resolve()}/{DUCKDB_SCHEMA}."
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(settings.warehouse)
    host = str(params.get("host") or "localhost").split(",")[0]
    port = str(params.get("port") or "5432").split(",")[0]
    database = str(params.get("dbname") or params.get("user") or "postgres")
    return f"postgres://{host}:{port}", f"{database}.{POSTGRES_SCHEMA}."


def _fields(table: WarehouseTable) -> tuple[tuple[str, str], ...]:
    return tuple((c.name, c.sql_type) for c in table.columns)
