-- gold_daily_cash_balance: the Treasury General Account's opening and closing balance per day,
-- across the three layouts of DTS Table I (millions of USD)
--   through 2021-09-30     row 'Federal Reserve Account': open_today_bal / close_today_bal
--   2021-10-01..2022-04-15 row 'Treasury General Account (TGA)': same columns
--   from 2022-04-18        open_today_bal of the '... Opening Balance' and '... Closing Balance'
--                          rows (their close_today_bal is "null")
-- grain: record_date | source: silver_operating_cash_balance
WITH tga_rows AS (
  SELECT
    record_date,
    CASE
      WHEN account_type IN ('Federal Reserve Account', 'Treasury General Account (TGA)')
        THEN open_today_bal
      WHEN account_type = 'Treasury General Account (TGA) Opening Balance' THEN open_today_bal
    END AS opening,
    CASE
      WHEN account_type IN ('Federal Reserve Account', 'Treasury General Account (TGA)')
        THEN close_today_bal
      WHEN account_type = 'Treasury General Account (TGA) Closing Balance' THEN open_today_bal
    END AS closing
  FROM silver_operating_cash_balance
  WHERE account_type IN (
    'Federal Reserve Account',
    'Treasury General Account (TGA)',
    'Treasury General Account (TGA) Opening Balance',
    'Treasury General Account (TGA) Closing Balance'
  )
)
SELECT
  record_date,
  CAST(MAX(opening) AS BIGINT) AS tga_opening_balance_usd_mil,
  CAST(MAX(closing) AS BIGINT) AS tga_closing_balance_usd_mil
FROM tga_rows
GROUP BY record_date
