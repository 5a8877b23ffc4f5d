-- gold_monthly_security_flows: the amount of each transaction type per calendar month and
-- security (summed over security_type_desc and the days of the month; millions of USD)
-- grain: year, month, security_market, security_type, transaction_type
-- source: silver_public_debt_transactions
-- It answers the analyst questions of month grain (docs/queries.sql: fiscal-year totals by
-- security, year over year by month) from some thousands of rows instead of the transaction
-- fact's millions; full-history totals read the coarser gold_security_totals.
WITH dated AS (
  SELECT
    CAST(EXTRACT(YEAR FROM record_date) AS INTEGER) AS year,
    CAST(EXTRACT(MONTH FROM record_date) AS INTEGER) AS month,
    record_date,
    security_market,
    security_type,
    transaction_type,
    transaction_today_amt
  FROM silver_public_debt_transactions
)
SELECT
  year,
  month,
  security_market,
  security_type,
  transaction_type,
  CAST(COUNT(DISTINCT record_date) AS INTEGER) AS business_days,
  CAST(COALESCE(SUM(transaction_today_amt), 0) AS BIGINT) AS amount_usd_mil
FROM dated
GROUP BY year, month, security_market, security_type, transaction_type
