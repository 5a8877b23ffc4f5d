"""The ``treasury`` command: a thin shell over :mod:`treasury_lakehouse.pipeline`.

Exit codes: 0 success, 1 a pipeline error (one ``Error: ...`` line; ``--debug`` shows the
traceback), 2 bad usage.
"""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click

from treasury_lakehouse import pipeline
from treasury_lakehouse.catalog import DATASETS
from treasury_lakehouse.config import ENGINES, Settings, mask_dsn, parse_date, settings_from_env
from treasury_lakehouse.errors import ConfigError, TreasuryError
from treasury_lakehouse.ingest.paging import Page
from treasury_lakehouse.pipeline import IngestResult, TransformResult
from treasury_lakehouse.quality import QualityReport
from treasury_lakehouse.warehouse.base import LoadResult

F = TypeVar("F", bound=Callable[..., Any])


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return parse_date(value, f"--{param.name}")
    except ConfigError as error:
        raise click.BadParameter(str(error)) from None


def settings_options(func: F) -> F:
    """The options every command shares; each falls back to its TREASURY_* variable."""
    options = [
        click.option(
            "--home",
            type=click.Path(path_type=Path),
            help="Lake and embedded warehouse folder [env TREASURY_HOME; default ./data]",
        ),
        click.option("--api-url", help="Fiscal Data API base URL [env TREASURY_API_URL]"),
        click.option(
            "--dataset",
            "datasets",
            multiple=True,
            type=click.Choice(sorted(DATASETS)),
            help="Dataset to work on (repeatable) [default: all]",
        ),
        click.option(
            "--start",
            callback=_date,
            metavar="YYYY-MM-DD",
            help="Backfill from this record date (instead of watermark - lookback)",
        ),
        click.option(
            "--end",
            callback=_date,
            metavar="YYYY-MM-DD",
            help="Last record date to ask for [default: no limit]",
        ),
        click.option(
            "--lookback-days",
            type=int,
            help="Days before the watermark asked again for restatements [default 7]",
        ),
        click.option(
            "--engine",
            type=click.Choice(ENGINES),
            help="Transform engine [env TREASURY_ENGINE; default duckdb]",
        ),
        click.option(
            "--spark-master", help="Spark master URL [env TREASURY_SPARK_MASTER; default local[*]]"
        ),
        click.option(
            "--warehouse",
            help="duckdb:///path or postgresql://user@host:port/db "
            "[env TREASURY_WAREHOUSE; default duckdb:///<home>/warehouse.duckdb]",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_settings(**flags: Any) -> Settings:
    datasets = flags.pop("datasets", ()) or None
    return settings_from_env(datasets=tuple(datasets) if datasets else None, **flags)


def handle_errors(func: F) -> F:
    """Library errors become one ``Error:`` line and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            return func(*args, **kwargs)
        except TreasuryError as error:
            if debug:
                traceback.print_exc()
            click.echo(f"Error: {error}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


class Progress:
    """A one-line progress bar on stderr while pages are fetched."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.rows: dict[str, int] = {}

    def __call__(self, dataset: str, page: Page) -> None:
        self.rows[dataset] = self.rows.get(dataset, 0) + len(page.rows)
        total = max(page.total_pages, 1)
        done = int(20 * page.number / total)
        line = (
            f"\r{dataset:<26} [{'#' * done}{'.' * (20 - done)}] page {page.number}/{total}"
            f"  {self.rows[dataset]:,}/{page.total_count:,} rows"
        )
        if self.enabled:
            click.echo(line, err=True, nl=page.number >= total)
        elif page.number >= total:
            click.echo(line.lstrip("\r"), err=True)


def echo_ingest(results: list[IngestResult]) -> None:
    rows = sum(r.rows for r in results)
    batches = sum(1 for r in results if r.batch_id)
    seconds = sum(r.seconds for r in results)
    click.echo(
        f"bronze     rows in {rows:,} in {batches} new batches "
        f"({', '.join(f'{r.dataset} {r.rows:,} [{r.window}]' for r in results)})"
        f"  {seconds:.1f}s"
    )


def echo_transform(result: TransformResult) -> None:
    s = result.silver
    click.echo(
        f"silver     rows in {sum(c.rows_in for c in s):,}, out {sum(c.silver for c in s):,}, "
        f"superseded {sum(c.superseded for c in s):,}, "
        f"deleted at the source {sum(c.deleted for c in s):,}, "
        f"quarantined {sum(c.quarantined for c in s):,}  {result.seconds:.1f}s"
    )
    click.echo(
        f"gold       {len(result.gold)} tables, rows out {sum(result.gold.values()):,} "
        f"({', '.join(f'{k} {v:,}' for k, v in result.gold.items())})"
    )


def echo_load(result: LoadResult) -> None:
    unchanged = "  (lake unchanged since the last load: nothing written)" if result.skipped else ""
    click.echo(
        f"warehouse  {mask_dsn(result.warehouse)}: {len(result.tables)} tables, "
        f"rows {sum(result.tables.values()):,}  {result.seconds:.1f}s{unchanged}"
    )


def echo_quality(report: QualityReport, every_check: bool = False) -> None:
    click.echo(f"quality    {report.summary()}")
    for result in report.results:
        if every_check or result.status != "pass":
            click.echo(f"  {result.summary()}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(package_name="treasury-lakehouse")
def main(debug: bool) -> None:
    """treasury: the U.S. Treasury Fiscal Data API as a trustworthy analytics warehouse.

    Bronze (raw, immutable Parquet) → silver (typed, deduplicated, quarantined) → gold (business
    aggregates) → warehouse (embedded DuckDB by default, or PostgreSQL).
    """
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@main.command()
@settings_options
@handle_errors
def run(**flags: Any) -> None:
    """Ingest, transform and load: the whole pipeline, incrementally."""
    settings = build_settings(**flags)
    result = pipeline.run(settings, on_page=Progress())
    echo_ingest(result.ingest)
    echo_transform(result.transform)
    if result.quality:
        click.echo(f"quality    {result.quality.summary()}")
    echo_load(result.load)


@main.command()
@settings_options
@handle_errors
def ingest(**flags: Any) -> None:
    """Fetch new and restated records into a new bronze batch per dataset."""
    echo_ingest(pipeline.ingest(build_settings(**flags), on_page=Progress()))


@main.command()
@settings_options
@handle_errors
def transform(**flags: Any) -> None:
    """Rebuild silver and gold from committed bronze."""
    echo_transform(pipeline.transform(build_settings(**flags)))


@main.command()
@settings_options
@handle_errors
def load(**flags: Any) -> None:
    """Publish the lake's silver, gold and star-schema tables to the warehouse, all at once."""
    echo_load(pipeline.load(build_settings(**flags)))


@main.command()
@settings_options
@click.option("--all", "every_check", is_flag=True, help="List passing checks too.")
@handle_errors
def check(every_check: bool, **flags: Any) -> None:
    """Run the data-quality checks on what the lake holds, without loading; exit 1 on errors."""
    report = pipeline.check(build_settings(**flags))
    echo_quality(report, every_check)
    pipeline.require_passed(report)


@main.command()
@settings_options
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@handle_errors
def status(as_json: bool, **flags: Any) -> None:
    """Show bronze batches and rows, silver and quarantined rows and the watermark per dataset."""
    settings = build_settings(**flags)
    if as_json:
        click.echo(pipeline.status_json(settings))
        return
    report = pipeline.status(settings)
    click.echo(f"home {report['home']}   warehouse {mask_dsn(report['warehouse'])}")
    for name, info in report["datasets"].items():
        click.echo(
            f"{name:<26} batches {info['bronze_batches']:>3}"
            f"  bronze rows {info['bronze_rows']:>9,}"
            f"  silver {info['silver_rows'] or 0:>9,}"
            f"  deleted {info.get('deleted_rows') or 0:>5,}"
            f"  quarantined {info['quarantined_rows'] or 0:>5,}"
            f"  watermark {info['watermark'] or '-'}"
        )
    for name, rows in report["gold"].items():
        click.echo(f"{name:<26} rows {rows or 0:,}")
    echo_quality_status(report.get("quality"))


def echo_quality_status(quality: dict[str, Any] | None) -> None:
    if quality is None:
        click.echo("quality    no checks run yet (`treasury check`)")
        return
    verdict = "passed" if quality["passed"] else "FAILED " + ", ".join(quality["failed_checks"])
    warnings = ", ".join(f"{k} {v:,}" for k, v in quality["warning_counts"].items())
    click.echo(
        f"quality    {quality['stage']} {quality['run_id']} at {quality['checked_at']}: {verdict}"
        f"{f'; warnings: {warnings}' if warnings else ''}"
    )


@main.command()
@settings_options
@click.option(
    "--records",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Serve this records folder (layout of shared/fiscaldata) instead of a synthetic sample.",
)
@click.option(
    "--today",
    callback=_date,
    metavar="YYYY-MM-DD",
    help="The fake API's 'today' (records after it are not yet published).",
)
@handle_errors
def demo(records: Path | None, today: date | None, **flags: Any) -> None:
    """Run the whole pipeline offline against the project's fake Fiscal Data API."""
    from treasury_lakehouse.demo import run_demo

    flags["home"] = flags.get("home") or Path("data-demo")
    settings = build_settings(**flags)
    result = run_demo(settings, records=records, today=today, on_page=Progress())
    echo_ingest(result.ingest)
    echo_transform(result.transform)
    echo_load(result.load)
    click.echo(f"demo       served {result.extra['served']}; explore {settings.home}")


@main.command()
@settings_options
@handle_errors
def report(**flags: Any) -> None:
    """Write an HTML report with charts of the published gold tables to <home>/report/."""
    from treasury_lakehouse.report import build_report

    click.echo(f"report     {build_report(build_settings(**flags))}")
