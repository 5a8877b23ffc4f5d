"""Embedded DuckDB warehouse: a full rebuild against an incremental load of one changed year.

For each size (1M rows of ``public_debt_transactions`` by default; ``BENCH_WAREHOUSE_ROWS=1000000,
10000000`` to choose), generated bronze (twenty years of record dates, :mod:`bench.engines`) is
transformed once (lake commit 1) and published into a new warehouse file (full rebuild). Then one
record year of silver is rewritten (the other years' partitions carried by hard link, as an
incremental transform carries them), gold is rebuilt on it, and that is committed with
``changes = {public_debt_transactions: [year]}``, twice:

* **whole_year_restated** — every row of 2015 restated (5 % of the rows differ);
* **daily** — 2025 rewritten as a daily run leaves it: the last 7 days re-ingested (a new batch
  id), one of them restated, one new day.

Each commit is published **incremental** (into the previous file: copy it, rewrite that year's
differing rows in one transaction, swap) and **full** (into a new file: every table built from the
lake, the star schema included), and the two files are compared row for row
(``BENCH_WAREHOUSE_COMPARE=0`` leaves the full loads and the comparison out). Also timed: copying
the warehouse file with a plain copy (``shutil.copyfile``: ``sendfile``) and with
:func:`copy_file` (reflink, else ``copy_file_range``).
The quality checks that ``treasury load`` runs first are not included (see bench/checks.py).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from bench.engines import DATASET, generate_bronze
from treasury_lakehouse import pipeline
from treasury_lakehouse.config import Settings
from treasury_lakehouse.engines import open_engine
from treasury_lakehouse.lake.commit import LakeCommit, read_commit, write_commit
from treasury_lakehouse.lake.files import atomic_write_json, new_version
from treasury_lakehouse.lake.layout import BUILD_INFO, Lake, read_build_info
from treasury_lakehouse.models.registry import GOLD
from treasury_lakehouse.warehouse.base import WarehouseTable, silver_table
from treasury_lakehouse.warehouse.duckdb import DuckDBWarehouse
from treasury_lakehouse.warehouse.duckdb_incremental import copy_file

SIZES = (1_000_000,)
CHANGED_YEAR = 2015
#: the newest record year of the generated history (2005-10-01 + 7300 days)
LAST_YEAR = 2025
SILVER = f"silver_{DATASET.name}"


def tables_of(commit: LakeCommit) -> list[WarehouseTable]:
    """What ``lake_tables`` gives, for a lake of one dataset (it insists on every dataset)."""
    tables = [silver_table(DATASET.name, commit.versions("silver")[DATASET.name])]
    for name, version in commit.versions("gold").items():
        model = GOLD[name]
        files = tuple(sorted(version.rglob("*.parquet")))
        tables.append(
            WarehouseTable(
                name, model.description, model.columns, model.primary_key,
                files=files, build=read_build_info(version),
            )
        )  # fmt: skip
    return tables


#: every row of the year restated
WHOLE_YEAR = "SELECT * REPLACE (transaction_today_amt + 1 AS transaction_today_amt) FROM old"
#: a daily run: the last 7 days re-ingested (new batch), one of them restated, one new day
DAILY = """
SELECT old.* REPLACE (
  CASE WHEN record_date > last - 7 THEN 'bench-daily' ELSE batch_id END AS batch_id,
  CASE WHEN record_date = last - 2 THEN transaction_today_amt + 1
    ELSE transaction_today_amt END AS transaction_today_amt)
FROM old, (SELECT MAX(record_date) AS last FROM old)
UNION ALL
SELECT * REPLACE (record_date + 1 AS record_date, 'bench-daily' AS batch_id)
FROM old WHERE record_date = (SELECT MAX(record_date) FROM old)
"""


def rewrite_year(settings: Settings, base: LakeCommit, year: int, rows: str) -> LakeCommit:
    """A commit on ``base`` whose silver has ``year`` rewritten as ``rows`` (a SELECT over
    ``old``, the year's rows; the other years hard-linked, as an incremental transform carries
    them), with gold rebuilt, and ``changes`` saying so."""
    lake = Lake(settings.lake)
    old = base.versions("silver")[DATASET.name]
    with new_version(lake.silver_dir(DATASET.name)) as silver:
        for partition in sorted(p for p in old.iterdir() if p.is_dir()):
            target = silver.directory / partition.name
            target.mkdir()
            if partition.name != f"record_year={year}":
                for file in partition.iterdir():
                    os.link(file, target / file.name)
                continue
            with duckdb.connect() as con:
                con.execute(f"CREATE VIEW old AS SELECT * FROM read_parquet('{partition}/*')")
                con.execute(
                    f"COPY ({rows}) TO '{target}/data_0.parquet' (FORMAT PARQUET, COMPRESSION zstd)"
                )
        info = read_build_info(old) | {"version": silver.name}
        atomic_write_json(silver.directory / BUILD_INFO, info)
    engine = open_engine(settings)
    try:
        _, gold = pipeline._build_gold(engine, lake, {DATASET.name: silver.name})
    finally:
        engine.close()
    return write_commit(
        lake.root,
        base_seq=base.seq,
        run_id=f"bench-{year}",
        purpose="transform",
        engine="duckdb",
        silver={DATASET.name: silver.name},
        quarantine=dict(base.quarantine),
        gold=gold,
        changes={DATASET.name: frozenset({year})},
    )


def differing_tables(first: Path, second: Path) -> list[str]:
    """Tables whose rows differ between two warehouse files (history tables left out)."""
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{first}' AS a (READ_ONLY)")
        con.execute(f"ATTACH '{second}' AS b (READ_ONLY)")
        names = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT table_name FROM duckdb_tables() WHERE table_name NOT IN "
                "('load_manifest', 'quality_results') ORDER BY 1"
            ).fetchall()
        ]
        differing = []
        for n in names:
            a, b = f'SELECT * FROM a."{n}"', f'SELECT * FROM b."{n}"'
            query = f"SELECT COUNT(*) FROM (({a} EXCEPT ALL {b}) UNION ALL ({b} EXCEPT ALL {a}))"
            if con.execute(query).fetchall()[0][0]:
                differing.append(n)
        return differing


def _timed_publish(path: Path, commit: LakeCommit, label: str) -> dict[str, Any]:
    started = time.monotonic()
    tables = tables_of(commit)  # listing the lake's files: part of `treasury load`
    listed = time.monotonic()
    result = DuckDBWarehouse(path).publish(tables, label, commit)
    ended = time.monotonic()
    return {
        "incremental": result.incremental,
        "publish_s": round(ended - listed, 2),
        "load_without_checks_s": round(ended - started, 2),
        "file_mib": round(path.stat().st_size / 2**20),
    }


def _copy_times(path: Path) -> dict[str, Any]:
    times = {}
    for label, copy in (("plain_copy_s", shutil.copyfile), ("copy_file_s", copy_file)):
        target = path.with_name(f"copy-{label}")
        started = time.monotonic()
        how = copy(path, target)
        times[label] = round(time.monotonic() - started, 2)
        if label == "copy_file_s":
            times["copy_file_method"] = how
        target.unlink()
    return times


def run_size(rows: int, work: Path) -> dict[str, Any]:
    settings = Settings(home=work, datasets=(DATASET.name,))
    started = time.monotonic()
    generate_bronze(settings.lake, rows)
    first = read_commit(settings.lake, pipeline.transform(settings).commit)
    report: dict[str, Any] = {"prepare_s": round(time.monotonic() - started, 1)}
    incremental = work / "incremental.duckdb"
    report["first_load_full"] = _timed_publish(incremental, first, "first")
    report |= _copy_times(incremental)
    commit = first
    for label, rewritten in (("whole_year_restated", WHOLE_YEAR), ("daily", DAILY)):
        year = CHANGED_YEAR if rewritten is WHOLE_YEAR else LAST_YEAR
        commit = rewrite_year(settings, commit, year, rewritten)
        report[label] = {"incremental": _timed_publish(incremental, commit, label)}
        if os.environ.get("BENCH_WAREHOUSE_COMPARE", "1") == "1":  # 0: skip (10M: minutes)
            full = work / f"full-{label}.duckdb"
            report[label]["full"] = _timed_publish(full, commit, label)
            report[label]["differing_tables"] = differing_tables(incremental, full)
            full.unlink()
        print(f"bench warehouse_duckdb {rows:,} {label}: {report[label]}", file=sys.stderr)
    return report


def main(results_dir: Path) -> dict[str, Any]:
    chosen = os.environ.get("BENCH_WAREHOUSE_ROWS")
    sizes = tuple(int(v) for v in chosen.split(",")) if chosen else SIZES
    report: dict[str, Any] = {"what": __doc__.split("\n\n")[0] if __doc__ else "", "runs": {}}
    for rows in sizes:
        work = Path(tempfile.mkdtemp(prefix=f"bench-warehouse-{rows}-"))
        try:
            report["runs"][str(rows)] = run_size(rows, work)
            print(f"bench warehouse_duckdb {rows:,}: {report['runs'][str(rows)]}", file=sys.stderr)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    (results_dir / "warehouse_duckdb.json").write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    print(json.dumps(main(results), indent=2))
