"""Which record dates the next ingestion of a dataset asks for: a pure decision."""

from __future__ import annotations

from datetime import date, timedelta

from treasury_lakehouse.catalog import Dataset, clip_to_span
from treasury_lakehouse.config import DEFAULT_START_DATE, Settings
from treasury_lakehouse.errors import ConfigError
from treasury_lakehouse.ingest.paging import Window


def ingest_window(
    settings: Settings, watermark: date | None, first_date: date | None = None
) -> Window:
    """The record-date window of the next ingestion of a dataset whose bronze ends at
    ``watermark`` and whose source starts on ``first_date``.

    An explicit ``--start`` is a backfill. Otherwise the window starts ``lookback_days`` before
    its anchor, to catch restatements: the committed watermark (``window_anchor="watermark"``,
    the CLI's default), or ``end`` (``"end"``, the DAG's: a run for a past date re-fetches that
    date's window; a lake whose watermark is older still starts there, so no gap is left). An
    empty bronze starts at the initial start date (``TREASURY_START_DATE``), by default the
    dataset's own first date. A window whose start, as the settings give it, is after its end is
    a :class:`ConfigError`: it would fetch nothing and pass for a successful run (a dataset whose
    source starts after the end is not an error: :func:`dataset_window` skips it).
    """
    lookback = timedelta(days=settings.lookback_days)
    if settings.window_anchor == "end" and settings.end is None:
        raise ConfigError(
            "window anchor 'end' needs an end date (--end): the window is the lookback before it"
        )
    from_settings = True
    if settings.start is not None:
        start, origin = settings.start, "--start"
    elif watermark is None and settings.initial_start is not None:
        start, origin = settings.initial_start, "the initial start date (TREASURY_START_DATE)"
    elif watermark is None:
        start, origin = first_date or DEFAULT_START_DATE, "the dataset's first date"
        from_settings = first_date is None
    elif settings.window_anchor == "end" and settings.end is not None:
        start = min(settings.end, watermark) - lookback
        origin = f"--end {settings.end} - lookback {settings.lookback_days} days"
    else:
        start = watermark - lookback
        origin = f"the watermark {watermark} - lookback {settings.lookback_days} days"
    if from_settings and settings.end is not None and start > settings.end:
        raise ConfigError(
            f"the window would start on {start} ({origin}), after its end {settings.end}: "
            "nothing would be fetched. To re-fetch an earlier range give --start, or "
            "--window-anchor end to start the lookback before --end"
        )
    return Window(start, settings.end)


def dataset_window(
    settings: Settings, dataset: Dataset, watermark: date | None
) -> tuple[Window, Window | None]:
    """The window the settings ask of ``dataset`` and that window clipped to the dataset's span
    (``None`` when it lies wholly outside: the API is not asked)."""
    asked = ingest_window(settings, watermark, dataset.first_date)
    clipped = clip_to_span(dataset, asked.start or dataset.first_date, asked.end)
    return asked, (Window(*clipped) if clipped else None)
