"""What the warehouse last published, and the plan of a load against it.

``treasury_load.published_tables`` holds each table's definition hash, checksum and lake version;
``treasury_load.published_slices`` its per-slice row counts and checksums. A plan compares them
with the lake (:class:`~treasury_lakehouse.warehouse.lake_snapshot.LakeSnapshot`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
from psycopg import sql

from treasury_lakehouse.warehouse import pg_ddl
from treasury_lakehouse.warehouse.base import WarehouseTable
from treasury_lakehouse.warehouse.lake_snapshot import LakeSnapshot, SliceStats, table_checksum
from treasury_lakehouse.warehouse.pg_ddl import LOAD_STATE, PUBLIC
from treasury_lakehouse.warehouse.pg_ddl import ident as _ident
from treasury_lakehouse.warehouse.star import star_tables_for

#: create: swapped in (new table or new definition); full: every row rewritten in place;
#: incremental: only changed slices rewritten; unchanged: nothing to do
Mode = Literal["create", "full", "incremental", "unchanged"]


@dataclass
class TablePlan:
    """What a load does to one table, decided from the lake's and the published slices."""

    table: WarehouseTable
    lake: dict[int, SliceStats]
    mode: Mode
    definition: str
    checksum: str
    #: slices to rewrite (incremental) — includes slices no longer in the lake
    slices: list[int] = field(default_factory=list)
    #: rows of the published slices that ``lake`` does not hold (a plan made from the lake's
    #: changes reads only the slices that can have changed)
    rows_elsewhere: int = 0

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def rows(self) -> int:
        return self.rows_elsewhere + sum(s.rows for s in self.lake.values())

    @property
    def rows_written(self) -> int:
        if self.mode in ("create", "full"):
            return self.rows
        return sum(self.lake[s].rows for s in self.slices if s in self.lake)


def published_from_same_lake(
    con: psycopg.Connection[Any], tables: list[WarehouseTable]
) -> dict[str, int] | None:
    """Rows per table if every table was last published from these very lake versions.

    The fast way to skip a load of an unchanged lake: no Parquet is read. Returns None when
    any table is new, redefined, dropped, or comes from another lake version.
    """
    lake = {t.name: t for t in tables}
    wanted = [*tables, *(s.warehouse_table(lake) for s in star_tables_for(set(lake)))]
    published = {
        r[0]: (r[1], r[2])
        for r in con.execute(
            sql.SQL(
                "SELECT s.table_name, s.definition_hash, s.lake_version FROM {} AS s "
                "JOIN pg_tables AS t ON t.tablename = s.table_name AND t.schemaname = %s"
            ).format(_ident(LOAD_STATE, "published_tables")),
            (PUBLIC,),
        ).fetchall()
    }
    for table in wanted:
        version = str(table.build.get("version", ""))
        expected = (pg_ddl.definition_hash(table), version)
        if not version or not tables or published.get(table.name) != expected:
            return None
    rows = con.execute(
        sql.SQL("SELECT table_name, SUM(row_count) FROM {} GROUP BY 1").format(
            _ident(LOAD_STATE, "published_slices")
        )
    ).fetchall()
    counts = {r[0]: int(r[1]) for r in rows}
    return {t.name: counts.get(t.name, 0) for t in wanted}


def plan_tables(
    con: psycopg.Connection[Any], snapshot: LakeSnapshot, full_reload_ratio: float
) -> list[TablePlan]:
    """One plan per table of the snapshot: create, full, incremental or unchanged."""
    published = {
        r[0]: (r[1], r[2])
        for r in con.execute(
            sql.SQL("SELECT table_name, definition_hash, checksum FROM {}").format(
                _ident(LOAD_STATE, "published_tables")
            )
        ).fetchall()
    }
    existing = {
        r[0]
        for r in con.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (PUBLIC,)
        ).fetchall()
    }
    plans = []
    for table in snapshot.tables:
        lake = snapshot.slice_stats(table)
        plan = TablePlan(table, lake, "create", pg_ddl.definition_hash(table), table_checksum(lake))
        prior = published.get(table.name)
        if prior and table.name in existing and prior[0] == plan.definition:
            plan.mode = "full"
            _diff(con, plan, prior[1], full_reload_ratio)
        plans.append(plan)
    return plans


def _diff(
    con: psycopg.Connection[Any], plan: TablePlan, checksum: str, full_reload_ratio: float
) -> None:
    """Decide unchanged, incremental or full from the published slices of the table."""
    if checksum == plan.checksum:
        plan.mode = "unchanged"
        return
    old = {
        int(r[0]): (int(r[1]), str(r[2]))
        for r in con.execute(
            sql.SQL("SELECT slice, row_count, checksum FROM {} WHERE table_name = %s").format(
                _ident(LOAD_STATE, "published_slices")
            ),
            (plan.name,),
        ).fetchall()
    }
    new = {s: (v.rows, v.checksum) for s, v in plan.lake.items()}
    changed = sorted(s for s in old.keys() | new.keys() if old.get(s) != new.get(s))
    cost = sum(new.get(s, (0, ""))[0] + old.get(s, (0, ""))[0] for s in changed)
    total = max(plan.rows + sum(v[0] for v in old.values()), 1)
    if cost <= full_reload_ratio * total:
        plan.mode, plan.slices = "incremental", changed


def record_load(
    con: psycopg.Connection[Any], plans: list[TablePlan], run_id: str, commit: int | None = None
) -> None:
    """Remember the published slices (an incremental table's rewritten ones; every slice of a
    created or rewritten one) and append this load (from lake ``commit``) to ``load_manifest``."""
    state_slices = _ident(LOAD_STATE, "published_slices")
    remember_versions(con, plans)
    with con.cursor() as cursor:
        for plan in plans:
            version = str(plan.table.build.get("version", ""))
            if plan.mode == "incremental":  # only the rewritten slices' records change
                cursor.execute(
                    sql.SQL("DELETE FROM {} WHERE table_name = %s AND slice = ANY(%s)").format(
                        state_slices
                    ),
                    (plan.name, plan.slices),
                )
                written = {s: plan.lake[s] for s in plan.slices if s in plan.lake}
            elif plan.mode != "unchanged":
                cursor.execute(
                    sql.SQL("DELETE FROM {} WHERE table_name = %s").format(state_slices),
                    (plan.name,),
                )
                written = plan.lake
            else:
                written = {}
            if written:  # COPY: a full load of a long history records ~500,000 slices
                with cursor.copy(sql.SQL("COPY {} FROM STDIN").format(state_slices)) as copy:
                    for slice_key, stats in written.items():
                        copy.write_row((plan.name, slice_key, stats.rows, stats.checksum))
            cursor.execute(
                sql.SQL(
                    "INSERT INTO {} (run_id, table_name, mode, row_count, rows_written, "
                    "checksum, lake_version, bronze_batches, lake_commit, loaded_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, now())"
                ).format(_ident(PUBLIC, "load_manifest")),
                (
                    run_id,
                    plan.name,
                    plan.mode,
                    plan.rows,
                    plan.rows_written,
                    plan.checksum,
                    version,
                    list(plan.table.build.get("bronze_batches", [])),
                    commit,
                ),
            )


def remember_versions(con: psycopg.Connection[Any], plans: list[TablePlan]) -> None:
    """Definition, checksum and lake version now published (equal content for unchanged)."""
    with con.cursor() as cursor:
        cursor.executemany(
            sql.SQL(
                "INSERT INTO {} VALUES (%s, %s, %s, %s) ON CONFLICT (table_name) "
                "DO UPDATE SET definition_hash = EXCLUDED.definition_hash, "
                "checksum = EXCLUDED.checksum, lake_version = EXCLUDED.lake_version"
            ).format(_ident(LOAD_STATE, "published_tables")),
            [
                (p.name, p.definition, p.checksum, str(p.table.build.get("version", "")))
                for p in plans
            ],
        )
