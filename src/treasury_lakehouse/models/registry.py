"""The gold model registry: each table's SQL file, grain, sources and documented columns.

The SQL files are DuckDB dialect, written to stay portable (other engines transpile them). The
column descriptions here feed the warehouse comments; their units are part of the contract.

Each model also declares what an incremental build needs (:mod:`.incremental`): the record years a
row draws from (its :class:`YearSpan`) and its running sums (column → the column it sums, in
primary-key order), which are recomputed over the whole merged table.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from importlib import resources

from treasury_lakehouse.errors import ConfigError

MIL = "millions of USD"


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    description: str


@dataclass(frozen=True)
class YearSpan:
    """The record years a gold row draws from: ``period + first`` .. ``period + last``.

    ``period`` is an integer SQL expression over the row's own columns (DuckDB dialect), e.g. the
    year of ``record_date``; a federal fiscal year Y draws from Y-1 (October-December) and Y.
    """

    period: str
    first: int = 0
    last: int = 0


@dataclass(frozen=True)
class GoldModel:
    name: str
    description: str
    sources: tuple[str, ...]
    primary_key: tuple[str, ...]
    columns: tuple[Column, ...]
    #: the record years a row draws from (silver partitions are record years)
    years: YearSpan
    #: running sums: (column, the column it sums), ordered by the primary key over all rows
    running_sums: tuple[tuple[str, str], ...] = ()

    @cached_property
    def sql(self) -> str:
        return resources.files(__package__).joinpath(f"gold/{self.name}.sql").read_text()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _amount(name: str, meaning: str) -> Column:
    return Column(name, "BIGINT", f"{meaning} ({MIL}, exact)")


_DATE = Column("record_date", "DATE", "Daily Treasury Statement record date (business day)")
#: a daily row draws from its record date's year, a monthly row from its calendar year
_DATE_YEAR = YearSpan("CAST(EXTRACT(YEAR FROM record_date) AS INTEGER)")
_CALENDAR_YEAR = YearSpan("year")
_YEAR = Column("year", "INTEGER", "calendar year")
_MONTH = Column("month", "INTEGER", "calendar month, 1-12")
PDT = "silver_public_debt_transactions"
DSL = "silver_debt_subject_to_limit"

GOLD_MODELS: tuple[GoldModel, ...] = (
    GoldModel(
        "gold_daily_totals",
        "Public debt issued and redeemed per business day, from DTS Table III-A",
        (PDT,),
        ("record_date",),
        (
            _DATE,
            _amount("issues_usd_mil", "total issues of public debt that day"),
            _amount("redemptions_usd_mil", "total redemptions of public debt that day"),
            _amount("net_issuance_usd_mil", "issues minus redemptions"),
            _amount("marketable_net_usd_mil", "issues minus redemptions of marketable securities"),
            _amount(
                "nonmarketable_net_usd_mil", "issues minus redemptions of nonmarketable securities"
            ),
        ),
        _DATE_YEAR,
    ),
    GoldModel(
        "gold_monthly_totals",
        "Public debt issued and redeemed per calendar month, from DTS Table III-A",
        (PDT,),
        ("year", "month"),
        (
            _YEAR,
            _MONTH,
            Column("business_days", "INTEGER", "distinct record dates in the month (days)"),
            _amount("issues_usd_mil", "total issues in the month"),
            _amount("redemptions_usd_mil", "total redemptions in the month"),
            _amount("net_issuance_usd_mil", "issues minus redemptions in the month"),
        ),
        _CALENDAR_YEAR,
    ),
    GoldModel(
        "gold_monthly_debt_growth",
        "Net change of public debt per calendar month and its running sum over the months present",
        (PDT,),
        ("year", "month"),
        (
            _YEAR,
            _MONTH,
            _amount("net_change_usd_mil", "issues minus redemptions in the month"),
            _amount("marketable_net_change_usd_mil", "net change of marketable securities"),
            _amount("nonmarketable_net_change_usd_mil", "net change of nonmarketable securities"),
            _amount(
                "cumulative_net_change_usd_mil",
                "running sum of net_change_usd_mil over all months present, in month order",
            ),
        ),
        _CALENDAR_YEAR,
        running_sums=(("cumulative_net_change_usd_mil", "net_change_usd_mil"),),
    ),
    GoldModel(
        "gold_security_totals",
        "Issues and redemptions per federal fiscal year (from October 1) and security type. "
        "Serves full_history_totals_by_market of docs/queries.sql (the whole history in one "
        "row per fiscal year and type)",
        (PDT,),
        ("fiscal_year", "security_market", "security_type"),
        (
            Column("fiscal_year", "INTEGER", "federal fiscal year (starts October 1 of year - 1)"),
            Column("security_market", "VARCHAR", "Marketable or Nonmarketable"),
            Column("security_type", "VARCHAR", "security type, summed over its descriptions"),
            _amount("issues_usd_mil", "total issues in the fiscal year (0 if none)"),
            _amount("redemptions_usd_mil", "total redemptions in the fiscal year (0 if none)"),
            _amount("net_usd_mil", "issues minus redemptions"),
        ),
        YearSpan("fiscal_year", first=-1),
    ),
    GoldModel(
        "gold_monthly_security_flows",
        "Amount per calendar month, security market, security type and transaction type "
        "(summed over descriptions), from DTS Table III-A. Serves the month-or-coarser "
        "questions of docs/queries.sql (fiscal_year_totals_by_security, "
        "year_over_year_issuance_by_month) without scanning fact_public_debt_transactions",
        (PDT,),
        ("year", "month", "security_market", "security_type", "transaction_type"),
        (
            _YEAR,
            _MONTH,
            Column("security_market", "VARCHAR", "Marketable or Nonmarketable"),
            Column("security_type", "VARCHAR", "security type, summed over its descriptions"),
            Column("transaction_type", "VARCHAR", "Issues or Redemptions"),
            Column(
                "business_days",
                "INTEGER",
                "distinct record dates in the month with a row of this security and type (days)",
            ),
            _amount("amount_usd_mil", "sum of transaction_today_amt in the month (0 if none)"),
        ),
        _CALENDAR_YEAR,
    ),
    GoldModel(
        "gold_daily_cash_balance",
        "Treasury General Account opening and closing balance per day, across the three "
        "layouts of DTS Table I",
        ("silver_operating_cash_balance",),
        ("record_date",),
        (
            _DATE,
            _amount("tga_opening_balance_usd_mil", "TGA balance at the opening of the day"),
            _amount("tga_closing_balance_usd_mil", "TGA balance at the close of the day"),
        ),
        _DATE_YEAR,
    ),
    GoldModel(
        "gold_daily_debt_limit",
        "Debt subject to the statutory limit, the limit, headroom and the TGA closing balance "
        "per day, from DTS Table III-C (rows chosen by debt category) and Table I",
        (DSL, "silver_operating_cash_balance"),
        ("record_date",),
        (
            _DATE,
            _amount("debt_held_by_public_usd_mil", "row 'Debt Held by the Public', closing"),
            _amount(
                "intragovernmental_holdings_usd_mil", "row 'Intragovernmental Holdings', closing"
            ),
            _amount(
                "total_public_debt_outstanding_usd_mil",
                "debt held by the public plus intragovernmental holdings",
            ),
            _amount(
                "debt_subject_to_limit_usd_mil",
                "total public debt outstanding minus the debt not subject to limit plus the "
                "other debt subject to limit",
            ),
            _amount(
                "statutory_debt_limit_usd_mil",
                "row 'Statutory Debt Limit'; NULL while the limit is suspended (row missing, "
                "null or 0)",
            ),
            Column(
                "limit_suspended",
                "BOOLEAN",
                "true exactly when statutory_debt_limit_usd_mil is NULL (the limit is suspended)",
            ),
            _amount(
                "headroom_usd_mil",
                "statutory debt limit minus debt subject to limit; NULL while suspended",
            ),
            _amount(
                "tga_closing_balance_usd_mil",
                "Treasury General Account balance at the close of the same day (as "
                "gold_daily_cash_balance); NULL if Table I has no TGA row that day",
            ),
        ),
        _DATE_YEAR,
    ),
    GoldModel(
        "gold_monthly_tax_refunds",
        "Income tax refunds issued per calendar month in four categories and in total, across "
        "the two layouts of the refunds table (DTS Table VI, Table V from 2023-02-14)",
        ("silver_income_tax_refunds_issued",),
        ("year", "month"),
        (
            _YEAR,
            _MONTH,
            Column("business_days", "INTEGER", "distinct record dates in the month (days)"),
            _amount("individual_usd_mil", "individual income tax refunds in the month"),
            _amount("business_usd_mil", "business income tax refunds in the month"),
            _amount("economic_impact_payments_usd_mil", "Economic Impact Payments in the month"),
            _amount("child_tax_credit_usd_mil", "Advance Child Tax Credit payments in the month"),
            _amount("total_usd_mil", "every refund row of the month"),
        ),
        _CALENDAR_YEAR,
    ),
)

GOLD: dict[str, GoldModel] = {m.name: m for m in GOLD_MODELS}


def gold_models_for(datasets: tuple[str, ...]) -> list[GoldModel]:
    """The gold models whose sources are all among the given datasets' silver tables."""
    available = {f"silver_{d}" for d in datasets}
    return [m for m in GOLD_MODELS if set(m.sources) <= available]


def get_gold(name: str) -> GoldModel:
    try:
        return GOLD[name]
    except KeyError:
        raise ConfigError(f"unknown gold table {name!r}; known: {', '.join(GOLD)}") from None
