"""Query benchmark (issue 15): every question of ``docs/queries.sql`` on both warehouses.

For each size (``BENCH_QUERY_ROWS``, default ``1000000,10000000`` rows of
``public_debt_transactions``) the generated history of :mod:`bench.incremental` (23 Table III-A
lines and the Table I rows of every business day; the other datasets empty) is transformed and
loaded into the embedded DuckDB warehouse and into a fresh PostgreSQL database (both loads timed).
Then each question runs with 1 and with 8 concurrent clients for ``BENCH_QUERY_SECONDS`` seconds
(default 15) each: every client a thread with its own connection (PostgreSQL) or cursor (DuckDB),
repeating the question. Reported per question, warehouse and clients: runs, p50 and p95 latency in
ms, throughput in queries per second. Each question's plan (``EXPLAIN``, not analysed) is kept
beside its figures in ``bench/results/queries/<rows>/<warehouse>/<question>.plan.txt``.

The PostgreSQL server is the one of ``TREASURY_BENCH_POSTGRES`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``) with its own settings, recorded in the results.

    PYTHONPATH=src:. python -m bench queries
    BENCH_QUERY_ROWS=1000000 BENCH_QUERY_SECONDS=5 PYTHONPATH=src:. python -m bench.queries
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import psycopg
from psycopg import sql

from bench.incremental import _settings, generate_history
from bench.postgres import bench_database
from treasury_lakehouse.config import mask_dsn
from treasury_lakehouse.warehouse.queries import Question, Value, read_questions

WORKLOAD = Path(__file__).resolve().parents[1] / "docs" / "queries.sql"
CLIENTS = (1, 8)
SETTINGS_SHOWN = (
    "work_mem",
    "shared_buffers",
    "effective_cache_size",
    "max_parallel_workers_per_gather",
    "random_page_cost",
)


def _sizes() -> tuple[int, ...]:
    text = os.environ.get("BENCH_QUERY_ROWS", "1000000,10000000")
    return tuple(int(v) for v in text.split(",") if v.strip())


def _seconds() -> float:
    return float(os.environ.get("BENCH_QUERY_SECONDS", "15"))


# --------------------------------------------------------------------------- the warehouses


def build(home: Path, dsn: str, rows: int) -> dict[str, Any]:
    """Generate ``rows``, transform and load into both warehouses; the seconds of each step."""
    from treasury_lakehouse import pipeline

    started = time.monotonic()
    generated = generate_history(home / "lake", rows)
    times: dict[str, Any] = {"generate_s": round(time.monotonic() - started, 2)}
    settings = _settings(home)
    started = time.monotonic()
    transformed = pipeline.transform(settings)
    times["transform_s"] = round(time.monotonic() - started, 2)
    postgres = settings.with_overrides(warehouse=dsn)
    for kind, target in (("duckdb", settings), ("postgres", postgres)):
        started = time.monotonic()
        result = pipeline.load(target)
        times[f"load_{kind}_s"] = round(time.monotonic() - started, 2)
        times[f"load_{kind}_rows"] = sum(result.tables.values())
    times["silver_rows"] = sum(c.silver for c in transformed.silver)
    times["days"] = len(generated["days"]) - 1
    return times


def parameters(warehouse: Path) -> dict[str, Value]:
    """Values inside the generated range: the middle day, its fiscal year, a year of days."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        first, last = con.execute(
            "SELECT MIN(record_date), MAX(record_date) FROM gold_daily_totals"
        ).fetchone() or (None, None)
        assert first is not None and last is not None, "nothing loaded"
        middle = first + (last - first) / 2
        day = con.execute(
            "SELECT MIN(record_date) FROM gold_daily_totals WHERE record_date >= ?", [middle]
        ).fetchone()[0]
        key = con.execute(
            "SELECT record_date, transaction_type, security_market, security_type, "
            "security_type_desc FROM silver_public_debt_transactions WHERE record_date = ? "
            "AND security_type_desc IS NOT NULL ORDER BY ALL LIMIT 1",
            [day],
        ).fetchone()
    fiscal_year = day.year + (1 if day.month >= 10 else 0)
    year_before = last - timedelta(days=365)
    values: dict[str, Value] = {
        "day": day,
        "as_of": last,
        "fiscal_year": fiscal_year,
        "fiscal_quarter": 2,
        "first_month": year_before.year * 100 + year_before.month,
        "last_month": last.year * 100 + last.month,
        "first_day": year_before,
        "last_day": last,
    }
    if key is not None:
        names = ("day", "transaction_type", "security_market", "security_type")
        values.update(zip((*names, "security_type_desc"), key, strict=True))
    return values


# --------------------------------------------------------------------------- running


Runner = Callable[[], None]


@contextmanager
def _duckdb_clients(path: Path, text: str, clients: int) -> Iterator[list[Runner]]:
    con = duckdb.connect(str(path), read_only=True)
    cursors = [con.cursor() for _ in range(clients)]
    try:
        yield [lambda c=c: c.execute(text).fetchall() for c in cursors]  # type: ignore[misc]
    finally:
        for cursor in cursors:
            cursor.close()
        con.close()


@contextmanager
def _postgres_clients(
    dsn: str, text: str, clients: int, session: dict[str, str] | None = None
) -> Iterator[list[Runner]]:
    connections = [psycopg.connect(dsn, autocommit=True) for _ in range(clients)]
    for connection in connections:
        for name, value in (session or {}).items():
            connection.execute(sql.SQL("SET {} = {}").format(sql.Identifier(name), value))
    try:
        yield [lambda c=c: c.execute(text).fetchall() for c in connections]  # type: ignore[misc]
    finally:
        for connection in connections:
            connection.close()


def measure(runners: list[Runner], seconds: float) -> dict[str, Any]:
    """Every runner repeating in its own thread until ``seconds`` have passed."""
    for run in runners:  # warm: the first run of each client pays for the plan and cache
        run()
    latencies: list[list[float]] = [[] for _ in runners]
    deadline = time.monotonic() + seconds
    errors: list[BaseException] = []

    def client(index: int) -> None:
        try:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                runners[index]()
                latencies[index].append(time.perf_counter() - started)
        except BaseException as error:  # reported, never swallowed
            errors.append(error)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(runners))]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if errors:
        raise errors[0]
    every = sorted(v for values in latencies for v in values)
    return {
        "runs": len(every),
        "p50_ms": round(statistics.median(every) * 1000, 3),
        "p95_ms": round(every[min(len(every) - 1, int(0.95 * len(every)))] * 1000, 3),
        "per_s": round(len(every) / elapsed, 2),
    }


def _plan(kind: str, target: Any, text: str) -> str:
    if kind == "duckdb":
        with duckdb.connect(str(target), read_only=True) as con:
            return "\n".join(str(r[-1]) for r in con.execute(f"EXPLAIN {text}").fetchall())
    with psycopg.connect(target, autocommit=True) as con:
        return "\n".join(str(r[0]) for r in con.execute(f"EXPLAIN {text}").fetchall())


def run_questions(
    kind: str, target: Any, questions: dict[str, Question], values: dict[str, Value], out: Path
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    out.mkdir(parents=True, exist_ok=True)
    for name, question in questions.items():
        text = question.render(values)
        (out / f"{name}.plan.txt").write_text(_plan(kind, target, text) + "\n")
        results[name] = {"reads": _reads(question)}
        for clients in CLIENTS:
            opened = _duckdb_clients if kind == "duckdb" else _postgres_clients
            with opened(target, text, clients) as runners:
                results[name][f"clients_{clients}"] = measure(runners, _seconds())
        print(f"bench queries: {kind} {name}: {results[name]}", file=sys.stderr)
    return results


#: session settings tried on the questions that scan the fact table (``shared_buffers`` needs a
#: server restart: not varied here)
TUNING: dict[str, dict[str, str]] = {
    "server defaults": {},
    "work_mem 64MB": {"work_mem": "64MB"},
    "max_parallel_workers_per_gather 0": {"max_parallel_workers_per_gather": "0"},
    "max_parallel_workers_per_gather 4": {"max_parallel_workers_per_gather": "4"},
    "effective_cache_size 16GB": {"effective_cache_size": "16GB"},
    "random_page_cost 1.1": {"random_page_cost": "1.1"},
}


def run_tuning(
    dsn: str, questions: dict[str, Question], values: dict[str, Value]
) -> dict[str, Any]:
    """Each fact-scanning question with one client under each :data:`TUNING` variant."""
    results: dict[str, Any] = {}
    for name, question in questions.items():
        if "fact_public_debt_transactions" not in question.sql:
            continue
        text = question.render(values)
        results[name] = {}
        for variant, session in TUNING.items():
            with _postgres_clients(dsn, text, 1, session) as runners:
                results[name][variant] = measure(runners, _seconds())
        print(f"bench queries: tuning {name}: {results[name]}", file=sys.stderr)
    return results


def _reads(question: Question) -> str:
    for line in question.description.splitlines():
        if line.startswith("reads:"):
            return line.removeprefix("reads:").strip()
    return ""


# --------------------------------------------------------------------------- one size


def server_settings(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn, autocommit=True) as con:
        return {s: str(con.execute(f"SHOW {s}").fetchone()[0]) for s in SETTINGS_SHOWN}


def run_size(rows: int, work: Path, results_dir: Path) -> dict[str, Any]:
    home = work / "home"
    questions = read_questions(WORKLOAD)
    with bench_database("treasury_bench_queries") as dsn:
        built = build(home, dsn, rows)
        warehouse = home / "warehouse.duckdb"
        values = parameters(warehouse)
        out = results_dir / "queries" / str(rows)
        return {
            "build": built,
            "parameters": {k: str(v) for k, v in values.items()},
            "postgres_settings": server_settings(dsn),
            "postgres_database": mask_dsn(dsn),
            "duckdb": run_questions("duckdb", warehouse, questions, values, out / "duckdb"),
            "postgres": run_questions("postgres", dsn, questions, values, out / "postgres"),
            "postgres_tuning": run_tuning(dsn, questions, values),
        }


def summary(report: dict[str, Any]) -> str:
    """The results as one Markdown table per size (docs/performance.md quotes it)."""
    lines = []
    for rows, run in report["runs"].items():
        lines += [
            f"### {int(rows):,} rows ({report['seconds']:g} s per measurement)",
            "",
            "| question | reads | DuckDB 1 client p50 / 8 clients p95 (ms) | "
            "PostgreSQL 1 client p50 / 8 clients p95 (ms) | 8 clients q/s DuckDB / PostgreSQL |",
            "|---|---|---|---|---|",
        ]
        for name, duck in run["duckdb"].items():
            pg = run["postgres"][name]
            lines.append(
                f"| {name} | {duck['reads']} | {duck['clients_1']['p50_ms']} / "
                f"{duck['clients_8']['p95_ms']} | {pg['clients_1']['p50_ms']} / "
                f"{pg['clients_8']['p95_ms']} | {duck['clients_8']['per_s']} / "
                f"{pg['clients_8']['per_s']} |"
            )
        lines.append("")
        tuning = run.get("postgres_tuning", {})
        if tuning:
            variants = list(next(iter(tuning.values())))
            lines += [
                f"PostgreSQL session settings, 1 client p50 (ms), {int(rows):,} rows:",
                "",
                "| question | " + " | ".join(variants) + " |",
                "|---|" + "---|" * len(variants),
            ]
            for name, by_variant in tuning.items():
                cells = " | ".join(str(by_variant[v]["p50_ms"]) for v in variants)
                lines.append(f"| {name} | {cells} |")
            lines.append("")
    return "\n".join(lines)


def main(results_dir: Path) -> dict[str, Any]:
    report: dict[str, Any] = {
        "what": "docs/queries.sql on the embedded DuckDB and on PostgreSQL, 1 and 8 clients",
        "seconds": _seconds(),
        "cores": os.cpu_count(),
        "runs": {},
    }
    for rows in _sizes():
        work = Path(tempfile.mkdtemp(prefix=f"bench-queries-{rows}-"))
        try:
            report["runs"][str(rows)] = run_size(rows, work, results_dir)
        finally:
            if not os.environ.get("BENCH_KEEP"):
                shutil.rmtree(work, ignore_errors=True)
        (results_dir / "queries.json").write_text(json.dumps(report, indent=2, default=str))
        (results_dir / "queries.md").write_text(summary(report))
    return report


if __name__ == "__main__":
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    print(json.dumps(main(results), indent=2, default=str))
