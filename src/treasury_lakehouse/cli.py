"""The ``treasury`` command: a thin shell over :mod:`treasury_lakehouse.pipeline`.

Exit codes: 0 success, 1 a pipeline error (one ``Error: ...`` line; ``--debug`` shows the
traceback), 2 bad usage.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from treasury_lakehouse import pipeline
from treasury_lakehouse.catalog import DATASETS
from treasury_lakehouse.config import (
    ENGINES,
    MAX_LOOKBACK_DAYS,
    WINDOW_ANCHORS,
    Settings,
    mask_dsn,
    parse_date,
    parse_memory_limit,
    settings_from_env,
)
from treasury_lakehouse.errors import ConfigError, LakeError, TreasuryError
from treasury_lakehouse.ingest.paging import Page
from treasury_lakehouse.lake.remote import attach as attach_lake
from treasury_lakehouse.models.registry import GOLD
from treasury_lakehouse.paths import check_home, require_lake, require_writable_home
from treasury_lakehouse.pipeline import IngestResult, TransformResult
from treasury_lakehouse.quality import QualityReport
from treasury_lakehouse.warehouse.base import LoadResult

if TYPE_CHECKING:
    from treasury_lakehouse.as_of import AsOfBuild

F = TypeVar("F", bound=Callable[..., Any])
#: the demo's own home, so a demo never writes into the real one
DEMO_HOME = Path("data-demo")


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return parse_date(value, f"--{param.name}")
    except ConfigError as error:
        raise click.BadParameter(str(error)) from None


def _memory_limit(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            parse_memory_limit(value)
        except ConfigError as error:
            raise click.BadParameter(str(error)) from None
    return value


def _start_date(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    start = _date(ctx, param, value)
    if start is not None and start > date.today():
        raise click.BadParameter(f"{start} is later than today ({date.today()}): nothing to fetch")
    return start


HOME_HELP = "Lake and embedded warehouse folder [env TREASURY_HOME; default ./data]"
DEMO_HOME_HELP = (
    "Lake and warehouse folder of the demo [default ./data-demo; TREASURY_HOME and "
    "TREASURY_LAKE unused]"
)


def settings_options(func: F, home_help: str = HOME_HELP) -> F:
    """The options every command shares; each falls back to its TREASURY_* variable."""
    options = [
        click.option("--home", type=click.Path(path_type=Path), help=home_help),
        click.option(
            "--lake",
            "lake_uri",
            metavar="URI",
            help="Where the lake is: a folder, s3://bucket/prefix or gs://bucket/prefix "
            "(credentials from the provider's standard chain; a bucket is worked on through "
            "a cache at <home>/lake) [env TREASURY_LAKE; default <home>/lake]",
        ),
        click.option(
            "--api-url",
            help="Fiscal Data API base URL, http(s) [env TREASURY_API_URL; default the live API]",
        ),
        click.option(
            "--dataset",
            "datasets",
            multiple=True,
            type=click.Choice(sorted(DATASETS)),
            help="Dataset to work on (repeatable) [env TREASURY_DATASETS; default: all eight; "
            "see docs/datasets.md]",
        ),
        click.option(
            "--start",
            callback=_start_date,
            metavar="YYYY-MM-DD",
            help="Backfill from this record date, today at the latest (instead of the anchor "
            "minus the lookback); each dataset's window is clipped to its span",
        ),
        click.option(
            "--end",
            callback=_date,
            metavar="YYYY-MM-DD",
            help="Last record date to ask for [default: no limit]",
        ),
        click.option(
            "--lookback-days",
            type=click.IntRange(0, MAX_LOOKBACK_DAYS),
            help="Days before the anchor asked again for restatements "
            "[env TREASURY_LOOKBACK_DAYS; default 7]",
        ),
        click.option(
            "--window-anchor",
            type=click.Choice(WINDOW_ANCHORS),
            help="Start the window at the lake's watermark minus the lookback, or at --end minus "
            "the lookback (re-fetch the days before a past date, as the DAG does) "
            "[env TREASURY_WINDOW_ANCHOR; default watermark]",
        ),
        click.option(
            "--http-timeout",
            "timeout_s",
            type=click.FloatRange(0, 86400, min_open=True),
            help="Seconds one HTTP request may take [env TREASURY_HTTP_TIMEOUT; default 30]",
        ),
        click.option(
            "--retry-budget",
            "retry_budget_s",
            type=click.FloatRange(0, 86400, min_open=True),
            help="Seconds one page may spend on attempts and waits between retries "
            "[env TREASURY_RETRY_BUDGET; default 120]",
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
            "--memory-limit",
            callback=_memory_limit,
            metavar="SIZE",
            help="Memory the engine may use, e.g. 512MB or 2GB; DuckDB spills the rest to "
            "<home>/tmp, Spark gets it as driver memory "
            "[env TREASURY_MEMORY_LIMIT; default the engine's own]",
        ),
        click.option(
            "--warehouse",
            help="duckdb:///relative/path, duckdb:////absolute/path (4 slashes) or "
            "postgresql://user@host:port/db "
            "[env TREASURY_WAREHOUSE; default <home>/warehouse.duckdb]",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def demo_settings_options(func: F) -> F:
    """The shared options, with the demo's own default home in ``--help``."""
    return settings_options(func, home_help=DEMO_HOME_HELP)


def build_settings(*, attach: bool = True, **flags: Any) -> Settings:
    """Settings from the variables and flags; raises when the home cannot be a folder. A lake in
    a bucket is attached: its cache at ``<home>/lake`` catches up (``attach``)."""
    datasets = flags.pop("datasets", ()) or None
    settings = settings_from_env(datasets=tuple(datasets) if datasets else None, **flags)
    check_home(settings)
    if attach:
        attach_lake(settings)
    return settings


def writing_settings(*, pull: bool = True, **flags: Any) -> Settings:
    """:func:`build_settings` for a command that writes: the home (and the DuckDB warehouse's
    folder) must be writable before anything is fetched or changed. ``pull=False`` for a command
    whose pipeline step pulls a bucket lake's cache itself, under its locks."""
    settings = build_settings(attach=False, **flags)
    require_writable_home(settings)
    attach_lake(settings, pull=pull)
    return settings


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
        except OSError as error:  # the file system refused: still one line
            if debug:
                traceback.print_exc()
            where = f": {error.filename}" if error.filename else ""
            reason = error.strerror or str(error)
            click.echo(f"Error: {reason}{where} (--debug shows the traceback)", err=True)
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
    if result.silver_builds:
        builds = ", ".join(f"{d} {how}" for d, how in result.silver_builds.items())
        click.echo(f"           built: {builds}")
    built = [h for h in result.history.values() if h is not None]
    if built:
        click.echo(
            f"history    {len(built)} rebuilt, versions {sum(h.versions for h in built):,}, "
            f"deleted keys {sum(h.deleted for h in built):,}, "
            f"revisions {sum(h.revisions for h in built):,}"
        )
    click.echo(
        f"gold       {len(result.gold)} tables, rows out {sum(result.gold.values()):,} "
        f"({', '.join(f'{k} {v:,}' for k, v in result.gold.items())})"
    )


def echo_load(result: LoadResult) -> None:
    unchanged = "  (lake unchanged since the last load: nothing written)" if result.skipped else ""
    if result.incremental:
        unchanged = "  (incremental: only what changed since the last load)"
    where = result.warehouse
    if not where.startswith(("postgresql:", "postgres:")):  # a DuckDB file: say where it is
        where = os.path.abspath(where)
    click.echo(
        f"warehouse  {mask_dsn(where)}: {len(result.tables)} tables, "
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

    Datasets: operating_cash_balance, public_debt_transactions, debt_subject_to_limit,
    income_tax_refunds_issued (from 2005-10-03), federal_tax_deposits,
    short_term_cash_investments (2005-10-03..2023-02-13), inter_agency_tax_transfers (from
    2023-02-14), debt_to_penny (from 1993-04-01). Each window is clipped to each dataset's span.
    """
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


_FULL = click.option(
    "--full",
    "full_rebuild",
    is_flag=True,
    default=None,
    help="Rebuild every silver partition from all of bronze, not only the record years the new "
    "batches hold",
)


@main.command()
@settings_options
@_FULL
@handle_errors
def run(**flags: Any) -> None:
    """Ingest, transform and load: the whole pipeline, incrementally."""
    settings = writing_settings(pull=False, **flags)
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
    echo_ingest(pipeline.ingest(writing_settings(pull=False, **flags), on_page=Progress()))


def _as_of(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    from treasury_lakehouse.as_of import parse_as_of

    try:
        return parse_as_of(value)
    except ConfigError as error:
        raise click.BadParameter(str(error)) from None


_AS_OF = click.option(
    "--as-of",
    "as_of",
    callback=_as_of,
    metavar="TIMESTAMP",
    help="Use only the bronze batches committed at or before this time (ISO 8601; no offset "
    "means UTC), in the scratch home <home>/as-of/<TIMESTAMP>/, never published as current "
    "(docs/lineage.md)",
)


def echo_as_of(build: AsOfBuild) -> None:
    shot = build.snapshot
    batches = sum(len(ids) for ids in shot.batches.values())
    how = "built" if build.transform else "already built"
    click.echo(
        f"as of      {shot.at.isoformat()}: {batches} bronze batches of {len(shot.batches)} "
        f"datasets, {how} in {shot.home} (not current)"
    )
    if build.transform:
        echo_transform(build.transform)


@main.command()
@settings_options
@_FULL
@_AS_OF
@handle_errors
def transform(as_of: datetime | None, **flags: Any) -> None:
    """Build silver and gold from committed bronze: only the record years that new batches
    hold, carrying the rest of the previous version (--full rebuilds everything)."""
    settings = writing_settings(pull=as_of is not None, **flags)
    if as_of is None:
        echo_transform(pipeline.transform(settings))
        return
    from treasury_lakehouse import as_of as past

    echo_as_of(past.transform(settings, as_of))


@main.command()
@settings_options
@_AS_OF
@handle_errors
def load(as_of: datetime | None, **flags: Any) -> None:
    """Publish the lake's silver, gold and star-schema tables to the warehouse, all at once.

    With --as-of, build the state of that time and publish it into the warehouse --warehouse
    names (required: publishing it into the home's own warehouse rolls that back)."""
    if as_of is not None and not flags.get("warehouse"):
        raise click.UsageError(
            "load --as-of publishes a past state: name the warehouse to publish it into with "
            "--warehouse (the home's own warehouse only if you mean to roll it back)"
        )
    if as_of is None:
        echo_load(pipeline.load(writing_settings(pull=False, **flags)))
        return
    from treasury_lakehouse import as_of as past

    target = flags.pop("warehouse")
    build, result = past.load(writing_settings(**flags), as_of, target)
    echo_as_of(build)
    echo_load(result)


@main.command()
@settings_options
@click.option("--all", "every_check", is_flag=True, help="List passing checks too.")
@_AS_OF
@handle_errors
def check(every_check: bool, as_of: datetime | None, **flags: Any) -> None:
    """Run the data-quality checks on what the lake holds, without loading; exit 1 on errors."""
    settings = writing_settings(pull=as_of is not None, **flags)
    if as_of is None:
        report = pipeline.check(settings)
    else:
        from treasury_lakehouse import as_of as past

        build, report = past.check(settings, as_of)
        echo_as_of(build)
    echo_quality(report, every_check)
    pipeline.require_passed(report)


@main.command()
@settings_options
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@handle_errors
def status(as_json: bool, **flags: Any) -> None:
    """Show bronze batches and rows, silver and quarantined rows, the watermark and the row
    history (versions, current and deleted rows, revisions) per dataset."""
    settings = build_settings(**flags)
    require_lake(settings)
    if as_json:
        click.echo(pipeline.status_json(settings))
        return
    report = pipeline.status(settings)
    click.echo(
        f"home {report['home']}   lake {report['lake']}   warehouse {mask_dsn(report['warehouse'])}"
    )
    for name, info in report["datasets"].items():
        click.echo(
            f"{name:<26} batches {info['bronze_batches']:>3}"
            f"  bronze rows {info['bronze_rows']:>9,}"
            f"  silver {info['silver_rows'] or 0:>9,}"
            f"  deleted {info.get('deleted_rows') or 0:>5,}"
            f"  quarantined {info['quarantined_rows'] or 0:>5,}"
            f"  watermark {info['watermark'] or '-'}"
        )
    for name, info in report["datasets"].items():
        echo_history_status(name, info["history"])
    for name, rows in report["gold"].items():
        click.echo(f"{name:<26} rows {rows or 0:,}")
    echo_quality_status(report.get("quality"))
    echo_damage_status(report["damaged"], report["damaged_files"])


def echo_history_status(name: str, history: dict[str, Any] | None) -> None:
    if history is None:
        click.echo(f"{name:<26} history: none yet (the next `treasury transform` builds it)")
        return
    click.echo(
        f"{name:<26} history versions {history['versions'] or 0:>9,}"
        f"  current {history['current_rows'] or 0:>9,}"
        f"  deleted {history['deleted_rows'] or 0:>5,}"
        f"  revisions {history['revisions'] or 0:>7,}"
    )


def echo_damage_status(count: int, damaged: list[str]) -> None:
    if not count:
        click.echo(
            "damaged    0 (bronze files there, sizes as recorded; `treasury verify` checks all)"
        )
        return
    click.echo(f"damaged    {count}:")
    for line in damaged:
        click.echo(f"  {line}")
    click.echo(
        "Warning: the lake is damaged: `treasury verify` lists every damaged file, "
        "`treasury repair` moves them aside and fetches them again"
    )


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
@click.argument("table", type=click.Choice(sorted(GOLD)), metavar="TABLE")
@click.argument("key", nargs=-1, required=True, metavar="COL=VALUE...")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@handle_errors
def explain(table: str, key: tuple[str, ...], as_json: bool, **flags: Any) -> None:
    """Show one published row of a gold TABLE (its whole primary key as COL=VALUE), the silver
    rows it aggregates and the bronze pages they came from; exit 1 naming each column that does
    not equal its recomputation from silver, 2 for a key that names no row.

    TABLE: gold_daily_totals, gold_monthly_totals, gold_monthly_debt_growth,
    gold_security_totals, gold_monthly_security_flows, gold_daily_cash_balance,
    gold_daily_debt_limit or gold_monthly_tax_refunds (docs/gold.md)."""
    from treasury_lakehouse.explain import KeyProblem, explain_row
    from treasury_lakehouse.explain.render import render

    settings = build_settings(**flags)
    require_lake(settings)
    try:
        explanation = explain_row(settings, table, key)
    except KeyProblem as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(explanation.to_json(), indent=2))
    else:
        for line in render(explanation):
            click.echo(line)
    for check in explanation.mismatches:
        click.echo(
            f"Error: {table} {check.column} is {check.gold} in gold but {check.silver} from its "
            f"silver rows ({check.rule})",
            err=True,
        )
    if not explanation.reconciled:
        sys.exit(1)


@main.command()
@settings_options
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@handle_errors
def verify(as_json: bool, **flags: Any) -> None:
    """Check every bronze file against its recorded size and sha256, every published version and
    the warehouse; exit 1 naming each damaged file."""
    report = pipeline.verify(build_settings(**flags))
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, sort_keys=True))
        if not report.ok:
            sys.exit(1)
        return
    for damage in report.damaged:
        click.echo(f"damaged    {damage.summary()}")
    for note in report.notes:
        click.echo(f"note       {note}")
    click.echo(f"verify     {report.summary()}")
    pipeline.require_intact(report)


@main.command()
@settings_options
@handle_errors
def repair(**flags: Any) -> None:
    """Move damaged bronze batches and warehouse file aside (never deleting them) and fetch the
    damaged windows again; then `treasury run` rebuilds the rest."""
    settings = build_settings(**flags)
    pipeline.require_lake_to_mend(settings)  # no lake: one line, nothing created
    require_writable_home(settings)
    result = pipeline.repair(settings)
    if not result.before.damaged and not result.actions:
        click.echo(f"repair     nothing to repair: {result.before.summary()}")
        return
    for line in result.actions:
        click.echo(line)
    if result.unresolved:
        for line in result.unresolved:
            click.echo(f"todo       {line}")
        raise LakeError(f"repair left {len(result.unresolved)} thing(s) to do (the `todo` lines)")
    click.echo("next       `treasury run` rebuilds silver, gold and the warehouse")


@main.command()
@demo_settings_options
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

    flags["home"] = flags.get("home") or DEMO_HOME
    flags["lake_uri"] = flags.get("lake_uri") or ""  # never TREASURY_LAKE: not the real lake
    settings = writing_settings(**flags)
    result = run_demo(settings, records=records, today=today, on_page=Progress())
    echo_ingest(result.ingest)
    echo_transform(result.transform)
    echo_load(result.load)
    click.echo(f"demo       served {result.extra['served']}; explore {settings.home}")


@main.command()
@settings_options
@click.option(
    "--date", "day", required=True, callback=_date, metavar="YYYY-MM-DD", help="Record date."
)
@click.option(
    "--where",
    multiple=True,
    metavar="COL=VALUE",
    help="Only rows whose silver column COL reads VALUE (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list of versions.")
@handle_errors
def history(day: date, where: tuple[str, ...], as_json: bool, **flags: Any) -> None:
    """Show every version of one record date's rows of one --dataset, oldest first."""
    from treasury_lakehouse.history import json_value

    datasets: tuple[str, ...] = tuple(flags.get("datasets") or ())
    if len(datasets) != 1:
        raise click.UsageError("history needs exactly one --dataset")
    settings = build_settings(**flags)
    require_lake(settings)
    versions = pipeline.history(settings, datasets[0], day, where)
    if as_json:
        rows = [{k: json_value(v) for k, v in row.items()} for row in versions]
        click.echo(json.dumps(rows, indent=2))
        return
    if not versions:
        click.echo(f"no {datasets[0]} rows of {day.isoformat()} in the history")
    for row in versions:
        click.echo(echo_version(row))


def echo_version(row: dict[str, Any]) -> str:
    """One version on one line: when it was known, its batch, then its values."""
    from treasury_lakehouse.history import SHOWN_EXTRA, json_value

    until = json_value(row["known_to"]) or "current"
    state = "deleted" if row["is_deleted"] else "version"
    values = "  ".join(
        f"{k}={'null' if v is None else json_value(v)}"
        for k, v in row.items()
        if k not in SHOWN_EXTRA
    )
    return f"{state} {json_value(row['known_from'])} .. {until}  batch {row['batch_id']}  {values}"


@main.command()
@settings_options
@_AS_OF
@handle_errors
def report(as_of: datetime | None, **flags: Any) -> None:
    """Write an HTML report with charts of the published gold tables to <home>/report/ (with
    --as-of: of the state then, to <home>/as-of/<TIMESTAMP>/report/)."""
    from treasury_lakehouse.report import build_report

    settings = build_settings(**flags)
    require_lake(settings)
    if as_of is None:
        click.echo(f"report     {build_report(settings)}")
        return
    from treasury_lakehouse import as_of as past

    build, page = past.report(settings, as_of)
    echo_as_of(build)
    click.echo(f"report     {page}")
