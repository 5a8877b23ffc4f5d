-- gold_monthly_debt_growth: net change of public debt per calendar month and its running sum
-- grain: year, month | source: silver_public_debt_transactions
WITH signed AS (
  SELECT
    CAST(EXTRACT(YEAR FROM record_date) AS INTEGER) AS year,
    CAST(EXTRACT(MONTH FROM record_date) AS INTEGER) AS month,
    security_market,
    CASE WHEN transaction_type = 'Issues' THEN transaction_today_amt
      WHEN transaction_type = 'Redemptions' THEN -transaction_today_amt
      ELSE 0 END AS net_amount
  FROM silver_public_debt_transactions
),
monthly AS (
  SELECT
    year,
    month,
    CAST(COALESCE(SUM(net_amount), 0) AS BIGINT) AS net_change,
    CAST(COALESCE(SUM(CASE WHEN security_market = 'Marketable' THEN net_amount ELSE 0 END), 0)
      AS BIGINT) AS marketable_net_change,
    CAST(COALESCE(SUM(CASE WHEN security_market = 'Nonmarketable' THEN net_amount ELSE 0 END), 0)
      AS BIGINT) AS nonmarketable_net_change
  FROM signed
  GROUP BY year, month
)
SELECT
  year,
  month,
  net_change AS net_change_usd_mil,
  marketable_net_change AS marketable_net_change_usd_mil,
  nonmarketable_net_change AS nonmarketable_net_change_usd_mil,
  CAST(SUM(net_change) OVER (ORDER BY year, month ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    AS BIGINT) AS cumulative_net_change_usd_mil
FROM monthly
