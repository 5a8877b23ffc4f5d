"""The star schema beside the gold tables: ``dim_date``, ``dim_security``, ``dim_account``, two
facts at silver grain and the daily ``fact_debt_limit``, written once (DuckDB dialect) and used by
every warehouse.

Each star table is a SELECT over the silver tables (``silver_public_debt_transactions``,
``silver_operating_cash_balance``, ``silver_debt_subject_to_limit``) and ``calendar_days`` (the
rows of :func:`calendar_days`, made in Python from :mod:`treasury_lakehouse.calendar`).
``fact_debt_limit`` runs the ``gold_daily_debt_limit`` model itself, so its figures are gold's.
The embedded DuckDB warehouse runs these SELECTs inside its new file (:func:`create_star`); the
PostgreSQL warehouse runs them in DuckDB over the lake's Parquet and copies the result (so both
warehouses hold the same rows).

Surrogate keys are derived from the natural key (the top 60 bits of its MD5), so a security or an
account keeps its key across loads and incremental loads only rewrite the rows that changed;
``date_key`` is the ``YYYYMMDD`` integer BI tools expect. Facts carry values, not lineage (that is
in silver), so re-ingesting unchanged records rewrites silver rows but no fact rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from treasury_lakehouse.calendar import (
    calendar_quarter,
    dts_holidays,
    federal_holidays,
    fiscal_quarter,
    fiscal_year,
)
from treasury_lakehouse.catalog import OPERATING_CASH_BALANCE, TGA_ACCOUNTS, Era
from treasury_lakehouse.models.registry import GOLD, Column
from treasury_lakehouse.warehouse.base import WarehouseTable

PDT = "silver_public_debt_transactions"
OCB = "silver_operating_cash_balance"
DSL = "silver_debt_subject_to_limit"
CALENDAR = "calendar_days"
OUTSIDE_ERAS = "outside_known_layouts"


@dataclass(frozen=True)
class ForeignKey:
    column: str
    table: str
    ref_column: str


@dataclass(frozen=True)
class StarTable:
    """One star table: its documented columns, keys, indexes and the SELECT that fills it."""

    name: str
    comment: str
    sources: tuple[str, ...]
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    sql: str
    foreign_keys: tuple[ForeignKey, ...] = ()
    #: secondary indexes for what BI tools ask (date ranges, securities, accounts)
    indexes: tuple[tuple[str, ...], ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()

    def warehouse_table(self, silver: dict[str, WarehouseTable]) -> WarehouseTable:
        """This table as a :class:`WarehouseTable` whose build info joins its sources'."""
        inputs = [silver[s] for s in self.sources if s in silver]
        batches = sorted({b for t in inputs for b in t.build.get("bronze_batches", [])})
        version = "+".join(str(t.build.get("version", "")) for t in inputs)
        return WarehouseTable(
            name=self.name,
            comment=self.comment,
            columns=self.columns,
            primary_key=self.primary_key,
            build={"version": version, "bronze_batches": batches, "star": True},
        )


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def date_key_sql(column: str) -> str:
    """``YYYYMMDD`` as an integer, in SQL both DuckDB and PostgreSQL run."""
    c = _q(column)
    return (
        f"CAST(EXTRACT(YEAR FROM {c}) * 10000 + EXTRACT(MONTH FROM {c}) * 100 "
        f"+ EXTRACT(DAY FROM {c}) AS INTEGER)"
    )


def _hash_key_sql(*parts: str) -> str:
    """A stable positive BIGINT from text expressions (NULL parts are kept distinct from '')."""
    text = " || '|' || ".join(f"COALESCE({p}, '<null>')" for p in parts)
    return f"CAST(md5_number({text}) >> 68 AS BIGINT)"


SECURITY_KEY_SQL = _hash_key_sql(
    _q("security_market"), _q("security_type"), _q("security_type_desc")
)
ACCOUNT_KEY_SQL = _hash_key_sql(_q("account_type"), _q("era_name"))


def _era_values(eras: tuple[Era, ...]) -> str:
    rows = []
    for era in eras:
        last = f"DATE {_lit(era.last_date)}" if era.last_date else "CAST(NULL AS DATE)"
        rows.append(
            f"({_lit(era.name)}, DATE {_lit(era.first_date)}, {last}, {_lit(era.description)})"
        )
    rows.append(
        f"({_lit(OUTSIDE_ERAS)}, CAST(NULL AS DATE), CAST(NULL AS DATE), "
        "'record date outside every known layout of the table')"
    )
    return ",\n    ".join(rows)


def _era_membership(eras: tuple[Era, ...]) -> str:
    pairs = [f"({_lit(e.name)}, {_lit(row)})" for e in eras for row in e.row_names]
    return ",\n    ".join(pairs)


_ERAS_CTE = f"""eras (era_name, era_first_date, era_last_date, era_description) AS (
  VALUES
    {_era_values(OPERATING_CASH_BALANCE.eras)}
),
era_rows (era_name, account_type) AS (
  VALUES
    {_era_membership(OPERATING_CASH_BALANCE.eras)}
),
dated_accounts AS (
  SELECT c.*, COALESCE(e.era_name, {_lit(OUTSIDE_ERAS)}) AS era_name
  FROM {OCB} AS c
  LEFT JOIN eras AS e
    ON c.record_date >= e.era_first_date
    AND (e.era_last_date IS NULL OR c.record_date <= e.era_last_date)
)"""

_TGA_LIST = ", ".join(_lit(a) for a in TGA_ACCOUNTS)

DIM_DATE_SQL = f"SELECT * FROM {CALENDAR}"

DIM_SECURITY_SQL = f"""SELECT DISTINCT
  {SECURITY_KEY_SQL} AS security_key,
  security_market,
  security_type,
  security_type_desc,
  security_market = 'Marketable' AS is_marketable
FROM {PDT}"""

DIM_ACCOUNT_SQL = f"""WITH {_ERAS_CTE},
accounts AS (SELECT DISTINCT account_type, era_name FROM dated_accounts)
SELECT
  {ACCOUNT_KEY_SQL} AS account_key,
  account_type,
  era_name,
  e.era_first_date,
  e.era_last_date,
  e.era_description,
  EXISTS (SELECT 1 FROM era_rows AS r
          WHERE r.era_name = a.era_name AND r.account_type = a.account_type) AS is_era_layout_row,
  account_type IN ({_TGA_LIST}) AS is_tga_row
FROM accounts AS a
JOIN eras AS e USING (era_name)"""

FACT_PDT_SQL = f"""SELECT
  {date_key_sql("record_date")} AS date_key,
  {SECURITY_KEY_SQL} AS security_key,
  transaction_type,
  record_date,
  transaction_today_amt,
  transaction_mtd_amt,
  transaction_fytd_amt
FROM {PDT}"""

FACT_OCB_SQL = f"""WITH {_ERAS_CTE}
SELECT
  {date_key_sql("record_date")} AS date_key,
  {ACCOUNT_KEY_SQL} AS account_key,
  record_date,
  open_today_bal,
  close_today_bal,
  open_month_bal,
  open_fiscal_year_bal
FROM dated_accounts"""

#: the gold model whose rows fact_debt_limit holds, keyed by date
DEBT_LIMIT = GOLD["gold_daily_debt_limit"]

FACT_DEBT_LIMIT_SQL = f"""SELECT
  {date_key_sql("record_date")} AS date_key,
  model.*
FROM (
{DEBT_LIMIT.sql}) AS model"""

MIL = "millions of USD, exact"
_DATE_KEY = Column("date_key", "INTEGER", "calendar date as YYYYMMDD; joins dim_date")
_RECORD_DATE = Column("record_date", "DATE", "Daily Treasury Statement record date")

DIM_DATE = StarTable(
    name="dim_date",
    comment="Every calendar day from the first to the last record date in the warehouse, with "
    "the federal fiscal calendar (fiscal year starts October 1) and Treasury business days",
    sources=(PDT, OCB, DSL),
    columns=(
        _DATE_KEY,
        Column("calendar_date", "DATE", "the calendar day"),
        Column("calendar_year", "INTEGER", "calendar year"),
        Column("calendar_quarter", "INTEGER", "calendar quarter, 1-4"),
        Column("calendar_month", "INTEGER", "calendar month, 1-12"),
        Column("month_name", "VARCHAR", "English month name, e.g. January"),
        Column("day_of_month", "INTEGER", "day of the month, 1-31"),
        Column("iso_day_of_week", "INTEGER", "ISO day of week: 1 = Monday ... 7 = Sunday"),
        Column("day_name", "VARCHAR", "English day name, e.g. Monday"),
        Column("is_weekend", "BOOLEAN", "Saturday or Sunday"),
        Column("fiscal_year", "INTEGER", "federal fiscal year (starts October 1 of year - 1)"),
        Column("fiscal_quarter", "INTEGER", "federal fiscal quarter: Oct-Dec 1 ... Jul-Sep 4"),
        Column(
            "is_business_day",
            "BOOLEAN",
            "a Daily Treasury Statement is published for this day (weekday, not a holiday of "
            "the Federal Reserve calendar)",
        ),
        Column(
            "federal_holiday_name",
            "VARCHAR",
            "US federal holiday observed this day (OPM rule), suffixed (observed) when moved; "
            "NULL otherwise",
        ),
        Column("is_federal_holiday", "BOOLEAN", "a US federal holiday is observed this day"),
    ),
    primary_key=("date_key",),
    unique=(("calendar_date",),),
    indexes=(("fiscal_year", "fiscal_quarter"),),
    sql=DIM_DATE_SQL,
)

DIM_SECURITY = StarTable(
    name="dim_security",
    comment="Securities of DTS Table III-A: market, type and description (one row each)",
    sources=(PDT,),
    columns=(
        Column("security_key", "BIGINT", "surrogate key, stable across loads (hash of the rest)"),
        Column("security_market", "VARCHAR", "Marketable or Nonmarketable"),
        Column("security_type", "VARCHAR", "security type, e.g. Bills, Notes, Bonds"),
        Column("security_type_desc", "VARCHAR", "security type description; may be NULL"),
        Column("is_marketable", "BOOLEAN", "security_market = 'Marketable'"),
    ),
    primary_key=("security_key",),
    indexes=(("security_market", "security_type"),),
    sql=DIM_SECURITY_SQL,
)

DIM_ACCOUNT = StarTable(
    name="dim_account",
    comment="Cash-balance accounts of DTS Table I, one row per account type and table-layout era",
    sources=(OCB,),
    columns=(
        Column("account_key", "BIGINT", "surrogate key, stable across loads (hash of the rest)"),
        Column("account_type", "VARCHAR", "account type as the statement names it"),
        Column("era_name", "VARCHAR", "layout era of Table I the rows are dated in"),
        Column("era_first_date", "DATE", "first record date of that layout"),
        Column("era_last_date", "DATE", "last record date of that layout; NULL if current"),
        Column("era_description", "VARCHAR", "how that layout reports the account"),
        Column("is_era_layout_row", "BOOLEAN", "the account is one of the era's documented rows"),
        Column("is_tga_row", "BOOLEAN", "the row carries the Treasury General Account balance"),
    ),
    primary_key=("account_key",),
    unique=(("account_type", "era_name"),),
    sql=DIM_ACCOUNT_SQL,
)

FACT_PUBLIC_DEBT_TRANSACTIONS = StarTable(
    name="fact_public_debt_transactions",
    comment="Public debt issues and redemptions per day and security (DTS Table III-A), "
    "silver grain",
    sources=(PDT,),
    columns=(
        _DATE_KEY,
        Column("security_key", "BIGINT", "the security; joins dim_security"),
        Column("transaction_type", "VARCHAR", "Issues or Redemptions"),
        _RECORD_DATE,
        Column("transaction_today_amt", "BIGINT", f"amount that day ({MIL})"),
        Column("transaction_mtd_amt", "BIGINT", f"month-to-date amount ({MIL})"),
        Column("transaction_fytd_amt", "BIGINT", f"fiscal-year-to-date amount ({MIL})"),
    ),
    primary_key=("date_key", "security_key", "transaction_type"),
    foreign_keys=(
        ForeignKey("date_key", "dim_date", "date_key"),
        ForeignKey("security_key", "dim_security", "security_key"),
    ),
    indexes=(("record_date",), ("security_key", "date_key")),
    sql=FACT_PDT_SQL,
)

FACT_OPERATING_CASH_BALANCE = StarTable(
    name="fact_operating_cash_balance",
    comment="Operating cash balances per day and account (DTS Table I), silver grain",
    sources=(OCB,),
    columns=(
        _DATE_KEY,
        Column("account_key", "BIGINT", "the account and its layout era; joins dim_account"),
        _RECORD_DATE,
        Column("open_today_bal", "BIGINT", f"opening balance that day ({MIL})"),
        Column(
            "close_today_bal",
            "BIGINT",
            f"closing balance that day ({MIL}); NULL from "
            "2022-04-18, when closing became its own row",
        ),
        Column("open_month_bal", "BIGINT", f"opening balance of the month ({MIL})"),
        Column("open_fiscal_year_bal", "BIGINT", f"opening balance of the fiscal year ({MIL})"),
    ),
    primary_key=("date_key", "account_key"),
    foreign_keys=(
        ForeignKey("date_key", "dim_date", "date_key"),
        ForeignKey("account_key", "dim_account", "account_key"),
    ),
    indexes=(("record_date",), ("account_key", "date_key")),
    sql=FACT_OCB_SQL,
)

FACT_DEBT_LIMIT = StarTable(
    name="fact_debt_limit",
    comment="Debt subject to the statutory limit, the limit, headroom and the TGA closing "
    "balance per day (DTS Table III-C and Table I); the rows of gold_daily_debt_limit",
    sources=DEBT_LIMIT.sources,
    columns=(_DATE_KEY, *DEBT_LIMIT.columns),
    primary_key=("date_key",),
    foreign_keys=(ForeignKey("date_key", "dim_date", "date_key"),),
    unique=(("record_date",),),
    sql=FACT_DEBT_LIMIT_SQL,
)

#: in dependency order: dimensions before the facts that reference them
STAR_TABLES: tuple[StarTable, ...] = (
    DIM_DATE,
    DIM_SECURITY,
    DIM_ACCOUNT,
    FACT_PUBLIC_DEBT_TRANSACTIONS,
    FACT_OPERATING_CASH_BALANCE,
    FACT_DEBT_LIMIT,
)
STAR: dict[str, StarTable] = {t.name: t for t in STAR_TABLES}


def star_tables_for(available: set[str]) -> list[StarTable]:
    """The star tables whose silver sources are all available (dim_date needs any one)."""
    chosen = []
    for table in STAR_TABLES:
        needed = set(table.sources)
        if (table is DIM_DATE and needed & available) or needed <= available:
            chosen.append(table)
    return chosen


_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def calendar_row(day: date) -> dict[str, Any]:
    """One ``dim_date`` row (pure)."""
    holiday = federal_holidays(day.year).get(day)
    is_business = day.weekday() < 5 and day not in dts_holidays(day.year)
    return {
        "date_key": day.year * 10000 + day.month * 100 + day.day,
        "calendar_date": day,
        "calendar_year": day.year,
        "calendar_quarter": calendar_quarter(day),
        "calendar_month": day.month,
        "month_name": _MONTHS[day.month - 1],
        "day_of_month": day.day,
        "iso_day_of_week": day.isoweekday(),
        "day_name": _DAYS[day.weekday()],
        "is_weekend": day.weekday() >= 5,
        "fiscal_year": fiscal_year(day),
        "fiscal_quarter": fiscal_quarter(day),
        "is_business_day": is_business,
        "federal_holiday_name": holiday,
        "is_federal_holiday": holiday is not None,
    }


_ARROW_TYPES = {"INTEGER": pa.int32(), "DATE": pa.date32(), "VARCHAR": pa.string(),
                "BOOLEAN": pa.bool_()}  # fmt: skip


def calendar_days(first: date | None, last: date | None) -> pa.Table:
    """Every day from ``first`` to ``last`` (both included) as ``dim_date`` rows."""
    rows = []
    day = first
    while day is not None and last is not None and day <= last:
        rows.append(calendar_row(day))
        day += timedelta(days=1)
    schema = pa.schema([(c.name, _ARROW_TYPES[c.sql_type]) for c in DIM_DATE.columns])
    return pa.Table.from_pylist(rows, schema=schema)


def record_date_range_sql(available: set[str]) -> str:
    """A SELECT of the first and last record date over the available silver tables."""
    parts = [f"SELECT record_date FROM {name}" for name in (PDT, OCB, DSL) if name in available]
    union = " UNION ALL ".join(parts) or "SELECT CAST(NULL AS DATE) AS record_date"
    return f"SELECT MIN(record_date), MAX(record_date) FROM ({union}) AS dates"


def calendar_for(con: duckdb.DuckDBPyConnection, available: set[str]) -> pa.Table:
    """``dim_date`` rows spanning the record dates of the silver relations ``con`` can see."""
    first, last = con.execute(record_date_range_sql(available)).fetchall()[0]
    return calendar_days(first, last)


def duckdb_create_sql(table: StarTable) -> str:
    """CREATE TABLE of a star table in DuckDB, with its primary, unique and foreign keys."""
    parts = [f"{_q(c.name)} {c.sql_type}" for c in table.columns]
    parts.append(f"PRIMARY KEY ({', '.join(_q(c) for c in table.primary_key)})")
    parts += [f"UNIQUE ({', '.join(_q(c) for c in u)})" for u in table.unique]
    parts += [
        f"FOREIGN KEY ({_q(fk.column)}) REFERENCES {_q(fk.table)} ({_q(fk.ref_column)})"
        for fk in table.foreign_keys
    ]
    return f"CREATE TABLE {_q(table.name)} (\n  " + ",\n  ".join(parts) + "\n)"


def sql_over_rows(table: StarTable, where: dict[str, str]) -> str:
    """``table.sql`` reading only the rows of its silver sources that meet ``where`` (source →
    condition): the star rows those silver rows give (facts are one row per silver row)."""
    sql = table.sql
    for source, condition in where.items():
        sql = re.sub(rf"\bFROM {source}\b", f"FROM (SELECT * FROM {source} WHERE {condition})", sql)
    return sql


def duckdb_define_sql(table: StarTable) -> list[str]:
    """CREATE TABLE and COMMENT statements of a star table in DuckDB (no rows)."""
    statements = [
        duckdb_create_sql(table),
        f"COMMENT ON TABLE {_q(table.name)} IS {_lit(table.comment)}",
    ]
    statements += [
        f"COMMENT ON COLUMN {_q(table.name)}.{_q(column.name)} IS {_lit(column.description)}"
        for column in table.columns
    ]
    return statements


def create_star(con: duckdb.DuckDBPyConnection, available: set[str]) -> dict[str, int]:
    """Build the star tables inside a DuckDB database that already holds the silver tables.

    Returns the row count of each star table built. Secondary indexes are left out: DuckDB
    answers range scans from its zone maps, and ART indexes would only slow the load.
    """
    counts: dict[str, int] = {}
    con.register(CALENDAR, calendar_for(con, available))
    try:
        for table in star_tables_for(available):
            for statement in duckdb_define_sql(table):
                con.execute(statement)
            names = ", ".join(_q(c.name) for c in table.columns)
            con.execute(f"INSERT INTO {_q(table.name)} ({names}) SELECT {names} FROM ({table.sql})")
            rows = con.execute(f"SELECT COUNT(*) FROM {_q(table.name)}").fetchall()
            counts[table.name] = int(rows[0][0])
    finally:
        con.unregister(CALENDAR)
    return counts
