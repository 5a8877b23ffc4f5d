"""Datasets as data.

One :class:`Dataset` per Fiscal Data endpoint: where it lives, its natural key, its date column,
its typed contract (the API's own ``meta.dataTypes``), the span of record dates it can have
(:attr:`Dataset.first_date` .. :attr:`Dataset.last_date`) and its layout eras with the rows per day
measured on the real records. Ingestion, silver typing, warehouse DDL, quality checks and tests all
read this module; adding an endpoint is adding an entry here.

The module is longer than most: eight entries of plain data, kept together so that one file is the
whole contract.
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


#: the first Daily Treasury Statement the API has
STATEMENT_FIRST_DATE = date(2005, 10, 3)
#: the statement's redesign: some tables ended the business day before, others started here
REDESIGN_DATE = date(2023, 2, 14)
REDESIGN_LAST_OLD_DATE = date(2023, 2, 13)


@dataclass(frozen=True)
class Era:
    """A span of dates in which a table had one layout (its account or row names)."""

    name: str
    first_date: date
    last_date: date | None
    description: str
    row_names: tuple[str, ...] = ()
    #: (min, max) rows per business day in this layout, measured on the real records
    rows_per_day: tuple[int, int] | None = None


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
    #: the earliest record date the source has: a window is clipped to start here
    first_date: date = STATEMENT_FIRST_DATE
    #: the last record date, for a table the source stopped publishing (else ``None``)
    last_date: date | None = None
    #: (min, max) rows per business day of a dataset without eras (measured on the real records)
    rows_per_day: tuple[int, int] | None = None
    #: the column whose values :attr:`Era.row_names` lists (the row names of a layout)
    row_name_column: str | None = None
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

    @property
    def span(self) -> str:
        """The record dates the source has, e.g. ``2005-10-03..2023-02-13`` (``…``: to date)."""
        return f"{self.first_date}..{self.last_date or '…'}"

    def row_bounds(self) -> dict[str | None, tuple[int, int]]:
        """(min, max) rows per business day by era name (``None``: the dataset has no eras)."""
        bounds: dict[str | None, tuple[int, int]] = {
            era.name: era.rows_per_day for era in self.eras if era.rows_per_day
        }
        if self.rows_per_day:
            bounds[None] = self.rows_per_day
        return bounds

    def row_names(self) -> tuple[str, ...]:
        """Every row name of every era, once each, in era order."""
        return tuple(dict.fromkeys(n for era in self.eras for n in era.row_names))


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
    first_date=STATEMENT_FIRST_DATE,
    rows_per_day=(23, 25),  # 25 while Hope Bonds lines existed (to 2022-09-09)
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
    first_date=STATEMENT_FIRST_DATE,
    row_name_column="account_type",
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
            rows_per_day=(2, 4),
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
            rows_per_day=(3, 3),
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
            rows_per_day=(4, 4),
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

# --------------------------------------------------------------------------- the statement's other
# tables and Debt to the Penny. Eras and rows per day were measured on the real records
# (../shared/fiscaldata, 2016-01-04..2025-09-02; docs/datasets.md says how); before 2016 the
# first era's bounds are an assumption.


def _dts_table(
    specific: Mapping[str, tuple[ApiType, str]],
) -> tuple[dict[str, ApiType], dict[str, str]]:
    """Columns and labels of a statement table: its own fields, then the table fields and the
    calendar fields every DTS endpoint sends (API order)."""
    common: dict[str, tuple[ApiType, str]] = {
        "table_nbr": ("STRING", "Table Number"),
        "table_nm": ("STRING", "Table Name"),
        "sub_table_name": ("STRING", "Sub Table Name"),
        "src_line_nbr": ("INTEGER", "Source Line Number"),
    }
    fields = {"record_date": ("DATE", "Record Date"), **specific, **common}
    columns: dict[str, ApiType] = {c: t for c, (t, _) in fields.items()}
    labels = {c: label for c, (_, label) in fields.items()}
    return {**columns, **_CALENDAR_COLUMNS}, {**labels, **_CALENDAR_LABELS}


_DEBT_LIMIT_COLUMNS, _DEBT_LIMIT_LABELS = _dts_table(
    {
        "debt_catg": ("STRING", "Debt Category"),
        "debt_catg_desc": ("STRING", "Debt Category Description"),
        "close_today_bal": ("CURRENCY0", "Closing Balance Today"),
        "open_today_bal": ("CURRENCY0", "Opening Balance Today"),
        "open_month_bal": ("CURRENCY0", "Opening Balance This Month"),
        "open_fiscal_year_bal": ("CURRENCY0", "Opening Balance This Fiscal Year"),
    }
)

DEBT_SUBJECT_TO_LIMIT = Dataset(
    name="debt_subject_to_limit",
    endpoint="v1/accounting/dts/debt_subject_to_limit",
    title="Daily Treasury Statement: Debt Subject to Limit (Table III-C)",
    natural_key=("record_date", "debt_catg", "debt_catg_desc"),
    nullable_key_columns=("debt_catg_desc",),
    date_column="record_date",
    columns=_DEBT_LIMIT_COLUMNS,
    labels=_DEBT_LIMIT_LABELS,
    first_date=STATEMENT_FIRST_DATE,
    row_name_column="debt_catg",
    eras=(
        Era(
            name="less_plus_rows",
            first_date=STATEMENT_FIRST_DATE,
            last_date=date(2022, 9, 9),
            description="adjustments as 'Less Debt Not Subject to Limit' (4 rows) and 'Plus Other "
            "Debt Subject to Limit'; no 'Statutory Debt Limit' row while the limit is suspended",
            row_names=(
                "Debt Held by the Public",
                "Intragovernmental Holdings",
                "Less Debt Not Subject to Limit",
                "Plus Other Debt Subject to Limit",
                "Statutory Debt Limit",
            ),
            rows_per_day=(7, 8),
        ),
        Era(
            name="not_subject_rows",
            first_date=date(2022, 9, 12),
            last_date=None,
            description="adjustments as 'Debt Not Subject to Limit' (3 rows) and 'Other Debt "
            "Subject to Limit' (table IIIC); unchanged by the 2023-02-14 redesign",
            row_names=(
                "Debt Held by the Public",
                "Intragovernmental Holdings",
                "Debt Not Subject to Limit",
                "Other Debt Subject to Limit",
                "Statutory Debt Limit",
            ),
            rows_per_day=(7, 7),
        ),
    ),
)

_TAX_DEPOSIT_COLUMNS, _TAX_DEPOSIT_LABELS = _dts_table(
    {
        "tax_deposit_type": ("STRING", "Type of Tax Deposit"),
        "tax_deposit_type_desc": ("STRING", "Tax Deposit Type Description"),
        "tax_deposit_today_amt": ("CURRENCY0", "Deposits Today"),
        "tax_deposit_mtd_amt": ("CURRENCY0", "Deposits Month to Date"),
        "tax_deposit_fytd_amt": ("CURRENCY0", "Deposits Fiscal Year to Date"),
    }
)

FEDERAL_TAX_DEPOSITS = Dataset(
    name="federal_tax_deposits",
    endpoint="v1/accounting/dts/federal_tax_deposits",
    title="Daily Treasury Statement: Federal Tax Deposits (Table IV, to 2023-02-13)",
    natural_key=("record_date", "tax_deposit_type", "tax_deposit_type_desc"),
    nullable_key_columns=("tax_deposit_type_desc",),
    date_column="record_date",
    columns=_TAX_DEPOSIT_COLUMNS,
    labels=_TAX_DEPOSIT_LABELS,
    first_date=STATEMENT_FIRST_DATE,
    last_date=REDESIGN_LAST_OLD_DATE,
    row_name_column="tax_deposit_type",
    eras=(
        Era(
            name="tax_deposits",
            first_date=STATEMENT_FIRST_DATE,
            last_date=REDESIGN_LAST_OLD_DATE,
            description="Table IV: deposits by type of tax; ended by the 2023-02-14 redesign",
            row_names=(
                "Withheld Income and Employment Taxes",
                "Individual Income Taxes",
                "Railroad Retirement Taxes",
                "Excise Taxes",
                "Corporation Income Taxes",
                "Federal Unemployment Taxes",
                "Estate and Gift Taxes & Misc IRS Rcpts.",
                "Cash Federal Tax Deposits",
                "Inter-agency Transfers",
            ),
            rows_per_day=(10, 10),
        ),
    ),
)

_REFUND_COLUMNS, _REFUND_LABELS = _dts_table(
    {
        "tax_refund_type": ("STRING", "Type of Tax Refund"),
        "tax_refund_type_desc": ("STRING", "Tax Refund Type Description"),
        "tax_refund_today_amt": ("CURRENCY0", "Refunds Today"),
        "tax_refund_mtd_amt": ("CURRENCY0", "Refunds Month to Date"),
        "tax_refund_fytd_amt": ("CURRENCY0", "Refunds Fiscal Year to Date"),
    }
)

INCOME_TAX_REFUNDS_ISSUED = Dataset(
    name="income_tax_refunds_issued",
    endpoint="v1/accounting/dts/income_tax_refunds_issued",
    title="Daily Treasury Statement: Income Tax Refunds Issued (Table VI, Table V from 2023-02-14)",
    natural_key=("record_date", "tax_refund_type", "tax_refund_type_desc"),
    nullable_key_columns=("tax_refund_type_desc",),
    date_column="record_date",
    columns=_REFUND_COLUMNS,
    labels=_REFUND_LABELS,
    first_date=STATEMENT_FIRST_DATE,
    row_name_column="tax_refund_type",
    eras=(
        Era(
            name="irs_refunds",
            first_date=STATEMENT_FIRST_DATE,
            last_date=REDESIGN_LAST_OLD_DATE,
            description="Table VI: 'IRS Tax Refunds' individual and business (checks, EFT); "
            "Economic Impact Payments from 2020-12-24 and Advance Child Tax Credit 2021-07-15 "
            "to 2022-09-30 as extra rows",
            row_names=(
                "IRS Tax Refunds Business",
                "IRS Tax Refunds Individual",
                "IRS - Economic Impact Payments (Checks)",
                "IRS - Economic Impact Payments (EFT)",
                "IRS - Advanced Child Tax Credit (Checks)",
                "IRS - Advanced Child Tax Credit (EFT)",
            ),
            rows_per_day=(4, 8),
        ),
        Era(
            name="tax_refunds",
            first_date=REDESIGN_DATE,
            last_date=None,
            description="Table V of the redesigned statement: one row per refund and payment "
            "method, 'Taxes - ... Tax Refunds (Checks|EFT)'",
            row_names=(
                "Taxes - Business Tax Refunds (Checks)",
                "Taxes - Business Tax Refunds (EFT)",
                "Taxes - Individual Tax Refunds (Checks)",
                "Taxes - Individual Tax Refunds (EFT)",
            ),
            rows_per_day=(4, 4),
        ),
    ),
)

_TRANSFER_COLUMNS, _TRANSFER_LABELS = _dts_table(
    {
        "classification": ("STRING", "Classification"),
        "today_amt": ("CURRENCY0", "Today"),
        "mtd_amt": ("CURRENCY0", "Month to Date"),
        "fytd_amt": ("CURRENCY0", "Fiscal Year to Date"),
    }
)

INTER_AGENCY_TAX_TRANSFERS = Dataset(
    name="inter_agency_tax_transfers",
    endpoint="v1/accounting/dts/inter_agency_tax_transfers",
    title="Daily Treasury Statement: Inter-agency Tax Transfers (Table IV, from 2023-02-14)",
    natural_key=("record_date", "classification"),
    date_column="record_date",
    columns=_TRANSFER_COLUMNS,
    labels=_TRANSFER_LABELS,
    first_date=REDESIGN_DATE,
    row_name_column="classification",
    eras=(
        Era(
            name="inter_agency_transfers",
            first_date=REDESIGN_DATE,
            last_date=None,
            description="Table IV of the redesigned statement: transfers by tax classification",
            row_names=(
                "Taxes - Corporate Income",
                "Taxes - Miscellaneous Excise",
                "Taxes - Railroad Retirement",
                "Taxes - Withheld Individual/FICA",
            ),
            rows_per_day=(4, 4),
        ),
    ),
)

_INVESTMENT_COLUMNS, _INVESTMENT_LABELS = _dts_table(
    {
        "transaction_type": ("STRING", "Transaction Type"),
        "transaction_type_desc": ("STRING", "Transaction Type Description"),
        "depositary_type_a_amt": ("CURRENCY0", "Type of Depositary A"),
        "depositary_type_b_amt": ("CURRENCY0", "Type of Depositary B"),
        "depositary_type_c_amt": ("CURRENCY0", "Type of Depositary C"),
        "total_amt": ("CURRENCY0", "Total"),
    }
)

SHORT_TERM_CASH_INVESTMENTS = Dataset(
    name="short_term_cash_investments",
    endpoint="v1/accounting/dts/short_term_cash_investments",
    title="Daily Treasury Statement: Short-Term Cash Investments (Table V, to 2023-02-13)",
    natural_key=("record_date", "transaction_type", "transaction_type_desc"),
    nullable_key_columns=("transaction_type_desc",),
    date_column="record_date",
    columns=_INVESTMENT_COLUMNS,
    labels=_INVESTMENT_LABELS,
    first_date=STATEMENT_FIRST_DATE,
    last_date=REDESIGN_LAST_OLD_DATE,
    row_name_column="transaction_type",
    eras=(
        Era(
            name="short_term_investments",
            first_date=STATEMENT_FIRST_DATE,
            last_date=REDESIGN_LAST_OLD_DATE,
            description="Table V: balances, deposits and withdrawals by type of depositary; "
            "ended by the 2023-02-14 redesign",
            row_names=(
                "Opening Balance Today",
                "Deposits",
                "Withdrawals",
                "Closing Balance Today",
            ),
            rows_per_day=(11, 11),
        ),
    ),
)

DEBT_TO_PENNY = Dataset(
    name="debt_to_penny",
    endpoint="v2/accounting/od/debt_to_penny",
    title="Debt to the Penny: total public debt outstanding, exact dollars and cents",
    natural_key=("record_date",),
    date_column="record_date",
    columns={
        "record_date": "DATE",
        "debt_held_public_amt": "CURRENCY",
        "intragov_hold_amt": "CURRENCY",
        "tot_pub_debt_out_amt": "CURRENCY",
        "src_line_nbr": "INTEGER",
        **_CALENDAR_COLUMNS,
    },
    labels={
        "record_date": "Record Date",
        "debt_held_public_amt": "Debt Held by the Public",
        "intragov_hold_amt": "Intragovernmental Holdings",
        "tot_pub_debt_out_amt": "Total Public Debt Outstanding",
        "src_line_nbr": "Source Line Number",
        **_CALENDAR_LABELS,
    },
    first_date=date(1993, 4, 1),
    rows_per_day=(1, 1),
)


DATASETS: Mapping[str, Dataset] = {
    d.name: d
    for d in (
        OPERATING_CASH_BALANCE,
        PUBLIC_DEBT_TRANSACTIONS,
        DEBT_SUBJECT_TO_LIMIT,
        FEDERAL_TAX_DEPOSITS,
        INCOME_TAX_REFUNDS_ISSUED,
        INTER_AGENCY_TAX_TRANSFERS,
        SHORT_TERM_CASH_INVESTMENTS,
        DEBT_TO_PENNY,
    )
}

DatasetName = Literal[
    "operating_cash_balance",
    "public_debt_transactions",
    "debt_subject_to_limit",
    "federal_tax_deposits",
    "income_tax_refunds_issued",
    "inter_agency_tax_transfers",
    "short_term_cash_investments",
    "debt_to_penny",
]


def get_dataset(name: str) -> Dataset:
    """The catalog entry called ``name``; a :class:`ConfigError` lists the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise ConfigError(f"unknown dataset {name!r}; known datasets: {known}") from None


def clip_to_span(
    dataset: Dataset, start: date, end: date | None
) -> tuple[date, date | None] | None:
    """``start``..``end`` (``None``: open) narrowed to the dataset's span; ``None`` when the window
    lies wholly outside it (then nothing is asked of the API)."""
    first = max(start, dataset.first_date)
    last = end if dataset.last_date is None else min(end or dataset.last_date, dataset.last_date)
    if last is not None and first > last:
        return None
    return first, last


def era_of(dataset: Dataset, day: date) -> Era | None:
    """The layout era a record date belongs to, if the dataset has eras."""
    for era in dataset.eras:
        if era.first_date <= day and (era.last_date is None or day <= era.last_date):
            return era
    return None
