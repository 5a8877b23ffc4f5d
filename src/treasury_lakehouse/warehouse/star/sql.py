"""The SQL text of the star tables: one SELECT each over the silver tables (DuckDB dialect).

Surrogate keys are derived from the natural key (the top 60 bits of its MD5), so a security or an
account keeps its key across loads and incremental loads only rewrite the rows that changed;
``date_key`` is the ``YYYYMMDD`` integer BI tools expect. Facts carry values, not lineage (that is
in silver), so re-ingesting unchanged records rewrites silver rows but no fact rows.
"""

from __future__ import annotations

import re

from treasury_lakehouse.catalog import OPERATING_CASH_BALANCE, TGA_ACCOUNTS, Era
from treasury_lakehouse.models.registry import GOLD
from treasury_lakehouse.sql_quote import quote_ident, quote_literal

PDT = "silver_public_debt_transactions"
OCB = "silver_operating_cash_balance"
DSL = "silver_debt_subject_to_limit"
#: the relation holding the ``dim_date`` rows made in Python (:mod:`.calendar_rows`)
CALENDAR = "calendar_days"
OUTSIDE_ERAS = "outside_known_layouts"


_q, _lit = quote_ident, quote_literal


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


def restrict_sources(sql: str, where: dict[str, str]) -> str:
    """``sql`` reading only the rows of its silver sources that meet ``where`` (source →
    condition)."""
    for source, condition in where.items():
        sql = re.sub(rf"\bFROM {source}\b", f"FROM (SELECT * FROM {source} WHERE {condition})", sql)
    return sql


def record_date_range_sql(available: set[str]) -> str:
    """A SELECT of the first and last record date over the available silver tables."""
    parts = [f"SELECT record_date FROM {name}" for name in (PDT, OCB, DSL) if name in available]
    union = " UNION ALL ".join(parts) or "SELECT CAST(NULL AS DATE) AS record_date"
    return f"SELECT MIN(record_date), MAX(record_date) FROM ({union}) AS dates"
