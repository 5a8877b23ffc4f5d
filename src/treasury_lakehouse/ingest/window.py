"""Which record dates the next ingestion of a dataset asks for: a pure decision."""

from __future__ import annotations

from datetime import date, timedelta

from treasury_lakehouse.config import Settings
from treasury_lakehouse.errors import ConfigError
from treasury_lakehouse.ingest.paging import Window


def ingest_window(settings: Settings, watermark: date | None) -> Window:
    """The record-date window of the next ingestion of a dataset whose bronze ends at
    ``watermark``.

    An explicit ``--start`` is a backfill. Otherwise the window starts ``lookback_days`` before
    its anchor, to catch restatements: the committed watermark (``window_anchor="watermark"``,
    the CLI's default), or ``end`` (``"end"``, the DAG's: a run for a past date re-fetches that
    date's window; a lake whose watermark is older still starts there, so no gap is left). An
    empty bronze starts at the initial start date. A window whose start is after its end is a
    :class:`ConfigError`: it would fetch nothing and pass for a successful run.
    """
    lookback = timedelta(days=settings.lookback_days)
    if settings.window_anchor == "end" and settings.end is None:
        raise ConfigError(
            "window anchor 'end' needs an end date (--end): the window is the lookback before it"
        )
    if settings.start is not None:
        start, origin = settings.start, "--start"
    elif watermark is None:
        start, origin = settings.initial_start, "the initial start date (TREASURY_START_DATE)"
    elif settings.window_anchor == "end" and settings.end is not None:
        start = min(settings.end, watermark) - lookback
        origin = f"--end {settings.end} - lookback {settings.lookback_days} days"
    else:
        start = watermark - lookback
        origin = f"the watermark {watermark} - lookback {settings.lookback_days} days"
    if settings.end is not None and start > settings.end:
        raise ConfigError(
            f"the window would start on {start} ({origin}), after its end {settings.end}: "
            "nothing would be fetched. To re-fetch an earlier range give --start, or "
            "--window-anchor end to start the lookback before --end"
        )
    return Window(start, settings.end)
