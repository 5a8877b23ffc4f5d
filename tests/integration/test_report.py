"""The report: charts and exact tables drawn from the published gold tables."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

import pytest

from conftest import make_settings
from treasury_lakehouse import pipeline
from treasury_lakehouse.errors import LakeError
from treasury_lakehouse.report import build_report
from treasury_lakehouse.testing import FakeFiscalDataApi
from treasury_lakehouse.testing.browser import render_page

SAMPLE = {"start": date(2021, 9, 1), "end": date(2022, 5, 31)}
CHARTS = (
    "debt_limit.png",
    "tga_balance.png",
    "monthly_net_change.png",
    "cumulative_net_change.png",
    "tax_refunds.png",
)


@pytest.fixture(scope="module")
def report_of_all_datasets(
    synthetic_records: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """``index.html`` of a real pipeline run of all eight datasets against the fake API."""
    home = tmp_path_factory.mktemp("report")
    with FakeFiscalDataApi(synthetic_records) as api:
        settings = make_settings(home, api, **SAMPLE)
        pipeline.run(settings)
    return build_report(settings)


def test_report_draws_charts_of_published_gold(report_of_all_datasets: Path) -> None:
    index = report_of_all_datasets
    page = index.read_text()
    for chart in CHARTS:
        assert f"src='{chart}'" in page
        assert (index.parent / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<h2>Debt limit</h2>" in page and "not published" not in page
    assert "2021-09-01 to 2022-05-31" in page
    assert "<td>2022-05</td>" in page  # the latest month leads the monthly tables
    # one batch per dataset: nothing restated yet (tests/integration/test_history.py has some)
    assert "<h2>Latest revisions</h2>" in page and "No revisions: the Treasury has" in page


def _figures(page: str) -> list[str]:
    """Every number of the page's visible text, dates and month labels left out."""
    text = re.sub(r"<[^>]+>", " ", page.split("<body>", 1)[1])
    text = re.sub(r"\d{4}-\d{2}(-\d{2})?( \d{2}:\d{2})?", " ", text)
    return re.findall(r"-?\d+(?:,\d+)*", text)


def test_every_figure_in_the_page_has_thousands_separators(report_of_all_datasets: Path) -> None:
    figures = _figures(report_of_all_datasets.read_text())
    assert len(figures) > 100
    assert [f for f in figures if not re.fullmatch(r"-?\d{1,3}(,\d{3})*", f)] == []


def test_a_run_of_other_datasets_still_reports(fake_api: FakeFiscalDataApi, tmp_path: Path) -> None:
    """Without the debt limit's and tax refunds' datasets their sections say so; no error.
    (The warehouse needs every dataset, so the lake is built without a load.)"""
    settings = make_settings(tmp_path, fake_api, datasets=("public_debt_transactions",), **SAMPLE)
    pipeline.ingest(settings)
    pipeline.transform(settings)
    page = build_report(settings).read_text()
    for table in ("gold_daily_debt_limit", "gold_monthly_tax_refunds", "gold_daily_cash_balance"):
        assert f"{table} is not published in this lake" in page
    assert "debt_subject_to_limit" in page  # names the datasets to run
    assert "src='monthly_net_change.png'" in page and "src='debt_limit.png'" not in page


def assert_not_blank(png: bytes) -> None:
    """A screenshot with content: many colours, and far from one flat grey."""
    from PIL import Image, ImageStat  # matplotlib's own dependency: the [report] extra

    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.width >= 1000 and image.height >= 2000, image.size
    assert len(image.getcolors(maxcolors=1 << 24) or []) > 500
    assert ImageStat.Stat(image.convert("L")).stddev[0] > 20


@pytest.mark.chromium
def test_the_page_renders_in_headless_chromium(report_of_all_datasets: Path) -> None:
    """Every image loads, the console stays clean, and the screenshot shows something."""
    rendering = render_page(report_of_all_datasets)
    (report_of_all_datasets.parent / "screenshot.png").write_bytes(rendering.screenshot)
    assert sorted(i.src.rsplit("/", 1)[-1] for i in rendering.images) == sorted(CHARTS)
    assert [i.src for i in rendering.images if i.natural_width == 0] == []
    assert rendering.console_errors == []
    assert_not_blank(rendering.screenshot)


@pytest.mark.chromium
def test_chromium_sees_a_broken_image_and_console_errors(tmp_path: Path) -> None:
    """The browser test can fail: a missing image and a script error are both seen."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!doctype html><html><body><h1>broken</h1><img src='missing.png'>"
        "<script>console.error('drawn wrong'); undefinedFunction();</script></body></html>"
    )
    rendering = render_page(page)
    assert [(i.src.rsplit("/", 1)[-1], i.natural_width) for i in rendering.images] == [
        ("missing.png", 0)
    ]
    errors = " | ".join(rendering.console_errors)
    assert "drawn wrong" in errors and "undefinedFunction" in errors and "missing.png" in errors


@pytest.mark.shared_data
@pytest.mark.slow
@pytest.mark.chromium
def test_the_report_of_the_real_records(real_api: FakeFiscalDataApi, tmp_path: Path) -> None:
    """What `make report-screenshot` draws: every dataset of ../shared/fiscaldata."""
    settings = make_settings(tmp_path, real_api)
    pipeline.run(settings)
    index = build_report(settings)
    page = index.read_text()
    assert "not published" not in page
    # issue #10's published figures, in the caption of the X-date picture
    assert "On 2025-09-02 headroom was 3,804,105 against a limit of 41,103,996" in page
    assert "shaded: limit suspended" in page
    assert [f for f in _figures(page) if not re.fullmatch(r"-?\d{1,3}(,\d{3})*", f)] == []
    rendering = render_page(index)
    assert [i.src for i in rendering.images if i.natural_width == 0] == []
    assert rendering.console_errors == []
    assert_not_blank(rendering.screenshot)


def test_report_without_gold_says_what_to_do(tmp_path: Path) -> None:
    settings = pipeline.Settings(home=tmp_path)
    with pytest.raises(LakeError, match="run `treasury run` first"):
        build_report(settings)
