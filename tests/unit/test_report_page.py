"""The report page's figures: exact integers, every one with thousands separators."""

from __future__ import annotations

from datetime import date

from treasury_lakehouse.report import cell_text


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
