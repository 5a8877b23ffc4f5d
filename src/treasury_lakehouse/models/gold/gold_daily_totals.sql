-- gold_daily_totals: public debt issued and redeemed per business day (millions of USD)
-- grain: record_date | source: silver_public_debt_transactions
WITH daily AS (
  SELECT
    record_date,
    SUM(CASE WHEN transaction_type = 'Issues' THEN transaction_today_amt ELSE 0 END) AS issues,
    SUM(CASE WHEN transaction_type = 'Redemptions' THEN transaction_today_amt ELSE 0 END)
      AS redemptions,
    SUM(CASE WHEN security_market = 'Marketable' AND transaction_type = 'Issues'
      THEN transaction_today_amt
      WHEN security_market = 'Marketable' AND transaction_type = 'Redemptions'
      THEN -transaction_today_amt ELSE 0 END) AS marketable_net,
    SUM(CASE WHEN security_market = 'Nonmarketable' AND transaction_type = 'Issues'
      THEN transaction_today_amt
      WHEN security_market = 'Nonmarketable' AND transaction_type = 'Redemptions'
      THEN -transaction_today_amt ELSE 0 END) AS nonmarketable_net
  FROM silver_public_debt_transactions
  GROUP BY record_date
)
SELECT
  record_date,
  CAST(COALESCE(issues, 0) AS BIGINT) AS issues_usd_mil,
  CAST(COALESCE(redemptions, 0) AS BIGINT) AS redemptions_usd_mil,
  CAST(COALESCE(issues, 0) - COALESCE(redemptions, 0) AS BIGINT) AS net_issuance_usd_mil,
  CAST(COALESCE(marketable_net, 0) AS BIGINT) AS marketable_net_usd_mil,
  CAST(COALESCE(nonmarketable_net, 0) AS BIGINT) AS nonmarketable_net_usd_mil
FROM daily
