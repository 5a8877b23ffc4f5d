-- gold_security_totals: issues and redemptions per federal fiscal year and security
-- (summed over security_type_desc; the fiscal year starts on October 1; millions of USD)
-- grain: fiscal_year, security_market, security_type | source: silver_public_debt_transactions
WITH dated AS (
  SELECT
    CAST(EXTRACT(YEAR FROM record_date) AS INTEGER)
      + CASE WHEN EXTRACT(MONTH FROM record_date) >= 10 THEN 1 ELSE 0 END AS fiscal_year,
    security_market,
    security_type,
    transaction_type,
    transaction_today_amt
  FROM silver_public_debt_transactions
),
totals AS (
  SELECT
    fiscal_year,
    security_market,
    security_type,
    SUM(CASE WHEN transaction_type = 'Issues' THEN transaction_today_amt ELSE 0 END) AS issues,
    SUM(CASE WHEN transaction_type = 'Redemptions' THEN transaction_today_amt ELSE 0 END)
      AS redemptions
  FROM dated
  GROUP BY fiscal_year, security_market, security_type
)
SELECT
  fiscal_year,
  security_market,
  security_type,
  CAST(COALESCE(issues, 0) AS BIGINT) AS issues_usd_mil,
  CAST(COALESCE(redemptions, 0) AS BIGINT) AS redemptions_usd_mil,
  CAST(COALESCE(issues, 0) - COALESCE(redemptions, 0) AS BIGINT) AS net_usd_mil
FROM totals
