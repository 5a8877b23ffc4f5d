"""Does range partitioning by year pay in the PostgreSQL warehouse? (issue 15, part 4)

The transaction fact, ``fact_public_debt_transactions``, is built twice in one database with the
same rows, keys and indexes as the warehouse gives it (:mod:`treasury_lakehouse.warehouse.star`):
``whole.fact_public_debt_transactions`` as the warehouse has it, and
``part.fact_public_debt_transactions`` range-partitioned by year on ``date_key`` (one partition per
calendar year; ``date_key`` leads the primary key, so the key stays as it is). ``dim_date`` and
``dim_security`` are shared in ``public``. The rows span the statement's real years, 2005-10-03 to
2026-09-30 (21 calendar years, ~5,470 business days), with as many securities a day as the size
needs, so that a year partition holds what a year of a 10M-row fact would (the generated history
of the other benchmarks runs to the year ~3750, 1,736 partitions, which no one would partition
by year).

Measured for each layout (``BENCH_PARTITION_ROWS``, default ``1000000,10000000``;
``BENCH_PARTITION_SECONDS`` per query measurement, default 5):

* the bulk load: ``INSERT ... SELECT`` of every row into the empty table with its keys and indexes;
* a load's rewrite of one changed month, as write-audit-publish does it: ``DELETE`` the month's
  rows (the date range through the key) and ``INSERT`` the staged rows, in one transaction
  (median of 5);
* for the partitioned table, the alternative the issue names: swapping the year's partition (a
  new table filled with the year's rows, then ``DETACH`` the old and ``ATTACH`` the new in the
  publish transaction), its time and the locks it holds on the parent until commit;
* every question of ``docs/queries.sql`` that reads the fact, as written (its filters go through
  ``dim_date``), and the fiscal-year totals written with a ``date_key`` range (what a query must
  say for partitions to be pruned when it is planned): 1 client p50, 8 clients p95, and the
  partitions each plan reads (``EXPLAIN (FORMAT JSON)``).

Results in ``bench/results/partitioning.json`` and ``bench/results/partitioning.md``.

    PYTHONPATH=src:. python -m bench partitioning
    BENCH_PARTITION_ROWS=1000000 BENCH_PARTITION_SECONDS=2 \
        PYTHONPATH=src:. python -m bench.partitioning
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from bench.postgres import Unreachable, bench_database
from bench.queries import measure
from treasury_lakehouse.warehouse.queries import Question, Value, read_questions

WORKLOAD = Path(__file__).resolve().parents[1] / "docs" / "queries.sql"
FIRST_DAY, LAST_DAY = "2005-10-03", "2026-09-30"
YEARS = range(2005, 2027)
LAYOUTS = ("whole", "part")
#: the fiscal year and quarter the questions ask about, and a day of it
VALUES: dict[str, Value] = {"fiscal_year": 2016, "fiscal_quarter": 2}
#: the month a load rewrites
MONTH = (2016, 3)
FACT_COLUMNS = (
    "date_key INTEGER NOT NULL, security_key BIGINT NOT NULL, transaction_type VARCHAR NOT NULL, "
    "record_date DATE, transaction_today_amt BIGINT, transaction_mtd_amt BIGINT, "
    "transaction_fytd_amt BIGINT"
)


def _sizes() -> tuple[int, ...]:
    text = os.environ.get("BENCH_PARTITION_ROWS", "1000000,10000000")
    return tuple(int(v) for v in text.split(",") if v.strip())


def _seconds() -> float:
    return float(os.environ.get("BENCH_PARTITION_SECONDS", "5"))


# --------------------------------------------------------------------------- building


def dimensions_sql(securities: int) -> list[str]:
    """``public.dim_date`` (every calendar day of the span, the warehouse's key and fiscal
    columns) and ``public.dim_security`` (``securities`` rows), and the staged fact rows
    (``public.staged``: every business day × security × transaction type)."""
    return [
        "CREATE TABLE public.dim_date AS SELECT "
        "CAST(to_char(d, 'YYYYMMDD') AS INTEGER) AS date_key, CAST(d AS DATE) AS calendar_date, "
        "CAST(EXTRACT(YEAR FROM d) AS INTEGER) AS calendar_year, "
        "CAST(EXTRACT(MONTH FROM d) AS INTEGER) AS calendar_month, "
        "CAST(EXTRACT(YEAR FROM d) AS INTEGER) "
        "+ CASE WHEN EXTRACT(MONTH FROM d) >= 10 THEN 1 ELSE 0 END AS fiscal_year, "
        "CAST((EXTRACT(MONTH FROM d) + 2) AS INTEGER) % 12 / 3 + 1 AS fiscal_quarter "
        f"FROM generate_series(DATE '{FIRST_DAY}', DATE '{LAST_DAY}', INTERVAL '1 day') AS d",
        "ALTER TABLE public.dim_date ADD PRIMARY KEY (date_key)",
        "CREATE TABLE public.dim_security AS SELECT CAST(k AS BIGINT) AS security_key, "
        "CASE WHEN k % 5 = 0 THEN 'Nonmarketable' ELSE 'Marketable' END AS security_market, "
        "'Type ' || (k % 12) AS security_type, 'Security ' || k AS security_type_desc "
        f"FROM generate_series(1, {securities}) AS k",
        "ALTER TABLE public.dim_security ADD PRIMARY KEY (security_key)",
        "CREATE UNLOGGED TABLE public.staged AS SELECT d.date_key, CAST(k AS BIGINT) AS "
        "security_key, t.transaction_type, d.calendar_date AS record_date, "
        "CAST(abs(hashint8(CAST(d.date_key AS BIGINT) * 100000 + k)) % 5000 AS BIGINT) "
        "AS transaction_today_amt, "
        "CAST(0 AS BIGINT) AS transaction_mtd_amt, CAST(0 AS BIGINT) AS transaction_fytd_amt "
        f"FROM public.dim_date AS d CROSS JOIN generate_series(1, {securities}) AS k "
        "CROSS JOIN (VALUES ('Issues'), ('Redemptions')) AS t(transaction_type) "
        "WHERE EXTRACT(ISODOW FROM d.calendar_date) < 6",
        "ANALYZE public.dim_date, public.dim_security, public.staged",
    ]


def fact_sql(layout: str) -> list[str]:
    """The fact table of one layout with the warehouse's keys and indexes (and, partitioned, one
    partition per calendar year of the span)."""
    table = f"{layout}.fact_public_debt_transactions"
    partitioned = layout == "part"
    statements = [
        f"CREATE SCHEMA {layout}",
        f"CREATE TABLE {table} ({FACT_COLUMNS}, "
        "PRIMARY KEY (date_key, security_key, transaction_type))"
        + (" PARTITION BY RANGE (date_key)" if partitioned else ""),
    ]
    if partitioned:
        statements += [
            f"CREATE TABLE {layout}.fact_{y} PARTITION OF {table} "
            f"FOR VALUES FROM ({y * 10000}) TO ({(y + 1) * 10000})"
            for y in YEARS
        ]
    statements += [
        f"CREATE INDEX ON {table} (record_date)",
        f"CREATE INDEX ON {table} (security_key, date_key)",
    ]
    return statements


@contextmanager
def _connection(dsn: str, layout: str | None = None) -> Iterator[psycopg.Connection[Any]]:
    con = psycopg.connect(dsn, autocommit=True)
    try:
        if layout:
            con.execute(f"SET search_path = {layout}, public")
        yield con
    finally:
        con.close()


def build(dsn: str, rows: int) -> dict[str, Any]:
    """Dimensions and staged rows, then each layout's fact (the bulk load timed)."""
    days = 5_470  # business days of the span, about
    securities = max(1, round(rows / days / 2))
    result: dict[str, Any] = {"securities": securities}
    with _connection(dsn) as con:
        started = time.monotonic()
        for statement in dimensions_sql(securities):
            con.execute(statement)
        result["generate_s"] = round(time.monotonic() - started, 1)
        [(staged,)] = con.execute("SELECT COUNT(*) FROM public.staged").fetchall()
        result["rows"] = staged
        for layout in LAYOUTS:
            for statement in fact_sql(layout):
                con.execute(statement)
            started = time.monotonic()
            con.execute(
                f"INSERT INTO {layout}.fact_public_debt_transactions SELECT * FROM public.staged"
            )
            result[f"{layout}_bulk_load_s"] = round(time.monotonic() - started, 2)
            con.execute(f"VACUUM ANALYZE {layout}.fact_public_debt_transactions")
        sizes = con.execute(
            "SELECT n.nspname, pg_size_pretty(SUM(pg_total_relation_size(c.oid))) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
            "AND n.nspname IN ('whole', 'part') GROUP BY 1"
        ).fetchall()
        result["total_size"] = dict(sizes)
    return result


# --------------------------------------------------------------------------- loads


def _month_range() -> tuple[int, int]:
    year, month = MONTH
    return year * 10000 + month * 100, year * 10000 + (month + 1) * 100


def rewrite_month(dsn: str, layout: str, repeats: int = 5) -> float:
    """Median seconds of write-audit-publish's rewrite of one month: delete its rows through the
    key, insert the staged ones, commit."""
    low, high = _month_range()
    times = []
    with _connection(dsn, layout) as con:
        for _ in range(repeats):
            started = time.monotonic()
            with con.transaction():
                con.execute(
                    "DELETE FROM fact_public_debt_transactions WHERE date_key >= %s AND "
                    "date_key < %s",
                    (low, high),
                )
                con.execute(
                    "INSERT INTO fact_public_debt_transactions SELECT * FROM public.staged "
                    "WHERE date_key >= %s AND date_key < %s",
                    (low, high),
                )
            times.append(time.monotonic() - started)
    return round(statistics.median(times), 3)


def swap_year(dsn: str) -> dict[str, Any]:
    """The partition swap: build the changed year's table beside the partitioned fact, then
    ``DETACH`` the old partition and ``ATTACH`` the new one in one transaction. Returns its times
    and the locks the transaction holds on the parent until it commits."""
    year = MONTH[0]
    low, high = year * 10000, (year + 1) * 10000
    with _connection(dsn, "part") as con:
        started = time.monotonic()
        con.execute(f"CREATE TABLE part.fact_{year}_new (LIKE part.fact_{year} INCLUDING ALL)")
        con.execute(
            f"INSERT INTO part.fact_{year}_new SELECT * FROM public.staged "
            f"WHERE date_key >= {low} AND date_key < {high}"
        )
        # the constraint ATTACH would otherwise prove by scanning the table under its lock
        con.execute(
            f"ALTER TABLE part.fact_{year}_new ADD CONSTRAINT in_year "
            f"CHECK (date_key >= {low} AND date_key < {high})"
        )
        built = time.monotonic() - started
        started = time.monotonic()
        with con.transaction():
            con.execute(
                f"ALTER TABLE part.fact_public_debt_transactions DETACH PARTITION part.fact_{year}"
            )
            con.execute(
                f"ALTER TABLE part.fact_public_debt_transactions ATTACH PARTITION "
                f"part.fact_{year}_new FOR VALUES FROM ({low}) TO ({high})"
            )
            locks = sorted(
                mode
                for (mode,) in con.execute(
                    "SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() AND relation = "
                    "'part.fact_public_debt_transactions'::regclass"
                ).fetchall()
            )
        swapped = time.monotonic() - started
        con.execute(f"DROP TABLE part.fact_{year}")
        con.execute(f"ALTER TABLE part.fact_{year}_new RENAME TO fact_{year}")
    return {
        "build_partition_s": round(built, 3),
        "detach_attach_s": round(swapped, 3),
        "locks_on_parent": locks,
    }


# --------------------------------------------------------------------------- queries


def partitions_read(plan: dict[str, Any]) -> int:
    """How many distinct fact tables (partitions, or the one whole table) a plan scans."""
    found: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        name = node.get("Relation Name", "")
        if name.startswith("fact_"):
            found.add(name)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    return len(found)


def explain(con: psycopg.Connection[Any], text: str) -> dict[str, Any]:
    [(plan,)] = con.execute(f"EXPLAIN (FORMAT JSON) {text}").fetchall()
    parsed = plan if isinstance(plan, list) else json.loads(plan)
    return dict(parsed[0])


def fact_questions() -> dict[str, str]:
    """The questions of ``docs/queries.sql`` that read the fact, rendered; and the fiscal-year
    totals with a ``date_key`` range."""
    questions: dict[str, Question] = read_questions(WORKLOAD)
    rendered = {
        name: q.render({**VALUES, "day": date(2016, 3, 15)})
        for name, q in questions.items()
        if "fact_public_debt_transactions" in q.sql
    }
    rendered["fiscal_year_totals_by_date_key_range"] = key_range_question()
    return rendered


def key_range_question() -> str:
    """``fiscal_year_totals_by_security_from_fact`` with its fiscal year as a ``date_key`` range
    of the fact (what a query must say for the planner to prune partitions)."""
    question = read_questions(WORKLOAD)["fiscal_year_totals_by_security_from_fact"]
    year = int(VALUES["fiscal_year"])  # type: ignore[arg-type]
    text = question.render(VALUES)
    by_dimension = f"WHERE d.fiscal_year = {year}"
    assert by_dimension in text, "the question no longer filters dim_date.fiscal_year"
    return text.replace(by_dimension, f"WHERE f.date_key BETWEEN {year - 1}1001 AND {year}0930")


def run_questions(dsn: str, seconds: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, text in fact_questions().items():
        entry: dict[str, Any] = {}
        for layout in LAYOUTS:
            with _connection(dsn, layout) as con:
                plan = explain(con, text)
            connections = [psycopg.connect(dsn, autocommit=True) for _ in range(8)]
            try:
                for connection in connections:
                    connection.execute(f"SET search_path = {layout}, public")
                runners = [
                    lambda c=c, t=text: c.execute(t).fetchall()  # type: ignore[misc]
                    for c in connections
                ]
                one = measure(runners[:1], seconds)
                eight = measure(runners, seconds)
            finally:
                for connection in connections:
                    connection.close()
            entry[layout] = {
                "p50_ms": one["p50_ms"],
                "p95_8_clients_ms": eight["p95_ms"],
                "fact_tables_read": partitions_read(plan),
            }
        results[name] = entry
    return results


# --------------------------------------------------------------------------- report


def run_size(rows: int) -> dict[str, Any]:
    with bench_database("treasury_bench_partitioning") as dsn:
        built = build(dsn, rows)
        loads = {layout: {"rewrite_month_s": rewrite_month(dsn, layout)} for layout in LAYOUTS}
        loads["part"]["swap_year"] = swap_year(dsn)
        return {"build": built, "loads": loads, "questions": run_questions(dsn, _seconds())}


def summary(report: dict[str, Any]) -> str:
    lines = ["# Range partitioning by year (PostgreSQL)", ""]
    for rows, run in report["sizes"].items():
        b, loads = run["build"], run["loads"]
        swap = loads["part"]["swap_year"]
        lines += [
            f"## {int(rows):,} rows ({b['securities']} securities a day, 2005-2026)",
            "",
            "| | whole | partitioned by year |",
            "|---|---|---|",
            f"| bulk load (s) | {b['whole_bulk_load_s']} | {b['part_bulk_load_s']} |",
            f"| rewrite one month (s, median of 5) | {loads['whole']['rewrite_month_s']} | "
            f"{loads['part']['rewrite_month_s']} |",
            f"| size with indexes | {b['total_size'].get('whole')} | "
            f"{b['total_size'].get('part')} |",
            "",
            f"Swapping the year's partition instead: {swap['build_partition_s']} s to build it, "
            f"{swap['detach_attach_s']} s to detach and attach, holding "
            f"{', '.join(swap['locks_on_parent'])} on the parent until commit.",
            "",
            "| question | whole p50 / 8-client p95 (ms) | partitioned p50 / 8-client p95 (ms) | "
            "fact tables read (whole / partitioned) |",
            "|---|---|---|---|",
        ]
        for name, entry in run["questions"].items():
            w, p = entry["whole"], entry["part"]
            lines.append(
                f"| {name} | {w['p50_ms']} / {w['p95_8_clients_ms']} | {p['p50_ms']} / "
                f"{p['p95_8_clients_ms']} | {w['fact_tables_read']} / {p['fact_tables_read']} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(results_dir: Path) -> dict[str, Any]:
    try:
        report: dict[str, Any] = {"sizes": {str(r): run_size(r) for r in _sizes()}}
    except Unreachable as error:
        return {"skipped": str(error)}
    report["load_average_end"] = [round(v, 1) for v in os.getloadavg()]
    (results_dir / "partitioning.json").write_text(json.dumps(report, indent=2))
    (results_dir / "partitioning.md").write_text(summary(report))
    return report


if __name__ == "__main__":
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    print(json.dumps(main(out), indent=2))
    sys.exit(0)
