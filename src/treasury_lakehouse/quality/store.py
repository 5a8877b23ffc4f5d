"""Quality results kept in the lake, append-only: ``<lake>/_quality/<run_id>.json``.

Every run's report is written here first, whether its gate passed or not, so the results of a
blocked run are kept without touching the published warehouse; the warehouse's ``quality_results``
table is filled from the same rows (:mod:`treasury_lakehouse.warehouse.quality_store`). A report
names the lake commit it checked and whether the check was ``full`` or ``incremental``.

A report that passed for a lake commit also keeps its whole state beside it
(``<report>.state.json.gz``: every finding, row counts per record year, spans): the next check
starts from the newest such report (:func:`find_baseline`). Only that newest state is kept.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Collection, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from treasury_lakehouse.lake.commit import Changes, LakeCommit, changes_between
from treasury_lakehouse.lake.files import (
    TMP_MARK,
    atomic_write_bytes,
    atomic_write_json,
    remove_orphans,
)
from treasury_lakehouse.lake.lock import commit_lock
from treasury_lakehouse.lake.remote import mirror_of
from treasury_lakehouse.quality.incremental import Baseline, fingerprint
from treasury_lakehouse.quality.results import Finding, QualityReport
from treasury_lakehouse.quality.spec import Check

log = logging.getLogger(__name__)

QUALITY_DIR = "_quality"
STATE_SUFFIX = ".state.json.gz"


def quality_dir(lake_root: Path) -> Path:
    return lake_root / QUALITY_DIR


def report_document(report: QualityReport, stage: str) -> dict[str, Any]:
    """The JSON form of a report: summary counts and one row per check."""
    return {
        "run_id": report.run_id,
        "checked_at": report.checked_at.isoformat(),
        "stage": stage,
        "passed": report.passed,
        "lake_commit": report.checked.lake_commit if report.checked else None,
        "mode": report.checked.mode if report.checked else "full",
        "since": report.checked.since if report.checked else None,
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
        state = state_document(report) if report.passed else None
        if state is not None:  # the state first: a report that passed always has it
            state_path = path.with_name(path.stem + STATE_SUFFIX)
            atomic_write_bytes(state_path, gzip.compress(json.dumps(state).encode()))
            for older in directory.glob(f"*{STATE_SUFFIX}"):
                if older != state_path and TMP_MARK not in older.name:
                    older.unlink(missing_ok=True)
        atomic_write_json(path, report_document(report, stage))
    mirror = mirror_of(lake_root)
    if mirror is not None:  # a lake in a bucket keeps its reports there too
        if state is not None:
            mirror.upload_file(path.with_name(path.stem + STATE_SUFFIX))
        mirror.upload_file(path)
    return path


def state_document(report: QualityReport) -> dict[str, Any] | None:
    """What a later check needs to start from this report (JSON), if it checked a lake commit."""
    checked = report.checked
    if checked is None or checked.lake_commit is None:
        return None
    return {
        "lake_commit": checked.lake_commit,
        "fingerprint": checked.fingerprint,
        "counts": checked.counts,
        "spans": {k: [_iso(a), _iso(b)] for k, (a, b) in checked.spans.items()},
        "batches": {k: list(v) for k, v in checked.batches.items()},
        "quarantined": checked.quarantined,
        "findings": {
            f"{r.check}@{r.table}": [
                [f.severity, _iso(f.day), f.row, f.message] for f in r.findings
            ]
            for r in report.results
        },
    }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def find_baseline(lake_root: Path, commit: LakeCommit, checks: Sequence[Check]) -> Baseline | None:
    """The newest kept report that passed for a lake commit, with its state and what changed in
    the lake from that commit to ``commit``; ``None`` (check in full) when there is none, its
    state is gone or unreadable, it was made by other checks, or the changes are unknown."""
    for path in reversed(_report_paths(lake_root)):
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            log.info("quality report %s unreadable (%s): checking in full", path, error)
            return None
        if document.get("passed") and document.get("lake_commit") is not None:
            return _baseline(path, int(document["lake_commit"]), commit, checks)
    return None


def _baseline(
    path: Path, checked: int, commit: LakeCommit, checks: Sequence[Check]
) -> Baseline | None:
    state_path = path.with_name(path.stem + STATE_SUFFIX)
    try:
        state = json.loads(gzip.decompress(state_path.read_bytes()))
    except (OSError, ValueError, EOFError) as error:
        log.info("no usable state beside %s (%s): checking in full", path.name, error)
        return None
    if state.get("fingerprint") != fingerprint(checks) or state.get("lake_commit") != checked:
        return None
    changes = changes_between(commit.root, checked, commit)
    return None if changes is None else baseline_from_state(state, changes)


def baseline_from_state(state: dict[str, Any], changes: Changes) -> Baseline:
    """The baseline a :func:`state_document` gives, with what changed in the lake since."""
    findings = {
        tuple(key.split("@", 1)): tuple(
            Finding(severity, _day(day), row, message) for severity, day, row, message in found
        )
        for key, found in state["findings"].items()
    }
    return Baseline(
        lake_commit=int(state["lake_commit"]),
        changes=changes,
        findings=findings,  # type: ignore[arg-type]
        counts=state["counts"],
        spans={k: (_day(a), _day(b)) for k, (a, b) in state["spans"].items()},
        batches={k: tuple(v) for k, v in state["batches"].items()},
        quarantined=state["quarantined"],
    )


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
