-- gold_daily_debt_limit: debt subject to limit, the statutory limit, headroom and the TGA per day
-- (millions of USD), from the close_today_bal of rows chosen by debt_catg (never src_line_nbr)
--   adjustments through 2022-09-09: 'Less Debt Not Subject to Limit' / 'Plus Other Debt Subject
--   to Limit'; from 2022-09-12: 'Debt Not Subject to Limit' / 'Other Debt Subject to Limit'
--   statutory limit NULL (suspended) when its row is missing, "null" or 0
--   TGA closing as gold_daily_cash_balance derives it across the three layouts of Table I
-- grain: record_date | sources: silver_debt_subject_to_limit, silver_operating_cash_balance
WITH debt_days AS (
  SELECT
    record_date,
    SUM(CASE WHEN debt_catg = 'Debt Held by the Public' THEN close_today_bal END)
      AS held_by_public,
    SUM(CASE WHEN debt_catg = 'Intragovernmental Holdings' THEN close_today_bal END)
      AS intragovernmental,
    COALESCE(SUM(CASE WHEN debt_catg IN (
      'Less Debt Not Subject to Limit', 'Debt Not Subject to Limit'
    ) THEN close_today_bal END), 0) AS not_subject,
    COALESCE(SUM(CASE WHEN debt_catg IN (
      'Plus Other Debt Subject to Limit', 'Other Debt Subject to Limit'
    ) THEN close_today_bal END), 0) AS other_subject,
    MAX(CASE WHEN debt_catg = 'Statutory Debt Limit' AND close_today_bal <> 0
      THEN close_today_bal END) AS statutory_limit
  FROM silver_debt_subject_to_limit
  GROUP BY record_date
),
debt_limit AS (
  SELECT
    record_date,
    held_by_public,
    intragovernmental,
    held_by_public + intragovernmental AS total_outstanding,
    held_by_public + intragovernmental - not_subject + other_subject AS subject_to_limit,
    statutory_limit
  FROM debt_days
),
tga_closing AS (
  SELECT
    record_date,
    MAX(CASE
      WHEN account_type IN ('Federal Reserve Account', 'Treasury General Account (TGA)')
        THEN close_today_bal
      WHEN account_type = 'Treasury General Account (TGA) Closing Balance' THEN open_today_bal
    END) AS closing
  FROM silver_operating_cash_balance
  WHERE account_type IN (
    'Federal Reserve Account',
    'Treasury General Account (TGA)',
    'Treasury General Account (TGA) Closing Balance'
  )
  GROUP BY record_date
)
SELECT
  d.record_date,
  CAST(d.held_by_public AS BIGINT) AS debt_held_by_public_usd_mil,
  CAST(d.intragovernmental AS BIGINT) AS intragovernmental_holdings_usd_mil,
  CAST(d.total_outstanding AS BIGINT) AS total_public_debt_outstanding_usd_mil,
  CAST(d.subject_to_limit AS BIGINT) AS debt_subject_to_limit_usd_mil,
  CAST(d.statutory_limit AS BIGINT) AS statutory_debt_limit_usd_mil,
  d.statutory_limit IS NULL AS limit_suspended,
  CAST(d.statutory_limit - d.subject_to_limit AS BIGINT) AS headroom_usd_mil,
  CAST(t.closing AS BIGINT) AS tga_closing_balance_usd_mil
FROM debt_limit AS d
LEFT JOIN tga_closing AS t ON t.record_date = d.record_date
