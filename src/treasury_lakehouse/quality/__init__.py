"""Data-quality checks: generic (keys, values, rows per day) and Treasury-specific (identities,
the business-day calendar), run over the lake before anything is published."""

from treasury_lakehouse.quality.results import CheckResult, Finding, QualityReport
from treasury_lakehouse.quality.runner import run_checks
from treasury_lakehouse.quality.spec import Check, CheckContext

__all__ = ["Check", "CheckContext", "CheckResult", "Finding", "QualityReport", "run_checks"]
