"""The categories of income tax refunds (ARCHITECTURE 6b), declared once.

``tax_refund_type`` of ``income_tax_refunds_issued`` names a refund and, in the layout from
2023-02-14, its payment method too ('Taxes - Individual Tax Refunds (EFT)'). Each type belongs to
exactly one category: by its exact name (the layout to 2023-02-13, the method is in
``tax_refund_type_desc``) or by the start of its name. ``gold_monthly_tax_refunds`` sums per
category (its SQL ``CASE`` follows :data:`TAX_REFUND_CATEGORIES`; :func:`category_case_sql`
renders that ``CASE``), and the ``tax_refund_category`` check makes a type in none (or in two)
an error, so a new name can never fall silently outside every category.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RefundCategory:
    """One category: the refund types named exactly and the prefixes of the others."""

    name: str
    #: the column of ``gold_monthly_tax_refunds`` that sums it
    gold_column: str
    types: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()

    def matches(self, refund_type: str) -> bool:
        return refund_type in self.types or refund_type.startswith(self.prefixes)

    def condition_sql(self, column: str) -> str:
        """The SQL test of :meth:`matches` (the names hold no ``'``, ``%`` or ``_``)."""
        exact = [f"{column} = '{t}'" for t in self.types]
        starts = [f"{column} LIKE '{p}%'" for p in self.prefixes]
        return "(" + " OR ".join(exact + starts) + ")"


TAX_REFUND_CATEGORIES: tuple[RefundCategory, ...] = (
    RefundCategory("individual", "individual_usd_mil",
                   ("IRS Tax Refunds Individual",), ("Taxes - Individual Tax Refunds",)),
    RefundCategory("business", "business_usd_mil",
                   ("IRS Tax Refunds Business",), ("Taxes - Business Tax Refunds",)),
    RefundCategory("economic_impact", "economic_impact_payments_usd_mil",
                   prefixes=("IRS - Economic Impact Payments",)),
    RefundCategory("child_tax_credit", "child_tax_credit_usd_mil",
                   prefixes=("IRS - Advanced Child Tax Credit",)),
)  # fmt: skip


def categories_of(refund_type: str) -> tuple[str, ...]:
    """The names of the categories ``refund_type`` belongs to: exactly one when it is known."""
    return tuple(c.name for c in TAX_REFUND_CATEGORIES if c.matches(refund_type))


def category_case_sql(column: str = "tax_refund_type") -> str:
    """``CASE WHEN <category's test> THEN '<name>' ... END`` (NULL for an unknown type)."""
    whens = " ".join(
        f"WHEN {c.condition_sql(column)} THEN '{c.name}'" for c in TAX_REFUND_CATEGORIES
    )
    return f"CASE {whens} END"


def matching_categories_sql(column: str = "tax_refund_type") -> str:
    """SQL: how many categories ``column`` belongs to (1 for a known type)."""
    return " + ".join(
        f"CASE WHEN {c.condition_sql(column)} THEN 1 ELSE 0 END" for c in TAX_REFUND_CATEGORIES
    )
