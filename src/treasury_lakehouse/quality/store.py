"""Quality results kept in the lake, append-only: ``<lake>/_quality/<run_id>.json``.

Every run's report is written here first, whether its gate passed or not, so the results of a
blocked run are kept without touching the published warehouse; the warehouse's ``quality_results``
table is filled from the same rows (:mod:`treasury_lakehouse.warehouse.quality_store`).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from treasury_lakehouse.lake.files import TMP_MARK, atomic_write_json, remove_orphans
from treasury_lakehouse.lake.lock import commit_lock
from treasury_lakehouse.quality.results import QualityReport

QUALITY_DIR = "_quality"


def quality_dir(lake_root: Path) -> Path:
    return lake_root / QUALITY_DIR


def report_document(report: QualityReport, stage: str) -> dict[str, Any]:
    """The JSON form of a report: summary counts and one row per check."""
    return {
        "run_id": report.run_id,
        "checked_at": report.checked_at.isoformat(),
        "stage": stage,
        "passed": report.passed,
        "failed_checks": [f"{r.check} on {r.table}" for r in report.failed],
        "warning_counts": report.warning_counts(),
        "results": report.to_rows(),
    }


def append_report(lake_root: Path, report: QualityReport, stage: str) -> Path:
    """Write the report as a new file (never rewriting one); returns its path.

    Under the lake's commit lock (held for moments), which also makes it safe to delete what a
    check killed while writing left behind."""
    directory = quality_dir(lake_root)
    stamp = report.checked_at.strftime("%Y%m%dT%H%M%S%fZ")
    path = directory / f"{stamp}_{report.run_id}_{stage}.json"
    with commit_lock(lake_root.parent, f"quality report {report.run_id}"):
        remove_orphans(directory)  # a killed check's half-written report; none is being written
        atomic_write_json(path, report_document(report, stage))
    return path


def _report_paths(lake_root: Path) -> list[Path]:
    directory = quality_dir(lake_root)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.json") if TMP_MARK not in p.name)


def _run_and_stage(path: Path) -> tuple[str, str]:
    """(run_id, stage) from a report's file name ``<time>_<run_id>_<stage>.json``."""
    run_id, _, stage = path.stem.split("_", 1)[1].rpartition("_")
    return run_id, stage


def read_reports(
    lake_root: Path, exclude: Collection[tuple[str, str]] = frozenset()
) -> list[dict[str, Any]]:
    """Every kept report, oldest first, except those whose (run_id, stage) is in ``exclude``
    (decided from the file names, so reports already synced are not even read)."""
    paths = [p for p in _report_paths(lake_root) if _run_and_stage(p) not in exclude]
    return [json.loads(p.read_text()) for p in paths]


def latest_report(lake_root: Path) -> dict[str, Any] | None:
    """The newest kept report, or ``None`` before the first check."""
    paths = _report_paths(lake_root)
    if not paths:
        return None
    report: dict[str, Any] = json.loads(paths[-1].read_text())
    return report
