"""What ``make compose-test`` checks once the stack's DAG run succeeded (docker/compose-stack).

Runs inside the stack's image, with the lake volume, this folder and the records folder mounted::

    python tests/compose_check.py --dsn postgresql://... --lake /lakehouse/lake \\
        --run-id airflow-<dag run id> --spark-ui http://127.0.0.1:18081 \\
        --start 2024-01-02 --run-moment 2026-06-24T22:00:00+00:00 [--records /records]

* every gold table of the stack's PostgreSQL has rows;
* ``load_manifest`` holds the run's load, and the lake commit it names was built by the ``spark``
  engine;
* the Spark master ran the pipeline's application (the cluster, not ``local[*]``);
* with ``--records`` (real records, the layout of ``../shared/fiscaldata``), gold equals
  ``tests/independent_gold.py`` over the run's window: ``--start`` to the statement date of
  ``--run-moment`` (when the run was triggered).

Prints one line per check; exits 1 on the first failed group of checks.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from independent_gold import expected_gold, read_records
from treasury_lakehouse.config import mask_dsn
from treasury_lakehouse.lake.commit import read_commit
from treasury_lakehouse.models.registry import GOLD_MODELS
from treasury_lakehouse.orchestration.windows import statement_date
from treasury_lakehouse.warehouse.postgres import PostgresWarehouse

PDT, OCB = "public_debt_transactions", "operating_cash_balance"
APP_NAME = "treasury-lakehouse"


def query(dsn: str, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as con:
        cursor = con.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def check_gold_rows(dsn: str) -> list[str]:
    failures = []
    for model in GOLD_MODELS:
        [(rows,)] = query(dsn, f"SELECT COUNT(*) FROM {model.name}")  # names from the registry
        print(f"compose check: {model.name}: {rows} rows")
        if rows == 0:
            failures.append(f"{model.name} is empty")
    return failures


def check_manifest(dsn: str, lake: Path, run_id: str) -> list[str]:
    rows = query(
        dsn,
        "SELECT DISTINCT lake_commit FROM load_manifest WHERE run_id = %s",
        (run_id,),
    )
    if not rows:
        return [f"load_manifest has no row for run {run_id}"]
    failures = []
    for (seq,) in rows:
        if seq is None:
            failures.append(f"load_manifest of run {run_id} names no lake commit")
            continue
        engine = read_commit(lake, int(seq)).engine
        print(f"compose check: load_manifest run {run_id}: lake commit {seq}, engine {engine}")
        if engine != "spark":
            failures.append(f"lake commit {seq} was built by {engine!r}, not spark")
    return failures


def check_spark_cluster(spark_ui: str) -> list[str]:
    with urllib.request.urlopen(spark_ui.rstrip("/") + "/json/", timeout=10) as answer:
        state = json.load(answer)
    apps = [
        app
        for key in ("activeapps", "completedapps")
        for app in state.get(key, [])
        if app.get("name") == APP_NAME
    ]
    print(
        f"compose check: spark master {state.get('url')}: {len(state.get('workers', []))} "
        f"worker(s), {len(apps)} {APP_NAME} application(s)"
    )
    return [] if apps else [f"the Spark master at {spark_ui} ran no {APP_NAME} application"]


def check_gold_equals_records(dsn: str, records: Path, start: date, end: date) -> list[str]:
    pdt = read_records(records, PDT, start, end)
    ocb = read_records(records, OCB, start, end)
    dsl = read_records(records, "debt_subject_to_limit", start, end)
    refunds = read_records(records, "income_tax_refunds_issued", start, end)
    warehouse = PostgresWarehouse(dsn)
    failures = []
    for table, rows in expected_gold(pdt, ocb, dsl, refunds).items():
        actual = sorted(warehouse.table_rows(table))
        same = actual == rows
        print(
            f"compose check: {table}: {len(actual)} rows "
            f"{'equal' if same else 'DIFFERENT from'} the independent computation "
            f"({len(rows)} rows, {start}..{end})"
        )
        if not same:
            failures.append(f"{table} differs from tests/independent_gold.py")
    [(silver,)] = query(dsn, "SELECT COUNT(*) FROM silver_public_debt_transactions")
    if silver != len(pdt):
        failures.append(f"silver_public_debt_transactions has {silver} rows, records {len(pdt)}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--run-id", required=True, help="the pipeline's run id (airflow-...)")
    parser.add_argument("--spark-ui", required=True)
    parser.add_argument("--start", type=date.fromisoformat, required=True)
    parser.add_argument("--run-moment", type=datetime.fromisoformat, required=True)
    parser.add_argument("--records", type=Path, default=None)
    args = parser.parse_args(argv)
    print(f"compose check: warehouse {mask_dsn(args.dsn)}")
    failures = check_gold_rows(args.dsn)
    failures += check_manifest(args.dsn, args.lake, args.run_id)
    failures += check_spark_cluster(args.spark_ui)
    if args.records is not None:
        end = statement_date(args.run_moment)
        failures += check_gold_equals_records(args.dsn, args.records, args.start, end)
    else:
        print("compose check: no records folder (synthetic sample): gold not compared")
    for failure in failures:
        print(f"compose check FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
