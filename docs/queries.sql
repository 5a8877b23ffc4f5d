-- The analyst workload: the questions dashboards and analysts ask of the warehouse (issue 15).
--
-- Each question starts with a line `-- name: <question>` and runs unchanged on the embedded
-- DuckDB warehouse and on PostgreSQL. Its comment lines say what it answers, its parameters and
-- the grain it reads. A parameter is written `:name` and is replaced by a SQL literal before the
-- query runs: a number (`2022`), a date (`DATE '2022-03-01'`) or a string (`'Marketable'`).
-- (treasury_lakehouse.warehouse.queries reads this file; tests/integration/test_queries.py runs
-- every question on both warehouses and compares the answers; bench/queries.py times them.)
--
-- Amounts are exact millions of USD. Sums are cast to DECIMAL(38, 0), so both warehouses return
-- the same exact type (PostgreSQL would return numeric, DuckDB a 128-bit integer). Every ORDER BY
-- is total, so both warehouses return the same rows in the same order.

-- name: one_day_drilldown
-- One day's issues and redemptions, per security, with the security's names.
-- params: :day (DATE)
-- reads: fact_public_debt_transactions ⋈ dim_security (the fact rows of one day)
SELECT
  f.record_date,
  s.security_market,
  s.security_type,
  s.security_type_desc,
  f.transaction_type,
  f.transaction_today_amt,
  f.transaction_mtd_amt,
  f.transaction_fytd_amt
FROM fact_public_debt_transactions AS f
JOIN dim_security AS s ON s.security_key = f.security_key
WHERE f.record_date = :day
ORDER BY f.security_key, f.transaction_type;

-- name: last_30_business_days
-- Daily totals of the last 30 business days up to a date (each record date is a business day).
-- params: :as_of (DATE)
-- reads: gold_daily_totals
SELECT
  record_date,
  issues_usd_mil,
  redemptions_usd_mil,
  net_issuance_usd_mil,
  marketable_net_usd_mil,
  nonmarketable_net_usd_mil
FROM gold_daily_totals
WHERE record_date <= :as_of
ORDER BY record_date DESC
LIMIT 30;

-- name: fiscal_year_totals_by_security
-- Issues and redemptions of one fiscal year per security market and type.
-- params: :fiscal_year (INTEGER)
-- reads: gold_monthly_security_flows (the twelve months of the fiscal year)
SELECT
  :fiscal_year AS fiscal_year,
  security_market,
  security_type,
  transaction_type,
  CAST(SUM(amount_usd_mil) AS DECIMAL(38, 0)) AS amount_usd_mil
FROM gold_monthly_security_flows
WHERE (year = :fiscal_year - 1 AND month >= 10) OR (year = :fiscal_year AND month <= 9)
GROUP BY security_market, security_type, transaction_type
ORDER BY security_market, security_type, transaction_type;

-- name: fiscal_year_totals_by_security_from_fact
-- fiscal_year_totals_by_security from the transaction fact (the same answer; what an ad-hoc
-- slice of the star costs).
-- params: :fiscal_year (INTEGER)
-- reads: fact_public_debt_transactions ⋈ dim_date ⋈ dim_security
SELECT
  d.fiscal_year AS fiscal_year,
  s.security_market,
  s.security_type,
  f.transaction_type,
  CAST(SUM(f.transaction_today_amt) AS DECIMAL(38, 0)) AS amount_usd_mil
FROM fact_public_debt_transactions AS f
JOIN dim_date AS d ON d.date_key = f.date_key
JOIN dim_security AS s ON s.security_key = f.security_key
WHERE d.fiscal_year = :fiscal_year
GROUP BY d.fiscal_year, s.security_market, s.security_type, f.transaction_type
ORDER BY s.security_market, s.security_type, f.transaction_type;

-- name: top_securities_in_quarter
-- The ten securities with the most issuance in one fiscal quarter.
-- params: :fiscal_year (INTEGER), :fiscal_quarter (INTEGER, 1 = Oct-Dec ... 4 = Jul-Sep)
-- reads: fact_public_debt_transactions ⋈ dim_date ⋈ dim_security
SELECT
  s.security_market,
  s.security_type,
  s.security_type_desc,
  CAST(SUM(f.transaction_today_amt) AS DECIMAL(38, 0)) AS issues_usd_mil
FROM fact_public_debt_transactions AS f
JOIN dim_date AS d ON d.date_key = f.date_key
JOIN dim_security AS s ON s.security_key = f.security_key
WHERE d.fiscal_year = :fiscal_year
  AND d.fiscal_quarter = :fiscal_quarter
  AND f.transaction_type = 'Issues'
GROUP BY s.security_key, s.security_market, s.security_type, s.security_type_desc
ORDER BY issues_usd_mil DESC, s.security_key
LIMIT 10;

-- name: monthly_debt_growth
-- Net change of the debt per calendar month over a range of months, and its running sum.
-- params: :first_month (INTEGER, YYYYMM), :last_month (INTEGER, YYYYMM)
-- reads: gold_monthly_debt_growth
SELECT
  year,
  month,
  net_change_usd_mil,
  marketable_net_change_usd_mil,
  nonmarketable_net_change_usd_mil,
  cumulative_net_change_usd_mil
FROM gold_monthly_debt_growth
WHERE year * 100 + month BETWEEN :first_month AND :last_month
ORDER BY year, month;

-- name: year_over_year_issuance_by_month
-- Issuance per month of a fiscal year beside the same month of the fiscal year before.
-- params: :fiscal_year (INTEGER)
-- reads: gold_monthly_security_flows (the months of two fiscal years)
SELECT
  MOD(month + 2, 12) + 1 AS fiscal_month,
  month AS calendar_month,
  CAST(SUM(CASE WHEN year + CASE WHEN month >= 10 THEN 1 ELSE 0 END = :fiscal_year - 1 THEN amount_usd_mil ELSE 0 END)
    AS DECIMAL(38, 0)) AS prior_year_issues_usd_mil,
  CAST(SUM(CASE WHEN year + CASE WHEN month >= 10 THEN 1 ELSE 0 END = :fiscal_year THEN amount_usd_mil ELSE 0 END)
    AS DECIMAL(38, 0)) AS issues_usd_mil
FROM gold_monthly_security_flows
WHERE transaction_type = 'Issues'
  AND year BETWEEN :fiscal_year - 2 AND :fiscal_year
  AND year + CASE WHEN month >= 10 THEN 1 ELSE 0 END BETWEEN :fiscal_year - 1 AND :fiscal_year
GROUP BY month
ORDER BY fiscal_month;

-- name: year_over_year_issuance_by_month_from_fact
-- year_over_year_issuance_by_month from the transaction fact (the same answer).
-- params: :fiscal_year (INTEGER)
-- reads: fact_public_debt_transactions ⋈ dim_date (two fiscal years of fact rows)
SELECT
  MOD(d.calendar_month + 2, 12) + 1 AS fiscal_month,
  d.calendar_month,
  CAST(SUM(CASE WHEN d.fiscal_year = :fiscal_year - 1 THEN f.transaction_today_amt ELSE 0 END)
    AS DECIMAL(38, 0)) AS prior_year_issues_usd_mil,
  CAST(SUM(CASE WHEN d.fiscal_year = :fiscal_year THEN f.transaction_today_amt ELSE 0 END)
    AS DECIMAL(38, 0)) AS issues_usd_mil
FROM fact_public_debt_transactions AS f
JOIN dim_date AS d ON d.date_key = f.date_key
WHERE f.transaction_type = 'Issues'
  AND d.fiscal_year BETWEEN :fiscal_year - 1 AND :fiscal_year
GROUP BY d.calendar_month
ORDER BY fiscal_month;

-- name: full_history_totals_by_market
-- Issues and redemptions of the whole history per security market (the coarsest gold grain
-- that holds them: a row per fiscal year and security type, ~300 rows for 2005-2026).
-- params: none
-- reads: gold_security_totals (every fiscal year)
SELECT
  security_market,
  transaction_type,
  CAST(SUM(amount) AS DECIMAL(38, 0)) AS amount_usd_mil
FROM (
  SELECT security_market, 'Issues' AS transaction_type, issues_usd_mil AS amount
  FROM gold_security_totals
  UNION ALL
  SELECT security_market, 'Redemptions' AS transaction_type, redemptions_usd_mil AS amount
  FROM gold_security_totals
) AS flows
GROUP BY security_market, transaction_type
ORDER BY security_market, transaction_type;

-- name: full_history_totals_by_market_from_fact
-- full_history_totals_by_market from the transaction fact (the same answer: every fact row).
-- params: none
-- reads: fact_public_debt_transactions ⋈ dim_security (every fact row)
SELECT
  s.security_market,
  f.transaction_type,
  CAST(SUM(f.transaction_today_amt) AS DECIMAL(38, 0)) AS amount_usd_mil
FROM fact_public_debt_transactions AS f
JOIN dim_security AS s ON s.security_key = f.security_key
GROUP BY s.security_market, f.transaction_type
ORDER BY s.security_market, f.transaction_type;

-- name: natural_key_lookup
-- One row of Table III-A by its natural key (a security whose description is not NULL).
-- params: :day (DATE), :transaction_type, :security_market, :security_type,
-- :security_type_desc (VARCHAR)
-- reads: silver_public_debt_transactions (its natural-key index)
SELECT
  record_date,
  transaction_type,
  security_market,
  security_type,
  security_type_desc,
  transaction_today_amt,
  transaction_mtd_amt,
  transaction_fytd_amt,
  batch_id
FROM silver_public_debt_transactions
WHERE record_date = :day
  AND transaction_type = :transaction_type
  AND security_market = :security_market
  AND security_type = :security_type
  AND security_type_desc = :security_type_desc;

-- name: tga_over_range
-- The Treasury General Account's opening and closing balance per day over a date range.
-- params: :first_day (DATE), :last_day (DATE)
-- reads: gold_daily_cash_balance
SELECT
  record_date,
  tga_opening_balance_usd_mil,
  tga_closing_balance_usd_mil
FROM gold_daily_cash_balance
WHERE record_date BETWEEN :first_day AND :last_day
ORDER BY record_date;

-- name: debt_limit_headroom_over_range
-- Debt subject to the limit, the limit, headroom (NULL while suspended) and the TGA per day over
-- a date range.
-- params: :first_day (DATE), :last_day (DATE)
-- reads: gold_daily_debt_limit
SELECT
  record_date,
  debt_subject_to_limit_usd_mil,
  statutory_debt_limit_usd_mil,
  limit_suspended,
  headroom_usd_mil,
  tga_closing_balance_usd_mil
FROM gold_daily_debt_limit
WHERE record_date BETWEEN :first_day AND :last_day
ORDER BY record_date;
