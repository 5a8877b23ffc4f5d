-- gold_monthly_tax_refunds: income tax refunds issued per calendar month, by category
-- (millions of USD), across the table's two layouts (tax_refund_type):
--   individual  'IRS Tax Refunds Individual' (to 2023-02-13), 'Taxes - Individual Tax Refunds ...'
--   business    'IRS Tax Refunds Business' (to 2023-02-13), 'Taxes - Business Tax Refunds ...'
--   economic impact payments  'IRS - Economic Impact Payments ...'
--   child tax credit          'IRS - Advanced Child Tax Credit ...'
-- the total is every row; an empty category is 0
-- grain: year, month | source: silver_income_tax_refunds_issued
WITH refunds AS (
  SELECT
    CAST(EXTRACT(YEAR FROM record_date) AS INTEGER) AS year,
    CAST(EXTRACT(MONTH FROM record_date) AS INTEGER) AS month,
    record_date,
    CASE
      WHEN tax_refund_type = 'IRS Tax Refunds Individual'
        OR tax_refund_type LIKE 'Taxes - Individual Tax Refunds%' THEN 'individual'
      WHEN tax_refund_type = 'IRS Tax Refunds Business'
        OR tax_refund_type LIKE 'Taxes - Business Tax Refunds%' THEN 'business'
      WHEN tax_refund_type LIKE 'IRS - Economic Impact Payments%' THEN 'economic_impact'
      WHEN tax_refund_type LIKE 'IRS - Advanced Child Tax Credit%' THEN 'child_tax_credit'
    END AS category,
    tax_refund_today_amt AS amount
  FROM silver_income_tax_refunds_issued
),
monthly AS (
  SELECT
    year,
    month,
    COUNT(DISTINCT record_date) AS business_days,
    SUM(CASE WHEN category = 'individual' THEN amount ELSE 0 END) AS individual,
    SUM(CASE WHEN category = 'business' THEN amount ELSE 0 END) AS business,
    SUM(CASE WHEN category = 'economic_impact' THEN amount ELSE 0 END) AS economic_impact,
    SUM(CASE WHEN category = 'child_tax_credit' THEN amount ELSE 0 END) AS child_tax_credit,
    SUM(amount) AS total
  FROM refunds
  GROUP BY year, month
)
SELECT
  year,
  month,
  CAST(business_days AS INTEGER) AS business_days,
  CAST(COALESCE(individual, 0) AS BIGINT) AS individual_usd_mil,
  CAST(COALESCE(business, 0) AS BIGINT) AS business_usd_mil,
  CAST(COALESCE(economic_impact, 0) AS BIGINT) AS economic_impact_payments_usd_mil,
  CAST(COALESCE(child_tax_credit, 0) AS BIGINT) AS child_tax_credit_usd_mil,
  CAST(COALESCE(total, 0) AS BIGINT) AS total_usd_mil
FROM monthly
