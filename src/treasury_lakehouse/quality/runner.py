"""Run the checks over what the lake has published, reading its Parquet with DuckDB.

This is the only I/O of the quality package besides :mod:`~treasury_lakehouse.quality.store`:
a check with SQL (:attr:`Check.sql`) runs it as a query and its check function sees only the
rows that query returns (its findings' rows); the checks without share one read of their table
(only the columns they need). A result's row count is a ``COUNT(*)`` of the table.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from treasury_lakehouse.engines.duckdb import silver_view_sql
from treasury_lakehouse.errors import LakeError
from treasury_lakehouse.ingest.bronze import BronzeStore
from treasury_lakehouse.lake.commit import LakeCommit
from treasury_lakehouse.lake.layout import Lake
from treasury_lakehouse.paths import glob_escape
from treasury_lakehouse.quality.checks import all_checks, by_table
from treasury_lakehouse.quality.results import CheckResult, Finding, QualityReport
from treasury_lakehouse.quality.spec import Check, CheckContext
from treasury_lakehouse.quality.treasury import CASH_DAILY, TGA_DAYS
from treasury_lakehouse.quality.vanished import vanished_sql


def _lit(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lake_sources(
    lake_root: Path, commit: LakeCommit | None = None, con: duckdb.DuckDBPyConnection | None = None
) -> dict[str, str]:
    """A SELECT per table the lake has published: ``bronze_*``, ``silver_*``, ``quarantine_*``,
    ``received_*`` (silver and quarantined keys) and the gold tables.

    Silver, quarantine and gold are those of ``commit`` (by default the current lake commit,
    resolved once); bronze is every committed batch. ``con`` reads quarantine schemas.
    """
    bronze = BronzeStore(lake_root)
    if commit is None:
        commit = Lake(lake_root).find_commit()
    silver = commit.versions("silver") if commit else {}
    quarantine = commit.versions("quarantine") if commit else {}
    gold = commit.versions("gold") if commit else {}
    sources: dict[str, str] = {}
    for name, dataset in DATASETS.items():
        files = bronze.files(name)
        if files:
            listed = "[" + ", ".join(_lit(glob_escape(f)) for f in files) + "]"
            sources[f"bronze_{name}"] = (
                f"SELECT * FROM read_parquet({listed}, union_by_name = true)"
            )
        version = silver.get(name)
        if version is None:
            continue
        sources[f"silver_{name}"] = silver_view_sql(dataset, version)
        quarantined = _parquet_glob(quarantine.get(name))
        if quarantined:
            sources[f"quarantine_{name}"] = f"SELECT * FROM read_parquet({_lit(quarantined)})"
        outstanding = bool(quarantined) and _has_status_column(quarantined, con)
        sources[f"received_{name}"] = received_sql(
            dataset, sources[f"silver_{name}"], quarantined, outstanding
        )
    for table, version in gold.items():
        sources[table] = f"SELECT * FROM read_parquet({_lit(glob_escape(version) + '/*.parquet')})"
    return sources


def derived_sources(lake_root: Path, sources: dict[str, str]) -> dict[str, str]:
    """Tables computed from the lake's: ``vanished_<dataset>`` (record dates the newest covering
    bronze batch lacks, see :mod:`~treasury_lakehouse.quality.vanished`) and ``tga_days`` (one
    row per statement day, with its TGA balances from gold, NULL where gold has none)."""
    bronze, derived = BronzeStore(lake_root), {}
    for name, dataset in DATASETS.items():
        if f"bronze_{name}" in sources:
            try:
                sql = vanished_sql(dataset, sources[f"bronze_{name}"], bronze.batches(name))
            except ValueError as error:
                raise LakeError(f"quality: bronze manifest of {name}: {error}") from error
            derived[f"vanished_{name}"] = sql
    if CASH_DAILY in sources and f"received_{OPERATING_CASH_BALANCE.name}" in sources:
        derived[TGA_DAYS] = tga_days_sql(sources)
    return derived


def tga_days_sql(sources: dict[str, str]) -> str:
    """Every day with statement rows (silver or quarantined) in the span of Table I, with the TGA
    balances of ``gold_daily_cash_balance`` (NULL when gold lacks the day)."""
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
                MAX(TRY_CAST(record_date AS DATE)) AS last_day FROM ({sources[cash]}) AS c)
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


def _columns(checks: Sequence[Check]) -> str:
    if any(not c.columns for c in checks):
        return "*"
    return ", ".join(_q(c) for c in dict.fromkeys(col for check in checks for col in check.columns))


def _read(con: duckdb.DuckDBPyConnection, source: str, columns: str) -> list[dict[str, Any]]:
    return _query(con, f"SELECT {columns} FROM ({source}) AS t")


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


def _run_table(
    con: duckdb.DuckDBPyConnection,
    lake_root: Path,
    table: str,
    source: str,
    checks: Sequence[Check],
    context: CheckContext,
) -> list[CheckResult]:
    """The checks of one relation: a check with SQL sees only its query's rows; the others share
    one read of the table (only the columns they need)."""
    in_python = [c for c in checks if c.sql is None]
    try:
        count = int(con.execute(f"SELECT COUNT(*) FROM ({source}) AS t").fetchone()[0])  # type: ignore[index]
        rows = _read(con, source, _columns(in_python)) if in_python else []
        inputs = [_query(con, c.sql(source)) if c.sql else rows for c in checks]
    except duckdb.Error as error:
        raise LakeError(_read_failure(table, lake_root, error)) from error
    results = []
    for check, check_rows in zip(checks, inputs, strict=True):
        findings = sorted(check.evaluate(check_rows, context), key=_finding_order)
        results.append(
            CheckResult(check.name, check.table, check.severity, check.description,
                        check.tolerance, count, tuple(findings))
        )  # fmt: skip
    return results


def run_checks(
    lake_root: Path,
    run_id: str,
    context: CheckContext | None = None,
    checks: Sequence[Check] | None = None,
    commit: LakeCommit | None = None,
    settings: Settings | None = None,
) -> QualityReport:
    """Every check whose table the lake commit (by default the current one) has published, as
    one report (nothing is written).

    With ``settings`` the DuckDB connection honours ``TREASURY_MEMORY_LIMIT`` and spills into
    ``<home>/tmp`` (:func:`~treasury_lakehouse.duckdb_connect.connect_duckdb`).
    """
    context = context or CheckContext.current()
    con, spill_dir = connect_duckdb(settings) if settings else (duckdb.connect(), None)
    try:
        sources = lake_sources(lake_root, commit, con)
        if not sources:
            raise LakeError(f"nothing to check: {lake_root} has no bronze, silver or gold yet")
        sources.update(derived_sources(lake_root, sources))
        results: list[CheckResult] = []
        for table, table_checks in by_table(checks or all_checks()).items():
            if table in sources:
                results += _run_table(con, lake_root, table, sources[table], table_checks, context)
    finally:
        con.close()
        if spill_dir is not None:
            remove_spill_directory(spill_dir)
    return QualityReport(run_id, datetime.now(UTC), tuple(results))
