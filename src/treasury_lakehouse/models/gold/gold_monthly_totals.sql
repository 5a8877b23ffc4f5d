-- gold_monthly_totals: public debt issued and redeemed per calendar month (millions of USD)
-- grain: year, month | source: silver_public_debt_transactions
WITH monthly AS (
  SELECT
    CAST(EXTRACT(YEAR FROM record_date) AS INTEGER) AS year,
    CAST(EXTRACT(MONTH FROM record_date) AS INTEGER) AS month,
    COUNT(DISTINCT record_date) AS business_days,
    SUM(CASE WHEN transaction_type = 'Issues' THEN transaction_today_amt ELSE 0 END) AS issues,
    SUM(CASE WHEN transaction_type = 'Redemptions' THEN transaction_today_amt ELSE 0 END)
      AS redemptions
  FROM silver_public_debt_transactions
  GROUP BY EXTRACT(YEAR FROM record_date), EXTRACT(MONTH FROM record_date)
)
SELECT
  year,
  month,
  CAST(business_days AS INTEGER) AS business_days,
  CAST(COALESCE(issues, 0) AS BIGINT) AS issues_usd_mil,
  CAST(COALESCE(redemptions, 0) AS BIGINT) AS redemptions_usd_mil,
  CAST(COALESCE(issues, 0) - COALESCE(redemptions, 0) AS BIGINT) AS net_issuance_usd_mil
FROM monthly
