"""The report page's figures: exact integers, every one with thousands separators."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from treasury_lakehouse.report import cell_text, debt_limit_section, tax_refunds_section


def test_every_integer_gets_thousands_separators() -> None:
    # a real monthly net change of 7366 once showed as "7366" (only |v| >= 10000 had them)
    assert [cell_text(v) for v in (7366, -7366, 41_103_996, 24, 0)] == [
        "7,366",
        "-7,366",
        "41,103,996",
        "24",
        "0",
    ]


def test_dates_and_month_labels_stay_as_they_are_and_null_is_a_dash() -> None:
    assert cell_text(date(2023, 6, 1)) == "2023-06-01"
    assert cell_text("2022-05") == "2022-05"
    assert cell_text(None) == "—"


def test_the_debt_limit_section_of_a_suspended_last_day_without_its_tga(tmp_path: Path) -> None:
    """Rows as gold_daily_debt_limit gives them: NULL limit and headroom while suspended, and a
    day whose TGA row is missing; the caption and table show them, nothing raises."""
    rows = [
        (date(2023, 6, 1), 31_381_439, 31_381_463, False, 24, 22_892),
        (date(2023, 6, 2), 31_400_000, None, True, None, 40_000),
        (date(2023, 6, 5), 31_741_406, None, True, None, None),
    ]

    def read(table: str, query: str) -> list[tuple[Any, ...]] | None:
        return rows if table == "gold_daily_debt_limit" else None

    section = debt_limit_section(read, tmp_path)
    [chart] = section.charts
    assert (tmp_path / chart.file).read_bytes()[:4] == b"\x89PNG"
    assert "shaded: limit suspended" in chart.caption
    assert "On 2023-06-05 the limit was suspended, with — in the TGA" in chart.caption
    [table] = section.tables
    assert table.rows[-1] == (date(2023, 6, 1), 31_381_439, 31_381_463, 24, 22_892)
    assert tax_refunds_section(read, tmp_path).note == (
        "gold_monthly_tax_refunds is not published in this lake: run `treasury run` with the "
        "datasets income_tax_refunds_issued."
    )
