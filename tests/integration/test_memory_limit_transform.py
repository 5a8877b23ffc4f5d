"""A transform under a small TREASURY_MEMORY_LIMIT gives the same lake as one without.

Spilling itself is not asserted: the synthetic history is too small for DuckDB to spill under
64MB (a 300k-row generated bronze at 256MB did spill, see docs/performance.md); this asserts
the limit holds, the result is unchanged, and the spill folder is outside the lake and cleaned.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from conftest import make_settings
from treasury_lakehouse import pipeline
from treasury_lakehouse.testing.fake_api import FakeFiscalDataApi


def test_small_memory_limit_transform_matches_unlimited(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    fake_api.today = date(2022, 5, 31)
    results = {}
    for name, limit in (("unlimited", None), ("limited", "64MB")):
        settings = make_settings(
            tmp_path / name, fake_api, start=date(2021, 9, 1), memory_limit=limit
        )
        pipeline.ingest(settings)
        result = pipeline.transform(settings)
        results[name] = (result.silver, result.gold)
        assert (settings.home / "tmp").is_dir()
        assert list((settings.home / "tmp").iterdir()) == []  # the engine removed its folder
        assert not list(settings.lake.rglob("duckdb_temp*"))
    assert results["limited"] == results["unlimited"]
