"""Datasets as data.

One :class:`Dataset` per Fiscal Data endpoint: where it lives, its natural key, its date column and
its typed contract (the API's own ``meta.dataTypes``). Ingestion, silver typing, warehouse DDL,
quality checks and tests all read this module; adding an endpoint is adding an entry here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from treasury_lakehouse.errors import ConfigError

ApiType = Literal[
    "STRING",
    "DATE",
    "CURRENCY0",
    "CURRENCY",
    "INTEGER",
    "NUMBER",
    "PERCENTAGE",
    "YEAR",
    "QUARTER",
    "MONTH",
    "DAY",
]

#: silver SQL type of each API data type (DuckDB dialect; transpiled for other engines)
SILVER_SQL_TYPE: Mapping[str, str] = {
    "STRING": "VARCHAR",
    "DATE": "DATE",
    "CURRENCY0": "BIGINT",  # whole millions of USD
    "CURRENCY": "DECIMAL(20, 2)",  # dollars and cents
    "NUMBER": "DECIMAL(38, 6)",
    "PERCENTAGE": "DECIMAL(38, 6)",
    "INTEGER": "INTEGER",
    "YEAR": "INTEGER",
    "QUARTER": "INTEGER",
    "MONTH": "INTEGER",
    "DAY": "INTEGER",
}

#: the unit a column of each API data type is stated in (used in warehouse comments)
UNIT: Mapping[str, str] = {
    "CURRENCY0": "millions of USD",
    "CURRENCY": "USD (dollars and cents)",
    "DATE": "calendar date",
}


@dataclass(frozen=True)
class Era:
    """A span of dates in which a table had one layout (its account or row names)."""

    name: str
    first_date: date
    last_date: date | None
    description: str
    row_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dataset:
    """One Fiscal Data endpoint and its typed contract."""

    name: str
    endpoint: str
    title: str
    natural_key: tuple[str, ...]
    date_column: str
    columns: Mapping[str, ApiType]
    labels: Mapping[str, str]
    #: key columns that the API legitimately sends as "null" (still part of the key)
    nullable_key_columns: tuple[str, ...] = ()
    #: column the API sorts by after the key, to make paging stable
    eras: tuple[Era, ...] = ()
    accepted_values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def required_key_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.natural_key if c not in self.nullable_key_columns)

    @property
    def sort(self) -> tuple[str, ...]:
        """A stable sort for paging: the date column, then the rest of the natural key."""
        return (self.date_column, *[c for c in self.natural_key if c != self.date_column])

    def silver_type(self, column: str) -> str:
        return SILVER_SQL_TYPE[self.columns[column]]


_CALENDAR_COLUMNS: dict[str, ApiType] = {
    "record_fiscal_year": "YEAR",
    "record_fiscal_quarter": "QUARTER",
    "record_calendar_year": "YEAR",
    "record_calendar_quarter": "QUARTER",
    "record_calendar_month": "MONTH",
    "record_calendar_day": "DAY",
}
_CALENDAR_LABELS = {
    "record_fiscal_year": "Fiscal Year",
    "record_fiscal_quarter": "Fiscal Quarter Number",
    "record_calendar_year": "Calendar Year",
    "record_calendar_quarter": "Calendar Quarter Number",
    "record_calendar_month": "Calendar Month Number",
    "record_calendar_day": "Calendar Day Number",
}

PUBLIC_DEBT_TRANSACTIONS = Dataset(
    name="public_debt_transactions",
    endpoint="v1/accounting/dts/public_debt_transactions",
    title="Daily Treasury Statement: Public Debt Transactions (Table III-A)",
    natural_key=(
        "record_date",
        "transaction_type",
        "security_market",
        "security_type",
        "security_type_desc",
    ),
    nullable_key_columns=("security_type_desc",),
    date_column="record_date",
    columns={
        "record_date": "DATE",
        "transaction_type": "STRING",
        "security_market": "STRING",
        "security_type": "STRING",
        "security_type_desc": "STRING",
        "transaction_today_amt": "CURRENCY0",
        "transaction_mtd_amt": "CURRENCY0",
        "transaction_fytd_amt": "CURRENCY0",
        "table_nbr": "STRING",
        "table_nm": "STRING",
        "src_line_nbr": "INTEGER",
        **_CALENDAR_COLUMNS,
    },
    labels={
        "record_date": "Record Date",
        "transaction_type": "Transaction Type",
        "security_market": "Security Marketability",
        "security_type": "Security Type",
        "security_type_desc": "Security Type Description",
        "transaction_today_amt": "Transactions Today",
        "transaction_mtd_amt": "Transactions Month to Date",
        "transaction_fytd_amt": "Transactions Fiscal Year to Date",
        "table_nbr": "Table Number",
        "table_nm": "Table Name",
        "src_line_nbr": "Source Line Number",
        **_CALENDAR_LABELS,
    },
    accepted_values={
        "transaction_type": ("Issues", "Redemptions"),
        "security_market": ("Marketable", "Nonmarketable"),
    },
)

OPERATING_CASH_BALANCE = Dataset(
    name="operating_cash_balance",
    endpoint="v1/accounting/dts/operating_cash_balance",
    title="Daily Treasury Statement: Operating Cash Balance (Table I)",
    natural_key=("record_date", "account_type"),
    date_column="record_date",
    columns={
        "record_date": "DATE",
        "account_type": "STRING",
        "close_today_bal": "CURRENCY0",
        "open_today_bal": "CURRENCY0",
        "open_month_bal": "CURRENCY0",
        "open_fiscal_year_bal": "CURRENCY0",
        "table_nbr": "STRING",
        "table_nm": "STRING",
        "sub_table_name": "STRING",
        "src_line_nbr": "INTEGER",
        **_CALENDAR_COLUMNS,
    },
    labels={
        "record_date": "Record Date",
        "account_type": "Type of Account",
        "close_today_bal": "Closing Balance Today",
        "open_today_bal": "Opening Balance Today",
        "open_month_bal": "Opening Balance This Month",
        "open_fiscal_year_bal": "Opening Balance This Fiscal Year",
        "table_nbr": "Table Number",
        "table_nm": "Table Name",
        "sub_table_name": "Sub Table Name",
        "src_line_nbr": "Source Line Number",
        **_CALENDAR_LABELS,
    },
    eras=(
        Era(
            name="federal_reserve_account",
            first_date=date(2005, 10, 1),
            last_date=date(2021, 9, 30),
            description="TGA reported as row 'Federal Reserve Account' with opening and closing",
            row_names=(
                "Federal Reserve Account",
                "Supplementary Financing Program Account",
                "Short-Term Cash Investments (Table V)",
                "Tax and Loan Note Accounts (Table V)",
            ),
        ),
        Era(
            name="treasury_general_account",
            first_date=date(2021, 10, 1),
            last_date=date(2022, 4, 15),
            description="TGA reported as row 'Treasury General Account (TGA)'",
            row_names=(
                "Treasury General Account (TGA)",
                "Supplementary Financing Program Account",
                "Short-Term Cash Investments (Table V)",
            ),
        ),
        Era(
            name="cash_balance_details",
            first_date=date(2022, 4, 18),
            last_date=None,
            description="opening, deposits, withdrawals and closing as four rows",
            row_names=(
                "Treasury General Account (TGA) Opening Balance",
                "Total TGA Deposits (Table II)",
                "Total TGA Withdrawals (Table II) (-)",
                "Treasury General Account (TGA) Closing Balance",
            ),
        ),
    ),
)

#: cash-balance rows that carry the Treasury General Account balance, across the three layouts
#: (the same names gold_daily_cash_balance.sql selects)
TGA_ACCOUNTS = (
    "Federal Reserve Account",
    "Treasury General Account (TGA)",
    "Treasury General Account (TGA) Opening Balance",
    "Treasury General Account (TGA) Closing Balance",
)

DATASETS: Mapping[str, Dataset] = {
    d.name: d for d in (OPERATING_CASH_BALANCE, PUBLIC_DEBT_TRANSACTIONS)
}

DatasetName = Literal["operating_cash_balance", "public_debt_transactions"]


def get_dataset(name: str) -> Dataset:
    """The catalog entry called ``name``; a :class:`ConfigError` lists the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise ConfigError(f"unknown dataset {name!r}; known datasets: {known}") from None


def era_of(dataset: Dataset, day: date) -> Era | None:
    """The layout era a record date belongs to, if the dataset has eras."""
    for era in dataset.eras:
        if era.first_date <= day and (era.last_date is None or day <= era.last_date):
            return era
    return None
