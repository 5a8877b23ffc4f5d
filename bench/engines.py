"""DuckDB vs Spark: bronze → silver → gold on the same generated bronze, in one run.

For each size (1M and 10M rows of ``public_debt_transactions`` by default; set
``BENCH_ENGINE_ROWS=1000000,10000000`` to choose) DuckDB SQL writes a committed bronze batch in the
lake's format: page files of string values plus the metadata columns, and its manifest entry. Then
each engine runs ``pipeline.transform`` in its own subprocess while this process samples the
resident memory of that subprocess and all its children (the JVM included) every 100 ms.

Reported per size and engine: wall seconds of the subprocess (interpreter, JVM and session start
included), seconds inside ``transform``, peak RSS of the process tree, silver and gold rows.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import psutil

from treasury_lakehouse.catalog import PUBLIC_DEBT_TRANSACTIONS

DATASET = PUBLIC_DEBT_TRANSACTIONS
SIZES = (1_000_000, 10_000_000)
ENGINES = ("duckdb", "spark")
ROWS_PER_PAGE = 100_000
FIRST_DAY = date(2005, 10, 1)
DAYS = 7300  # twenty years of record dates
BAD_EVERY = 10_000  # one row in 10,000 has an amount that is not a number (quarantined)


def _page_sql(first_row: int, rows: int, per_day: int, batch_id: str, at: datetime) -> str:
    """One bronze page as a SELECT: unique natural keys, string values like the API's."""
    return f"""
    WITH n AS (SELECT range AS i FROM range({first_row}, {first_row + rows})),
    k AS (
      SELECT i, DATE '{FIRST_DAY}' + CAST(i // {per_day} AS INTEGER) AS d, i % {per_day} AS line
      FROM n
    )
    SELECT
      strftime(d, '%Y-%m-%d') AS record_date,
      CASE WHEN line % 2 = 0 THEN 'Issues' ELSE 'Redemptions' END AS transaction_type,
      CASE WHEN line % 5 = 4 THEN 'Nonmarketable' ELSE 'Marketable' END AS security_market,
      ['Bills', 'Notes', 'Bonds', 'TIPS', 'Savings'][1 + (line // 2) % 5] AS security_type,
      'Series ' || CAST(line // 10 AS VARCHAR) AS security_type_desc,
      CASE WHEN i % {BAD_EVERY} = 7 THEN 'N/A'
        ELSE CAST(hash(i) % 50000 AS VARCHAR) END AS transaction_today_amt,
      CAST(hash(i + 1) % 900000 AS VARCHAR) AS transaction_mtd_amt,
      CAST(hash(i + 2) % 9000000 AS VARCHAR) AS transaction_fytd_amt,
      'IIIA' AS table_nbr,
      'Public Debt Transactions' AS table_nm,
      CAST(line + 1 AS VARCHAR) AS src_line_nbr,
      CAST(year(d) + CASE WHEN month(d) >= 10 THEN 1 ELSE 0 END AS VARCHAR) AS record_fiscal_year,
      CAST((month(d) + 2) % 12 // 3 + 1 AS VARCHAR) AS record_fiscal_quarter,
      CAST(year(d) AS VARCHAR) AS record_calendar_year,
      CAST(quarter(d) AS VARCHAR) AS record_calendar_quarter,
      strftime(d, '%m') AS record_calendar_month,
      strftime(d, '%d') AS record_calendar_day,
      TIMESTAMPTZ '{at.isoformat()}' AS ingestion_timestamp,
      'fiscaldata.treasury.gov' AS source_system,
      '{batch_id}' AS batch_id,
      'bench://generated' AS request_url,
      CAST({first_row // ROWS_PER_PAGE + 1} AS INTEGER) AS page_number,
      CAST(i - {first_row} AS INTEGER) AS row_index
    FROM k
    """


def generate_bronze(lake: Path, rows: int) -> dict[str, Any]:
    """Write ``rows`` rows as one committed bronze batch of ``public_debt_transactions``."""
    at = datetime.now(UTC).replace(microsecond=0)
    batch_id = f"{at:%Y%m%dT%H%M%S}Z-{uuid.uuid4().hex[:8]}"
    base = lake / "bronze" / DATASET.name
    batch_dir = base / f"batch-{batch_id}"
    batch_dir.mkdir(parents=True)
    per_day = -(-rows // DAYS)
    files = []
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        for first_row in range(0, rows, ROWS_PER_PAGE):
            name = f"page-{first_row // ROWS_PER_PAGE + 1:06d}.parquet"
            sql = _page_sql(first_row, min(ROWS_PER_PAGE, rows - first_row), per_day, batch_id, at)
            con.execute(f"COPY ({sql}) TO '{batch_dir / name}' (FORMAT PARQUET, COMPRESSION zstd)")
            files.append(f"{batch_dir.name}/{name}")
    last_day = FIRST_DAY + timedelta(days=(rows - 1) // per_day)
    entry = {
        "dataset": DATASET.name,
        "batch_id": batch_id,
        "seq": 1,
        "rows": rows,
        "pages": len(files),
        "files": files,
        "fields": list(DATASET.columns),
        "data_types": dict(DATASET.columns),
        "drift": [],
        "total_count": rows,
        "min_record_date": FIRST_DAY.isoformat(),
        "max_record_date": last_day.isoformat(),
        "window": f"{FIRST_DAY}..{last_day}",
        "ingested_at": at.isoformat(),
        "committed_at": datetime.now(UTC).isoformat(),
    }
    (base / "_manifest").mkdir()
    (base / "_manifest" / f"000001_{batch_id}.json").write_text(json.dumps(entry, indent=2))
    return entry


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total


def run_engine(engine: str, bronze_lake: Path, home: Path) -> dict[str, Any]:
    """``pipeline.transform`` with ``engine`` in a subprocess: wall time and peak tree RSS."""
    (home / "lake").mkdir(parents=True)
    (home / "lake" / "bronze").symlink_to(bronze_lake / "bronze")
    command = [sys.executable, "-m", "bench.engines", "transform", engine, str(home)]
    started = time.monotonic()
    log = open(home / "stderr.log", "wb")  # noqa: SIM115 (closed below, after the child)
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log)
    watched, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, _tree_rss(watched))
        time.sleep(0.1)
    wall = time.monotonic() - started
    out = child.stdout.read() if child.stdout else b""
    log.close()
    if child.returncode != 0:
        tail = (home / "stderr.log").read_text(errors="replace").strip().splitlines()[-3:]
        return {"error": f"exit code {child.returncode}: {' | '.join(tail)}"}
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return {"wall_s": round(wall, 1), "peak_rss_mib": round(peak / 2**20), **result}


def _transform_in_this_process(engine: str, home: Path) -> None:
    from treasury_lakehouse import pipeline
    from treasury_lakehouse.config import Settings

    settings = Settings(home=home, engine=engine, datasets=(DATASET.name,))  # type: ignore[arg-type]
    result = pipeline.transform(settings)
    counts = result.silver[0]
    print(
        json.dumps(
            {
                "transform_s": round(result.seconds, 1),
                "rows_in": counts.rows_in,
                "silver_rows": counts.silver,
                "quarantined_rows": counts.quarantined,
                "gold_rows": sum(result.gold.values()),
            }
        )
    )


def _sizes() -> tuple[int, ...]:
    chosen = os.environ.get("BENCH_ENGINE_ROWS")
    return tuple(int(v) for v in chosen.split(",")) if chosen else SIZES


def main(results_dir: Path) -> dict[str, Any]:
    """Generate each size's bronze once, time both engines on it; results in engines.json."""
    report: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"{platform.system()} {platform.machine()}",
        "what": "pipeline.transform of public_debt_transactions (silver + 4 gold tables); "
        "peak_rss_mib = peak resident memory of the engine's process tree (JVM included)",
        "runs": {},
    }
    for rows in _sizes():
        work = Path(tempfile.mkdtemp(prefix=f"bench-engines-{rows}-"))
        try:
            started = time.monotonic()
            generate_bronze(work / "bronze-lake", rows)
            runs: dict[str, Any] = {"generate_bronze_s": round(time.monotonic() - started, 1)}
            for engine in ENGINES:
                runs[engine] = run_engine(engine, work / "bronze-lake", work / engine)
                print(f"bench engines: {rows:,} rows, {engine}: {runs[engine]}", file=sys.stderr)
            report["runs"][f"{rows}"] = runs
        finally:
            shutil.rmtree(work, ignore_errors=True)
    (results_dir / "engines.json").write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "transform":
        _transform_in_this_process(sys.argv[2], Path(sys.argv[3]))
    else:
        results = Path(__file__).parent / "results"
        results.mkdir(exist_ok=True)
        print(json.dumps(main(results), indent=2))
