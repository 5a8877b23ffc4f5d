"""The warehouse's ``quality_results`` table: every check of every run, kept.

Reports are written to the lake first (``<lake>/_quality``, append-only); :func:`sync_quality`
then inserts into the warehouse those runs it does not have yet, in one small transaction of its
own that touches no published table. A run whose gate failed is recorded this way without
publishing anything; a sync that could not happen (warehouse busy) is caught up by the next one.
The DuckDB warehouse carries the table over when it is rebuilt (``CARRIED_OVER``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from treasury_lakehouse.config import mask_dsn
from treasury_lakehouse.errors import WarehouseError

if TYPE_CHECKING:
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


def _ddl() -> str:
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type, _ in COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS {TABLE} ({columns})"


def _insert(placeholder: str) -> str:
    values = ", ".join(f"CAST({placeholder} AS {sql_type})" for _, sql_type, _ in COLUMNS)
    return f"INSERT INTO {TABLE} SELECT {values}"


def _comments() -> list[str]:
    def lit(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    statements = [f"COMMENT ON TABLE {TABLE} IS {lit(COMMENT)}"]
    statements += [f"COMMENT ON COLUMN {TABLE}.{n} IS {lit(c)}" for n, _, c in COLUMNS]
    return statements


def sync_quality(settings: Settings, reports: Sequence[dict[str, Any]]) -> int:
    """Insert the reports the warehouse lacks into ``quality_results``; returns rows inserted."""
    if not reports:
        return 0
    if settings.warehouse_kind == "duckdb":
        return _sync_duckdb(settings.duckdb_warehouse_path, reports)
    return _sync_postgres(settings.warehouse, reports)


def _sync_duckdb(path: Path, reports: Sequence[dict[str, Any]]) -> int:
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with duckdb.connect(str(path)) as con:
            con.execute("BEGIN")
            con.execute(_ddl())
            have = {
                (r[0], r[1]) for r in con.execute(f"SELECT run_id, stage FROM {TABLE}").fetchall()
            }
            rows = report_rows(reports, have)
            if rows:
                con.executemany(_insert("?"), rows)
            for statement in _comments():
                con.execute(statement)
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
    except duckdb.Error as error:
        raise WarehouseError(f"recording quality results in {path} failed: {error}") from error
    return len(rows)


def _sync_postgres(dsn: str, reports: Sequence[dict[str, Any]]) -> int:
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=10) as con, con.transaction():
            con.execute(_ddl())
            have = {(r[0], r[1]) for r in con.execute(f"SELECT run_id, stage FROM {TABLE}")}
            rows = report_rows(reports, have)
            if rows:
                with con.cursor() as cursor:
                    cursor.executemany(_insert("%s"), rows)
            for statement in _comments():
                con.execute(statement)  # type: ignore[arg-type]
    except psycopg.Error as error:
        raise WarehouseError(
            f"recording quality results in {mask_dsn(dsn)} failed: {error}"
        ) from error
    return len(rows)


def read_quality(settings: Settings, run_id: str | None = None) -> list[dict[str, Any]]:
    """Rows of ``quality_results`` (of one run, if given), newest first; [] when there is none."""
    where = " WHERE run_id = ?" if run_id else ""
    sql = f"SELECT * FROM {TABLE}{where} ORDER BY checked_at DESC, check_name, table_name"
    params = [run_id] if run_id else []
    if settings.warehouse_kind == "duckdb":
        import duckdb

        path = settings.duckdb_warehouse_path
        if not path.exists():
            return []
        with duckdb.connect(str(path), read_only=True) as con:
            if not con.execute(
                "SELECT 1 FROM duckdb_tables() WHERE table_name = ?", [TABLE]
            ).fetchone():
                return []
            cursor = con.execute(sql, params)
            names = [d[0] for d in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(settings.warehouse, connect_timeout=10, row_factory=dict_row) as con:
        if con.execute("SELECT to_regclass(%s) AS t", [TABLE]).fetchone() in (None, {"t": None}):
            return []
        return list(con.execute(sql.replace("?", "%s"), params))  # type: ignore[arg-type]
