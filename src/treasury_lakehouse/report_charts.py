"""The report's charts, drawn with matplotlib (the ``[report]`` extra).

Three rules hold for every chart:

* a line never bridges missing records: where a month (monthly series) or a business day (daily
  series, the DTS calendar) is missing, :func:`break_at_gaps` puts a NaN point and the line stops;
* money axes read in plain, thousands-separated figures, never with a ``1e6`` offset;
* bars stand on a time axis, so a gap in the records is a visible gap between bars.

The figure builders return the :class:`~matplotlib.figure.Figure`; :func:`save_png` writes and
closes it. Values are exact integers (or ``None``) until here; only coordinates are floats.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from treasury_lakehouse.calendar import next_business_day
from treasury_lakehouse.errors import ConfigError

MILLIONS = "millions of USD"
#: the next date a series expects after a given one (its next month, its next business day)
Following = Callable[[date], date]
#: the width of a monthly bar on a date axis, in days
_MONTH_BAR_DAYS = 24
_SUSPENDED_COLOR = "#f2c14e"
_CATEGORY_COLORS = ("#2b8cbe", "#7bccc4", "#f03b20", "#984ea3", "#4daf4a", "#ff7f00")


def next_month(day: date) -> date:
    """The first day of the month after ``day``'s month."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def break_at_gaps(
    x: Sequence[date], columns: Sequence[Sequence[int | None]], following: Following
) -> tuple[list[date], list[list[float]]]:
    """The points of ``columns`` over ``x`` (ascending), with a NaN point at every gap.

    Between two neighbours ``a < b`` with ``b > following(a)`` a point at ``following(a)`` with NaN
    in every column is inserted, so matplotlib ends the line there. ``None`` becomes NaN too.
    """
    nan = float("nan")
    out_x: list[date] = []
    out_columns: list[list[float]] = [[] for _ in columns]
    for i, day in enumerate(x):
        if i and day > following(x[i - 1]):
            out_x.append(following(x[i - 1]))
            for column in out_columns:
                column.append(nan)
        out_x.append(day)
        for column, values in zip(out_columns, columns, strict=True):
            value = values[i]
            column.append(nan if value is None else float(value))
    return out_x, out_columns


def runs_of(
    x: Sequence[date], flags: Sequence[bool], following: Following
) -> list[tuple[date, date]]:
    """The spans ``[first, following(last))`` of consecutive flagged records.

    A run ends at an unflagged record and at a gap in the records: what is not in the records is
    not claimed to be flagged.
    """
    spans: list[tuple[date, date]] = []
    start: date | None = None
    for i, (day, flag) in enumerate(zip(x, flags, strict=True)):
        if start is not None and (not flag or day > following(x[i - 1])):
            spans.append((start, following(x[i - 1])))
            start = None
        if flag and start is None:
            start = day
    if start is not None:
        spans.append((start, following(x[-1])))
    return spans


def isolated(values: Sequence[float]) -> list[int]:
    """The indexes of points with no neighbour to draw a line to (NaN or nothing either side)."""

    def missing(i: int) -> bool:
        return not 0 <= i < len(values) or math.isnan(values[i])

    return [i for i in range(len(values)) if not missing(i) and missing(i - 1) and missing(i + 1)]


def _plot_broken(axis: Any, x: Sequence[date], values: Sequence[float], **style: Any) -> None:
    """A line through ``values``; a point standing alone between gaps gets a dot, as no line
    segment would show it."""
    (line,) = axis.plot(x, values, **style)
    alone = isolated(values)
    if alone:
        dots = ([x[i] for i in alone], [values[i] for i in alone])
        axis.plot(*dots, "o", markersize=2.5, color=line.get_color())


def money_label(value: float, _position: object = None) -> str:
    """A tick label: whole millions with thousands separators (``36,000,000``)."""
    text = f"{value:,.0f}"
    return "0" if text == "-0" else text  # a tick at -0.0 or -0.3


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError(
            "the report needs matplotlib: pip install 'treasury-lakehouse[report]'"
        ) from None
    return plt


def _money_axis(axis: Any, ylabel: str = MILLIONS) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.yaxis.set_major_formatter(FuncFormatter(money_label))  # no offset, no 1e6
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)


def line_figure(
    x: Sequence[date],
    series: Mapping[str, Sequence[int | None]],
    following: Following,
    ylabel: str = MILLIONS,
) -> Any:
    """One line per series over ``x``, broken where ``following`` says records are missing."""
    figure, axis = _pyplot().subplots(figsize=(10, 4), dpi=100)
    points, columns = break_at_gaps(x, list(series.values()), following)
    for label, values in zip(series, columns, strict=True):
        _plot_broken(axis, points, values, label=label, linewidth=1.2)
    _money_axis(axis, ylabel)
    axis.legend(loc="upper left")
    figure.tight_layout()
    return figure


def monthly_bar_figure(
    months: Sequence[date], series: Mapping[str, Sequence[int]], ylabel: str = MILLIONS
) -> Any:
    """Bars per month on a date axis, stacked when there are several series.

    Positive parts stack upwards from 0 and negative parts downwards, so a negative category
    (a refund reversed) never hides a positive one. One series colours its bars by sign.
    """
    figure, axis = _pyplot().subplots(figsize=(10, 4), dpi=100)
    centres = [m + timedelta(days=14) for m in months]
    if len(series) == 1:
        (values,) = series.values()
        colors = ["#2b8cbe" if v >= 0 else "#de2d26" for v in values]
        axis.bar(centres, [float(v) for v in values], width=_MONTH_BAR_DAYS, color=colors)
    else:
        above, below = [0.0] * len(months), [0.0] * len(months)
        for (label, values), color in zip(series.items(), _CATEGORY_COLORS, strict=False):
            bottoms = [a if v >= 0 else b for v, a, b in zip(values, above, below, strict=True)]
            heights = [float(v) for v in values]
            axis.bar(
                centres, heights, width=_MONTH_BAR_DAYS, bottom=bottoms, label=label, color=color
            )
            above = [a + max(v, 0) for a, v in zip(above, values, strict=True)]
            below = [b + min(v, 0) for b, v in zip(below, values, strict=True)]
        # bars with a bottom pin autoscaling to it: leave the tallest stack some room
        axis.set_ylim(min(below) * 1.08, max(above) * 1.08 or 1)
        axis.legend(loc="upper left")
    axis.axhline(0, color="#333", linewidth=0.6)
    _money_axis(axis, ylabel)
    figure.tight_layout()
    return figure


@dataclass(frozen=True)
class DebtLimitDays:
    """The columns of ``gold_daily_debt_limit`` the X-date picture draws, one entry per day."""

    record_date: Sequence[date]
    debt_subject_to_limit: Sequence[int | None]
    statutory_limit: Sequence[int | None]
    suspended: Sequence[bool]
    headroom: Sequence[int | None]
    tga_closing_balance: Sequence[int | None]


def debt_limit_figure(days: DebtLimitDays) -> Any:
    """Debt subject to limit against the limit, headroom and the TGA on one shared time axis.

    Suspension periods are shaded on all three panels; the limit and headroom lines stop there
    (both are NULL while the limit is suspended).
    """
    figure, (debt, headroom, tga) = _pyplot().subplots(
        3, 1, sharex=True, figsize=(10, 8), dpi=100, gridspec_kw={"height_ratios": [2, 1, 1]}
    )
    x, (subject, limit, room, cash) = break_at_gaps(
        days.record_date,
        [days.debt_subject_to_limit, days.statutory_limit, days.headroom, days.tga_closing_balance],
        next_business_day,
    )
    _plot_broken(debt, x, subject, label="debt subject to limit", linewidth=1.4, color="#08519c")
    _plot_broken(debt, x, limit, label="statutory debt limit", linewidth=1.4, color="#cb181d")
    _plot_broken(
        headroom, x, room, label="headroom (limit − debt subject to limit)", color="#238b45"
    )
    _plot_broken(tga, x, cash, label="TGA closing balance", linewidth=1.0, color="#6a51a3")
    spans = runs_of(days.record_date, days.suspended, next_business_day)
    for panel in (debt, headroom, tga):
        for i, (first, end) in enumerate(spans):
            label = "limit suspended" if i == 0 and panel is debt else None
            panel.axvspan(first, end, color=_SUSPENDED_COLOR, alpha=0.35, linewidth=0, label=label)
        _money_axis(panel)
        panel.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    return figure


def save_png(figure: Any, path: Path) -> None:
    """Write ``figure`` as a PNG at ``path`` and release it."""
    figure.savefig(path, format="png")
    _pyplot().close(figure)
