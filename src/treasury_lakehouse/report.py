"""``treasury report``: an HTML page with charts of the published gold tables.

Reads the lake's published gold Parquet (whatever the warehouse) from one lake commit, draws PNG
charts with matplotlib (the ``[report]`` extra, :mod:`.report_charts`) and writes
``<home>/report/index.html``. Each section draws one gold table; a table the commit does not
publish (a run restricted to other datasets) leaves its section saying so, never an error. Tables
in the page show the exact integers, every figure with thousands separators; only the chart
coordinates are floating point. The page ends with the latest revisions of the commit's row
histories (:mod:`.report_revisions`).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from treasury_lakehouse.calendar import next_business_day
from treasury_lakehouse.config import Settings
from treasury_lakehouse.errors import LakeError
from treasury_lakehouse.lake.commit import LakeCommit
from treasury_lakehouse.lake.files import atomic_write_bytes
from treasury_lakehouse.lake.layout import Lake
from treasury_lakehouse.models.history import CHANGES
from treasury_lakehouse.models.registry import GOLD
from treasury_lakehouse.paths import glob_escape
from treasury_lakehouse.report_charts import (
    DebtLimitDays,
    debt_limit_figure,
    line_figure,
    monthly_bar_figure,
    next_month,
    save_png,
)
from treasury_lakehouse.report_revisions import (
    HEADER,
    LATEST,
    count_rows,
    read_latest_revisions,
    revision_rows,
)
from treasury_lakehouse.sql_quote import quote_literal

Rows = list[tuple[Any, ...]]
NET_ISSUANCE = "net issuance, millions of USD"
#: reads one published gold table: (table, query over view ``t``) → rows, or None if unpublished
ReadGold = Callable[[str, str], Rows | None]


@dataclass(frozen=True)
class Chart:
    file: str
    caption: str


@dataclass(frozen=True)
class Table:
    title: str
    header: tuple[str, ...]
    rows: Rows


@dataclass
class Section:
    """One gold table's part of the page; ``note`` says why it has no charts."""

    title: str
    gold_table: str
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    note: str | None = None


def build_report(settings: Settings) -> Path:
    """Write the report of the lake's published gold; returns the path of ``index.html``."""
    lake, out = Lake(settings.lake), settings.home / "report"
    commit = lake.find_commit()  # one commit for every table of the page
    if commit is None:
        raise LakeError(f"no published gold tables in {lake.root}; run `treasury run` first")
    out.mkdir(parents=True, exist_ok=True)

    def read(table: str, query: str) -> Rows | None:
        return _read_gold(commit, table, query)

    sections = [build(read, out) for build in SECTIONS] + [revisions_section(commit)]
    index = out / "index.html"
    atomic_write_bytes(index, _html(sections).encode())
    return index


def _read_gold(commit: LakeCommit, table: str, query: str) -> Rows | None:
    version = commit.versions("gold").get(table)
    if version is None:
        return None
    with duckdb.connect() as con:
        pattern = quote_literal(glob_escape(version) + "/*.parquet")
        con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet({pattern})")
        return con.execute(query).fetchall()


def _absence(table: str, rows: Rows | None) -> str:
    """What the page says for a gold table that is not published (``None``) or empty."""
    if rows is not None:
        return f"{table} is published but has no rows in this lake's window."
    model = GOLD.get(table)
    needs = ", ".join(s.removeprefix("silver_") for s in model.sources) if model else ""
    datasets = f"the datasets {needs}" if needs else "its datasets"
    return f"{table} is not published in this lake: run `treasury run` with {datasets}."


def _months(rows: Rows) -> list[date]:
    """The first day of each row's month; rows start with ``year, month``."""
    return [date(r[0], r[1], 1) for r in rows]


def _month_label(year: int, month: int) -> str:
    return f"{year}-{month:02d}"


def debt_limit_section(read: ReadGold, out: Path) -> Section:
    section = Section("Debt limit", "gold_daily_debt_limit")
    rows = read(
        section.gold_table,
        "SELECT record_date, debt_subject_to_limit_usd_mil, statutory_debt_limit_usd_mil, "
        "limit_suspended, headroom_usd_mil, tga_closing_balance_usd_mil FROM t ORDER BY 1",
    )
    if not rows:
        section.note = _absence(section.gold_table, rows)
        return section
    x, subject, limit, suspended, headroom, tga = (
        list(column) for column in zip(*rows, strict=True)
    )
    days = DebtLimitDays(x, subject, limit, [bool(s) for s in suspended], headroom, tga)
    save_png(debt_limit_figure(days), out / "debt_limit.png")
    last = rows[-1]
    standing = (
        "the limit was suspended"
        if last[3]
        else f"headroom was {cell_text(last[4])} against a limit of {cell_text(last[2])}"
    )
    shaded = "; shaded: limit suspended" if any(days.suspended) else ""
    section.charts.append(
        Chart(
            "debt_limit.png",
            f"The X-date picture, {x[0]} to {x[-1]} ({len(rows):,} business days{shaded}). "
            f"On {last[0]} {standing}, with {cell_text(last[5])} in the TGA (millions of USD).",
        )
    )
    section.tables.append(
        Table(
            "Latest days (millions of USD; — while the limit is suspended)",
            ("record date", "debt subject to limit", "limit", "headroom", "TGA closing"),
            [(r[0], r[1], r[2], r[4], r[5]) for r in rows[-10:][::-1]],
        )
    )
    return section


def cash_section(read: ReadGold, out: Path) -> Section:
    section = Section("Treasury General Account, closing balance", "gold_daily_cash_balance")
    rows = read(
        section.gold_table,
        "SELECT record_date, tga_closing_balance_usd_mil FROM t "
        "WHERE tga_closing_balance_usd_mil IS NOT NULL ORDER BY 1",
    )
    if not rows:
        section.note = _absence(section.gold_table, rows)
        return section
    x = [r[0] for r in rows]
    figure = line_figure(x, {"TGA closing balance": [r[1] for r in rows]}, next_business_day)
    save_png(figure, out / "tga_balance.png")
    section.charts.append(
        Chart("tga_balance.png", f"{x[0]} to {x[-1]}, {len(rows):,} business days")
    )
    section.tables.append(
        Table(
            "Latest TGA closing balances (millions of USD)",
            ("record date", "closing"),
            rows[-10:][::-1],
        )
    )
    return section


def debt_growth_section(read: ReadGold, out: Path) -> Section:
    section = Section("Public debt: monthly net change", "gold_monthly_debt_growth")
    rows = read(
        section.gold_table,
        "SELECT year, month, net_change_usd_mil, cumulative_net_change_usd_mil "
        "FROM t ORDER BY year, month",
    )
    if not rows:
        section.note = _absence(section.gold_table, rows)
        return section
    months = _months(rows)
    net = {"net change": [r[2] for r in rows]}
    save_png(monthly_bar_figure(months, net, NET_ISSUANCE), out / "monthly_net_change.png")
    cumulative = {"cumulative net change": [r[3] for r in rows]}
    save_png(line_figure(months, cumulative, next_month), out / "cumulative_net_change.png")
    section.charts += [
        Chart(
            "monthly_net_change.png", "Issues minus redemptions per calendar month (Table III-A)"
        ),
        Chart(
            "cumulative_net_change.png",
            "Cumulative net change since the first month in the lake (running sum of the monthly "
            "net change over the months present; the line breaks where months are missing)",
        ),
    ]
    section.tables.append(
        Table(
            "Last 12 months (millions of USD)",
            ("month", "net change", "cumulative"),
            [(_month_label(y, m), net, total) for y, m, net, total in rows[-12:][::-1]],
        )
    )
    return section


REFUND_CATEGORIES = {
    "individual": "individual_usd_mil",
    "business": "business_usd_mil",
    "economic impact payments": "economic_impact_payments_usd_mil",
    "child tax credit": "child_tax_credit_usd_mil",
}


def tax_refunds_section(read: ReadGold, out: Path) -> Section:
    section = Section("Tax refunds by category", "gold_monthly_tax_refunds")
    columns = ", ".join(REFUND_CATEGORIES.values())
    rows = read(
        section.gold_table, f"SELECT year, month, {columns}, total_usd_mil FROM t ORDER BY 1, 2"
    )
    if not rows:
        section.note = _absence(section.gold_table, rows)
        return section
    series = {name: [r[2 + i] for r in rows] for i, name in enumerate(REFUND_CATEGORIES)}
    save_png(monthly_bar_figure(_months(rows), series), out / "tax_refunds.png")
    first, last = rows[0], rows[-1]
    section.charts.append(
        Chart(
            "tax_refunds.png",
            f"Refunds issued per calendar month, {_month_label(first[0], first[1])} to "
            f"{_month_label(last[0], last[1])}, stacked by category (DTS income tax refunds)",
        )
    )
    section.tables.append(
        Table(
            "Last 12 months (millions of USD)",
            ("month", *REFUND_CATEGORIES, "total"),
            [(_month_label(r[0], r[1]), *r[2:]) for r in rows[-12:][::-1]],
        )
    )
    return section


def revisions_section(commit: LakeCommit) -> Section:
    """The latest revisions across the datasets, newest first, and every dataset's count."""
    section = Section("Latest revisions", "revisions")
    histories = commit.versions("history")
    if not histories:
        section.note = (
            "This lake commit was written before row histories existed, so it lists no "
            "revisions: the next `treasury transform` builds them."
        )
        return section
    latest = read_latest_revisions(histories)
    counts = count_rows(latest)
    total = sum(row[-1] for row in counts)
    if not total:
        section.note = (
            "No revisions: the Treasury has restated, added to or withdrawn nothing this lake "
            "had published."
        )
        return section
    shown = "All" if total <= LATEST else f"The latest {LATEST:,} of"
    section.tables += [
        Table("Revisions per dataset", ("dataset", *CHANGES, "all"), counts),
        Table(f"{shown} {total:,} revisions, newest first", HEADER, revision_rows(latest)),
    ]
    return section


#: the page's sections, in order (the revisions follow them)
SECTIONS: tuple[Callable[[ReadGold, Path], Section], ...] = (
    debt_limit_section,
    cash_section,
    debt_growth_section,
    tax_refunds_section,
)


def _html(sections: list[Section]) -> str:
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>treasury-lakehouse report</title><style>body{font-family:sans-serif;"
        "max-width:1040px;margin:2em auto}td,th{padding:2px 10px;text-align:right}"
        "figcaption,.note{color:#555}</style></head><body>",
        f"<h1>Federal cash and debt</h1><p>From the lake's published gold tables, {made}.</p>",
    ]
    for section in sections:
        parts.append(f"<section><h2>{html.escape(section.title)}</h2>")
        if section.note:
            parts.append(f"<p class='note'>{html.escape(section.note)}</p>")
        for chart in section.charts:
            parts.append(
                f"<figure><img src='{chart.file}' width='1000' alt='{html.escape(chart.file)}'>"
                f"<figcaption>{html.escape(chart.caption)}</figcaption></figure>"
            )
        for table in section.tables:
            parts.append(_table_html(table))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _table_html(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell_text(v))}</td>" for v in row) + "</tr>"
        for row in table.rows
    )
    return f"<h3>{html.escape(table.title)}</h3><table><tr>{head}</tr>{body}</table>"


def cell_text(value: Any) -> str:
    """Every integer with thousands separators (tables hold money; months are labels)."""
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else str(value)
