"""The warehouse's ``quality_results`` table: every check of every run, kept.

Reports are written to the lake first (``<lake>/_quality``, append-only); :func:`sync_quality`
then inserts into the warehouse those runs it does not have yet, in one small transaction of its
own that touches no published table. A run whose gate failed is recorded this way without
publishing anything; a sync that could not happen (warehouse busy) is caught up by the next one.
The DuckDB warehouse carries the table over when it is rebuilt (``CARRIED_OVER``), and a load
that publishes adds its own report to the new file before the swap
(:func:`insert_missing_duckdb`) instead of writing into the live file afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from treasury_lakehouse.config import mask_dsn
from treasury_lakehouse.errors import WarehouseError
from treasury_lakehouse.quality.store import latest_report, read_reports
from treasury_lakehouse.sql_quote import quote_literal

if TYPE_CHECKING:
    import duckdb

    from treasury_lakehouse.config import Settings

log = logging.getLogger(__name__)

TABLE = "quality_results"
COMMENT = "Data-quality checks of every pipeline run: one row per check and run"
#: (name, SQL type valid in DuckDB and PostgreSQL, comment)
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("run_id", "VARCHAR", "pipeline run (or `treasury check`) that ran the check"),
    ("stage", "VARCHAR", "run, load or check: the step that ran the checks"),
    ("checked_at", "TIMESTAMPTZ", "when the checks ran (UTC)"),
    ("check_name", "VARCHAR", "check name, see docs/quality.md"),
    ("table_name", "VARCHAR", "lake table checked (bronze_, silver_, received_, gold_...)"),
    ("severity", "VARCHAR", "error (blocks publishing) or warn (reported)"),
    ("status", "VARCHAR", "pass, warn (warnings only) or fail (error findings)"),
    ("rows_checked", "BIGINT", "rows of the table the check read (rows)"),
    ("error_count", "BIGINT", "error-level findings (rows or days)"),
    ("warning_count", "BIGINT", "warn-level findings, e.g. rounding differences (rows or days)"),
    ("first_day", "DATE", "earliest record date among the findings shown"),
    ("details", "VARCHAR", "the first findings: day, row and what was wrong"),
    ("tolerance", "VARCHAR", "the tolerance the check applies"),
)


def report_rows(reports: Sequence[dict[str, Any]], have: set[tuple[str, str]]) -> list[list[Any]]:
    """Rows of the kept reports whose (run_id, stage) the warehouse does not have yet."""
    rows = []
    for report in reports:
        if (report["run_id"], report["stage"]) in have:
            continue
        for r in report["results"]:
            rows.append(
                [report["run_id"], report["stage"], *(r[name] for name, _, _ in COLUMNS[2:])]
            )
    return rows


#: the table as each warehouse names it (PostgreSQL: schema public, like the gold tables)
DUCKDB_TABLE, POSTGRES_TABLE = TABLE, f"public.{TABLE}"


def _missing_rows(lake: Path, have: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    synced = {(str(r[0]), str(r[1])) for r in have}
    return report_rows(read_reports(lake, exclude=synced), synced)


def _ddl(table: str) -> str:
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type, _ in COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS {table} ({columns})"


def _insert(table: str, placeholder: str) -> str:
    values = ", ".join(f"CAST({placeholder} AS {sql_type})" for _, sql_type, _ in COLUMNS)
    return f"INSERT INTO {table} SELECT {values}"


def _comments(table: str) -> list[str]:
    statements = [f"COMMENT ON TABLE {table} IS {quote_literal(COMMENT)}"]
    statements += [f"COMMENT ON COLUMN {table}.{n} IS {quote_literal(c)}" for n, _, c in COLUMNS]
    return statements


def _select(table: str, run_id: str | None, placeholder: str) -> str:
    where = f" WHERE run_id = {placeholder}" if run_id else ""
    return f"SELECT * FROM {table}{where} ORDER BY checked_at DESC, check_name, table_name"


def sync_quality(settings: Settings) -> int:
    """Insert the lake's kept reports the warehouse lacks into ``quality_results``; returns the
    rows inserted."""
    if latest_report(settings.lake) is None:
        return 0
    if settings.warehouse_kind == "duckdb":
        return _sync_duckdb(settings.duckdb_warehouse_path, settings.lake)
    return _sync_postgres(settings.warehouse, settings.lake)


def _sync_duckdb(path: Path, lake: Path) -> int:
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with duckdb.connect(str(path)) as con:
            con.execute("BEGIN")
            inserted = insert_missing_duckdb(con, lake)
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
    except duckdb.Error as error:
        raise WarehouseError(f"recording quality results in {path} failed: {error}") from error
    return inserted


def insert_missing_duckdb(con: duckdb.DuckDBPyConnection, lake: Path) -> int:
    """Insert into ``quality_results`` of an open DuckDB file the kept reports it lacks.

    The DuckDB warehouse calls this on the new file of a load, before the swap; the caller owns
    the transaction.
    """
    con.execute(_ddl(DUCKDB_TABLE))
    have = con.execute(f"SELECT DISTINCT run_id, stage FROM {DUCKDB_TABLE}").fetchall()
    rows = _missing_rows(lake, have)
    if rows:
        con.executemany(_insert(DUCKDB_TABLE, "?"), rows)
    for statement in _comments(DUCKDB_TABLE):
        con.execute(statement)
    return len(rows)


def _sync_postgres(dsn: str, lake: Path) -> int:
    import psycopg

    def run(con: psycopg.Connection[Any], statement: str, *params: Any) -> psycopg.Cursor[Any]:
        return con.execute(statement.encode(), params or None)

    try:
        with psycopg.connect(dsn, connect_timeout=10) as con, con.transaction():
            run(con, _ddl(POSTGRES_TABLE))
            have = run(con, f"SELECT DISTINCT run_id, stage FROM {POSTGRES_TABLE}").fetchall()
            rows = _missing_rows(lake, have)
            if rows:
                with con.cursor() as cursor:
                    cursor.executemany(_insert(POSTGRES_TABLE, "%s").encode(), rows)
            for statement in _comments(POSTGRES_TABLE):
                run(con, statement)
    except psycopg.Error as error:
        raise WarehouseError(
            f"recording quality results in {mask_dsn(dsn)} failed: {error}"
        ) from error
    return len(rows)


def read_quality(settings: Settings, run_id: str | None = None) -> list[dict[str, Any]]:
    """Rows of ``quality_results`` (of one run, if given), newest first; [] when there is none."""
    params = [run_id] if run_id else []
    if settings.warehouse_kind == "duckdb":
        import duckdb

        path = settings.duckdb_warehouse_path
        if not path.exists():
            return []
        with duckdb.connect(str(path), read_only=True) as con:
            found = con.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = ?", [TABLE])
            if not found.fetchone():
                return []
            cursor = con.execute(_select(DUCKDB_TABLE, run_id, "?"), params)
            names = [d[0] for d in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(settings.warehouse, connect_timeout=10, row_factory=dict_row) as con:
        exists = con.execute("SELECT to_regclass(%s) AS t", [POSTGRES_TABLE]).fetchone()
        if not exists or exists["t"] is None:
            return []
        return list(con.execute(_select(POSTGRES_TABLE, run_id, "%s").encode(), params))
