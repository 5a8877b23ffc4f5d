"""The PostgreSQL warehouse: COPY into staging, audit against the lake, publish in one transaction.

Write-audit-publish, table by table:

1. **plan** — the lake's rows of each table are summarised per slice (a month of its date, a
   fiscal year, or the whole table): rows, sums of the amount columns and a checksum. Compared
   with what was last published (``treasury_load.published_slices``), a table is *unchanged*
   (nothing to do; when every table is, the load is skipped), *incremental* (only the changed
   slices are copied and rewritten), *full* (most slices changed: every row is rewritten) or
   *create* (the table is new to the database, or its definition changed). When the database's
   latest load published a lake commit from which the commit chain says what changed, only the
   slices that can differ are read and summarised (:mod:`.pg_incremental`); otherwise every row.
2. **write** — rows are streamed from the lake as Arrow batches and COPYed (binary, through the
   ADBC driver when installed and the table gets at least :data:`BINARY_COPY_MIN_ROWS` rows, else
   CSV on the load's connection) into tables of the ``treasury_staging`` schema; tables to create
   get their keys, indexes and comments there.
3. **audit** — the staged rows must have, per slice, the lake's row count and amount sums.
4. **publish** — one transaction moves created tables into ``public`` (``SET SCHEMA``), deletes
   and re-inserts the rows of full and incremental ones (an incremental one's changed months are
   found as date ranges through the date index, not by scanning the table), checks the totals of
   what it wrote against the lake once more (a created or fully rewritten table whole, an
   incremental one's rewritten slices: only this loader writes these tables, under its lock),
   grants ``treasury_reader`` SELECT, and records ``load_manifest``.

Readers see the old or the new version of every table, never a mix or an empty table. Rewrites
are plain DELETE and INSERT, so a reader is never blocked by a load and cannot deadlock with it
(dropping and swapping a table would take an exclusive lock, and a BI query reading several
tables could deadlock against it); only a changed table definition swaps a table. A crash at any
point leaves the published tables as they were (staging is rebuilt by the next load).

Credentials come only from the DSN or libpq's environment (``PGPASSWORD``, ``~/.pgpass``); every
message shows the DSN masked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from treasury_lakehouse.config import mask_dsn
from treasury_lakehouse.errors import WarehouseError
from treasury_lakehouse.lake.commit import LakeCommit
from treasury_lakehouse.warehouse import pg_ddl
from treasury_lakehouse.warehouse.base import LoadResult, WarehouseTable
from treasury_lakehouse.warehouse.changes import NotIncremental
from treasury_lakehouse.warehouse.lake_snapshot import (
    LakeSnapshot,
    SliceStats,
    amount_columns,
    slice_filter_sql,
    slice_sql,
)
from treasury_lakehouse.warehouse.pg_copy import (
    binary_copy_available,
    copy_batches,
    ingest_batches,
)
from treasury_lakehouse.warehouse.pg_ddl import PUBLIC, READER_ROLE, STAGING, column_list, ident
from treasury_lakehouse.warehouse.pg_incremental import plan_from_changes
from treasury_lakehouse.warehouse.pg_state import (
    TablePlan,
    plan_tables,
    published_from_same_lake,
    record_load,
    remember_versions,
)
from treasury_lakehouse.warehouse.star import STAR

log = logging.getLogger(__name__)

#: called as (event, table, rows): "copy" after each batch, "staged", "publishing" before commit
ProgressCallback = Callable[[str, str, int], None]
#: one load at a time per database (a session advisory lock, released if the loader dies)
LOAD_LOCK_KEY = 0x7EA5_0AD0_1A4E
CONNECT_TIMEOUT_S = 5
#: fewer rows than this (a daily incremental load's) are copied on the load's own connection
BINARY_COPY_MIN_ROWS = 50_000
#: tables of run history written beside the published ones; a load never drops or rewrites them
HISTORY_TABLES = ("load_manifest", "quality_results")


class PostgresWarehouse:
    """A PostgreSQL database as the warehouse (``postgresql://user@host:port/db``)."""

    kind = "postgresql"

    def __init__(
        self,
        dsn: str,
        *,
        rows_per_batch: int = 100_000,
        full_reload_ratio: float = 1.0,
        on_progress: ProgressCallback | None = None,
        plan_from_changes: bool = True,
    ) -> None:
        self.dsn = dsn
        #: plan from the lake commit's changes when the database's latest load allows it
        self.plan_from_changes = plan_from_changes
        self.masked = mask_dsn(dsn)
        self.rows_per_batch = rows_per_batch
        self.full_reload_ratio = full_reload_ratio
        self.on_progress = on_progress
        #: binary COPY through the ADBC driver when installed, else CSV COPY through psycopg
        self.binary_copy = binary_copy_available()
        try:
            self._params = conninfo_to_dict(dsn)
        except psycopg.Error:
            raise WarehouseError(f"{self.masked} is not a valid PostgreSQL DSN") from None

    # ------------------------------------------------------------------ connection and errors

    def _one_line(self, error: BaseException) -> str:
        """The first line of an error, with the password (if any) and the DSN masked."""
        text = (str(error).strip().splitlines() or [type(error).__name__])[0]
        password = self._params.get("password")
        if password:
            text = text.replace(str(password), "***")
        return mask_dsn(text)

    def connect(self) -> psycopg.Connection[Any]:
        """An autocommit connection, failing within seconds with one clear line."""
        options: dict[str, Any] = {"autocommit": True, "application_name": "treasury-lakehouse"}
        if "connect_timeout" not in self._params:
            options["connect_timeout"] = CONNECT_TIMEOUT_S
        try:
            return psycopg.connect(self.dsn, **options)
        except psycopg.Error as error:
            raise WarehouseError(
                f"cannot connect to the PostgreSQL warehouse {self.masked}: "
                f"{self._one_line(error)}; check host, port, database and credentials "
                "(DSN or PGPASSWORD)"
            ) from None

    def _progress(self, event: str, table: str, rows: int) -> None:
        if self.on_progress is not None:
            self.on_progress(event, table, rows)

    # ------------------------------------------------------------------ the protocol

    def publish(
        self, tables: list[WarehouseTable], run_id: str, commit: LakeCommit | None = None
    ) -> LoadResult:
        """Write, audit and publish ``tables`` (and the star schema built from them); ``commit``
        is the lake commit they come from, recorded in ``load_manifest``."""
        started, seq = time.monotonic(), None if commit is None else commit.seq
        from_changes = False
        try:
            with self.connect() as con, self._load_lock(con):
                self._prepare(con)
                counts = published_from_same_lake(con, tables)
                skipped = counts is not None
                if counts is None:
                    snapshot, plans, from_changes = self._plan(con, tables, commit)
                    try:
                        counts, skipped = self._write_audit_publish(
                            con, snapshot, plans, run_id, seq
                        )
                    finally:
                        snapshot.close()
        except psycopg.Error as error:
            raise WarehouseError(
                f"loading the PostgreSQL warehouse {self.masked} failed, the published tables "
                f"are unchanged: {self._one_line(error)}"
            ) from None
        return LoadResult(
            self.masked, counts, time.monotonic() - started, skipped, incremental=from_changes
        )

    def _plan(
        self, con: psycopg.Connection[Any], tables: list[WarehouseTable], commit: LakeCommit | None
    ) -> tuple[LakeSnapshot, list[TablePlan], bool]:
        """The lake side of the load, its plan, and whether that was made from what the lake
        says changed since the database's latest load (:mod:`.pg_incremental`), not from every
        row of the lake."""
        if commit is not None and self.plan_from_changes:
            try:
                return (*plan_from_changes(con, tables, commit, self.full_reload_ratio), True)
            except NotIncremental as reason:
                log.info("PostgreSQL load planned from every row of the lake: %s", reason)
        snapshot = LakeSnapshot(tables)
        try:
            return snapshot, plan_tables(con, snapshot, self.full_reload_ratio), False
        except BaseException:
            snapshot.close()
            raise

    def _write_audit_publish(
        self,
        con: psycopg.Connection[Any],
        snapshot: LakeSnapshot,
        plans: list[TablePlan],
        run_id: str,
        commit: int | None,
    ) -> tuple[dict[str, int], bool]:
        """Rows per table after the load, and whether it was skipped (every table unchanged)."""
        counts = {p.name: p.rows for p in plans}
        if all(p.mode == "unchanged" for p in plans):
            remember_versions(con, plans)
            return counts, True
        self._stage(con, snapshot, plans)
        self._publish(con, plans, run_id, commit)
        self._finish(con, plans)
        return counts, False

    def table_rows(self, name: str) -> list[tuple[Any, ...]]:
        """Every row of a published table, ordered by its columns (key first)."""
        with self.connect() as con:
            columns = self._public_columns(con, name)
            if not columns:
                raise WarehouseError(
                    f"no table {name!r} in the warehouse {self.masked}; run `treasury load` first"
                )
            order = sql.SQL(", ").join(sql.Literal(i + 1) for i in range(len(columns)))
            query = sql.SQL("SELECT * FROM {} ORDER BY {}").format(ident(PUBLIC, name), order)
            return con.execute(query).fetchall()

    def _public_columns(self, con: psycopg.Connection[Any], name: str) -> list[str]:
        rows = con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (PUBLIC, name),
        ).fetchall()
        return [r[0] for r in rows]

    # ------------------------------------------------------------------ preparing

    @contextmanager
    def _load_lock(self, con: psycopg.Connection[Any]) -> Iterator[None]:
        row = con.execute("SELECT pg_try_advisory_lock(%s)", (LOAD_LOCK_KEY,)).fetchone()
        if not row or not row[0]:
            raise WarehouseError(
                f"another treasury load is publishing into {self.masked}; wait for it to finish"
            )
        try:
            yield
        finally:
            if not con.closed and not con.broken:
                con.execute("SELECT pg_advisory_unlock(%s)", (LOAD_LOCK_KEY,))

    def _prepare(self, con: psycopg.Connection[Any]) -> None:
        """Bookkeeping tables, the reader role, and an empty staging schema."""
        for statement in [*pg_ddl.BOOKKEEPING, *pg_ddl.manifest_sql()]:
            con.execute(statement)
        self._ensure_reader_role(con)
        con.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(STAGING)))
        con.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(STAGING)))

    def _ensure_reader_role(self, con: psycopg.Connection[Any]) -> None:
        if con.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (READER_ROLE,)).fetchone():
            return
        try:
            con.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(READER_ROLE)))
        except psycopg.errors.DuplicateObject:
            pass  # created meanwhile by a concurrent load into another database
        except psycopg.errors.InsufficientPrivilege:
            raise WarehouseError(
                f"the read-only role {READER_ROLE} does not exist and the warehouse user may not "
                f"create roles; ask an administrator to run: CREATE ROLE {READER_ROLE} NOLOGIN"
            ) from None

    # ------------------------------------------------------------------ write and audit

    def _stage(
        self, con: psycopg.Connection[Any], snapshot: LakeSnapshot, plans: list[TablePlan]
    ) -> None:
        for plan in plans:
            if plan.mode == "unchanged":
                continue
            con.execute(pg_ddl.create_table(STAGING, plan.table))
            copied = self._copy(con, snapshot, plan)
            self._audit(con, STAGING, plan, self._expected_slices(plan))
            if plan.mode == "create":
                for statement in [
                    *pg_ddl.key_constraints(STAGING, plan.table),
                    *pg_ddl.comments(STAGING, plan.table),
                ]:
                    con.execute(statement)
                con.execute(sql.SQL("ANALYZE {}").format(ident(STAGING, plan.name)))
            self._progress("staged", plan.name, copied)

    def _copy(self, con: psycopg.Connection[Any], snapshot: LakeSnapshot, plan: TablePlan) -> int:
        """Stream the plan's rows from the lake into its staging table."""
        slices = plan.slices if plan.mode == "incremental" else None
        batches = snapshot.batches(plan.table, slices, self.rows_per_batch)
        progress = lambda rows: self._progress("copy", plan.name, rows)  # noqa: E731
        # binary COPY opens a connection of its own (30-50 ms): worth it for many rows only
        if self.binary_copy and plan.rows_written >= BINARY_COPY_MIN_ROWS:
            return ingest_batches(self.dsn, STAGING, plan.table, batches, progress)
        return copy_batches(
            con,
            ident(STAGING, plan.name),
            plan.table,
            batches,
            progress,
        )

    @staticmethod
    def _expected_slices(plan: TablePlan) -> dict[int, SliceStats]:
        if plan.mode != "incremental":
            return plan.lake
        return {s: plan.lake[s] for s in plan.slices if s in plan.lake}

    def _audit(
        self,
        con: psycopg.Connection[Any],
        schema: str,
        plan: TablePlan,
        expected: dict[int, SliceStats],
        only: list[int] | None = None,
    ) -> None:
        """Row counts and amount sums of ``schema.table`` per slice must equal the lake's (of
        the slices ``only``, when given: read through the date index, not the whole table)."""
        amounts = amount_columns(plan.table)
        sums = sql.SQL("").join(
            sql.SQL(", COALESCE(SUM({}), 0)").format(sql.Identifier(c)) for c in amounts
        )
        where = "true" if only is None else slice_filter_sql(plan.table, only)
        query = sql.SQL("SELECT {} AS slice, COUNT(*){} FROM {} WHERE {} GROUP BY 1").format(
            sql.SQL(slice_sql(plan.table)), sums, ident(schema, plan.name), sql.SQL(where)
        )
        found = {
            int(r[0]): (int(r[1]), tuple(Decimal(v) for v in r[2:]))
            for r in con.execute(query).fetchall()
        }
        wanted = {s: (v.rows, v.sums) for s, v in expected.items()}
        if found != wanted:
            differing = sorted(
                s for s in found.keys() | wanted.keys() if found.get(s) != wanted.get(s)
            )
            first = differing[0]
            raise WarehouseError(
                f"audit failed for {plan.name} in {schema} (slice {first}): the warehouse has "
                f"(rows, sums of {', '.join(amounts) or 'no amounts'}) = {found.get(first)}, the "
                f"lake {wanted.get(first)}; nothing was published",
                table=plan.name,
            )

    # ------------------------------------------------------------------ publish

    def _publish(
        self,
        con: psycopg.Connection[Any],
        plans: list[TablePlan],
        run_id: str,
        commit: int | None,
    ) -> None:
        """Swap full tables, rewrite changed slices, re-check, grant and record: one commit."""
        created = [p for p in plans if p.mode == "create"]
        with con.transaction():
            # only a changed definition drops a table readers may hold: do not wait forever
            con.execute("SET LOCAL lock_timeout = '60s'")
            self._drop_foreign_keys_into(con, [p.name for p in created])
            for plan in created:
                con.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident(PUBLIC, plan.name)))
                con.execute(
                    sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                        ident(STAGING, plan.name), sql.Identifier(PUBLIC)
                    )
                )
            for plan in plans:
                if plan.mode in ("full", "incremental"):
                    self._rewrite_rows(con, plan)
            self._ensure_foreign_keys(con, plans)
            for plan in plans:
                if plan.mode == "incremental":  # the slices rewritten; the rest is untouched
                    self._audit(con, PUBLIC, plan, self._expected_slices(plan), plan.slices)
                elif plan.mode != "unchanged":
                    self._audit(con, PUBLIC, plan, plan.lake)
            self._grant(con, plans)
            record_load(con, plans, run_id, commit)
            self._progress("publishing", "", sum(p.rows_written for p in plans))

    def _drop_foreign_keys_into(self, con: psycopg.Connection[Any], names: list[str]) -> None:
        """Our star foreign keys pointing at tables about to be swapped (re-added after)."""
        rows = con.execute(
            "SELECT src.relname, c.conname FROM pg_constraint AS c "
            "JOIN pg_class AS src ON src.oid = c.conrelid "
            "JOIN pg_class AS dst ON dst.oid = c.confrelid "
            "JOIN pg_namespace AS n ON n.oid = dst.relnamespace "
            "WHERE c.contype = 'f' AND n.nspname = %s AND dst.relname = ANY(%s)",
            (PUBLIC, names),
        ).fetchall()
        for source, constraint in rows:
            if source in STAR:
                con.execute(
                    sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                        ident(PUBLIC, source), sql.Identifier(constraint)
                    )
                )

    def _ensure_foreign_keys(self, con: psycopg.Connection[Any], plans: list[TablePlan]) -> None:
        present = {
            r[0]
            for r in con.execute(
                "SELECT c.conname FROM pg_constraint AS c JOIN pg_namespace AS n "
                "ON n.oid = c.connamespace WHERE c.contype = 'f' AND n.nspname = %s",
                (PUBLIC,),
            ).fetchall()
        }
        loaded = {p.name for p in plans}
        for plan in plans:
            star = STAR.get(plan.name)
            for fk in star.foreign_keys if star else ():
                if fk.table in loaded and pg_ddl.foreign_key_name(plan.name, fk) not in present:
                    con.execute(pg_ddl.add_foreign_key(plan.name, fk))

    def _rewrite_rows(self, con: psycopg.Connection[Any], plan: TablePlan) -> None:
        """Delete the changed slices (every row, for a full load) and insert the staged rows.

        Plain DML takes only row-level locks: readers are never blocked, never deadlock with
        the load, and (MVCC) see the old rows until the commit, then the new ones.
        """
        target = ident(PUBLIC, plan.name)
        if plan.mode == "full":
            con.execute(sql.SQL("DELETE FROM {}").format(target))
        else:
            # date ranges, not the slice expression: the date index finds the month's rows
            con.execute(
                sql.SQL("DELETE FROM {} WHERE {}").format(
                    target, sql.SQL(slice_filter_sql(plan.table, plan.slices))
                )
            )
        columns = column_list(plan.table)
        con.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
                target, columns, columns, ident(STAGING, plan.name)
            )
        )

    def _grant(self, con: psycopg.Connection[Any], plans: list[TablePlan]) -> None:
        """SELECT on every published table (and the history tables) for the reader role."""
        reader = sql.Identifier(READER_ROLE)
        con.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(PUBLIC), reader)
        )
        con.execute(
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
                sql.Identifier(PUBLIC), reader
            )
        )
        history = [
            name
            for name in HISTORY_TABLES
            if con.execute("SELECT to_regclass(%s)", (f"{PUBLIC}.{name}",)).fetchone() != (None,)
        ]
        for name in [*(p.name for p in plans), *history]:
            con.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(ident(PUBLIC, name), reader))

    def _finish(self, con: psycopg.Connection[Any], plans: list[TablePlan]) -> None:
        """Fresh planner statistics for what changed; an empty staging schema."""
        for plan in plans:
            # a created or rewritten table is vacuumed (its visibility map serves index-only
            # scans); an incremental one only analysed: VACUUM would read all its indexes for the
            # dead rows of one month (2.7 s for a 10M-row history), which autovacuum reclaims
            if plan.mode in ("create", "full"):
                con.execute(sql.SQL("VACUUM (ANALYZE) {}").format(ident(PUBLIC, plan.name)))
            elif plan.mode == "incremental":
                con.execute(sql.SQL("ANALYZE {}").format(ident(PUBLIC, plan.name)))
        con.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(STAGING)))
