"""Full DuckDB transform of generated 1M-row ``public_debt_transactions`` bronze, with and without
``TREASURY_MEMORY_LIMIT``: wall time and peak RSS of the transforming process (psutil).

    PYTHONPATH=src python -m bench.memory_limit [rows] [limit]   # defaults 1000000 512MB
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.engines import DATASET, _tree_rss, generate_bronze


def _child(home: Path) -> None:
    from treasury_lakehouse import pipeline
    from treasury_lakehouse.config import settings_from_env

    settings = settings_from_env(home=home, datasets=(DATASET.name,))
    result = pipeline.transform(settings)
    print(json.dumps({"silver_rows": result.silver[0].silver, "limit": settings.memory_limit}))


def measure(bronze: Path, home: Path, limit: str | None) -> dict[str, Any]:
    (home / "lake").mkdir(parents=True)
    (home / "lake" / "bronze").symlink_to(bronze / "lake" / "bronze")
    env = {k: v for k, v in os.environ.items() if k != "TREASURY_MEMORY_LIMIT"}
    if limit:
        env["TREASURY_MEMORY_LIMIT"] = limit
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.memory_limit", "child", str(home)],
        env=env,
        stdout=subprocess.PIPE,
    )
    watched, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, _tree_rss(watched))
        time.sleep(0.05)
    out = child.stdout.read().decode() if child.stdout else ""
    wall = time.monotonic() - started
    return {
        "limit": limit,
        "exit": child.returncode,
        "wall_s": round(wall, 1),
        "peak_rss_mib": round(peak / 2**20),
        "result": out.strip()[-200:],
    }


def main(rows: int, limit: str) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as scratch:
        root = Path(scratch)
        generate_bronze(root / "bronze" / "lake", rows)
        for name, value in (("none", None), ("limit", limit)):
            print(json.dumps({"rows": rows, **measure(root / "bronze", root / name, value)}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        _child(Path(sys.argv[2]))
    else:
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000,
            sys.argv[2] if len(sys.argv) > 2 else "512MB",
        )
