"""Completeness and freshness against the Daily Treasury Statement's business-day calendar."""

from __future__ import annotations

from treasury_lakehouse.quality.spec import Check


def calendar_checks() -> list[Check]:
    """Completeness and freshness of every dataset."""
    return []
