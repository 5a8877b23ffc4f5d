"""Full vs incremental gold on generated ``public_debt_transactions`` silver (DuckDB engine).

For each size (1M and 10M rows by default; ``BENCH_GOLD_ROWS=1000000`` to choose) DuckDB writes
silver S1 over twenty record years (2005-10-01 onwards) in the lake's layout, then S2: S1 with
the amounts of one record year changed. Per changed year (the newest, as a daily run changes it,
and one in the middle) and per gold model of the dataset, it times the full ``build_gold`` over
S2 and the incremental one (``years={Y}``, previous = the full gold of S1), checks that both
wrote the same rows, and reports the median of ``BENCH_GOLD_REPEAT`` (default 3) runs.

    PYTHONPATH=src:. python -m bench.incremental_gold [rows ...]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from treasury_lakehouse.catalog import PUBLIC_DEBT_TRANSACTIONS
from treasury_lakehouse.engines.duckdb import DuckDBEngine
from treasury_lakehouse.models.registry import GOLD_MODELS, GoldModel
from treasury_lakehouse.models.silver import silver_columns

DATASET = PUBLIC_DEBT_TRANSACTIONS
SIZES = (1_000_000, 10_000_000)
FIRST_DAY = date(2005, 10, 1)
DAYS = 7300  # twenty years of record dates
MODELS = [m for m in GOLD_MODELS if m.sources == (f"silver_{DATASET.name}",)]
#: generated values of the columns gold reads; the others are NULL of their silver type
VALUES = {
    "record_date": "DATE '{first}' + CAST(i // {per_day} AS INTEGER)",
    "transaction_type": "CASE WHEN i % 2 = 0 THEN 'Issues' ELSE 'Redemptions' END",
    "security_market": "CASE WHEN i % 5 = 4 THEN 'Nonmarketable' ELSE 'Marketable' END",
    "security_type": "['Bills', 'Notes', 'Bonds', 'TIPS', 'Savings'][1 + (i // 2) % 5]",
    "security_type_desc": "'Series ' || CAST(i % 37 AS VARCHAR)",
    "transaction_today_amt": "CAST(hash(i) % 50000 AS BIGINT)",
    "batch_id": "'bench'",
}
LINEAGE_TYPES = {"batch_id": "VARCHAR", "ingestion_timestamp": "TIMESTAMP"}


def write_silver(directory: Path, rows: int, changed_year: int | None = None) -> None:
    """Silver of ``rows`` rows, partitioned by record year; ``changed_year``'s amounts + 1."""
    per_day = max(1, -(-rows // DAYS))
    types = {c: DATASET.silver_type(c) for c in DATASET.columns} | LINEAGE_TYPES
    columns = []
    for column in silver_columns(DATASET):
        value = VALUES.get(column, f"CAST(NULL AS {types[column]})")
        columns.append(f"{value.format(first=FIRST_DAY, per_day=per_day)} AS {column}")
    shift = (
        f"CASE WHEN EXTRACT(YEAR FROM record_date) = {changed_year} THEN 1 ELSE 0 END"
        if changed_year
        else "0"
    )
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT * REPLACE (transaction_today_amt + {shift} AS transaction_today_amt), "
        f"CAST(EXTRACT(YEAR FROM record_date) AS INTEGER) AS record_year "
        f"FROM (SELECT {', '.join(columns)} FROM range({rows}) AS t(i))) "
        f"TO '{directory}' (FORMAT PARQUET, PARTITION_BY (record_year), COMPRESSION zstd)"
    )
    con.close()


def _rows(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()


def _timed_build(
    engine: DuckDBEngine, model: GoldModel, silver: Path, out: Path, **incremental: Any
) -> float:
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    engine.build_gold(model, {f"silver_{DATASET.name}": silver}, out, **incremental)
    return time.perf_counter() - started


def measure(root: Path, rows: int, year: int, repeat: int) -> dict[str, Any]:
    s1, s2 = root / f"s1-{rows}", root / f"s2-{rows}-{year}"
    if not s1.exists():
        write_silver(s1, rows)
    write_silver(s2, rows, changed_year=year)
    engine = DuckDBEngine()
    previous = root / f"gold-s1-{rows}"
    for model in MODELS:
        if not (previous / f"{model.name}.parquet").exists():
            _timed_build(engine, model, s1, previous)
    result: dict[str, Any] = {"rows": rows, "changed_year": year, "models": {}}
    for model in MODELS:
        full, incremental = [], []
        for run in range(repeat):
            full_out, inc_out = root / f"full-{run}", root / f"inc-{run}"
            full.append(_timed_build(engine, model, s2, full_out))
            incremental.append(
                _timed_build(engine, model, s2, inc_out, years=frozenset({year}), previous=previous)
            )
            table = f"{model.name}.parquet"
            same = _rows(full_out / table) == _rows(inc_out / table)
            assert same, f"{model.name}: incremental differs from full"
        result["models"][model.name] = {
            "full_s": round(statistics.median(full), 3),
            "incremental_s": round(statistics.median(incremental), 3),
        }
    models = result["models"].values()
    result["full_s"] = round(sum(m["full_s"] for m in models), 3)
    result["incremental_s"] = round(sum(m["incremental_s"] for m in models), 3)
    result["incremental_share"] = round(result["incremental_s"] / result["full_s"], 3)
    engine.close()
    return result


def _sizes(arguments: list[str]) -> tuple[int, ...]:
    chosen = arguments or os.environ.get("BENCH_GOLD_ROWS", "").split(",")
    return tuple(int(s) for s in chosen if s.strip()) or SIZES


def main(results_dir: Path, sizes: tuple[int, ...] | None = None) -> list[dict[str, Any]]:
    repeat = int(os.environ.get("BENCH_GOLD_REPEAT", "3"))
    newest = date.fromordinal(FIRST_DAY.toordinal() + DAYS - 1).year
    results = []
    for rows in sizes or _sizes([]):
        with tempfile.TemporaryDirectory(prefix="bench-gold-") as scratch:
            for year in (newest, 2015):
                result = measure(Path(scratch), rows, year, repeat)
                print(json.dumps(result), flush=True)
                results.append(result)
    (results_dir / "incremental_gold.json").write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    main(results, _sizes(sys.argv[1:]))
