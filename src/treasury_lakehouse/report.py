"""``treasury report``: an HTML page with charts of the published gold tables.

Reads the lake's published gold Parquet (whatever the warehouse), draws PNG charts with matplotlib
(the ``[report]`` extra) and writes ``<home>/report/index.html``. Tables in the page show the exact
integers; only the chart coordinates are floating point.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from treasury_lakehouse.config import Settings
from treasury_lakehouse.errors import ConfigError, LakeError
from treasury_lakehouse.lake.commit import LakeCommit
from treasury_lakehouse.lake.files import atomic_write_bytes
from treasury_lakehouse.lake.layout import Lake
from treasury_lakehouse.paths import glob_escape


@dataclass(frozen=True)
class Chart:
    file: str
    title: str
    caption: str


def _gold(lake: Lake, commit: LakeCommit | None, table: str, query: str) -> list[tuple[Any, ...]]:
    version = commit.versions("gold").get(table) if commit else None
    if version is None:
        raise LakeError(f"no published {table} in {lake.root}; run `treasury run` first")
    with duckdb.connect() as con:
        pattern = (glob_escape(version) + "/*.parquet").replace("'", "''")
        con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{pattern}')")
        return con.execute(query).fetchall()


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


def _line_chart(out: Path, x: list[date], series: dict[str, list[int]], ylabel: str) -> None:
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(10, 4), dpi=100)
    for label, values in series.items():
        axis.plot(x, [float(v) for v in values], label=label, linewidth=1.2)
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)
    axis.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(out, format="png")
    plt.close(figure)


def _bar_chart(out: Path, labels: list[str], values: list[int], ylabel: str) -> None:
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(10, 4), dpi=100)
    colors = ["#2b8cbe" if v >= 0 else "#de2d26" for v in values]
    axis.bar(range(len(values)), [float(v) for v in values], color=colors)
    step = max(1, len(labels) // 12)
    axis.set_xticks(range(0, len(labels), step), labels[::step], rotation=45, ha="right")
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3, axis="y")
    figure.tight_layout()
    figure.savefig(out, format="png")
    plt.close(figure)


def build_report(settings: Settings) -> Path:
    """Write the report of the lake's published gold; returns the path of ``index.html``."""
    lake, out = Lake(settings.lake), settings.home / "report"
    commit = lake.find_commit()  # one commit for every table of the page
    out.mkdir(parents=True, exist_ok=True)
    charts, tables = [], []

    cash = _gold(
        lake,
        commit,
        "gold_daily_cash_balance",
        "SELECT record_date, tga_closing_balance_usd_mil FROM t "
        "WHERE tga_closing_balance_usd_mil IS NOT NULL ORDER BY 1",
    )
    if cash:
        _line_chart(
            out / "tga_balance.png",
            [r[0] for r in cash],
            {"TGA closing balance": [r[1] for r in cash]},
            "millions of USD",
        )
        charts.append(
            Chart(
                "tga_balance.png",
                "Treasury General Account, closing balance",
                f"{cash[0][0]} to {cash[-1][0]}, {len(cash):,} business days",
            )
        )
        tables.append(
            (
                "Latest TGA closing balances (millions of USD)",
                ["record_date", "closing"],
                cash[-10:][::-1],
            )
        )

    monthly = _gold(
        lake,
        commit,
        "gold_monthly_debt_growth",
        "SELECT year, month, net_change_usd_mil, cumulative_net_change_usd_mil "
        "FROM t ORDER BY year, month",
    )
    if monthly:
        labels = [f"{y}-{m:02d}" for y, m, *_ in monthly]
        _bar_chart(
            out / "monthly_net_change.png",
            labels,
            [r[2] for r in monthly],
            "net issuance, millions of USD",
        )
        charts.append(
            Chart(
                "monthly_net_change.png",
                "Monthly net change of public debt",
                "issues minus redemptions per calendar month (DTS Table III-A)",
            )
        )
        _line_chart(
            out / "cumulative_net_change.png",
            [date(y, m, 1) for y, m, *_ in monthly],
            {"cumulative net change": [r[3] for r in monthly]},
            "millions of USD",
        )
        charts.append(
            Chart(
                "cumulative_net_change.png",
                "Cumulative net change since the first month in the lake",
                "running sum of the monthly net change",
            )
        )
        tables.append(
            (
                "Monthly debt growth, last 12 months (millions of USD)",
                ["year", "month", "net change", "cumulative"],
                monthly[-12:][::-1],
            )
        )

    if not charts:
        raise LakeError("the published gold tables are empty; nothing to report")
    index = out / "index.html"
    atomic_write_bytes(index, _html(charts, tables).encode())
    return index


def _html(charts: list[Chart], tables: list[tuple[str, list[str], list[tuple[Any, ...]]]]) -> str:
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>treasury-lakehouse report"
        "</title><style>body{font-family:sans-serif;max-width:1040px;margin:2em auto}"
        "td,th{padding:2px 10px;text-align:right}figcaption{color:#555}</style></head><body>",
        f"<h1>Federal cash and debt</h1><p>From the lake's published gold tables, {made}.</p>",
    ]
    for chart in charts:
        parts.append(
            f"<figure><h2>{html.escape(chart.title)}</h2><img src='{chart.file}' width='1000'>"
            f"<figcaption>{html.escape(chart.caption)}</figcaption></figure>"
        )
    for title, header, rows in tables:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
            for row in rows
        )
        parts.append(f"<h2>{html.escape(title)}</h2><table><tr>{head}</tr>{body}</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _cell(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and abs(value) >= 10000 else str(value)
