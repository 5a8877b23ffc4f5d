"""Run the checks over what the lake has published, reading its Parquet with DuckDB.

This is the only I/O of the quality package besides :mod:`~treasury_lakehouse.quality.store`:
a check with SQL (:attr:`Check.sql`) runs it as a query and its check function sees only the
rows that query returns (its findings' rows); the two without (``quarantined_rows``,
``vanished_record_date``) read a relation whose every row is a finding. A result's row count is a
``COUNT(*)`` of the table, kept per record year for the tables only period-local checks read
(``received_*``, ``tga_days``) so that an incremental check recounts only the changed years.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from treasury_lakehouse.catalog import (
    DATASETS,
    OPERATING_CASH_BALANCE,
    PUBLIC_DEBT_TRANSACTIONS,
    Dataset,
)
from treasury_lakehouse.config import Settings
from treasury_lakehouse.duckdb_connect import connect_duckdb, remove_spill_directory
from treasury_lakehouse.engines.base import PARTITION_COLUMN
from treasury_lakehouse.engines.duckdb import silver_view_sql
from treasury_lakehouse.errors import LakeError
from treasury_lakehouse.ingest.bronze import BronzeStore
from treasury_lakehouse.ingest.manifest import Batch
from treasury_lakehouse.lake.commit import LakeCommit
from treasury_lakehouse.lake.layout import Lake
from treasury_lakehouse.models.silver import silver_columns
from treasury_lakehouse.paths import glob_escape, parquet_list_sql
from treasury_lakehouse.quality.checks import all_checks, by_table
from treasury_lakehouse.quality.debt import add_cross_views
from treasury_lakehouse.quality.incremental import (
    Baseline,
    BatchPlan,
    Interval,
    Plan,
    Span,
    WindowPlan,
    batch_plan,
    fingerprint,
    merge_counts,
    merge_findings,
    plan,
    window_plan,
    with_quarantine,
    within,
    year_intervals,
    year_key,
)
from treasury_lakehouse.quality.results import Checked, CheckResult, Finding, QualityReport
from treasury_lakehouse.quality.spec import Check, CheckContext
from treasury_lakehouse.quality.treasury import CASH_DAILY, TGA_DAYS
from treasury_lakehouse.quality.vanished import batches_holding, vanished_sql, window_bounds
from treasury_lakehouse.sql_quote import quote_ident as _q
from treasury_lakehouse.sql_quote import quote_literal as _lit


@dataclass(frozen=True)
class PublishedTables:
    """What one lake commit published (and all committed bronze), as SELECTs to check."""

    #: ``bronze_<dataset>`` and ``vanished_<dataset>``: every committed batch
    bronze: dict[str, str]
    #: dataset → its committed bronze batches, in commit order: id → files
    batches: dict[str, dict[str, list[Path]]]
    #: dataset → its silver version
    silver: dict[str, tuple[Dataset, Path]]
    #: dataset → the glob of its quarantine files, and whether they have ``quarantine_status``
    quarantine: dict[str, tuple[str, bool]]
    gold: dict[str, str]
    #: dataset → its committed bronze batches' manifest entries, in commit order
    manifests: dict[str, list[Batch]] = field(default_factory=dict)

    def sources(self, window: Sequence[Interval] | None = None) -> dict[str, str]:
        """A SELECT per table: ``bronze_*``, ``vanished_*``, ``silver_*``, ``quarantine_*``,
        ``received_*`` (silver and quarantined keys), the gold tables, ``tga_days`` and the
        cross-dataset views of :mod:`~treasury_lakehouse.quality.debt` (each when its tables are).

        With ``window``, silver holds only its rows dated in those intervals or without a date
        (so do ``received_*`` and ``tga_days`` for their silver part; quarantine is whole, and
        the span of ``tga_days`` is that of the whole lake).
        """
        sources = dict(self.bronze)
        for name, (dataset, version) in self.silver.items():
            silver = silver_view_sql(dataset, version)
            if window is not None:
                silver = silver_within(dataset, version, window)
            sources[f"silver_{name}"] = silver
            glob, has_status = self.quarantine.get(name, (None, False))
            if glob:
                sources[f"quarantine_{name}"] = f"SELECT * FROM read_parquet({_lit(glob)})"
            sources[f"received_{name}"] = received_sql(dataset, silver, glob, has_status)
        sources.update(self.gold)
        add_cross_views(sources)
        if CASH_DAILY in sources and f"received_{OPERATING_CASH_BALANCE.name}" in sources:
            span = self.sources()[f"received_{OPERATING_CASH_BALANCE.name}"] if window else None
            sources[TGA_DAYS] = tga_days_sql(sources, span)
        return sources


def bronze_sql(files: Sequence[Path]) -> str:
    listed = parquet_list_sql(files)
    return f"SELECT * FROM read_parquet({listed}, union_by_name = true)"


def silver_within(dataset: Dataset, version: Path, window: Sequence[Interval]) -> str:
    """:func:`~treasury_lakehouse.engines.duckdb.silver_view_sql` narrowed to the rows dated in
    ``window`` or without a date, reading only the ``record_year`` partitions they are in."""
    columns = ", ".join(_q(c) for c in silver_columns(dataset))
    glob = _lit(glob_escape(version) + "/**/*.parquet")
    years = sorted({y for first, last in window for y in range(first.year, last.year + 1)})
    partitions = f"{PARTITION_COLUMN} IN ({', '.join(map(str, years))}) OR " if years else ""
    return (
        f"SELECT {columns} FROM read_parquet({glob}, hive_partitioning = true) "
        f"WHERE ({partitions}{PARTITION_COLUMN} IS NULL) AND {within(dataset.date_column, window)}"
    )


def published_tables(
    lake_root: Path, commit: LakeCommit | None, con: duckdb.DuckDBPyConnection | None = None
) -> PublishedTables:
    """The tables of ``commit`` (silver, quarantine, gold; ``None``: none yet) and of committed
    bronze, with the vanished record dates of each dataset's bronze
    (:mod:`~treasury_lakehouse.quality.vanished`). ``con`` reads quarantine schemas."""
    store = BronzeStore(lake_root)
    silver = commit.versions("silver") if commit else {}
    quarantine = commit.versions("quarantine") if commit else {}
    bronze: dict[str, str] = {}
    batches: dict[str, dict[str, list[Path]]] = {}
    manifests: dict[str, list[Batch]] = {}
    quarantined: dict[str, tuple[str, bool]] = {}
    for name, dataset in DATASETS.items():
        files = store.files(name)  # checks that every committed file is there
        committed = store.batches(name)
        base = store.dataset_dir(name)
        batches[name] = {b.batch_id: [base / f for f in b.files] for b in committed}
        manifests[name] = list(committed)
        if files:
            sql = bronze_sql(files)
            bronze[f"bronze_{name}"] = sql
            try:
                bronze[f"vanished_{name}"] = vanished_sql(dataset, sql, committed)
            except ValueError as error:
                raise LakeError(f"quality: bronze manifest of {name}: {error}") from error
        glob = _parquet_glob(quarantine.get(name)) if name in silver else None
        if glob:
            quarantined[name] = (glob, _has_status_column(glob, con))
    gold = {
        table: f"SELECT * FROM read_parquet({_lit(glob_escape(version) + '/*.parquet')})"
        for table, version in (commit.versions("gold") if commit else {}).items()
    }
    silver_tables = {name: (DATASETS[name], silver[name]) for name in DATASETS if name in silver}
    return PublishedTables(bronze, batches, silver_tables, quarantined, gold, manifests)


def tga_days_sql(sources: dict[str, str], span_source: str | None = None) -> str:
    """Every day with statement rows (silver or quarantined) in the span of Table I, with the TGA
    balances of ``gold_daily_cash_balance`` (NULL when gold lacks the day). The span is that of
    ``span_source`` (default: the received rows of Table I in ``sources``)."""
    cash, debt = (f"received_{d.name}" for d in (OPERATING_CASH_BALANCE, PUBLIC_DEBT_TRANSACTIONS))
    received = [
        f"SELECT TRY_CAST(record_date AS DATE) AS record_date FROM ({sources[t]}) AS r"
        for t in (cash, debt)
        if t in sources
    ]
    return f"""
WITH days AS (SELECT DISTINCT record_date FROM ({" UNION ALL ".join(received)}) AS d
              WHERE record_date IS NOT NULL),
span AS (SELECT MIN(TRY_CAST(record_date AS DATE)) AS first_day,
                MAX(TRY_CAST(record_date AS DATE)) AS last_day
         FROM ({span_source or sources[cash]}) AS c)
SELECT days.record_date, g.tga_opening_balance_usd_mil, g.tga_closing_balance_usd_mil
FROM days CROSS JOIN span
LEFT JOIN ({sources[CASH_DAILY]}) AS g ON g.record_date = days.record_date
WHERE days.record_date BETWEEN span.first_day AND span.last_day
"""


def _parquet_glob(version: Path | None) -> str | None:
    if version is None or not any(version.rglob("*.parquet")):
        return None
    return glob_escape(version) + "/**/*.parquet"


def received_sql(
    dataset: Dataset, silver: str, quarantine_glob: str | None, has_status: bool = False
) -> str:
    """Distinct natural keys the current silver version received: its rows and quarantined ones
    (only the outstanding ones when the quarantine has ``quarantine_status``: ``has_status``).

    A quarantined row still arrived (its bad value is reported by ``quarantined_rows``), so counting
    rows per day over this keeps a bad value from also reading as a missing row.
    """
    key = dataset.natural_key
    typed = ", ".join(f"CAST({_q(c)} AS VARCHAR) AS {_q(c)}" for c in key)
    select = f"SELECT {typed} FROM ({silver}) AS s"
    if quarantine_glob:
        raw = ", ".join(f"NULLIF(NULLIF(TRIM({_q(c)}), 'null'), '') AS {_q(c)}" for c in key)
        quarantined = f"SELECT {raw} FROM read_parquet({_lit(quarantine_glob)})"
        if has_status:  # a resolved row was replaced by a newer batch
            quarantined += " WHERE quarantine_status = 'outstanding'"
        select += f" UNION ALL {quarantined}"
    return f"SELECT DISTINCT * FROM ({select}) AS r"


def _has_status_column(quarantine_glob: str, con: duckdb.DuckDBPyConnection | None) -> bool:
    """Quarantine written before ``quarantine_status`` existed counts every row as outstanding."""
    sql = f"SELECT name FROM parquet_schema({_lit(quarantine_glob)})"
    if con is None:
        with duckdb.connect() as own:
            names = own.execute(sql).fetchall()
    else:
        names = con.execute(sql).fetchall()
    return ("quarantine_status",) in names


def _columns(check: Check) -> str:
    return ", ".join(_q(c) for c in dict.fromkeys(check.columns)) if check.columns else "*"


def _finding_order(finding: Finding) -> tuple[date, str, str]:
    """Findings by day then row, whatever order the lake's files were read in."""
    return (finding.day or date.min, finding.row, finding.message)


def _query(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _read_failure(table: str, lake_root: Path, error: duckdb.Error) -> str:
    """One line: DuckDB's out-of-memory message spans several lines of tuning advice."""
    if isinstance(error, duckdb.OutOfMemoryException):
        first_line = str(error).strip().splitlines()[0]
        return (
            f"quality: checking {table} ran out of memory ({first_line}); raise "
            "TREASURY_MEMORY_LIMIT (--memory-limit) or leave it unset"
        )
    return f"quality: cannot read {table} from {lake_root}: {error}"


def span_key(check: Check) -> str:
    """How a kept report names one result: ``check@table``."""
    return f"{check.name}@{check.table}"


class _Run:
    """One check run over one lake commit, full or from a baseline (see
    :mod:`~treasury_lakehouse.quality.incremental`)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        tables: PublishedTables,
        context: CheckContext,
        baseline: Baseline | None,
    ) -> None:
        self.con, self.tables, self.context, self.baseline = con, tables, context, baseline
        self.full = tables.sources()
        self.windowed: dict[tuple[Interval, ...], dict[str, str]] = {}
        self.counts: dict[str, dict[str, int]] = {}
        self.spans: dict[str, Span] = {}
        self.incremental = False
        self.quarantined = {name: self.quarantine_years(name) for name in tables.silver}
        self.changes = (
            with_quarantine(baseline.changes, baseline.quarantined, self.quarantined)
            if baseline
            else {}
        )

    def quarantine_years(self, dataset: str) -> dict[str, str]:
        """Per record year of the quarantined rows of ``dataset`` (``""``: no date), a digest of
        them: a year whose quarantine changed is rechecked, whatever the commit says."""
        glob, _ = self.tables.quarantine.get(dataset, (None, False))
        if glob is None:
            return {}
        rows = self.con.execute(
            "SELECT year(TRY_CAST(TRIM(CAST(record_date AS VARCHAR)) AS DATE)) AS y, COUNT(*), "
            f"bit_xor(hash(q)) FROM read_parquet({_lit(glob)}) AS q GROUP BY y"
        ).fetchall()
        return {year_key(y): f"{n}:{digest}" for y, n, digest in rows}

    def sources(self, window: tuple[Interval, ...] | None) -> dict[str, str]:
        if window is None:
            return self.full
        if window not in self.windowed:
            self.windowed[window] = self.tables.sources(window)
        return self.windowed[window]

    def span(self, dataset: str) -> Span:
        """First and last record date received of ``dataset`` (whole lake)."""
        row = self.con.execute(
            "SELECT MIN(TRY_CAST(record_date AS DATE)), MAX(TRY_CAST(record_date AS DATE)) "
            f"FROM ({self.full[f'received_{dataset}']}) AS r"
        ).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def plan(self, check: Check) -> Plan | BatchPlan | WindowPlan | None:
        """How ``check`` reruns from the baseline; ``None``: whole."""
        scope, key = check.scope, (check.name, check.table)
        new_span = None
        if scope.span_of is not None and f"received_{scope.span_of}" in self.full:
            new_span = self.spans[span_key(check)] = self.span(scope.span_of)
        if self.baseline is None or key not in self.baseline.findings:
            return None
        if scope.batches_of is not None:
            seen = self.baseline.batches.get(scope.batches_of)
            return batch_plan(seen, list(self.tables.batches.get(scope.batches_of, {})))
        if scope.windows_of is not None:
            return self.window_plan(scope.windows_of)
        if not scope.period_local:
            return None
        old_span = self.baseline.spans.get(span_key(check))
        return plan(scope, self.changes, old_span, new_span)

    def window_plan(self, dataset: str) -> WindowPlan | None:
        assert self.baseline is not None
        committed = []
        for b in self.tables.manifests.get(dataset, []):
            start, end = window_bounds(b.window)
            window = (start, end) if start is not None and end is not None else None
            committed.append((b.batch_id, window, b.record_range))
        return window_plan(self.baseline.batches.get(dataset), committed)

    def count(
        self,
        table: str,
        checks: Sequence[Check],
        plans: Sequence[Plan | BatchPlan | WindowPlan | None],
    ) -> int:
        """Rows of ``table``; per record year for a table only period-local checks read."""
        if not all(c.scope.period_local for c in checks):
            return self._scalar(f"SELECT COUNT(*) FROM ({self.full[table]}) AS t")
        carried = self.baseline.counts.get(table) if self.baseline else None
        years = frozenset(y for p in plans if isinstance(p, Plan) for y in p.count_years)
        if carried is None or not all(isinstance(p, Plan) for p in plans):
            self.counts[table] = self._years(self.full[table], None)
        else:
            source = self.sources(year_intervals(years))[table]
            self.counts[table] = merge_counts(carried, self._years(source, years), years)
        return sum(self.counts[table].values())

    def _years(self, source: str, years: frozenset[int] | None) -> dict[str, int]:
        rows = self.con.execute(
            "SELECT year(TRY_CAST(record_date AS DATE)) AS y, COUNT(*) "
            f"FROM ({source}) AS t GROUP BY y"
        ).fetchall()
        return {year_key(y): int(n) for y, n in rows if years is None or y is None or y in years}

    def _scalar(self, sql: str) -> int:
        row = self.con.execute(sql).fetchone()
        return int(row[0]) if row else 0

    def check(
        self,
        check: Check,
        plan: Plan | BatchPlan | WindowPlan | None,
        count: int,
        rows: list[dict[str, Any]] | None = None,
    ) -> CheckResult:
        """The result of ``check``: over ``rows`` (the whole table, already read) when given."""
        if rows is None:
            findings = self.findings(check, plan)
        else:
            findings = check.evaluate(rows, self.context)
        if plan is not None and self.baseline is not None:
            self.incremental = True
            carried = self.baseline.findings[(check.name, check.table)]
            if isinstance(plan, Plan | WindowPlan):
                findings = merge_findings(plan, findings, carried)
            else:
                findings = [*carried, *findings]
        ordered = tuple(sorted(findings, key=_finding_order))
        return CheckResult(check.name, check.table, check.severity, check.description,
                           check.tolerance, count, ordered)  # fmt: skip

    def findings(self, check: Check, plan: Plan | BatchPlan | WindowPlan | None) -> list[Finding]:
        """The check's findings over its source: whole, or what ``plan`` rereads."""
        if isinstance(plan, WindowPlan):
            name = check.scope.windows_of or ""
            manifest = self.tables.manifests[name]
            holding = batches_holding(manifest, plan.recheck)
            if not plan.recheck or not holding:
                return []
            files = self.tables.batches[name]
            source = bronze_sql([f for b in holding for f in files[b.batch_id]])
            sql = vanished_sql(DATASETS[name], source, manifest, plan.recheck)
            return check.evaluate(_query(self.con, sql), self.context)
        if isinstance(plan, BatchPlan):
            batches = self.tables.batches[check.scope.batches_of or ""]
            if not plan.new:
                return []
            source = bronze_sql([f for b in plan.new for f in batches[b]])
        else:
            source = self.sources(plan.read if plan else None)[check.source]
        sql = check.sql(source) if check.sql else f"SELECT {_columns(check)} FROM ({source}) AS t"
        return check.evaluate(_query(self.con, sql), self.context)

    def table(self, lake_root: Path, table: str, checks: Sequence[Check]) -> list[CheckResult]:
        try:
            plans = [self.plan(c) for c in checks]
            if any(isinstance(p, WindowPlan) for p in plans):
                # a relation whose every row is a finding, rejudged over the plan's days only
                results = [self.check(c, p, 0) for c, p in zip(checks, plans, strict=True)]
                return [replace(r, rows_checked=len(r.findings)) for r in results]
            if all(c.sql is None for c in checks) and not any(plans):
                # every row of the relation is a finding (vanished days, quarantine): read once
                rows = _query(self.con, f"SELECT * FROM ({self.full[table]}) AS t")
                return [self.check(c, None, len(rows), rows) for c in checks]
            count = self.count(table, checks, plans)
            return [self.check(c, p, count) for c, p in zip(checks, plans, strict=True)]
        except duckdb.Error as error:
            raise LakeError(_read_failure(table, lake_root, error)) from error


def run_checks(
    lake_root: Path,
    run_id: str,
    context: CheckContext | None = None,
    checks: Sequence[Check] | None = None,
    commit: LakeCommit | None = None,
    settings: Settings | None = None,
    baseline: Baseline | None = None,
) -> QualityReport:
    """Every check whose table the lake commit (by default the current one) has published, as
    one report (nothing is written).

    With ``baseline`` (a passing report of an older commit and what changed since, see
    :func:`~treasury_lakehouse.quality.store.find_baseline`) the period-local checks rerun only
    over the changed periods and carry their other findings: the report is the same. With
    ``settings`` the DuckDB connection honours ``TREASURY_MEMORY_LIMIT`` and spills into
    ``<home>/tmp`` (:func:`~treasury_lakehouse.duckdb_connect.connect_duckdb`).
    """
    context = context or CheckContext.current()
    checks = list(checks or all_checks())
    if commit is None:
        commit = Lake(lake_root).find_commit()
    con, spill_dir = connect_duckdb(settings) if settings else (duckdb.connect(), None)
    try:
        try:
            run = _Run(con, published_tables(lake_root, commit, con), context, baseline)
        except duckdb.Error as error:
            raise LakeError(_read_failure("quarantine", lake_root, error)) from error
        if not run.full:
            raise LakeError(f"nothing to check: {lake_root} has no bronze, silver or gold yet")
        results: list[CheckResult] = []
        for table, table_checks in by_table(checks).items():
            if table in run.full:
                results += run.table(lake_root, table, table_checks)
    finally:
        con.close()
        if spill_dir is not None:
            remove_spill_directory(spill_dir)
    checked = Checked(
        lake_commit=commit.seq if commit else None,
        mode="incremental" if run.incremental else "full",
        since=baseline.lake_commit if baseline and run.incremental else None,
        fingerprint=fingerprint(checks),
        counts=run.counts,
        spans=run.spans,
        batches={name: tuple(ids) for name, ids in run.tables.batches.items()},
        quarantined=run.quarantined,
    )
    return QualityReport(run_id, datetime.now(UTC), tuple(results), checked)
