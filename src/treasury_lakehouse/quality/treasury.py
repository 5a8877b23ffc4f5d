"""Treasury accounting identities, with the published rounding as tolerance (filled below)."""

from __future__ import annotations

from treasury_lakehouse.quality.spec import Check


def treasury_checks() -> list[Check]:
    """The accounting-identity checks."""
    return []
