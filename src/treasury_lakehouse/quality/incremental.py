"""Incremental checks: rerun what a change can alter, carry the rest from a passing report.

A check of lake commit C may start from the last kept report that **passed** for a commit P
(:func:`~treasury_lakehouse.quality.store.find_baseline`): that report holds every finding of P,
and :func:`~treasury_lakehouse.lake.commit.changes_between` says which record years of which
datasets were rebuilt from P to C. Per check (its :class:`~treasury_lakehouse.quality.spec.Scope`):

* **dataset-wide** checks (quarantined rows, gold keys, completeness, freshness) run whole, in
  SQL;
* a **window-local** check (vanished days) rejudges only the days inside the requested windows
  and the record-date ranges of the batches committed since, reading only the batches that
  hold a row of those days (their manifest ranges), and carries its other findings;
* a **batch-local** check (bronze keys unique per batch) reads only the bronze batches committed
  since (a committed batch never changes) and carries the findings of the others; when a batch
  the baseline saw is gone (``repair`` set it aside) it runs whole;
* a **period-local** check reruns over the changed years (:class:`Plan`): its findings dated in
  those years, widened by its reach (:data:`BUSINESS_DAY_REACH` per business day looked back or
  ahead: running totals need the day before, TGA continuity the day after), are recomputed from
  rows read over that span widened once more; its findings dated elsewhere are carried from the
  baseline. Findings without a day are always recomputed (rows without a date are always read).
  A check whose days depend on a dataset's span (TGA continuity: the days of Table I) also
  rechecks between the old and new first and last day when they moved.

So an incremental report holds the same checks, findings and statuses as a full check of C
(``tests/integration/test_quality_incremental.py`` proves it on random sequences of faults).
Anything unknown — no passing report, a commit in between that does not say what it changed,
another set of checks (:func:`fingerprint`), a check or table the baseline lacks — runs full.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from importlib.metadata import PackageNotFoundError, version

from treasury_lakehouse.lake.commit import Changes
from treasury_lakehouse.quality.results import Finding
from treasury_lakehouse.quality.spec import Check, Scope
from treasury_lakehouse.sql_quote import quote_ident

#: calendar days that always hold the next (or previous) business day: weekends and DTS
#: holidays never leave a gap of more than 4 days (asserted over 1900..2199 in the tests)
BUSINESS_DAY_REACH = timedelta(days=14)
#: bump when what a kept state means changes (a baseline of another format is not used)
STATE_FORMAT = 1

Interval = tuple[date, date]
#: ``(first, last)`` record date of a dataset (``None`` when it has no dated rows)
Span = tuple[date | None, date | None]


@dataclass(frozen=True)
class Baseline:
    """A passing report a check may start from, and what changed in the lake since."""

    #: the lake commit the passing report checked
    lake_commit: int
    #: :func:`~treasury_lakehouse.lake.commit.changes_between` that commit and the one checked
    changes: Changes
    #: ``(check, table)`` → every finding of that result
    findings: Mapping[tuple[str, str], tuple[Finding, ...]]
    #: table → record year (``""`` for rows without one) → rows, for the bucketed tables
    counts: Mapping[str, Mapping[str, int]]
    #: ``check@table`` → the span the check saw
    spans: Mapping[str, Span]
    #: dataset → the bronze batches (ids) the report saw
    batches: Mapping[str, tuple[str, ...]]
    #: dataset → record year (``""``: none) → digest of its quarantined rows
    quarantined: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class Plan:
    """How one period-local check reruns: the findings dated in :attr:`recheck` are computed
    from the rows dated in :attr:`read` (and those without a date); the others are carried."""

    recheck: tuple[Interval, ...]
    read: tuple[Interval, ...]
    #: whole record years whose row counts may have changed
    count_years: frozenset[int]

    def rechecks(self, day: date | None) -> bool:
        return day is None or any(first <= day <= last for first, last in self.recheck)


@dataclass(frozen=True)
class BatchPlan:
    """How a batch-local check reruns: over the batches committed since (none: all carried)."""

    new: tuple[str, ...]


@dataclass(frozen=True)
class WindowPlan:
    """How a window-local check reruns: its findings dated in :attr:`recheck` (the windows and
    record dates of the batches committed since) are recomputed, the others carried."""

    recheck: tuple[Interval, ...]

    def rechecks(self, day: date | None) -> bool:
        return day is None or any(first <= day <= last for first, last in self.recheck)


def window_plan(
    seen: Sequence[str] | None, committed: Sequence[tuple[str, Interval | None, Interval | None]]
) -> WindowPlan | None:
    """The days to recheck from the batches committed since the baseline: per new batch, its
    requested window and the range of record dates it holds. ``committed`` holds ``(batch id,
    window, held range)`` per committed batch; a window with an open side (``None``) or a batch
    the baseline saw that is gone means whole (``None``).

    Sound because a day's finding depends only on the batches holding it and on the newest
    batch whose window contains it: a new batch changes neither for a day outside both."""
    ids = [b for b, _, _ in committed]
    if seen is None or not set(seen) <= set(ids):
        return None
    days: list[Interval] = []
    for batch_id, window, held in committed:
        if batch_id in set(seen):
            continue
        if window is None:
            return None
        days.append(window)
        if held is not None:
            days.append(held)
    return WindowPlan(merge(days))


def batch_plan(seen: Sequence[str] | None, committed: Sequence[str]) -> BatchPlan | None:
    """The batches to read, or ``None`` (whole) when one the baseline saw is gone or unknown."""
    if seen is None or not set(seen) <= set(committed):
        return None
    return BatchPlan(tuple(b for b in committed if b not in set(seen)))


def with_quarantine(
    changes: Changes,
    seen: Mapping[str, Mapping[str, str]],
    now: Mapping[str, Mapping[str, str]],
) -> Changes:
    """``changes`` plus, per dataset, the record years whose quarantined rows differ from those
    the baseline saw (a dataset it did not see: all of it). Quarantine feeds ``received_*`` and
    ``tga_days``; this keeps a check sound even if a transform's ``changes`` omit such a year.
    A quarantined row without a date is reread by every check anyway."""
    merged: Changes = dict(changes)
    for dataset, digests in now.items():
        if dataset not in seen:
            merged[dataset] = None
            continue
        if dataset in merged and merged[dataset] is None:
            continue
        before = seen[dataset]
        years = {
            int(k) for k in before.keys() | digests.keys() if k and before.get(k) != digests.get(k)
        }
        if years:
            merged[dataset] = (merged.get(dataset) or frozenset()) | frozenset(years)
    return merged


def changed_years(scope: Scope, changes: Changes) -> frozenset[int] | None:
    """The record years of the scope's datasets rebuilt (``None``: all of one of them)."""
    years: frozenset[int] = frozenset()
    for dataset in scope.datasets:
        if dataset not in changes:
            continue
        rebuilt = changes[dataset]
        if rebuilt is None:
            return None
        years |= rebuilt
    return years


def plan(
    scope: Scope, changes: Changes, old_span: Span | None, new_span: Span | None
) -> Plan | None:
    """The rerun of a period-local check, or ``None`` when it must run whole."""
    years = changed_years(scope, changes)
    if years is None:
        return None
    changed = [(date(y, 1, 1), date(y, 12, 31)) for y in sorted(years)]
    if scope.span_of is not None:
        if old_span is None or new_span is None:
            return None
        for old, new in zip(old_span, new_span, strict=True):
            if old != new:
                if old is None or new is None:
                    return None
                changed.append((min(old, new), max(old, new)))
    reach = BUSINESS_DAY_REACH
    recheck = merge((a - reach * scope.after, b + reach * scope.before) for a, b in changed)
    read = merge((a - reach * scope.before, b + reach * scope.after) for a, b in recheck)
    count_years = frozenset(y for a, b in changed for y in range(a.year, b.year + 1))
    return Plan(recheck, read, count_years)


def merge(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    """Overlapping or adjacent intervals joined, in order."""
    merged: list[Interval] = []
    for first, last in sorted(intervals):
        if merged and first <= merged[-1][1] + timedelta(days=1):
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return tuple(merged)


def year_intervals(years: Iterable[int]) -> tuple[Interval, ...]:
    return merge((date(y, 1, 1), date(y, 12, 31)) for y in years)


def within(column: str, intervals: Sequence[Interval]) -> str:
    """SQL: ``column`` (a DATE) in one of the intervals, or NULL."""
    q = quote_ident(column)
    parts = [f"{q} BETWEEN DATE '{a.isoformat()}' AND DATE '{b.isoformat()}'" for a, b in intervals]
    return "(" + " OR ".join([*parts, f"{q} IS NULL"]) + ")"


def merge_findings(
    plan: Plan | WindowPlan, fresh: Iterable[Finding], carried: Iterable[Finding]
) -> list[Finding]:
    """The findings of the rechecked days from the rerun, the others from the baseline."""
    return [f for f in fresh if plan.rechecks(f.day)] + [
        f for f in carried if not plan.rechecks(f.day)
    ]


def year_key(year: int | None) -> str:
    return "" if year is None else str(year)


def merge_counts(
    carried: Mapping[str, int], recounted: Mapping[str, int], years: frozenset[int]
) -> dict[str, int]:
    """Per-year row counts: the recounted years (and rows without a year) replace the carried."""
    redone = {year_key(y) for y in years} | {""}
    kept = {k: v for k, v in carried.items() if k not in redone}
    return kept | {k: v for k, v in recounted.items() if v}


def fingerprint(checks: Sequence[Check]) -> str:
    """What a baseline's findings were produced by: the checks' declarations, the package
    version and :data:`STATE_FORMAT`. Another fingerprint means another set of checks: full."""
    try:
        package = version("treasury-lakehouse")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        package = "source"
    declared = [
        [c.name, c.table, c.severity, c.description, c.tolerance, c.source, asdict(c.scope)]
        for c in checks
    ]
    text = json.dumps([STATE_FORMAT, package, declared], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
