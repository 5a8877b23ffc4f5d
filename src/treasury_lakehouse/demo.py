"""``treasury demo``: the whole pipeline offline, against the fake API on 127.0.0.1."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import date
from pathlib import Path

from treasury_lakehouse import pipeline
from treasury_lakehouse.config import Settings

#: the synthetic sample spans every layout of the cash balance table
SAMPLE_START = date(2021, 9, 1)
SAMPLE_END = date(2022, 5, 31)


def run_demo(
    settings: Settings,
    records: Path | None = None,
    today: date | None = None,
    on_page: pipeline.PageCallback | None = None,
) -> pipeline.RunResult:
    """Serve ``records`` (or a generated sample) on a local fake API and run the pipeline on it."""
    from treasury_lakehouse.testing import FakeFiscalDataApi, generate_records

    with tempfile.TemporaryDirectory(prefix="treasury-demo-") as scratch:
        start: date | None
        if records is None:
            records = Path(scratch) / "records"
            generate_records(records, SAMPLE_START, SAMPLE_END)
            served = f"a synthetic sample {SAMPLE_START}..{SAMPLE_END}"
            start = settings.start or SAMPLE_START
        else:
            served = str(records)
            start = settings.start or settings.initial_start
        with FakeFiscalDataApi(records, today=today) as api:
            demo_settings = replace(settings, api_url=api.base_url, start=start)
            result = pipeline.run(demo_settings, on_page=on_page)
    result.extra["served"] = served
    return result
