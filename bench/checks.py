"""Cost of ``pipeline.check`` on a generated ``public_debt_transactions`` lake: wall time and peak
RSS of a child process, so two source trees (before/after) are compared on the same lake.

    python -m bench.checks prepare DIR ROWS [clean]  # bronze + transform (DuckDB), once
    python -m bench.checks measure DIR [SRC]    # pipeline.check with SRC first on sys.path
    python -m bench.checks touch DIR YEAR       # a lake commit saying record year YEAR changed

The first ``measure`` of a lake checks in full; after ``touch`` (what a daily transform that
rebuilt one record year publishes) a ``measure`` checks incrementally from the last passing report
(a ``clean`` history of whole days, e.g. 1,000,008 rows, passes).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import psutil

from bench.engines import ROWS_PER_PAGE, _tree_rss, generate_bronze
from treasury_lakehouse.calendar import iter_business_days

DATASET = "public_debt_transactions"


LINES = 24  # rows per business day (the real table has 23..25)
KNOWN = ["Bills", "Notes", "Bonds", "Federal Financing Bank", "Domestic Series", "Foreign Series"]


def _clean(batch_dir: Path, rows: int) -> tuple[str, str]:
    """Rewrite the generated pages as a history that passes the checks: 24 lines a business day,
    known security types, running totals that add up, no bad value. First and last day."""
    days = list(itertools.islice(iter_business_days(date(2005, 10, 3), date(2199, 1, 1)),
                                 -(-rows // LINES)))  # fmt: skip
    pages = sorted(batch_dir.glob("*.parquet"))
    types = "[" + ", ".join(f"'{t}'" for t in KNOWN) + "]"
    with duckdb.connect() as con:
        numbered = "CREATE TABLE days AS SELECT unnest(?) AS d, unnest(range(?)) AS n"
        con.execute(numbered, [days, len(days)])
        listed = ", ".join(f"'{p}'" for p in pages)
        con.execute(f"""
CREATE TABLE b AS
WITH q AS (SELECT *, (page_number - 1) * {ROWS_PER_PAGE} + row_index AS i
           FROM read_parquet([{listed}])),
r AS (SELECT q.*, days.d AS day, q.i % {LINES} AS line, hash(q.i) % 50000 AS today
      FROM q JOIN days ON days.n = q.i // {LINES})
SELECT * REPLACE (
  strftime(day, '%Y-%m-%d') AS record_date,
  CASE WHEN line % 2 = 0 THEN 'Issues' ELSE 'Redemptions' END AS transaction_type,
  CASE WHEN line % 4 = 3 THEN 'Nonmarketable' ELSE 'Marketable' END AS security_market,
  {types}[1 + (line // 4) % 6] AS security_type,
  'Series ' || CAST(line AS VARCHAR) AS security_type_desc,
  CAST(today AS VARCHAR) AS transaction_today_amt,
  CAST(SUM(today) OVER (PARTITION BY line, date_trunc('month', day) ORDER BY day)
       AS VARCHAR) AS transaction_mtd_amt,
  CAST(SUM(today) OVER (PARTITION BY line, year(day + INTERVAL 3 MONTH) ORDER BY day)
       AS VARCHAR) AS transaction_fytd_amt,
  CAST(year(day) + CASE WHEN month(day) >= 10 THEN 1 ELSE 0 END AS VARCHAR) AS record_fiscal_year,
  CAST((month(day) + 2) % 12 // 3 + 1 AS VARCHAR) AS record_fiscal_quarter,
  CAST(year(day) AS VARCHAR) AS record_calendar_year,
  CAST(quarter(day) AS VARCHAR) AS record_calendar_quarter,
  strftime(day, '%m') AS record_calendar_month,
  strftime(day, '%d') AS record_calendar_day)
FROM r""")
        for n, page in enumerate(pages):
            con.execute(f"COPY (SELECT * EXCLUDE (i, day, line, today) FROM b WHERE page_number = "
                        f"{n + 1} ORDER BY row_index) TO '{page}' (FORMAT PARQUET)")  # fmt: skip
    return days[0].isoformat(), days[-1].isoformat()


def prepare(home: Path, rows: int, clean: bool) -> None:
    """Generate ``rows`` bronze rows under ``home/lake`` and transform them with DuckDB.

    ``clean``: a history that passes the checks (else bench.engines' own, which fails most of
    them: random running totals, weekends, unknown security types)."""
    from treasury_lakehouse import pipeline
    from treasury_lakehouse.config import Settings

    entry = generate_bronze(home / "lake", rows)
    base = home / "lake" / "bronze" / DATASET
    manifest = next((base / "_manifest").glob("*.json"))
    if clean:
        first, last = _clean(base / f"batch-{entry['batch_id']}", rows)
        entry |= {"min_record_date": first, "max_record_date": last, "window": f"{first}..{last}"}
    manifest.write_text(json.dumps(entry, indent=2))
    pipeline.transform(Settings(home=home, engine="duckdb", datasets=(DATASET,)))


def _check_here(home: Path) -> None:
    from treasury_lakehouse import pipeline
    from treasury_lakehouse.config import Settings

    report = pipeline.check(Settings(home=home, engine="duckdb", datasets=(DATASET,)))
    failing = {f"{r.check} {r.table}": len(r.findings) for r in report.results if r.findings}
    findings = sum(failing.values())
    checked = getattr(report, "checked", None)  # absent in source trees before incremental checks
    mode = checked.mode if checked else None
    print(json.dumps({"checks": len(report.results), "findings": findings, "failing": failing,
                      "mode": mode}))  # fmt: skip


def touch(home: Path, year: int) -> int:
    """Publish the current versions again as a lake commit whose ``changes`` name ``year`` of the
    dataset (the silver is unchanged, so the findings are too); returns its seq."""
    from treasury_lakehouse.lake.commit import write_commit
    from treasury_lakehouse.lake.layout import Lake

    head = Lake(home / "lake").require_commit()
    commit = write_commit(head.root, base_seq=head.seq, run_id=f"touch-{year}",
                          purpose="transform", engine=head.engine, silver=head.silver,
                          quarantine=head.quarantine, gold=head.gold,
                          changes={DATASET: frozenset({year})})  # fmt: skip
    return commit.seq


def measure(home: Path, src: Path | None) -> dict[str, object]:
    """Run ``pipeline.check`` in a child (``src`` first on its path): wall s, peak tree RSS."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = f"{src}{os.pathsep}{Path.cwd()}"
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.checks", "_check", str(home)],
        stdout=subprocess.PIPE,
        env=env,
    )
    watched, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, _tree_rss(watched))
        time.sleep(0.05)
    wall = time.monotonic() - started
    out = (child.stdout.read() if child.stdout else b"").decode().strip().splitlines()
    result: dict[str, object] = json.loads(out[-1]) if out else {"error": child.returncode}
    return {"wall_s": round(wall, 1), "peak_rss_mib": round(peak / 2**20), **result}


if __name__ == "__main__":
    command, where = sys.argv[1], Path(sys.argv[2])
    if command == "prepare":
        prepare(where, int(sys.argv[3]), clean=sys.argv[4:] == ["clean"])
    elif command == "_check":
        _check_here(where)
    elif command == "touch":
        print(json.dumps({"lake_commit": touch(where, int(sys.argv[3]))}))
    else:
        print(json.dumps(measure(where, Path(sys.argv[3]) if len(sys.argv) > 3 else None)))
