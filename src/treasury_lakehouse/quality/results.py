"""What a quality check returns: findings, one result per check, and a report per run.

A finding carries its own severity because identity checks grade what they find: a difference
within the published rounding is a ``warn``, beyond it an ``error``. A check *fails* when it
has at least one error finding; only failed checks block publishing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

Severity = Literal["error", "warn"]
Status = Literal["pass", "warn", "fail"]

#: how many findings of one check a summary line names (the report keeps them all)
SHOWN_FINDINGS = 3


@dataclass(frozen=True)
class Finding:
    """One row (or day) that broke a check."""

    severity: Severity
    day: date | None
    row: str
    message: str

    def describe(self) -> str:
        where = f"{self.day.isoformat()} " if self.day else ""
        return f"{where}[{self.row}] {self.message}"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check over one table."""

    check: str
    table: str
    severity: Severity
    description: str
    tolerance: str
    rows_checked: int
    findings: tuple[Finding, ...] = ()

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warn")

    @property
    def status(self) -> Status:
        if self.errors:
            return "fail"
        return "warn" if self.warnings else "pass"

    def summary(self) -> str:
        """One line: status, check, table, counts and the first findings."""
        counts = f"{len(self.errors):,} errors, {len(self.warnings):,} warnings"
        shown = self.errors or self.warnings
        sample = "; ".join(f.describe() for f in shown[:SHOWN_FINDINGS])
        more = f" (+{len(shown) - SHOWN_FINDINGS} more)" if len(shown) > SHOWN_FINDINGS else ""
        detail = f": {sample}{more}" if sample else ""
        return f"{self.status.upper():<4} {self.check} on {self.table} ({counts}){detail}"


@dataclass(frozen=True)
class Checked:
    """What a report checked, so that a later check can start from it
    (:mod:`~treasury_lakehouse.quality.incremental`)."""

    #: the lake commit checked (``None``: no transform yet, bronze only)
    lake_commit: int | None
    #: ``incremental``: period-local checks reran only over what changed since ``since``
    mode: Literal["full", "incremental"] = "full"
    #: the lake commit of the passing report an incremental check started from
    since: int | None = None
    #: :func:`~treasury_lakehouse.quality.incremental.fingerprint` of the checks that ran
    fingerprint: str = ""
    #: table → record year (``""``: none) → rows, for the tables counted per year
    counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    #: ``check@table`` → the (first, last) record date of the dataset bounding the check
    spans: Mapping[str, tuple[date | None, date | None]] = field(default_factory=dict)
    #: dataset → the committed bronze batches (ids) checked
    batches: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: dataset → record year (``""``: none) → digest of its quarantined rows
    quarantined: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class QualityReport:
    """Every check of one run over the lake."""

    run_id: str
    checked_at: datetime
    results: tuple[CheckResult, ...] = field(default_factory=tuple)
    #: what was checked and how (``None`` for a report not made by the runner)
    checked: Checked | None = None

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        """Checks with error findings: they block publishing."""
        return tuple(r for r in self.results if r.status == "fail")

    @property
    def warned(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.status == "warn")

    @property
    def passed(self) -> bool:
        return not self.failed

    def result(self, check: str, table: str | None = None) -> CheckResult:
        """The result of the check called ``check`` (on ``table``, when several tables have it)."""
        for r in self.results:
            if r.check == check and (table is None or r.table == table):
                return r
        raise KeyError(f"no result for check {check!r} on {table or 'any table'}")

    def warning_counts(self) -> dict[str, int]:
        """``check on table`` → number of warn findings, for the checks that warned."""
        return {f"{r.check} on {r.table}": len(r.warnings) for r in self.results if r.warnings}

    def gate_message(self) -> str:
        """What a blocked run says, on one line: each failing check with its first days and rows."""
        failed = " | ".join(r.summary() for r in self.failed)
        return (
            f"{len(self.failed)} error-level checks failed: {failed}. Every finding: "
            "`treasury check`; how to continue: docs/cli.md, 'What a blocked run means'"
        )

    def summary(self) -> str:
        """One line of counts: checks passed, warned (with warning counts) and failed."""
        counts = ", ".join(f"{k} {v:,}" for k, v in self.warning_counts().items())
        passed = len(self.results) - len(self.failed) - len(self.warned)
        return (
            f"{len(self.results)} checks: {passed} passed, {len(self.warned)} warned"
            f"{f' ({counts})' if counts else ''}, {len(self.failed)} failed"
        )

    def to_rows(self) -> list[dict[str, Any]]:
        """One flat row per check result (what ``quality_results`` stores)."""
        rows = []
        for r in self.results:
            shown = (r.errors or r.warnings)[:20]
            rows.append(
                {
                    "run_id": self.run_id,
                    "checked_at": self.checked_at,
                    "check_name": r.check,
                    "table_name": r.table,
                    "severity": r.severity,
                    "status": r.status,
                    "rows_checked": r.rows_checked,
                    "error_count": len(r.errors),
                    "warning_count": len(r.warnings),
                    "first_day": min((f.day for f in shown if f.day), default=None),
                    "details": "\n".join(f.describe() for f in shown),
                    "tolerance": r.tolerance,
                }
            )
        return rows
