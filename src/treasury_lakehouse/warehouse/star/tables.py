"""The star schema beside the gold tables: ``dim_date``, ``dim_security``, ``dim_account``, two
facts at silver grain and the daily ``fact_debt_limit``: their documented columns, keys and
indexes, and the SELECT (:mod:`.sql`) that fills each.

Each star table is a SELECT over the silver tables and ``calendar_days`` (the rows of
:func:`~.calendar_rows.calendar_days`). ``fact_debt_limit`` runs the ``gold_daily_debt_limit``
model itself, so its figures are gold's.
"""

from __future__ import annotations

from dataclasses import dataclass

from treasury_lakehouse.models.registry import Column
from treasury_lakehouse.warehouse.base import WarehouseTable
from treasury_lakehouse.warehouse.star.sql import (
    DEBT_LIMIT,
    DIM_ACCOUNT_SQL,
    DIM_DATE_SQL,
    DIM_SECURITY_SQL,
    DSL,
    FACT_DEBT_LIMIT_SQL,
    FACT_OCB_SQL,
    FACT_PDT_SQL,
    OCB,
    PDT,
    restrict_sources,
)


@dataclass(frozen=True)
class ForeignKey:
    column: str
    table: str
    ref_column: str


@dataclass(frozen=True)
class Index:
    """A secondary index (PostgreSQL) and what it serves: a question of docs/queries.sql or a
    constraint, kept in its comment. An index no question or constraint uses is not made."""

    columns: tuple[str, ...]
    serves: str


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
    #: secondary indexes, each with the question or constraint it serves (measured by
    #: bench/queries.py: docs/performance.md)
    indexes: tuple[Index, ...] = ()
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
    indexes=(
        Index(
            ("fiscal_year", "fiscal_quarter"),
            "docs/queries.sql top_securities_in_quarter and the _from_fact questions: the days "
            "of a fiscal year or quarter",
        ),
    ),
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
    indexes=(
        Index(("record_date",), "docs/queries.sql one_day_drilldown: the rows of one day"),
        Index(
            ("security_key", "date_key"),
            "the foreign key to dim_security: a dimension row deleted or re-keyed is checked "
            "against its fact rows without a scan",
        ),
    ),
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
    indexes=(
        Index(
            ("account_key", "date_key"),
            "the foreign key to dim_account: a dimension row deleted is checked against its "
            "fact rows without a scan",
        ),
    ),
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


def sql_over_rows(table: StarTable, where: dict[str, str]) -> str:
    """``table.sql`` reading only the rows of its silver sources that meet ``where`` (source →
    condition): the star rows those silver rows give (facts are one row per silver row)."""
    return restrict_sources(table.sql, where)
