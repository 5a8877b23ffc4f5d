"""The report's charts: lines break where records are missing, money axes read plainly."""

from __future__ import annotations

import math
import re
from datetime import date

from treasury_lakehouse.calendar import next_business_day
from treasury_lakehouse.report_charts import (
    DebtLimitDays,
    break_at_gaps,
    debt_limit_figure,
    isolated,
    line_figure,
    money_label,
    monthly_bar_figure,
    next_month,
    runs_of,
)


def test_next_month_rolls_over_the_year() -> None:
    assert next_month(date(2005, 12, 1)) == date(2006, 1, 1)
    assert next_month(date(2021, 6, 1)) == date(2021, 7, 1)


def test_a_line_breaks_across_missing_months() -> None:
    """The real public debt records jump from 2005-10 to 2021-06: no line may bridge them."""
    months = [date(2005, 10, 1), date(2021, 6, 1), date(2021, 7, 1)]
    x, (values,) = break_at_gaps(months, [[60_000, 280_000, None]], next_month)
    assert x == [date(2005, 10, 1), date(2005, 11, 1), date(2021, 6, 1), date(2021, 7, 1)]
    assert values[0] == 60_000.0 and values[2] == 280_000.0
    assert math.isnan(values[1]) and math.isnan(values[3])  # the gap, then a NULL
    assert isolated(values) == [0, 2]  # each drawn as a dot: no segment would show it


def test_a_daily_line_breaks_only_at_missing_business_days() -> None:
    days = [date(2024, 11, 27), date(2024, 11, 29), date(2024, 12, 2), date(2024, 12, 4)]
    x, (values,) = break_at_gaps(days, [[1, 2, 3, 4]], next_business_day)
    # Thanksgiving (11-28) and the weekend are no gap; 2024-12-03 is missing
    assert x == [*days[:3], date(2024, 12, 3), days[3]]
    assert [math.isnan(v) for v in values] == [False, False, False, True, False]


def test_suspension_runs_end_at_a_gap_in_the_records() -> None:
    days = [date(2023, 6, 1), date(2023, 6, 2), date(2023, 6, 5), date(2023, 6, 7)]
    runs = runs_of(days, [False, True, True, True], next_business_day)
    assert runs == [(date(2023, 6, 2), date(2023, 6, 6)), (date(2023, 6, 7), date(2023, 6, 8))]
    assert runs_of(days, [False] * 4, next_business_day) == []


def _tick_texts(figure: object) -> list[tuple[str, list[str]]]:
    """Each axis's offset text and y tick labels, as drawn."""
    figure.canvas.draw()  # type: ignore[attr-defined]
    return [
        (axis.yaxis.get_offset_text().get_text(), [t.get_text() for t in axis.get_yticklabels()])
        for axis in figure.axes  # type: ignore[attr-defined]
    ]


def test_money_axes_have_no_offset_and_use_thousands_separators() -> None:
    months = [date(2021, m, 1) for m in range(1, 13)]
    big = [36_000_000 + 1_000 * m for m in range(12)]  # a range matplotlib would show as "+3.6e7"
    days = [date(2023, 5, d) for d in (1, 2, 3, 4)]
    figures = [
        line_figure(months, {"debt": big}, next_month),
        monthly_bar_figure(months, {"a": big, "b": [-5_000] * 12}),
        debt_limit_figure(
            DebtLimitDays(
                days,
                [31_381_000, 31_381_400, 31_381_439, 31_741_406],
                [31_381_463, 31_381_463, 31_381_463, None],
                [False, False, False, True],
                [463, 63, 24, None],
                [57_000, 49_000, 22_892, 71_218],
            )
        ),
    ]
    drawn = [axis for figure in figures for axis in _tick_texts(figure)]
    assert all(offset == "" for offset, _ in drawn)  # no "1e6", no "+3.6e7"
    labels = [label for _, axis_labels in drawn for label in axis_labels]
    assert all(re.fullmatch(r"-?\d{1,3}(,\d{3})*", label) for label in labels), labels
    assert any(label.count(",") == 2 for label in labels)  # tens of millions, in full
    assert money_label(36_000_000.0) == "36,000,000"
    assert money_label(-0.0) == "0" and money_label(-1_500.0) == "-1,500"
