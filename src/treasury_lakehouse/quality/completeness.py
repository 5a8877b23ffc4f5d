"""Completeness and freshness against the Daily Treasury Statement's business-day calendar.

* **completeness** — every business day between a dataset's first and last record date has rows.
  A run of up to :data:`MAX_MISSING_RUN` consecutive missing business days is a dropped statement:
  an ``error`` per day. A longer hole is where the source itself has no history (the real records of
  ``public_debt_transactions`` jump from 2005-10-06 to 2021-06-24): one ``warn`` naming the span.
  A statement on a day the calendar says is not a business day is a ``warn`` (the calendar may need
  a new holiday rule).
* **freshness** — the statement for day D is published the next business day around 4 pm Eastern.
  Days whose statement is not yet due (plus :data:`PUBLICATION_GRACE`) are never reported; days
  that are due but not in the lake are a ``warn`` (an API delay must not block what is there).
  With ``--end``, days after it are not expected either, nor days after the last date of a table
  the statement stopped publishing (the catalog's ``last_date``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from treasury_lakehouse.calendar import (
    is_business_day,
    iter_business_days,
    next_business_day,
    previous_business_day,
)
from treasury_lakehouse.catalog import DATASETS, Dataset
from treasury_lakehouse.quality import narrow
from treasury_lakehouse.quality.results import Finding
from treasury_lakehouse.quality.spec import Check, CheckContext, Rows, as_date

EASTERN = ZoneInfo("America/New_York")
#: when the statement of a day is due: the next business day at this time, Eastern
PUBLICATION_TIME = time(16, 0)
PUBLICATION_GRACE = timedelta(hours=2)
#: longer runs of missing business days are holes in the source's history, not dropped days
MAX_MISSING_RUN = 5


def published_at(day: date) -> datetime:
    """When the statement for ``day`` is due (timezone-aware, Eastern)."""
    return datetime.combine(next_business_day(day), PUBLICATION_TIME, EASTERN)


def latest_published_day(now: datetime, end: date | None = None) -> date:
    """The last business day whose statement is due by ``now`` (and not after ``end``)."""
    day = now.astimezone(EASTERN).date()
    if not is_business_day(day):
        day = previous_business_day(day)
    while published_at(day) + PUBLICATION_GRACE > now:
        day = previous_business_day(day)
    if end is not None and day > end:
        day = end if is_business_day(end) else previous_business_day(end)
    return day


def _days(rows: Rows, column: str) -> set[date]:
    return {d for d in (as_date(r.get(column)) for r in rows) if d is not None}


def missing_runs(present: set[date]) -> list[list[date]]:
    """Runs of consecutive business days absent between the first and last present day."""
    return _missing_between(sorted((day, day) for day in present))


def _missing_between(spans: list[tuple[date, date]]) -> list[list[date]]:
    """Runs of consecutive business days absent between sorted spans ``(first, last)`` of days
    present (a span holds every business day from its first to its last day)."""
    runs: list[list[date]] = []
    previous: date | None = None
    covered: date | None = None
    for first, last in spans:
        if covered is not None:
            for day in iter_business_days(covered + timedelta(days=1), first - timedelta(days=1)):
                if runs and previous is not None and next_business_day(previous) == day:
                    runs[-1].append(day)
                else:
                    runs.append([day])
                previous = day
        covered = last if covered is None else max(covered, last)
    return runs


def _spans(rows: Rows, column: str) -> list[tuple[date, date]]:
    """Days present as sorted spans: a row is its day, or (narrowed by
    :func:`~treasury_lakehouse.quality.narrow.present_spans`) a run of business days through
    :data:`~treasury_lakehouse.quality.narrow.THROUGH`."""
    spans = []
    for row in rows:
        first = as_date(row.get(column))
        if first is not None:
            spans.append((first, as_date(row.get(narrow.THROUGH)) or first))
    return sorted(spans)


def completeness(dataset: Dataset) -> Callable[[Rows, CheckContext], list[Finding]]:
    """Missing business days (error when short, warn when a long hole) and off-calendar days."""
    column = dataset.date_column

    def evaluate(rows: Rows, ctx: CheckContext) -> list[Finding]:
        spans = _spans(rows, column)
        findings = []
        for run in _missing_between(spans):
            if len(run) <= MAX_MISSING_RUN:
                findings += [
                    Finding("error", day, f"{column}={day.isoformat()}",
                            f"no {dataset.name} rows for this business day")
                    for day in run
                ]  # fmt: skip
            else:
                findings.append(
                    Finding("warn", run[0], f"{column}={run[0]}..{run[-1]}",
                            f"{len(run)} business days without rows: a hole in the source")
                )  # fmt: skip
        findings += [
            Finding("warn", day, f"{column}={day.isoformat()}",
                    "rows on a day the DTS calendar has no statement")
            for day in sorted({first for first, _ in spans})
            if not is_business_day(day)
        ]  # fmt: skip
        return findings

    return evaluate


def freshness(dataset: Dataset) -> Callable[[Rows, CheckContext], list[Finding]]:
    """Business days after the last one in the lake whose statement is already due."""
    column = dataset.date_column

    def evaluate(rows: Rows, ctx: CheckContext) -> list[Finding]:
        present = _days(rows, column)
        if not present:
            return []
        last, due = max(present), latest_published_day(ctx.now, ctx.end)
        if dataset.last_date is not None:  # a table the statement no longer publishes
            due = min(due, dataset.last_date)
        late = list(iter_business_days(last + timedelta(days=1), due))
        if not late:
            return []
        return [
            Finding("warn", late[0], f"{column}={late[0]}..{late[-1]}",
                    f"{len(late)} published business days not in the lake yet "
                    f"(latest in the lake {last}, latest published {due})")
        ]  # fmt: skip

    return evaluate


def calendar_checks() -> list[Check]:
    """Completeness and freshness of every dataset's silver table."""
    checks = []
    for dataset in DATASETS.values():
        table, columns = f"silver_{dataset.name}", (dataset.date_column,)
        checks += [
            Check("completeness", table, "error",
                  "every business day between the first and last record date has rows",
                  f"runs of more than {MAX_MISSING_RUN} business days are a warning (source hole)",
                  completeness(dataset), columns, sql=narrow.present_spans(dataset.date_column)),
            Check("freshness", table, "warn",
                  "every statement already due (next business day 4 pm Eastern) is in the lake",
                  f"{PUBLICATION_GRACE.seconds // 3600} h after the due time",
                  freshness(dataset), columns, sql=narrow.latest_value(dataset.date_column)),
        ]  # fmt: skip
    return checks
