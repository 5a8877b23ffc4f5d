"""Command line of the test tools.

``python -m treasury_lakehouse.testing serve --records DIR [--today YYYY-MM-DD] [--port N]`` runs
the fake API in the foreground (first line printed: its base URL);
``python -m treasury_lakehouse.testing generate --out DIR --start D --end D [--seed N]`` writes a
synthetic records folder;
``python -m treasury_lakehouse.testing measure --records DIR`` prints rows per business day by
layout era against the catalog's bounds (exit 1 when a day or row name falls outside them);
``python -m treasury_lakehouse.testing screenshot PAGE --out PNG`` renders a page (the report) in
headless Chromium and saves a PNG of all of it (exit 1 when an image fails or the console logs an
error).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import click

from treasury_lakehouse.errors import TreasuryError
from treasury_lakehouse.testing.browser import render_page
from treasury_lakehouse.testing.fake_api import FakeFiscalDataApi
from treasury_lakehouse.testing.generator import generate_records
from treasury_lakehouse.testing.measure import measure_records

_DATE = click.DateTime(formats=["%Y-%m-%d"])


#: the records folder both ``serve`` and ``measure`` read
_RECORDS = click.option(
    "--records",
    "records_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Records folder (records/*.jsonl.gz + meta/*.json).",
)


def _as_date(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


@click.group()
def main() -> None:
    """Fake Fiscal Data API and synthetic data for tests and demos."""


@main.command()
@_RECORDS
@click.option("--today", type=_DATE, default=None, help="Serve only records up to this date.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8765, show_default=True, help="0 picks a free port.")
@click.option("--quiet", is_flag=True, help="Do not log each request to stderr.")
def serve(records_dir: Path, today: datetime | None, host: str, port: int, quiet: bool) -> None:
    """Serve RECORDS like the Fiscal Data API until interrupted (Ctrl-C)."""
    api = FakeFiscalDataApi(
        records_dir, today=_as_date(today), host=host, port=port, log_requests=not quiet
    )
    api.start()
    click.echo(api.base_url)
    click.echo(
        f"datasets: {', '.join(sorted(api.datasets))}; control: {api.root_url}/_control/health",
        err=True,
    )
    try:
        api.serve_forever()
    except KeyboardInterrupt:
        api.stop()


@main.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--start", required=True, type=_DATE)
@click.option("--end", required=True, type=_DATE)
@click.option("--seed", type=int, default=0, show_default=True)
def generate(out_dir: Path, start: datetime, end: datetime, seed: int) -> None:
    """Write a synthetic records folder to OUT for START..END."""
    if end < start:
        raise click.BadParameter("--end must not be before --start", param_hint="--end")
    written = generate_records(out_dir, start.date(), end.date(), seed=seed)
    click.echo(json.dumps(written))


@main.command()
@_RECORDS
def measure(records_dir: Path) -> None:
    """Rows per business day of each dataset's layout eras in RECORDS, against the catalog."""
    measures = measure_records(records_dir)
    for m in measures:
        bounds = "..".join(map(str, m.catalog_bounds)) if m.catalog_bounds else "none"
        unlisted = (
            f"; unlisted row names: {', '.join(m.unlisted_names)}" if m.unlisted_names else ""
        )
        click.echo(
            f"{m.dataset:<28} {m.era or '(no eras)':<26} {m.first_day}..{m.last_day} "
            f"{m.days:>5,} days {m.rows:>7,} rows, {m.min_rows}..{m.max_rows} a day "
            f"(catalog {bounds}){'' if m.within_bounds else '  OUTSIDE'}{unlisted}"
        )
    if not all(m.within_bounds for m in measures):
        raise SystemExit(1)


@main.command()
@click.argument("page", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--width", type=int, default=1100, show_default=True, help="Window width, CSS px.")
@click.option(
    "--colors",
    type=click.IntRange(0, 256),
    default=256,
    show_default=True,
    help="Palette size of the saved PNG, to keep it small (0: full colour; needs Pillow).",
)
def screenshot(page: Path, out: Path, width: int, colors: int) -> None:
    """Render PAGE in headless Chromium and save a PNG of the whole page to OUT."""
    try:
        rendering = render_page(page, width=width)
    except TreasuryError as error:
        raise click.ClickException(str(error)) from None
    broken = [i.src for i in rendering.images if i.natural_width == 0]
    if broken or rendering.console_errors:
        raise click.ClickException(
            f"{page} did not render cleanly: images not loaded {broken}, "
            f"console errors {rendering.console_errors}"
        )
    png = rendering.screenshot if not colors else _quantized(rendering.screenshot, colors)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png)
    click.echo(f"{out}: {len(png):,} bytes, {len(rendering.images)} images")


def _quantized(png: bytes, colors: int) -> bytes:
    """``png`` with a palette of at most ``colors`` (a chart page needs few; a quarter the size)."""
    import io

    from PIL import Image  # matplotlib's own dependency: the [report] extra

    buffer = io.BytesIO()
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(colors=colors).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


if __name__ == "__main__":
    main()
