"""`python -m bench`: run every benchmark module and print one table of results."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

MODULES = (
    "bench.engines",
    "bench.warehouse_load",
    "bench.copy_formats",
    "bench.incremental_gold",
    "bench.warehouse_duckdb",
    "bench.incremental",
    "bench.queries",
    "bench.partitioning",
)


def main() -> int:
    results_dir = Path(__file__).parent / "results"
    results_dir.mkdir(exist_ok=True)
    only = set(sys.argv[1:])
    report = {}
    for name in MODULES:
        if only and name.split(".")[-1] not in only:
            continue
        module = importlib.import_module(name)
        report[name] = module.main(results_dir)
    print(json.dumps(report, indent=2, default=str))
    (results_dir / "latest.json").write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
