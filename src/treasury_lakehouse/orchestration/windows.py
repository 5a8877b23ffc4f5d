"""Which record dates a scheduled run asks for: pure decisions, no Airflow import.

A run due at a moment on New York day *D* reads the Daily Treasury Statement published that
afternoon, the one of the business day before *D* (:func:`statement_date`). Its window ends there
and starts ``lookback_days`` earlier (``window_anchor="end"``, see
:func:`treasury_lakehouse.pipeline.ingest_window`), so re-running or backfilling a past date
re-fetches that date's window whatever the lake already holds.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from treasury_lakehouse.calendar import previous_business_day
from treasury_lakehouse.config import Settings, settings_from_env

TIMEZONE = "America/New_York"


def statement_date(run_moment: datetime) -> date:
    """The newest record date a run due at ``run_moment`` asks the API for.

    The Daily Treasury Statement of business day *B* is published around 4 pm New York time on the
    next business day, so a run on New York day *D* (scheduled at 18:00) can read the statement of
    the business day before *D*. Runs on a weekend or holiday ask for a statement that may not be
    out yet; the API then answers with what is published and the next run's lookback completes it.
    """
    if run_moment.tzinfo is None:
        raise ValueError(f"run moment {run_moment} has no timezone")
    return previous_business_day(run_moment.astimezone(ZoneInfo(TIMEZONE)).date())


def scheduled_run_settings(run_moment: datetime, **overrides: Any) -> Settings:
    """The ``TREASURY_*`` settings of a run due at ``run_moment``: the window ends at its
    statement date and is anchored there (``window_anchor="end"``)."""
    values: dict[str, Any] = {"end": statement_date(run_moment), "window_anchor": "end"}
    values.update(overrides)
    return settings_from_env(**values)
