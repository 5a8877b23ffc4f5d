"""The tax refund categories check: every ``tax_refund_type`` of ``income_tax_refunds_issued`` is
in exactly one category of :data:`~treasury_lakehouse.models.tax_refunds.TAX_REFUND_CATEGORIES`,
the mapping ``gold_monthly_tax_refunds`` sums by. A type in none would fall out of every category
(only the total would count it), so it is an error that names it."""

from __future__ import annotations

from treasury_lakehouse.catalog import INCOME_TAX_REFUNDS_ISSUED
from treasury_lakehouse.models.tax_refunds import (
    TAX_REFUND_CATEGORIES,
    categories_of,
    matching_categories_sql,
)
from treasury_lakehouse.quality.results import Finding
from treasury_lakehouse.quality.spec import (
    Check,
    CheckContext,
    Rows,
    as_date,
    describe_key,
    period_local,
)

REFUNDS_SILVER = f"silver_{INCOME_TAX_REFUNDS_ISSUED.name}"
_KEY = INCOME_TAX_REFUNDS_ISSUED.natural_key


def refund_categories(rows: Rows, ctx: CheckContext) -> list[Finding]:
    """Rows whose ``tax_refund_type`` is in no category, or in more than one."""
    known = ", ".join(c.name for c in TAX_REFUND_CATEGORIES)
    findings = []
    for r in rows:
        refund_type = r.get("tax_refund_type")
        if refund_type is None:
            continue  # a NULL key is not_null_key's
        found = categories_of(refund_type)
        if len(found) == 1:
            continue
        problem = (
            f"is in none of the categories {known} (models/tax_refunds.py): gold would count "
            "it in no category"
            if not found
            else f"is in {len(found)} categories ({', '.join(found)})"
        )
        findings.append(
            Finding("error", as_date(r.get("record_date")), describe_key(r, _KEY),
                    f"tax_refund_type {refund_type!r} {problem}")
        )  # fmt: skip
    return findings


def _uncategorised(source: str) -> str:
    columns = ", ".join(f'"{c}"' for c in _KEY)
    return (
        f"SELECT {columns} FROM ({source}) AS t WHERE tax_refund_type IS NOT NULL "
        f"AND ({matching_categories_sql()}) <> 1"
    )


def tax_refund_checks() -> list[Check]:
    """The tax refund categories check, declared once."""
    return [
        Check("tax_refund_category", REFUNDS_SILVER, "error",
              "every tax_refund_type is in exactly one refund category (models/tax_refunds.py)",
              "none", refund_categories, _KEY, sql=_uncategorised,
              scope=period_local(INCOME_TAX_REFUNDS_ISSUED.name)),
    ]  # fmt: skip
