"""Full against daily incremental runs (transform, check, load) on a history that passes the checks.

For each size (1M and 10M rows of ``public_debt_transactions`` by default; set
``BENCH_INCREMENTAL_ROWS=1000000,10000000`` to choose) DuckDB SQL writes, in the lake's manifest
format, a committed bronze batch of each dataset that passes every Treasury quality check:

* ``public_debt_transactions``: the 23 lines of Table III-A of the project's generator
  (:data:`~treasury_lakehouse.testing.generator.DEBT_LINES`, Hope Bonds left out) on every
  business day of the DTS calendar from 2022-04-18 on, amounts drawn by the generator's
  :class:`~treasury_lakehouse.testing.generator.Amount` rules (with ``hash`` instead of its random
  generator), month- and fiscal-year-to-date the running sums of today per line. The quality
  checks allow 23..25 rows a business day, so 10M rows is a history of ~435,000 business days
  (2022 to ~3750): silver has one ``record_year`` partition per year.
* ``operating_cash_balance``: the four rows a day of the current layout of Table I, each day's
  TGA opening balance the previous business day's closing, deposits and withdrawals that add up,
  opening-of-month / fiscal-year balances and the flows' running sums (a few rows a day).

Then, each step in its own subprocess while this process samples the resident memory of its
process tree (every 50 ms): a full transform, check and load (the embedded DuckDB warehouse;
``load`` runs the checks first, its gate); a daily batch (seq 2 of each dataset: the next business
day, the last day restated with one amount changed and the running totals following it); the
incremental transform, check and load. Then a plain DuckDB SQL reference of the transform (the
same typing, dedup, quarantine, partitioned silver and the gold of those two datasets on the same
bronze, one process), a full transform, check and load of a fresh lake under
``TREASURY_MEMORY_LIMIT`` (``BENCH_INCREMENTAL_LIMIT``, default ``2GB``; empty to skip), and at
sizes up to ``BENCH_INCREMENTAL_SPARK_MAX`` rows (default 1M) the Spark engine's full then
incremental transform. Results in ``bench/results/incremental.json``, with the issue's targets as
pass/miss.

    PYTHONPATH=src:. python -m bench incremental
    PYTHONPATH=src:. python -m bench.incremental validate 100000   # no failure, same results
    PYTHONPATH=src:. python -m bench.incremental compare 1000000   # transform vs reference only
    PYTHONPATH=src:. python -m bench.incremental spark 1000000     # Spark full, then incremental
    PYTHONPATH=src:. python -m bench.incremental history 1000000   # the row history's share only
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import psutil
import pyarrow as pa

from bench.engines import ROWS_PER_PAGE, _tree_rss
from treasury_lakehouse.calendar import (
    fiscal_year_start,
    iter_business_days,
    previous_business_day,
)
from treasury_lakehouse.catalog import (
    DATASETS,
    OPERATING_CASH_BALANCE,
    PUBLIC_DEBT_TRANSACTIONS,
    Dataset,
    era_of,
)
from treasury_lakehouse.ingest.bronze import SOURCE_SYSTEM, BronzeStore
from treasury_lakehouse.ingest.paging import Window
from treasury_lakehouse.models.registry import gold_models_for
from treasury_lakehouse.models.silver import PATTERNS
from treasury_lakehouse.sql_quote import quote_ident as _q
from treasury_lakehouse.sql_quote import quote_literal as _lit
from treasury_lakehouse.testing.generator import DEBT_LINES

SIZES = (1_000_000, 10_000_000)
#: the PostgreSQL database the ``load_postgres`` steps publish into (set by run_size)
PG_DSN_VARIABLE = "BENCH_PG_DSN"
FIRST_DAY = date(2022, 4, 18)  # first day of Table I's current layout (one layout throughout)
LINES = tuple(line for line in DEBT_LINES if not line.hope_bonds)
#: the restatement of the last day: this much more on its first line (today and running totals)
RESTATED_BY = 7
TGA_LOW, TGA_SPAN = 400_000, 400_000  # closing balances drawn in [LOW, LOW + SPAN)
SAMPLE_S = 0.05
_CASH_ERA = era_of(OPERATING_CASH_BALANCE, FIRST_DAY)
assert _CASH_ERA is not None and _CASH_ERA.last_date is None


# --------------------------------------------------------------------------- generated bronze


def _src_lines() -> list[int]:
    """Printed line numbers: issues from 1, one skipped (their total), then redemptions."""
    numbers, number, previous = [], 0, None
    for line in LINES:
        number += 2 if previous == "Issues" and line.transaction_type == "Redemptions" else 1
        previous = line.transaction_type
        numbers.append(number)
    return numbers


def _lines_sql() -> str:
    rows = []
    for n, (line, src) in enumerate(zip(LINES, _src_lines(), strict=True)):
        a = line.amount
        rows.append(
            f"({n}, {_lit(line.transaction_type)}, {_lit(line.security_market)}, "
            f"{_lit(line.security_type)}, {_lit(line.security_type_desc)}, "
            f"{round(a.p_big * 1_000_000)}, {a.big[0]}, {a.big[1]}, "
            f"{round(a.p_small * 1_000_000)}, {a.small[0]}, {a.small[1]}, {src})"
        )
    return (
        "SELECT * FROM (VALUES " + ", ".join(rows) + ") AS l(line, transaction_type, "
        "security_market, security_type, security_type_desc, p_big, big_lo, big_hi, p_small, "
        "small_lo, small_hi, src_line)"
    )


def _draw(salt: int, lo: str, hi: str) -> str:
    return f"({lo} + CAST(hash(d, line, {salt}) % CAST({hi} - {lo} + 1 AS UBIGINT) AS BIGINT))"


_FISCAL_YEAR = "(year(d) + CASE WHEN month(d) >= 10 THEN 1 ELSE 0 END)"


def _debt_sql(restated: date | None) -> str:
    """Numeric rows of Table III-A over relation ``days`` (n, d, prev_d): running totals per line
    within month and fiscal year, so ``days`` must start on a fiscal year's first business day
    or be the whole history."""
    bump = f"CASE WHEN d = DATE '{restated}' AND line = 0 THEN {RESTATED_BY} ELSE 0 END"
    return f"""
WITH x AS (
  SELECT days.n, days.d, l.*,
    CASE WHEN hash(d, line, 1) % 1000000 < p_big THEN {_draw(2, "big_lo", "big_hi")}
         WHEN hash(d, line, 3) % 1000000 < p_small THEN {_draw(4, "small_lo", "small_hi")}
         ELSE 0 END + {bump if restated else 0} AS today
  FROM days CROSS JOIN ({_lines_sql()}) AS l
)
SELECT n, d, line, transaction_type, security_market, security_type, security_type_desc,
  src_line, today,
  CAST(SUM(today) OVER (PARTITION BY line, year(d), month(d) ORDER BY d) AS BIGINT) AS mtd,
  CAST(SUM(today) OVER (PARTITION BY line, {_FISCAL_YEAR} ORDER BY d) AS BIGINT) AS fytd
FROM x
"""


def _closing(day: str) -> str:
    return f"({TGA_LOW} + CAST(hash({day}, 'tga') % {TGA_SPAN} AS BIGINT))"


def _cash_sql() -> str:
    """Numeric rows of Table I (current layout) over ``days``: opening = the previous business
    day's closing, closing = opening + deposits - withdrawals, month / fiscal-year openings and
    the flows' running sums."""
    names = _CASH_ERA.row_names  # type: ignore[union-attr]
    return f"""
WITH c AS (
  SELECT n, d, {_closing("prev_d")} AS opening, {_closing("d")} AS closing,
    30000 + CAST(hash(d, 'deposits') % 150000 AS BIGINT) AS base FROM days
),
f AS (SELECT *, base + greatest(0, closing - opening) AS deposits FROM c),
g AS (SELECT *, opening + deposits - closing AS withdrawals FROM f),
h AS (
  SELECT *,
    FIRST_VALUE(opening) OVER (PARTITION BY year(d), month(d) ORDER BY d) AS open_month,
    FIRST_VALUE(opening) OVER (PARTITION BY {_FISCAL_YEAR} ORDER BY d) AS open_fy,
    SUM(deposits) OVER (PARTITION BY year(d), month(d) ORDER BY d) AS dep_mtd,
    SUM(deposits) OVER (PARTITION BY {_FISCAL_YEAR} ORDER BY d) AS dep_fytd,
    SUM(withdrawals) OVER (PARTITION BY year(d), month(d) ORDER BY d) AS wd_mtd,
    SUM(withdrawals) OVER (PARTITION BY {_FISCAL_YEAR} ORDER BY d) AS wd_fytd
  FROM g
)
SELECT n, d, 0 AS line, {_lit(names[0])} AS account_type, opening AS today,
       open_month AS month_bal, open_fy AS fy_bal FROM h
UNION ALL SELECT n, d, 1, {_lit(names[1])}, deposits, dep_mtd, dep_fytd FROM h
UNION ALL SELECT n, d, 2, {_lit(names[2])}, withdrawals, wd_mtd, wd_fytd FROM h
UNION ALL SELECT n, d, 3, {_lit(names[3])}, closing, closing, closing FROM h
"""


def _calendar_columns() -> str:
    return f"""CAST({_FISCAL_YEAR} AS VARCHAR) AS record_fiscal_year,
  CAST((month(d) + 2) % 12 // 3 + 1 AS VARCHAR) AS record_fiscal_quarter,
  CAST(year(d) AS VARCHAR) AS record_calendar_year,
  CAST(quarter(d) AS VARCHAR) AS record_calendar_quarter,
  strftime(d, '%m') AS record_calendar_month,
  strftime(d, '%d') AS record_calendar_day"""


def _page_sql(dataset: Dataset, first: int, page: int, batch_id: str, at: datetime) -> str:
    """One bronze page (string values like the API's, then the lineage columns) of table ``g``;
    ``first`` is the batch's first day index."""
    per_day = len(LINES) if dataset is PUBLIC_DEBT_TRANSACTIONS else 4
    if dataset is PUBLIC_DEBT_TRANSACTIONS:
        values = """transaction_type, security_market, security_type, security_type_desc,
  CAST(today AS VARCHAR) AS transaction_today_amt, CAST(mtd AS VARCHAR) AS transaction_mtd_amt,
  CAST(fytd AS VARCHAR) AS transaction_fytd_amt, 'IIIA' AS table_nbr,
  'Public Debt Transactions' AS table_nm, CAST(src_line AS VARCHAR) AS src_line_nbr"""
    else:
        values = """account_type, 'null' AS close_today_bal,
  CAST(today AS VARCHAR) AS open_today_bal, CAST(month_bal AS VARCHAR) AS open_month_bal,
  CAST(fy_bal AS VARCHAR) AS open_fiscal_year_bal,
  'I' AS table_nbr, 'Operating Cash Balance' AS table_nm,
  'Cash Balance Details' AS sub_table_name, CAST(line + 1 AS VARCHAR) AS src_line_nbr"""
    index = f"((n - {first}) * {per_day} + line)"
    return f"""
SELECT strftime(d, '%Y-%m-%d') AS record_date, {values}, {_calendar_columns()},
  TIMESTAMPTZ '{at.isoformat()}' AS ingestion_timestamp, {_lit(SOURCE_SYSTEM)} AS source_system,
  {_lit(batch_id)} AS batch_id, 'bench://generated' AS request_url,
  CAST({page} AS INTEGER) AS page_number,
  CAST({index} - {(page - 1) * ROWS_PER_PAGE} AS INTEGER) AS row_index
FROM g
WHERE {index} >= {(page - 1) * ROWS_PER_PAGE} AND {index} < {page * ROWS_PER_PAGE}
ORDER BY row_index
"""


def _write_batch(
    con: duckdb.DuckDBPyConnection,
    lake: Path,
    dataset: Dataset,
    seq: int,
    window: tuple[date, date],
    first: int,
) -> dict[str, Any]:
    """Table ``g`` (rows of the days ``window`` holds) as committed batch ``seq`` of
    ``dataset``."""
    at = datetime.now(UTC).replace(microsecond=0)
    batch_id = f"{at:%Y%m%dT%H%M%S}Z-{uuid.uuid4().hex[:8]}"
    base = lake / "bronze" / dataset.name
    batch_dir = base / f"batch-{batch_id}"
    batch_dir.mkdir(parents=True)
    rows = int(con.execute("SELECT COUNT(*) FROM g").fetchone()[0])  # type: ignore[index]
    files = []
    for page in range(1, -(-rows // ROWS_PER_PAGE) + 1):
        name = f"page-{page:06d}.parquet"
        sql = _page_sql(dataset, first, page, batch_id, at)
        con.execute(f"COPY ({sql}) TO {_lit(batch_dir / name)} (FORMAT PARQUET, COMPRESSION zstd)")
        files.append(f"{batch_dir.name}/{name}")
    first_day, last_day = window
    entry = {
        "dataset": dataset.name,
        "batch_id": batch_id,
        "seq": seq,
        "rows": rows,
        "pages": len(files),
        "files": files,
        "fields": list(dataset.columns),
        "data_types": dict(dataset.columns),
        "drift": [],
        "total_count": rows,
        "min_record_date": first_day.isoformat(),
        "max_record_date": last_day.isoformat(),
        "window": f"{first_day}..{last_day}",
        "ingested_at": at.isoformat(),
        "committed_at": datetime.now(UTC).isoformat(),
    }
    (base / "_manifest").mkdir(exist_ok=True)
    (base / "_manifest" / f"{seq:06d}_{batch_id}.json").write_text(json.dumps(entry, indent=2))
    return entry


def _days_table(days: list[date]) -> pa.Table:
    previous = [previous_business_day(days[0]), *days[:-1]]
    return pa.table(
        {
            "n": pa.array(range(len(days)), pa.int64()),
            "d": pa.array(days, pa.date32()),
            "prev_d": pa.array(previous, pa.date32()),
        }
    )


def business_days(count: int) -> list[date]:
    """The first ``count`` business days from :data:`FIRST_DAY`."""
    return list(itertools.islice(iter_business_days(FIRST_DAY, date(9999, 12, 31)), count))


def generate_history(lake: Path, rows: int) -> dict[str, Any]:
    """Batch 1 of both datasets: ``rows // 23`` business days of Table III-A and of Table I."""
    days = business_days(rows // len(LINES) + 1)  # one more for the daily batch
    history = days[:-1]
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        all_days = _days_table(days)
        con.register("all_days", all_days)
        con.execute(f"CREATE TEMP VIEW days AS SELECT * FROM all_days WHERE n < {len(history)}")
        entries = {}
        for dataset, sql in ((PUBLIC_DEBT_TRANSACTIONS, _debt_sql(None)),
                             (OPERATING_CASH_BALANCE, _cash_sql())):  # fmt: skip
            con.execute(f"CREATE OR REPLACE TEMP TABLE g AS {sql}")
            entries[dataset.name] = _write_batch(
                con, lake, dataset, 1, (history[0], history[-1]), 0
            )
    _empty_others(lake, history[0], history[-1])
    return {"days": days, "entries": entries}


def _empty_others(lake: Path, first: date, last: date) -> None:
    """The other catalog datasets get one empty batch each (their silver an empty table), so
    ``load``, which publishes every catalog dataset, runs; the bench measures the first two."""
    store = BronzeStore(lake)
    for dataset in DATASETS.values():
        if dataset not in (PUBLIC_DEBT_TRANSACTIONS, OPERATING_CASH_BALANCE):
            store.write_empty_batch(dataset, Window(first, last), "bench: not generated")


def generate_daily(lake: Path, days: list[date]) -> dict[str, Any]:
    """Batch 2 of both datasets: the next business day (``days[-1]``) and the last day of the
    history restated (Table III-A's first line +7 that day, its running totals following)."""
    new, restated = days[-1], days[-2]
    start = fiscal_year_start(restated)
    first = next(i for i, d in enumerate(days) if d >= start)
    window = (restated, new)
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("all_days", _days_table(days))
        con.execute(
            f"CREATE TEMP VIEW days AS SELECT n, d, prev_d FROM all_days WHERE n >= {first}"
        )
        entries = {}
        for dataset, sql in ((PUBLIC_DEBT_TRANSACTIONS, _debt_sql(restated)),
                             (OPERATING_CASH_BALANCE, _cash_sql())):  # fmt: skip
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE g AS SELECT * FROM ({sql}) AS s "
                f"WHERE d >= DATE '{restated}'"
            )
            entries[dataset.name] = _write_batch(con, lake, dataset, 2, window, len(days) - 2)
    return entries


# --------------------------------------------------------------------------- measured steps


def _settings(home: Path, engine: str = "duckdb", full: bool = False) -> Any:
    from treasury_lakehouse.config import settings_from_env

    return settings_from_env(
        home=home,
        engine=engine,
        warehouse=f"duckdb:///{home / 'warehouse.duckdb'}",
        full_rebuild=full,
    )


def _step_here(step: str, home: Path, engine: str) -> dict[str, Any]:
    """One library call in this process; its result as a small dict."""
    from treasury_lakehouse import pipeline

    settings = _settings(home, engine, full=step == "transform_full")
    histories = _time_histories(pipeline)
    started, cpu = time.monotonic(), time.process_time()
    if step.startswith("transform"):
        transformed = pipeline.transform(settings)
        out: dict[str, Any] = {
            **_history_share(histories, time.monotonic() - started, time.process_time() - cpu),
            "silver": {
                c.dataset: {
                    k: v for k, v in asdict(c).items() if k not in ("dataset", "by_batch_year")
                }
                for c in transformed.silver
            },
            "gold_rows": transformed.gold,
        }
    elif step == "check":
        report = pipeline.check(settings)
        out = _report_summary(report)
    elif step == "load_postgres":  # the publish alone: the gate is the check step
        out = _publish_postgres(settings, os.environ[PG_DSN_VARIABLE])
    elif step == "load":
        loaded = pipeline.load(settings)
        out = {"tables": len(loaded.tables), "rows": sum(loaded.tables.values()),
               "skipped": loaded.skipped}  # fmt: skip
    elif step == "reference":
        out = reference(home)
    else:
        raise SystemExit(f"unknown step {step}")
    return {"in_call_s": round(time.monotonic() - started, 2), **out}


def _publish_postgres(settings: Any, dsn: str) -> dict[str, Any]:
    """Publish the current lake commit into the PostgreSQL database ``dsn``."""
    from treasury_lakehouse.lake.layout import Lake
    from treasury_lakehouse.warehouse.base import lake_tables
    from treasury_lakehouse.warehouse.postgres import PostgresWarehouse

    commit = Lake(settings.lake).require_commit()
    loaded = PostgresWarehouse(dsn).publish(lake_tables(commit), f"bench-{commit.seq}", commit)
    return {"rows": sum(loaded.tables.values()), "planned_from_changes": loaded.incremental}


@contextlib.contextmanager
def _postgres_database(rows: int) -> Iterator[bool]:
    """A database of its own for the PostgreSQL steps, named to the children by
    :data:`PG_DSN_VARIABLE`; yields False (no such steps) when the server is unreachable."""
    import psycopg

    admin = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"bench_incremental_{rows}_{os.getpid()}"
    try:
        con = psycopg.connect(admin, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        print(f"bench incremental: no PostgreSQL steps ({error})", file=sys.stderr)
        yield False
        return
    with con:
        con.execute(f'CREATE DATABASE "{name}"')
        os.environ[PG_DSN_VARIABLE] = admin.rsplit("/", 1)[0] + f"/{name}"
        try:
            yield True
        finally:
            os.environ.pop(PG_DSN_VARIABLE, None)
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _time_histories(pipeline: Any) -> dict[str, float]:
    """Seconds of each dataset's history build (issue 14's "Cost"), filled while ``transform``
    runs: ``pipeline._build_history`` is wrapped in this process only."""
    spent: dict[str, float] = {}
    build = pipeline._build_history

    def timed(settings: Any, lake: Any, name: str, base: Any) -> Any:
        started, cpu = time.monotonic(), time.process_time()
        try:
            return build(settings, lake, name, base)
        finally:
            spent[name] = round(time.monotonic() - started, 3)
            spent["cpu"] = spent.get("cpu", 0.0) + time.process_time() - cpu

    pipeline._build_history = timed
    return spent


def _history_share(histories: dict[str, float], in_call: float, cpu: float) -> dict[str, Any]:
    """The histories' seconds, the rest of the transform's, and what they add to the rest; the
    same in CPU seconds of the process (all its threads), steadier on a shared machine."""
    history_cpu = histories.pop("cpu", 0.0)
    history = sum(histories.values())
    rest, rest_cpu = in_call - history, cpu - history_cpu
    return {
        "history_s": round(history, 2),
        "without_history_s": round(rest, 2),
        "history_added": round(history / rest, 3) if rest > 0 else None,
        "history_cpu_s": round(history_cpu, 2),
        "without_history_cpu_s": round(rest_cpu, 2),
        "history_added_cpu": round(history_cpu / rest_cpu, 3) if rest_cpu > 0 else None,
        "history_by_dataset_s": {k: v for k, v in histories.items() if v >= 0.005},
    }


def _report_summary(report: Any) -> dict[str, Any]:
    failed = {f"{r.check} {r.table}": len(r.findings) for r in report.failed}
    warned = {
        f"{r.check} {r.table}": len(r.findings)
        for r in report.results
        if r.findings and r not in report.failed
    }
    first = [
        f"{r.check} {r.table}: {f.row}: {f.message}"
        for r in report.failed
        for f in r.findings[:2]
    ]  # fmt: skip
    return {"checks": len(report.results), "failed": failed, "warned": warned,
            "first_failures": first[:6]}  # fmt: skip


def measure(
    step: str, home: Path, engine: str = "duckdb", limit: str | None = None
) -> dict[str, Any]:
    """``step`` in a child process: wall s, peak RSS of its process tree, its own result."""
    env = {k: v for k, v in os.environ.items() if k != "TREASURY_MEMORY_LIMIT"}
    if limit:
        env["TREASURY_MEMORY_LIMIT"] = limit
    command = [sys.executable, "-m", "bench.incremental", "_step", step, str(home), engine]
    log_path = home.parent / f"{home.name}-{step}-{engine}.log"
    started = time.monotonic()
    with open(log_path, "wb") as log:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env)
        watched, peak = psutil.Process(child.pid), 0
        while child.poll() is None:
            with contextlib.suppress(psutil.Error):
                peak = max(peak, _tree_rss(watched))
            time.sleep(SAMPLE_S)
        out = child.stdout.read() if child.stdout else b""
    wall = time.monotonic() - started
    if child.returncode != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
        result: dict[str, Any] = {"error": f"exit code {child.returncode}: {' | '.join(tail)}"}
    else:
        result = json.loads(out.decode().strip().splitlines()[-1])
    summary = {"wall_s": round(wall, 2), "peak_rss_mib": round(peak / 2**20), **result}
    print(f"bench incremental: {home.name} {step} {engine}: {summary}", file=sys.stderr)
    return summary


# --------------------------------------------------------------------------- plain SQL reference


def _typed_sql(dataset: Dataset, files: list[Path], seqs: dict[str, int]) -> str:
    """Bronze typed with silver.py's patterns and casts (each value cleaned and cast once), the
    raw strings as ``raw_<column>``, a quarantine reason and the batch seq."""
    listed = ", ".join(_lit(f) for f in files)
    cleaned = [f"NULLIF(NULLIF(TRIM({_q(c)}, ' '), 'null'), '') AS {_q('c_' + c)}"
               for c in dataset.columns]  # fmt: skip
    typed, reasons = [], []
    for column, api_type in dataset.columns.items():
        clean = _q("c_" + column)
        if api_type == "STRING":
            typed.append(f"{clean} AS {_q(column)}")
            continue
        cast = "TRY_CAST" if api_type == "DATE" else "CAST"
        typed.append(
            f"CASE WHEN REGEXP_MATCHES({clean}, '{PATTERNS[api_type]}') "
            f"THEN {cast}({clean} AS {dataset.silver_type(column)}) END AS {_q(column)}"
        )
        reasons.append(
            f"CASE WHEN {clean} IS NOT NULL AND {_q(column)} IS NULL "
            f"THEN '{column}: not a {api_type}: ' || {clean} END"
        )
    reasons += [
        f"CASE WHEN {_q('c_' + c)} IS NULL THEN '{c}: natural key is missing' END"
        for c in dataset.required_key_columns
    ]
    raw = ", ".join(f"{_q(c)} AS {_q('raw_' + c)}" for c in dataset.columns)
    cleans = ", ".join(_q("c_" + c) for c in dataset.columns)
    raws = ", ".join(_q("raw_" + c) for c in dataset.columns)
    lineage = "batch_id, ingestion_timestamp, page_number, row_index"
    seq_case = " ".join(f"WHEN {_lit(b)} THEN {s}" for b, s in seqs.items())
    return f"""
WITH cleaned AS (
  SELECT {", ".join(cleaned)}, {raw}, {lineage}
  FROM read_parquet([{listed}], union_by_name = true)
),
typed AS (SELECT {", ".join(typed)}, {cleans}, {raws}, {lineage} FROM cleaned)
SELECT * EXCLUDE ({cleans}), CASE batch_id {seq_case} END AS batch_seq,
  NULLIF(CONCAT_WS('; ', {", ".join(reasons)}), '') AS quarantine_reason
FROM typed
"""


def reference(home: Path) -> dict[str, Any]:
    """The transform's work in plain DuckDB SQL over ``home``'s bronze: typing, quarantine,
    dedup by natural key (newest seq, page, row), silver partitioned by record_year, gold."""
    from treasury_lakehouse.ingest.bronze import BronzeStore

    store, out = BronzeStore(home / "lake"), home / "reference"
    rows: dict[str, int] = {}
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        for dataset in (OPERATING_CASH_BALANCE, PUBLIC_DEBT_TRANSACTIONS):
            batches = store.batches(dataset.name)
            files = [store.dataset_dir(dataset.name) / f for b in batches for f in b.files]
            typed = _typed_sql(dataset, files, {b.batch_id: b.seq for b in batches})
            key = ", ".join(_q(c) for c in dataset.natural_key)
            columns = ", ".join(
                _q(c) for c in [*dataset.columns, "batch_id", "ingestion_timestamp"]
            )
            silver = out / "silver" / dataset.name
            silver.parent.mkdir(parents=True, exist_ok=True)
            con.execute(f"""
COPY (SELECT {columns}, year(record_date) AS record_year FROM ({typed}) AS t
      WHERE quarantine_reason IS NULL
      QUALIFY ROW_NUMBER() OVER (PARTITION BY {key}
                                 ORDER BY batch_seq DESC, page_number DESC, row_index DESC) = 1)
TO {_lit(silver)} (FORMAT PARQUET, PARTITION_BY (record_year))""")
            quarantine = out / "quarantine" / dataset.name
            raws = ", ".join(f"{_q('raw_' + c)} AS {_q(c)}" for c in dataset.columns)
            lineage = "batch_id, ingestion_timestamp, page_number, row_index"
            quarantine.mkdir(parents=True)
            con.execute(
                f"COPY (SELECT {raws}, quarantine_reason, {lineage} FROM ({typed}) AS t "
                f"WHERE quarantine_reason IS NOT NULL) "
                f"TO {_lit(quarantine / 'quarantine.parquet')} (FORMAT PARQUET)"
            )
            con.execute(
                f"CREATE VIEW silver_{dataset.name} AS SELECT {columns} FROM "
                f"read_parquet({_lit(str(silver) + '/**/*.parquet')}, hive_partitioning = true)"
            )
            rows[f"silver_{dataset.name}"] = int(
                con.execute(f"SELECT COUNT(*) FROM silver_{dataset.name}").fetchone()[0]  # type: ignore[index]
            )
        (out / "gold").mkdir()
        # the gold of the two generated datasets (the others' silver is empty in the bench)
        generated = (OPERATING_CASH_BALANCE.name, PUBLIC_DEBT_TRANSACTIONS.name)
        for model in gold_models_for(generated):
            target = out / "gold" / f"{model.name}.parquet"
            con.execute(f"COPY ({model.sql}) TO {_lit(target)} (FORMAT PARQUET)")
            rows[model.name] = int(
                con.execute(f"SELECT COUNT(*) FROM read_parquet({_lit(target)})").fetchone()[0]  # type: ignore[index]
            )
    finally:
        con.close()
    return {"rows": rows}


# --------------------------------------------------------------------------- the run


def _sizes() -> tuple[int, ...]:
    chosen = os.environ.get("BENCH_INCREMENTAL_ROWS")
    return tuple(int(v) for v in chosen.split(",")) if chosen else SIZES


def _linked_home(work: Path, name: str, bronze_of: Path) -> Path:
    """A home of its own whose lake reads the bronze of ``bronze_of``."""
    home = work / name
    (home / "lake").mkdir(parents=True)
    (home / "lake" / "bronze").symlink_to(bronze_of / "lake" / "bronze")
    return home


def _ratio(a: Any, b: Any) -> float | None:
    return (
        round(a / b, 3) if isinstance(a, int | float) and isinstance(b, int | float) and b else None
    )


def _sum(steps: list[dict[str, Any]], field: str) -> float | None:
    values = [s.get(field) for s in steps]
    numbers = [v for v in values if isinstance(v, int | float)]
    return round(sum(numbers), 2) if len(numbers) == len(values) else None


def _target(name: str, value: float | None, bound: float, unit: str = "") -> str:
    if value is None:
        return f"n/a  {name}: not measured"
    verdict = "pass" if value <= bound else "miss"
    return f"{verdict} {name}: {value}{unit} (target <= {bound}{unit})"


def targets(run: dict[str, Any]) -> list[str]:
    """The issue's targets, each as a pass/miss line (in-call seconds: the process start of a
    step, ~1 s of imports, is in wall_s only)."""
    full, inc = run["full"], run["incremental"]
    lines = [
        _target("daily run (transform+check+load) / full run, in-call time",
                _ratio(_sum(list(inc.values()), "in_call_s"),
                       _sum(list(full.values()), "in_call_s")), 0.10),
        _target("incremental transform, in-call", inc["transform"].get("in_call_s"), 2.0, " s"),
        _target("daily PostgreSQL publish (issue 15; the target is for 10M rows), in-call",
                inc.get("load_postgres", {}).get("in_call_s"), 5.0, " s"),
        _target("history and revisions / the rest of the incremental transform (issue 14; the "
                "target is for 10M rows)", inc["transform"].get("history_added"), 0.10),
    ]  # fmt: skip
    ref = run.get("reference", {})
    lines += [
        _target("full transform / plain SQL reference, wall time",
                _ratio(full["transform"].get("wall_s"), ref.get("wall_s")), 1.1),
        _target("full transform / plain SQL reference, peak RSS",
                _ratio(full["transform"].get("peak_rss_mib"), ref.get("peak_rss_mib")), 1.2),
    ]  # fmt: skip
    for label, steps in (("full", full), ("incremental", inc)):
        lines += [
            _target(f"{label} check / transform, in-call time",
                    _ratio(steps["check"].get("in_call_s"), steps["transform"].get("in_call_s")),
                    1.0),
            _target(f"{label} check / transform, peak RSS",
                    _ratio(steps["check"].get("peak_rss_mib"),
                           steps["transform"].get("peak_rss_mib")), 1.5),
        ]  # fmt: skip
    limited = run.get("limited")
    if limited:
        peaks = [s.get("peak_rss_mib") for s in limited["steps"].values()]
        peak = max(peaks) if all(isinstance(p, int) for p in peaks) else None
        lines.append(_target(f"full run under TREASURY_MEMORY_LIMIT={limited['limit']}, peak RSS "
                             f"(the target is for 10M rows)", peak, 3072, " MiB"))  # fmt: skip
    return lines


def run_size(rows: int, work: Path) -> dict[str, Any]:
    """Every measurement of one size, in ``work`` (and a PostgreSQL database when reachable)."""
    with _postgres_database(rows) as postgres:
        return _run_size(rows, work, postgres)


def _run_size(rows: int, work: Path, postgres: bool) -> dict[str, Any]:
    home = work / "home"
    started = time.monotonic()
    history = generate_history(home / "lake", rows)
    days = history["days"]
    run: dict[str, Any] = {
        "history": {
            "days": len(days) - 1,
            "first_day": days[0].isoformat(),
            "last_day": days[-2].isoformat(),
            "rows": {k: v["rows"] for k, v in history["entries"].items()},
        },
        "generate_s": round(time.monotonic() - started, 1),
        "load_average_start": [round(v, 1) for v in os.getloadavg()],
    }
    run["full"] = {
        "transform": measure("transform_full", home),
        "check": measure("check", home),
        "load": measure("load", home),
    }
    if postgres:
        run["full"]["load_postgres"] = measure("load_postgres", home)
    run["reference"] = measure("reference", home)
    limit = os.environ.get("BENCH_INCREMENTAL_LIMIT", "2GB")
    if limit:
        limited = _linked_home(work, "limited", home)
        run["limited"] = {
            "limit": limit,
            "steps": {
                step.removesuffix("_full"): measure(step, limited, limit=limit)
                for step in ("transform_full", "check", "load")
            },
        }
    spark = rows <= int(os.environ.get("BENCH_INCREMENTAL_SPARK_MAX", "1000000"))
    if spark:
        spark_home = _linked_home(work, "spark", home)
        run["spark"] = {"full_transform": measure("transform_full", spark_home, "spark")}
    daily = generate_daily(home / "lake", days)
    run["daily_batch"] = {
        "rows": {k: v["rows"] for k, v in daily.items()},
        "window": daily[PUBLIC_DEBT_TRANSACTIONS.name]["window"],
    }
    run["incremental"] = {
        "transform": measure("transform", home),
        "check": measure("check", home),
        "load": measure("load", home),
    }
    if postgres:
        run["incremental"]["load_postgres"] = measure("load_postgres", home)
    if spark:
        run["spark"]["incremental_transform"] = measure("transform", spark_home, "spark")
        run["spark"]["incremental/full, in-call"] = _ratio(
            run["spark"]["incremental_transform"].get("in_call_s"),
            run["spark"]["full_transform"].get("in_call_s"),
        )
    full, inc = run["full"], run["incremental"]
    run["ratios"] = {
        "incremental/full": {
            step: {
                f: _ratio(inc[step].get(f), full[step].get(f))
                for f in ("wall_s", "in_call_s", "peak_rss_mib")
            }
            for step in full
        },
        "project/reference full transform": {
            f: _ratio(full["transform"].get(f), run["reference"].get(f))
            for f in ("wall_s", "in_call_s", "peak_rss_mib")
        },
    }
    run["load_average_end"] = [round(v, 1) for v in os.getloadavg()]
    run["targets"] = targets(run)
    return run


def main(results_dir: Path) -> dict[str, Any]:
    """Each size in a scratch folder of its own; results in incremental.json."""
    report: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"{platform.system()} {platform.machine()}",
        "what": "full vs daily incremental transform/check/load (DuckDB engine, embedded DuckDB "
        "warehouse) on a generated history passing the quality checks; each step a subprocess, "
        "peak_rss_mib = peak resident memory of its process tree; in_call_s = seconds inside "
        "the library call (wall_s adds interpreter start and imports)",
        "runs": {},
    }
    for rows in _sizes():
        work = Path(tempfile.mkdtemp(prefix=f"bench-incremental-{rows}-"))
        try:
            report["runs"][f"{rows}"] = run_size(rows, work)
        finally:
            if not os.environ.get("BENCH_KEEP"):
                shutil.rmtree(work, ignore_errors=True)
        for line in report["runs"][f"{rows}"]["targets"]:
            print(f"bench incremental: {rows:,} rows: {line}", file=sys.stderr)
        (results_dir / "incremental.json").write_text(json.dumps(report, indent=2))
    return report


def compare(rows: int) -> dict[str, Any]:
    """Only the full transform and the plain SQL reference, back to back on one bronze."""
    with tempfile.TemporaryDirectory(prefix=f"bench-incremental-compare-{rows}-") as scratch:
        home = Path(scratch) / "home"
        generate_history(home / "lake", rows)
        load = [round(v, 1) for v in os.getloadavg()]
        project, plain = measure("transform_full", home), measure("reference", home)
    return {
        "rows": rows,
        "load_average_start": load,
        "load_average_end": [round(v, 1) for v in os.getloadavg()],
        "project_transform": project,
        "reference": plain,
        "project/reference": {
            f: _ratio(project.get(f), plain.get(f)) for f in ("wall_s", "in_call_s", "peak_rss_mib")
        },
    }


def spark(rows: int) -> dict[str, Any]:
    """Only the Spark engine: a full transform, the daily batch, an incremental transform."""
    with tempfile.TemporaryDirectory(prefix=f"bench-incremental-spark-{rows}-") as scratch:
        home = Path(scratch) / "home"
        days = generate_history(home / "lake", rows)["days"]
        load = [round(v, 1) for v in os.getloadavg()]
        full = measure("transform_full", home, "spark")
        generate_daily(home / "lake", days)
        incremental = measure("transform", home, "spark")
    return {
        "rows": rows,
        "load_average_start": load,
        "load_average_end": [round(v, 1) for v in os.getloadavg()],
        "full_transform": full,
        "incremental_transform": incremental,
        "incremental/full": {
            f: _ratio(incremental.get(f), full.get(f))
            for f in ("wall_s", "in_call_s", "peak_rss_mib")
        },
    }


def history_cost(rows: int) -> dict[str, Any]:
    """Only what issue 14's "Cost" needs: a full transform, the daily batch, the incremental
    transform, each with the histories' share of its time."""
    with tempfile.TemporaryDirectory(prefix=f"bench-incremental-history-{rows}-") as scratch:
        home = Path(scratch) / "home"
        days = generate_history(home / "lake", rows)["days"]
        load = [round(v, 1) for v in os.getloadavg()]
        full = measure("transform_full", home)
        generate_daily(home / "lake", days)
        incremental = measure("transform", home)
    return {
        "rows": rows,
        "load_average_start": load,
        "load_average_end": [round(v, 1) for v in os.getloadavg()],
        "full_transform": {k: v for k, v in full.items() if k not in ("silver", "gold_rows")},
        "incremental_transform": {
            k: v for k, v in incremental.items() if k not in ("silver", "gold_rows")
        },
    }


def validate(rows: int) -> dict[str, Any]:
    """In this process: history, full transform and check, daily batch, incremental transform and
    check, load; and the incremental silver against a full rebuild of the same bronze."""
    from treasury_lakehouse import pipeline

    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-incremental-validate-") as scratch:
        home = Path(scratch) / "home"
        days = generate_history(home / "lake", rows)["days"]
        result["full_transform"] = _step_here("transform_full", home, "duckdb")
        result["full_check"] = _report_summary(pipeline.check(_settings(home)))
        reference(home)
        result["reference_equals_project"] = _same_as_reference(home)
        generate_daily(home / "lake", days)
        result["incremental_transform"] = _step_here("transform", home, "duckdb")
        result["incremental_check"] = _report_summary(pipeline.check(_settings(home)))
        result["load"] = _step_here("load", home, "duckdb")
        rebuilt = _linked_home(Path(scratch), "rebuilt", home)
        pipeline.transform(_settings(rebuilt, full=True))
        result["incremental_equals_full"] = _same_silver_and_gold(home, rebuilt)
    return result


def _same_as_reference(home: Path) -> dict[str, bool]:
    """Per silver and gold table: the plain SQL reference's rows are the project's."""
    from treasury_lakehouse.lake.layout import Lake
    from treasury_lakehouse.quality.runner import published_tables

    project = published_tables(home / "lake", Lake(home / "lake").find_commit()).sources()
    out, same = home / "reference", {}
    with duckdb.connect() as con:
        for table in sorted(t for t in project if t.startswith(("silver_", "gold_"))):
            if table.startswith("silver_"):
                if not (out / "silver" / table.removeprefix("silver_")).is_dir():
                    continue  # the reference builds the two generated datasets only
                glob = out / "silver" / table.removeprefix("silver_") / "**" / "*.parquet"
                ours = (
                    f"SELECT * EXCLUDE (record_year) FROM read_parquet({_lit(glob)}, "
                    "hive_partitioning = true)"
                )
            else:
                if not (out / "gold" / f"{table}.parquet").is_file():
                    continue  # gold of the datasets the bench does not generate
                ours = f"SELECT * FROM read_parquet({_lit(out / 'gold' / (table + '.parquet'))})"
            diff = (
                f"SELECT COUNT(*) FROM ((({project[table]}) EXCEPT ALL ({ours})) "
                f"UNION ALL (({ours}) EXCEPT ALL ({project[table]})))"
            )
            same[table] = con.execute(diff).fetchone()[0] == 0  # type: ignore[index]
    return same


def _same_silver_and_gold(a: Path, b: Path) -> dict[str, bool]:
    """Per silver and gold table: the same rows (lineage columns aside) in both homes."""
    from treasury_lakehouse.lake.layout import Lake
    from treasury_lakehouse.quality.runner import published_tables

    left, right = (
        published_tables(h / "lake", Lake(h / "lake").find_commit()).sources() for h in (a, b)
    )
    same = {}
    with duckdb.connect() as con:
        for table in sorted(t for t in left if t.startswith(("silver_", "gold_"))):
            query = "SELECT * EXCLUDE (batch_id, ingestion_timestamp) FROM ({}) AS t"
            if table.startswith("gold_"):
                query = "SELECT * FROM ({}) AS t"
            diff = (
                f"SELECT COUNT(*) FROM (({query.format(left[table])} EXCEPT ALL "
                f"{query.format(right[table])}) UNION ALL ({query.format(right[table])} "
                f"EXCEPT ALL {query.format(left[table])}))"
            )
            same[table] = con.execute(diff).fetchone()[0] == 0  # type: ignore[index]
    return same


if __name__ == "__main__":
    if sys.argv[1:2] == ["_step"]:
        print(json.dumps(_step_here(sys.argv[2], Path(sys.argv[3]), sys.argv[4]), default=str))
    elif sys.argv[1:2] == ["compare"]:
        print(json.dumps(compare(int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000), indent=2))
    elif sys.argv[1:2] == ["spark"]:
        print(json.dumps(spark(int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000), indent=2))
    elif sys.argv[1:2] == ["history"]:
        rows = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
        print(json.dumps(history_cost(rows), indent=2))
    elif sys.argv[1:2] == ["validate"]:
        print(json.dumps(validate(int(sys.argv[2]) if len(sys.argv) > 2 else 100_000), indent=2))
    else:
        results = Path(__file__).parent / "results"
        results.mkdir(exist_ok=True)
        print(json.dumps(main(results), indent=2, default=str))
