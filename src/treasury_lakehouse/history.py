"""Building the row history and revisions of a dataset (``<lake>/history/<dataset>/v<stamp>/``).

The history is metadata over bronze, like silver's row accounting: DuckDB computes it for every
engine (the transform engine builds silver and gold; the history equals on both because it never
depends on them). A version directory holds ``record_year=<Y>/*.parquet`` (the history, see
:mod:`treasury_lakehouse.models.history`), ``revisions.parquet`` and ``_build.json``; the lake
commit names it under ``history``.

A daily batch appends: an incremental build reads the previous version's partitions of the record
years the new batches hold and those batches alone, writes those years anew (the versions the new
batches close get their ``known_to``, the new versions are added; only the record dates the
batches hold go through the SQL) and carries every other partition by reference: its
``_build.json`` names, under ``carried``, the older version that holds each such year
(:func:`history_partitions` resolves them; the lake commit retains those versions while a kept
commit needs them, see :meth:`~treasury_lakehouse.lake.commit.LakeCommit.retained`). Its
revisions are the previous file's plus the new versions' (the file is hard-linked when there
are none). A full build (``--full``, no previous version, another definition, a batch of the
previous build no longer committed) reads every batch.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow.parquet as pq

from treasury_lakehouse.catalog import Dataset
from treasury_lakehouse.config import Settings
from treasury_lakehouse.duckdb_connect import connect_duckdb, remove_spill_directory
from treasury_lakehouse.engines.base import (
    PARTITION_COLUMN,
    BronzeBatch,
    bronze_files,
    partition_dirs,
    partition_name,
)
from treasury_lakehouse.errors import ConfigError, EngineError
from treasury_lakehouse.incremental import link_file
from treasury_lakehouse.lake.commit import CARRIED, carried_by_reference
from treasury_lakehouse.lake.files import atomic_write_json
from treasury_lakehouse.lake.layout import BUILD_INFO, read_build_info
from treasury_lakehouse.models.history import (
    REVISION_COLUMNS,
    history_columns,
    history_sql,
    revisions_sql,
)
from treasury_lakehouse.models.silver import silver_sql, typed_rows_sql, year_of
from treasury_lakehouse.paths import glob_escape, parquet_list_sql
from treasury_lakehouse.sql_quote import quote_ident as _q
from treasury_lakehouse.sql_quote import quote_literal as _lit

log = logging.getLogger(__name__)

REVISIONS_FILE = "revisions.parquet"
_REVISION_ORDER = "new_batch_seq, record_date, row_key, change, column_name"
#: bump when the way the history is written changes without its SQL changing
HISTORY_FORMAT = 2  # 2: untouched years carried by reference, not linked
Mode = Literal["full", "incremental", "unchanged"]
_ROWS = ".rows"


def definition(dataset: Dataset) -> str:
    """A fingerprint of the history's definition: a version built by another is not built on."""
    text = f"{HISTORY_FORMAT}\n{silver_sql(dataset)}\n{history_sql(dataset)}\n"
    text += revisions_sql(dataset)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class BatchTime:
    """When a batch was committed and ingested (UTC ISO 8601, from its manifest entry)."""

    committed_at: str
    ingested_at: str


@dataclass(frozen=True)
class HistoryPlan:
    mode: Mode
    reason: str
    #: the batches whose rows are added (every batch for a full build)
    adding: tuple[BronzeBatch, ...] = ()
    base: Path | None = None


def plan_history(
    dataset: Dataset, batches: list[BronzeBatch], base: Path | None, *, full: bool = False
) -> HistoryPlan:
    """Full, incremental (only the batches since ``base``) or unchanged."""
    if full:
        return HistoryPlan("full", "a full rebuild was asked for (--full)", tuple(batches))
    if base is None:
        return HistoryPlan("full", "no previous history to build on", tuple(batches))
    info = read_build_info(base)
    if info.get("definition") != definition(dataset):
        return HistoryPlan("full", f"{base.name} was built by another definition", tuple(batches))
    lost = sorted(p.name for p in _carried_partitions(base).values() if not p.is_dir())
    if lost:  # verify reports it; rebuilding from bronze mends it
        return HistoryPlan("full", f"{base.name} carries missing {', '.join(lost)}", tuple(batches))
    built_on = set(info.get("bronze_batches", []))
    committed = {b.batch_id for b in batches}
    if built_on - committed:
        gone = sorted(built_on - committed)
        return HistoryPlan("full", f"batches of {base.name} are gone: {gone}", tuple(batches))
    new = tuple(b for b in batches if b.batch_id not in built_on)
    if not new:
        return HistoryPlan("unchanged", "no batch since", base=base)
    newest_built = max((b.seq for b in batches if b.batch_id in built_on), default=0)
    if min(b.seq for b in new) < newest_built:
        return HistoryPlan("full", "a new batch is older than the history", tuple(batches))
    return HistoryPlan("incremental", f"{len(new)} new batch(es)", new, base)


@dataclass(frozen=True)
class HistoryCounts:
    dataset: str
    versions: int
    current: int
    deleted: int
    revisions: int


def build_history(
    settings: Settings,
    dataset: Dataset,
    batches: list[BronzeBatch],
    times: Mapping[str, BatchTime],
    plan: HistoryPlan,
    out_dir: Path,
    version: str,
) -> HistoryCounts:
    """Write one history version by ``plan`` (not ``unchanged``) into the new ``out_dir``."""
    con, spill = connect_duckdb(settings)
    try:
        con.execute("SET TimeZone = 'UTC'")
        years = _prepare(con, dataset, batches, times, plan)
        revisions, carried = _write(con, dataset, out_dir, years, plan)
        by_year = _year_counts(con, dataset, years, plan.base)
        totals = [sum(c[i] for c in by_year.values()) for i in range(3)]
        counts = HistoryCounts(dataset.name, totals[0], totals[1], totals[2], revisions)
    except duckdb.Error as error:
        first = (str(error).strip().splitlines() or [repr(error)])[0]
        raise EngineError(f"duckdb: history of {dataset.name} failed: {first}") from error
    finally:
        con.close()
        remove_spill_directory(spill)
        shutil.rmtree(out_dir / _ROWS, ignore_errors=True)
    atomic_write_json(
        out_dir / BUILD_INFO,
        {
            "engine": "duckdb",
            "version": version,
            "definition": definition(dataset),
            "mode": plan.mode,
            "plan": plan.reason,
            "rebuilt_years": None if plan.mode == "full" else sorted(years),
            "base": plan.base.name if plan.base is not None else None,
            "bronze_batches": [b.batch_id for b in sorted(batches, key=lambda b: b.seq)],
            "versions": counts.versions,
            "current": counts.current,
            "deleted": counts.deleted,
            "revisions": counts.revisions,
            "year_counts": {str(y): c for y, c in sorted(by_year.items())},
            CARRIED: {str(y): name for y, name in sorted(carried.items())},
        },
    )
    return counts


def _prepare(
    con: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    batches: list[BronzeBatch],
    times: Mapping[str, BatchTime],
    plan: HistoryPlan,
) -> frozenset[int]:
    """Relations ``built``, ``batches``, ``batch_times``, ``previous_history`` (the base's
    versions of the record dates the added batches hold: the only keys they can change) and
    ``untouched_history`` (the base's other versions of those record years, kept as they are);
    the record years the batches added hold."""
    files = parquet_list_sql(bronze_files(plan.adding))
    con.execute(
        f"CREATE TEMP VIEW bronze AS SELECT * FROM read_parquet({files}, union_by_name = true)"
    )
    con.execute(
        "CREATE TEMP TABLE batches "
        "(batch_id VARCHAR, seq BIGINT, window_start DATE, window_end DATE)"
    )
    con.executemany("INSERT INTO batches VALUES (?, ?, ?, ?)", [b.row() for b in batches])
    con.execute(
        "CREATE TEMP TABLE batch_times "
        "(batch_id VARCHAR, seq BIGINT, committed_at TIMESTAMPTZ, ingested_at TIMESTAMPTZ)"
    )
    con.executemany(
        "INSERT INTO batch_times VALUES (?, ?, ?, ?)",
        [
            (
                b.batch_id,
                b.seq,
                datetime.fromisoformat(times[b.batch_id].committed_at),
                datetime.fromisoformat(times[b.batch_id].ingested_at),
            )
            for b in batches
        ],
    )
    con.execute(f"CREATE TEMP TABLE built AS {typed_rows_sql(dataset)}")
    day = _q(dataset.date_column)
    rows = con.execute(
        f"SELECT DISTINCT {year_of(day)} FROM built WHERE {day} IS NOT NULL"
    ).fetchall()
    years = frozenset(int(r[0]) for r in rows)
    columns = ", ".join(_q(c) for c in history_columns(dataset))
    previous = _partition_files(plan.base, years) if plan.mode == "incremental" else []
    if previous:
        listed = parquet_list_sql(previous)
        source = f"SELECT {columns} FROM read_parquet({listed}, union_by_name = true)"
    else:
        source = f"SELECT {columns} FROM ({history_schema_sql(dataset)}) WHERE false"
    # a batch is authoritative only for the record dates it holds: the versions of the other
    # dates of its years cannot change, so the history SQL and the revisions skip them
    con.execute(f"CREATE TEMP TABLE previous_years AS {source}")
    held = f"{day} IN (SELECT {day} FROM built WHERE {day} IS NOT NULL)"
    con.execute(f"CREATE TEMP VIEW previous_history AS SELECT * FROM previous_years WHERE {held}")
    con.execute(
        f"CREATE TEMP VIEW untouched_history AS SELECT * FROM previous_years WHERE NOT ({held})"
    )
    return years


def history_schema_sql(dataset: Dataset) -> str:
    """One NULL row typed like the history (for an empty relation of its schema)."""
    casts = [f"CAST(NULL AS {dataset.silver_type(c)}) AS {_q(c)}" for c in dataset.columns]
    casts += [
        "CAST(NULL AS VARCHAR) AS batch_id",
        "CAST(NULL AS TIMESTAMPTZ) AS ingestion_timestamp",
        "CAST(NULL AS BIGINT) AS batch_seq",
        "CAST(NULL AS TIMESTAMPTZ) AS known_from",
        "CAST(NULL AS TIMESTAMPTZ) AS known_to",
        "CAST(NULL AS BOOLEAN) AS is_deleted",
    ]
    return "SELECT " + ", ".join(casts)


def history_partitions(version: Path) -> dict[int, Path]:
    """Year → partition directory of a history version: those it wrote, and those it carries
    by reference from the older versions that hold them (``_build.json``'s ``carried``)."""
    found = _carried_partitions(version)
    found.update(partition_dirs(version))
    return dict(sorted(found.items()))


def _carried_partitions(version: Path) -> dict[int, Path]:
    return {y: source / partition_name(y) for y, source in carried_by_reference(version).items()}


def history_files(version: Path) -> list[Path]:
    """The history's Parquet files of a version (not its revisions), wherever they are held."""
    return sorted(f for d in history_partitions(version).values() for f in d.glob("*.parquet"))


def _partition_files(base: Path | None, years: frozenset[int]) -> list[Path]:
    """The Parquet files of ``years``' partitions (only those directories are listed)."""
    if base is None:
        return []
    partitions = history_partitions(base)
    return sorted(f for y in years if y in partitions for f in partitions[y].glob("*.parquet"))


def _write(
    con: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    out_dir: Path,
    years: frozenset[int],
    plan: HistoryPlan,
) -> tuple[int, dict[int, str]]:
    """The rebuilt years' partitions and the revisions file; returns the revisions' rows and the
    other years of the base, carried by reference (year → the version that holds it).

    A daily batch touches one or two record years, so a version holds those and names where
    the others are: no directory or link per untouched year (1,736 of them at 10M rows in the
    benchmark cost more than the history's SQL)."""
    key = ", ".join(_q(c) for c in [dataset.date_column, *dataset.natural_key])
    columns = ", ".join(_q(c) for c in history_columns(dataset))
    con.execute(f"CREATE TEMP TABLE history AS {history_sql(dataset)}")
    revisions = _write_revisions(con, dataset, out_dir, plan)
    con.execute(f"INSERT INTO history SELECT {columns} FROM untouched_history")
    rows_dir = out_dir / _ROWS
    count = con.execute("SELECT COUNT(*) FROM history").fetchall()[0][0]
    if count:
        con.execute(
            f"COPY (SELECT {columns}, {year_of(_q(dataset.date_column))} AS {PARTITION_COLUMN} "
            f"FROM history ORDER BY {key}, batch_seq) TO {_lit(rows_dir)} "
            f"(FORMAT PARQUET, PARTITION_BY ({PARTITION_COLUMN}), COMPRESSION zstd)"
        )
        for partition in sorted(rows_dir.glob(f"{PARTITION_COLUMN}=*")):
            partition.rename(out_dir / partition.name)
    carried: dict[int, str] = {}
    written = partition_dirs(out_dir)
    if plan.base is not None:
        for year, partition in history_partitions(plan.base).items():
            if year != 0 and year not in years:
                if year in written:
                    raise EngineError(f"history {out_dir.name}: year {year} written and carried")
                carried[year] = partition.parent.name
    if not written and not carried:  # an empty history still has a schema
        empty = out_dir / partition_name(0)
        empty.mkdir()
        con.execute(
            f"COPY (SELECT * FROM ({history_schema_sql(dataset)}) WHERE false) "
            f"TO {_lit(empty / 'empty.parquet')} (FORMAT PARQUET)"
        )
    return revisions, carried


def _write_revisions(
    con: duckdb.DuckDBPyConnection, dataset: Dataset, out_dir: Path, plan: HistoryPlan
) -> int:
    """The revisions file: a full build's from the whole history; an incremental build's is the
    base's plus the revisions of the versions the added batches started (those of earlier
    versions cannot change: a new version only follows them), the base's file hard-linked when
    there are none. Returns its rows."""
    names = ", ".join(_q(c) for c in REVISION_COLUMNS)
    new = f"SELECT {names} FROM ({revisions_sql(dataset)})"
    base = plan.base / REVISIONS_FILE if plan.base is not None else None
    if base is None or not base.exists():
        copied: Any = con.execute(
            f"COPY (SELECT * FROM ({new}) ORDER BY {_REVISION_ORDER}) "
            f"TO {_lit(out_dir / REVISIONS_FILE)} (FORMAT PARQUET)"
        ).fetchone()
        return int(copied[0])
    first = min(b.seq for b in plan.adding)
    con.execute(f"CREATE TEMP TABLE new_revisions AS {new} WHERE new_batch_seq >= {first}")
    if not con.execute("SELECT COUNT(*) FROM new_revisions").fetchall()[0][0]:
        link_file(base, out_dir / REVISIONS_FILE)
        return int(pq.read_metadata(base).num_rows)
    copied = con.execute(
        f"COPY (SELECT * FROM read_parquet({_lit(glob_escape(base))}) UNION ALL "
        f"SELECT * FROM new_revisions ORDER BY {_REVISION_ORDER}) "
        f"TO {_lit(out_dir / REVISIONS_FILE)} (FORMAT PARQUET)"
    ).fetchone()
    return int(copied[0])


def _year_counts(
    con: duckdb.DuckDBPyConnection, dataset: Dataset, years: frozenset[int], base: Path | None
) -> dict[int, list[int]]:
    """Versions, current and deleted keys per record year: the rebuilt years' from the build's
    ``history`` table, the others from the base version's ``_build.json`` (no file is read)."""
    day = _q(dataset.date_column)
    rows = con.execute(
        f"SELECT {year_of(day)}, COUNT(*), COUNT(*) FILTER (known_to IS NULL AND NOT is_deleted), "
        "COUNT(*) FILTER (known_to IS NULL AND is_deleted) FROM history GROUP BY ALL"
    ).fetchall()
    counts = {int(r[0]): [int(v) for v in r[1:]] for r in rows}
    kept = read_build_info(base).get("year_counts", {}) if base is not None else {}
    for year, tally in kept.items():
        if int(year) not in years:
            counts[int(year)] = [int(v) for v in tally]
    return counts


# ---------------------------------------------------------------- reading


def history_status(version: Path | None) -> dict[str, Any] | None:
    """What ``treasury status`` shows of a dataset's history version, from its ``_build.json``
    (no Parquet is read): its versions, the current rows, the keys whose current version is a
    deletion, and the revisions. ``None`` without a version (a commit older than histories)."""
    if version is None:
        return None
    info = read_build_info(version)
    return {
        "version": version.name,
        "versions": info.get("versions"),
        "current_rows": info.get("current"),
        "deleted_rows": info.get("deleted"),
        "revisions": info.get("revisions"),
    }


#: the columns ``treasury history`` shows besides the catalog's (``batch_seq`` only orders them)
SHOWN_EXTRA = ("batch_id", "ingestion_timestamp", "known_from", "known_to", "is_deleted")


def parse_where(dataset: Dataset, where: tuple[str, ...]) -> dict[str, str]:
    """``COL=VALUE`` filters as a mapping; :class:`ConfigError` naming a column silver lacks."""
    parsed: dict[str, str] = {}
    for item in where:
        column, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--where {item!r} is not COL=VALUE")
        if column not in dataset.columns:
            raise ConfigError(
                f"--where: {column!r} is not a column of silver_{dataset.name} "
                f"(columns: {', '.join(dataset.columns)})"
            )
        parsed[column] = value
    return parsed


def read_versions(
    version: Path, dataset: Dataset, day: date, where: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The versions of ``day``'s rows (those matching ``where``, compared as text; ``""`` or
    ``"null"`` match NULL), oldest first (by manifest seq, then key)."""
    files = _partition_files(version, frozenset({day.year}))
    if not files:
        return []
    listed = parquet_list_sql(files)
    columns = [*dataset.columns, *SHOWN_EXTRA]
    conditions = [f"{_q(dataset.date_column)} = ?"]
    values: list[Any] = [day]
    for column, value in where.items():
        if value in ("", "null"):  # silver holds the API's "null" (and empty strings) as NULL
            conditions.append(f"{_q(column)} IS NULL")
        else:
            conditions.append(f"CAST({_q(column)} AS VARCHAR) = ?")
            values.append(value)
    key = ", ".join(_q(c) for c in dataset.natural_key)
    sql = (
        f"SELECT {', '.join(_q(c) for c in columns)} FROM read_parquet({listed}) "
        f"WHERE {' AND '.join(conditions)} ORDER BY batch_seq, {key}"
    )
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(sql, values).fetchall()
    return [dict(zip(columns, row, strict=True)) for row in rows]


def json_value(value: Any) -> Any:
    """A history value for JSON: amounts exact (integers, or decimal strings), times in UTC."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value
