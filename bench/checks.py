"""Cost of ``pipeline.check`` on a generated ``public_debt_transactions`` lake: wall time and peak
RSS of a child process, so two source trees (before/after) are compared on the same lake.

    python -m bench.checks prepare DIR ROWS     # bronze + transform (DuckDB), once
    python -m bench.checks measure DIR [SRC]    # pipeline.check with SRC first on sys.path
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

from bench.engines import _tree_rss, generate_bronze

DATASET = "public_debt_transactions"


def prepare(home: Path, rows: int) -> None:
    """Generate ``rows`` bronze rows under ``home/lake`` and transform them with DuckDB."""
    from treasury_lakehouse import pipeline
    from treasury_lakehouse.config import Settings

    entry = generate_bronze(home / "lake", rows)
    # bronze batches now live in ``batch-<id>`` folders (bench.engines predates that layout)
    base = home / "lake" / "bronze" / DATASET
    (base / f"batch_id={entry['batch_id']}").rename(base / f"batch-{entry['batch_id']}")
    manifest = next((base / "_manifest").glob("*.json"))
    entry["files"] = [f"batch-{entry['batch_id']}/" + f.split("/", 1)[1] for f in entry["files"]]
    manifest.write_text(json.dumps(entry, indent=2))
    pipeline.transform(Settings(home=home, engine="duckdb", datasets=(DATASET,)))


def _check_here(home: Path) -> None:
    from treasury_lakehouse import pipeline
    from treasury_lakehouse.config import Settings

    report = pipeline.check(Settings(home=home, engine="duckdb", datasets=(DATASET,)))
    failing = {f"{r.check} {r.table}": len(r.findings) for r in report.results if r.findings}
    findings = sum(failing.values())
    print(json.dumps({"checks": len(report.results), "findings": findings, "failing": failing}))


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
        prepare(where, int(sys.argv[3]))
    elif command == "_check":
        _check_here(where)
    else:
        print(json.dumps(measure(where, Path(sys.argv[3]) if len(sys.argv) > 3 else None)))
