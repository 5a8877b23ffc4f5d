"""What ``explain`` reads from the lake: one published gold row, the published silver rows of a
record-date range, and the bronze page each silver row came from.

Every read goes through one lake commit (the versions it publishes) and DuckDB over Parquet, with
each column cast to its declared type (whatever engine wrote the file), so amounts arrive as exact
Python integers (or Decimals).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from treasury_lakehouse.catalog import get_dataset
from treasury_lakehouse.config import mask_url
from treasury_lakehouse.engines.base import PARTITION_COLUMN
from treasury_lakehouse.errors import LakeError
from treasury_lakehouse.ingest.bronze import BronzeStore
from treasury_lakehouse.lake.commit import LakeCommit
from treasury_lakehouse.models.registry import GoldModel
from treasury_lakehouse.models.silver import silver_columns
from treasury_lakehouse.paths import glob_escape, parquet_list_sql
from treasury_lakehouse.sql_quote import quote_ident as _q
from treasury_lakehouse.sql_quote import quote_literal as _lit

Row = dict[str, Any]


def _files(paths: Sequence[Path | str]) -> str:
    return parquet_list_sql(paths)


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[Row]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description or ()]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def gold_rows(commit: LakeCommit, model: GoldModel, key: Mapping[str, Any]) -> list[Row]:
    """The rows of the published ``model`` with this primary key (one, or none)."""
    version = commit.versions("gold").get(model.name)
    if version is None:
        sources = ", ".join(s.removeprefix("silver_") for s in model.sources)
        raise LakeError(
            f"{model.name} is not published in lake commit {commit.seq}; run `treasury run` "
            f"with the datasets {sources}"
        )
    files = sorted(p for p in version.glob("*.parquet") if ".tmp-" not in p.name)
    if not files:
        raise LakeError(f"the published {model.name} version {version} holds no Parquet file")
    columns = ", ".join(
        f"CAST({_q(c.name)} AS {c.sql_type}) AS {_q(c.name)}" for c in model.columns
    )
    condition = " AND ".join(f"{_q(c)} = ?" for c in model.primary_key)
    with _connect() as con:
        return _fetch(
            con,
            f"SELECT * FROM (SELECT {columns} FROM read_parquet({_files(files)})) "
            f"WHERE {condition}",
            [key[c] for c in model.primary_key],
        )


def _partitions(silver_dir: Path, first_year: int | None, last_year: int) -> list[Path]:
    found = []
    for directory in sorted(silver_dir.glob(f"{PARTITION_COLUMN}=*")):
        try:
            year = int(directory.name.split("=", 1)[1])
        except ValueError:
            continue
        if year and (first_year is None or year >= first_year) and year <= last_year:
            found.append(directory)
    return found


def silver_rows(
    commit: LakeCommit,
    dataset_name: str,
    first: date | None,
    last: date,
    columns: Sequence[str] | None = None,
) -> list[Row]:
    """The published silver rows of ``dataset_name`` with ``first <= record_date <= last``
    (``first`` ``None``: every earlier date too), ordered by their natural key; ``columns``
    limits what is read (default: every silver column)."""
    dataset = get_dataset(dataset_name)
    version = commit.versions("silver").get(dataset_name)
    if version is None:
        raise LakeError(
            f"silver {dataset_name} is not published in lake commit {commit.seq}; run "
            f"`treasury run` with the dataset {dataset_name}"
        )
    partitions = _partitions(version, first.year if first else None, last.year)
    if not partitions:
        return []
    types = {c: dataset.silver_type(c) for c in dataset.columns}
    types |= {"batch_id": "VARCHAR", "ingestion_timestamp": "TIMESTAMPTZ"}
    wanted = [c for c in silver_columns(dataset) if columns is None or c in columns]
    select = ", ".join(f"CAST({_q(c)} AS {types[c]}) AS {_q(c)}" for c in wanted)
    globs = [glob_escape(p) + "/*.parquet" for p in partitions]
    source = "[" + ", ".join(_lit(g) for g in globs) + "]"
    order = ", ".join(f"{_q(c)} NULLS FIRST" for c in dataset.sort if c in wanted)
    day = _q(dataset.date_column)
    bounds = f"{day} <= ?" + (f" AND {day} >= ?" if first else "")
    with _connect() as con:
        return _fetch(
            con,
            f"SELECT * FROM (SELECT {select} FROM read_parquet({source}, "
            f"hive_partitioning = false, union_by_name = true)) WHERE {bounds}"
            + (f" ORDER BY {order}" if order else ""),
            [last, first] if first else [last],
        )


@dataclass(frozen=True)
class Evidence:
    """One bronze page that delivered silver rows of the explained gold row."""

    dataset: str
    batch_id: str
    seq: int | None
    #: the page file, relative to the lake (``None``: the batch is no longer in the manifest)
    file: str | None
    request_url: str | None
    ingested_at: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "file": self.file,
            "request_url": self.request_url,
            "ingested_at": self.ingested_at,
        }


def _clean(value: Any) -> str | None:
    """A raw bronze string as silver reads it: spaces trimmed, "null" and "" as NULL."""
    if value is None:
        return None
    text = str(value).strip(" ")
    return None if text in ("null", "") else text


def _silver_text(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, date) else value


def bronze_evidence(
    lake_root: Path, dataset_name: str, rows: Sequence[Row]
) -> tuple[list[Evidence], list[str | None]]:
    """The bronze pages the silver ``rows`` of one dataset came from, and each row's page file.

    A row is found in its own batch (``batch_id``) by its natural key, as silver reads the raw
    strings; of several deliveries in one batch the last (page, row) is the one silver keeps.
    """
    dataset = get_dataset(dataset_name)
    store = BronzeStore(lake_root)
    batches = {b.batch_id: b for b in store.batches(dataset_name)}
    key_columns = list(dict.fromkeys([dataset.date_column, *dataset.natural_key]))
    found: dict[tuple[str, tuple[str | None, ...]], Row] = {}
    with _connect() as con:
        for batch_id in sorted({r["batch_id"] for r in rows}):
            batch = batches.get(batch_id)
            if batch is None or not batch.files:
                continue
            days = sorted({r[dataset.date_column].isoformat() for r in rows})
            paths = [store.dataset_dir(dataset_name) / f for f in batch.files]
            keys = ", ".join(_q(c) for c in key_columns)
            marks = ", ".join("?" for _ in days)
            for delivered in _fetch(
                con,
                f"SELECT filename, request_url, page_number, row_index, {keys} "
                f"FROM read_parquet({_files(paths)}, union_by_name = true, filename = true) "
                f"WHERE TRIM({_q(dataset.date_column)}, ' ') IN ({marks}) "
                "ORDER BY page_number, row_index",
                days,
            ):
                key = tuple(_clean(delivered[c]) for c in key_columns)
                found[(batch_id, key)] = delivered  # later (page, row) wins, as in silver
    evidence: dict[tuple[str, str | None], Evidence] = {}
    files: list[str | None] = []
    for row in rows:
        key = tuple(_silver_text(row[c]) for c in key_columns)
        page = found.get((row["batch_id"], key))
        batch = batches.get(row["batch_id"])
        file = None
        if page is not None and batch is not None:
            name = Path(page["filename"]).name
            file = f"{store.root.name}/{dataset_name}/{batch.directory}/{name}"
        files.append(file)
        evidence.setdefault(
            (row["batch_id"], file),
            Evidence(
                dataset=dataset_name,
                batch_id=row["batch_id"],
                seq=batch.seq if batch else None,
                file=file,
                request_url=mask_url(page["request_url"]) if page and page["request_url"] else None,
                ingested_at=batch.ingested_at if batch else None,
            ),
        )
    return sorted(evidence.values(), key=lambda e: (e.seq or 0, e.file or "")), files
