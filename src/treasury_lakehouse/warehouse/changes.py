"""What changed in the lake since the commit a warehouse holds: the plan of an incremental load.

Both warehouses record, in ``load_manifest``, the lake commit and the lake version of every table
they last published. When the commit chain from there to the commit being published says what
changed (:func:`~treasury_lakehouse.lake.commit.changes_between`), :func:`plan_changes` names the
silver record years, the appended row-history years and the replaced gold tables to rewrite; the
rest of the warehouse is as the lake has it. Anything it cannot vouch for raises
:class:`NotIncremental`, and the caller falls back to its full path (a rebuild for the embedded
file, a plan from every row of the lake for PostgreSQL).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from treasury_lakehouse.catalog import get_dataset
from treasury_lakehouse.engines.base import PARTITION_COLUMN, partition_name
from treasury_lakehouse.errors import LakeError
from treasury_lakehouse.lake.commit import LakeCommit, changes_between, read_commit
from treasury_lakehouse.sql_quote import quote_ident as _q
from treasury_lakehouse.warehouse.base import (
    HISTORY_SUFFIX,
    REVISIONS,
    WarehouseTable,
    is_silver_table,
)
from treasury_lakehouse.warehouse.star import StarTable

#: above this share of the silver bytes changed, a full rebuild is cheaper than rewriting in place
FULL_REBUILD_SHARE = 0.5
SILVER_PREFIX = "silver_"


class NotIncremental(Exception):
    """The load cannot be applied in place; a full rebuild follows (``reason`` says why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class IncrementalPlan:
    """What an incremental load rewrites in a warehouse that holds lake commit ``since``."""

    since: int
    #: silver table → record years to rewrite (``None``: every row)
    years: dict[str, frozenset[int] | None]
    #: gold tables whose lake version changed (every row replaced)
    gold: tuple[str, ...]
    #: share of the silver bytes in the lake that the rewritten years hold
    share: float
    #: row histories appended to since the version the warehouse holds → record years to rewrite
    history: dict[str, frozenset[int]] = field(default_factory=dict)

    def describe(self) -> str:
        parts = [
            f"{name} {'all' if years is None else sorted(years)}"
            for name, years in sorted(self.years.items())
        ]
        appended = ", ".join(f"{n} {sorted(y)}" for n, y in sorted(self.history.items()))
        return (
            f"since lake commit {self.since}: silver {', '.join(parts) or 'unchanged'}; "
            f"history {appended or 'replaced or unchanged'}; "
            f"gold {', '.join(self.gold) or 'unchanged'} ({self.share:.1%} of silver bytes)"
        )


def plan_changes(
    tables: list[WarehouseTable],
    commit: LakeCommit,
    since: int,
    recorded: dict[str, str],
    max_share: float,
) -> IncrementalPlan:
    """The incremental load of ``commit`` into a warehouse whose latest load published lake
    commit ``since``, each table at the lake version ``recorded`` names."""
    changes = changes_between(commit.root, since, commit)
    if changes is None:
        raise NotIncremental(f"what changed since lake commit {since} is unknown")
    try:
        previous = read_commit(commit.root, since)
    except LakeError as error:
        raise NotIncremental(str(error)) from None
    _require_versions_of(previous, recorded, tables)
    years = {
        table.name: changes[name]
        for table in tables
        if (name := table.name.removeprefix(SILVER_PREFIX)) in changes
        and is_silver_table(table.name)
        and changes[name] != frozenset()
    }
    history = {
        t.name: appended
        for t in tables
        if recorded.get(t.name) != version_of(t)
        and (appended := _appended_years(t, recorded.get(t.name))) is not None
    }
    gold = tuple(
        t.name
        for t in tables
        if not is_silver_table(t.name)
        and t.name not in history
        and recorded.get(t.name) != version_of(t)
    )
    plan = IncrementalPlan(since, years, gold, _changed_share(tables, years), history)
    if plan.share > max_share:
        raise NotIncremental(f"{plan.share:.0%} of the silver data changed")
    return plan


def single_commit(rows: list[tuple[object, object, object]]) -> tuple[int, dict[str, str]]:
    """From the latest load's ``load_manifest`` rows (table, lake version, lake commit): the one
    lake commit it published and each table's version."""
    commits = {r[2] for r in rows}
    if len(commits) != 1 or None in commits:
        raise NotIncremental("the warehouse records no single lake commit for its latest load")
    return int(str(commits.pop())), {str(r[0]): str(r[1]) for r in rows}


def _appended_years(table: WarehouseTable, held: str | None) -> frozenset[int] | None:
    """The record years a row history rewrote when it was appended to right on the version the
    warehouse holds (``None``: not a history, or not one step from it: replace it whole)."""
    info = table.build
    if not table.name.endswith(HISTORY_SUFFIX) or info.get("mode") != "incremental":
        return None
    years = info.get("rebuilt_years")
    if held is None or info.get("base") != held or not isinstance(years, list):
        return None
    return frozenset(int(y) for y in years)


def version_of(table: WarehouseTable) -> str:
    return str(table.build.get("version", ""))


def _require_versions_of(
    previous: LakeCommit, recorded: dict[str, str], tables: list[WarehouseTable]
) -> None:
    """The warehouse's silver, history and gold tables must be the versions commit ``previous``
    names (history and revisions, like gold, are replaced whole when their version changed)."""
    expected = {f"{SILVER_PREFIX}{d}": v for d, v in previous.silver.items()}
    expected.update({f"{SILVER_PREFIX}{d}{HISTORY_SUFFIX}": v for d, v in previous.history.items()})
    if previous.history:
        expected[REVISIONS] = ",".join(f"{d}:{v}" for d, v in sorted(previous.history.items()))
    expected.update(previous.gold)
    for table in tables:
        if not expected.get(table.name) or recorded.get(table.name) != expected[table.name]:
            raise NotIncremental(
                f"{table.name} in the warehouse is not the version lake commit {previous.seq} names"
            )


def year_files(table: WarehouseTable, years: frozenset[int] | None) -> tuple[Path, ...]:
    """The table's Parquet files of those record years (every file for ``None``)."""
    if years is None:
        return table.files
    wanted = {partition_name(y) for y in years}
    return tuple(f for f in table.files if f.parent.name in wanted)


def _changed_share(tables: list[WarehouseTable], years: dict[str, frozenset[int] | None]) -> float:
    silver = [t for t in tables if is_silver_table(t.name)]
    total = sum(f.stat().st_size for t in silver for f in t.files)
    changed = 0
    for table in silver:
        if table.name not in years:
            continue
        if any(not f.parent.name.startswith(f"{PARTITION_COLUMN}=") for f in table.files):
            years[table.name] = None  # not partitioned by year: rewrite it all
        changed += sum(f.stat().st_size for f in year_files(table, years[table.name]))
    return changed / total if total else 0.0


def year_filter(column: str, years: frozenset[int] | None) -> str:
    """A condition true for the rows whose ``column`` falls in ``years`` (all for ``None``)."""
    if years is None:
        return "true"
    if not years:
        return "false"
    listed = ", ".join(str(int(y)) for y in sorted(years))
    return f"CAST(EXTRACT(YEAR FROM {_q(column)}) AS INTEGER) IN ({listed})"


def changed_years(plan: IncrementalPlan) -> frozenset[int]:
    """Every record year that some silver table rewrote (each must be known: not ``None``)."""
    years: set[int] = set()
    for name, rewritten in plan.years.items():
        if rewritten is None:
            raise NotIncremental(f"{name} was rebuilt whole")
        years |= rewritten
    return frozenset(years)


def years_of(star: StarTable, plan: IncrementalPlan) -> frozenset[int] | None:
    """The record years of a star table's changed sources (``None``: all of them)."""
    changed = [plan.years[s] for s in star.sources if s in plan.years]
    if any(years is None for years in changed):
        return None
    return frozenset().union(*(years for years in changed if years is not None))


def date_column(table: str) -> str:
    """The date column of a silver table or of a dataset's row history."""
    name = table.removeprefix(SILVER_PREFIX).removesuffix(HISTORY_SUFFIX)
    return get_dataset(name).date_column
