"""The report: charts and exact tables drawn from the published gold tables."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from conftest import make_settings
from treasury_lakehouse import pipeline
from treasury_lakehouse.errors import LakeError
from treasury_lakehouse.report import build_report
from treasury_lakehouse.testing import FakeFiscalDataApi


def test_report_draws_charts_of_published_gold(fake_api: FakeFiscalDataApi, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, fake_api, start=date(2021, 9, 1), end=date(2022, 5, 31))
    pipeline.run(settings)
    index = build_report(settings)
    page = index.read_text()
    for chart in ("tga_balance.png", "monthly_net_change.png", "cumulative_net_change.png"):
        assert f"src='{chart}'" in page
        assert (index.parent / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "2021-09-01 to 2022-05-31" in page
    assert "<td>2022</td><td>5</td>" in page  # the latest month leads the table


def test_report_without_gold_says_what_to_do(tmp_path: Path) -> None:
    settings = pipeline.Settings(home=tmp_path)
    with pytest.raises(LakeError, match="run `treasury run` first"):
        build_report(settings)
