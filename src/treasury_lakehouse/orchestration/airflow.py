"""The Airflow 3 DAG ``treasury_medallion``: ``treasury run`` as thin, idempotent tasks.

::

    <dataset>.ingest                       (one task group per catalog dataset, in parallel)
        >> transform >> quality_checks >> load  (load's outlets: one Asset per gold table)

``transform`` rebuilds silver of every dataset and gold and publishes them as one lake commit;
``quality_checks`` checks the current commit and ``load`` checks and publishes one commit.

Every task is one call into :mod:`treasury_lakehouse.pipeline` with the ``TREASURY_*`` settings;
this module only decides *when* (the schedule), *up to which record date*
(:func:`statement_date`) and *what a failure means* (:func:`call_facade`). It is the only module
of the package that imports Airflow, and the heavy parts of the package (engines, warehouse) are
imported only when a task runs, so parsing the DAG file stays cheap and does no I/O.

Design decisions (see docs/airflow.md):

* Schedule: 18:00 America/New_York, Monday to Friday (:data:`SCHEDULE_CRON`), two hours after the
  Daily Treasury Statement's usual 4 pm release, with a ``CronTriggerTimetable`` so the logical date
  is the moment the run is due and daylight-saving changes are handled by the timezone.
* Window: a run due on New York day *D* asks the API for record dates up to the business day before
  *D* — the statement published at 4 pm on *D* — starting ``TREASURY_LOOKBACK_DAYS`` earlier
  (``window_anchor="end"``). The window comes from *D*, not from the lake's watermark, so re-running
  or backfilling a past date re-fetches that date's window and its restatements reach gold; an empty
  lake starts at ``TREASURY_START_DATE``, and a lake whose watermark is older than the window starts
  at the watermark minus the lookback, so no gap is left. The whole lake is then published: later
  dates stay.
* ``catchup=False``: the first run already ingests everything from ``TREASURY_START_DATE`` and each
  run re-reads the lookback, so replaying every missed weekday would only repeat work; use
  ``airflow backfill create`` for an explicit range. ``max_active_runs=1``: runs share one home.
* Retries: transient library errors (HTTP 429/5xx after the client's own retries, incomplete
  answers) and unexpected exceptions are retried with exponential backoff; a terminal
  :class:`~treasury_lakehouse.errors.TreasuryError` fails the task at once with its message.
* Assets: the load task publishes the warehouse tables, so each gold table is an outlet of ``load``
  (``treasury://warehouse/<table>``): downstream DAGs run only on quality-checked, published data.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from airflow.sdk import (
    DAG,
    Asset,
    Connection,
    CronTriggerTimetable,
    TaskGroup,
    TriggerRule,
    get_current_context,
    task,
)
from airflow.sdk.exceptions import (
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSkipException,
)

from treasury_lakehouse.catalog import DATASETS
from treasury_lakehouse.config import DEFAULT_START_DATE, Settings, mask_dsn
from treasury_lakehouse.errors import ConfigError, TreasuryError
from treasury_lakehouse.models.registry import GOLD_MODELS
from treasury_lakehouse.orchestration.windows import (
    TIMEZONE,
    scheduled_run_settings,
    statement_date,
)

__all__ = ["TIMEZONE", "build_dag", "statement_date"]

if TYPE_CHECKING:
    from airflow.sdk import Context

log = logging.getLogger(__name__)
T = TypeVar("T")

DAG_ID = "treasury_medallion"
#: weekdays at 18:00 New York time: the DTS is released around 4 pm; two hours absorb late releases
SCHEDULE_CRON = "0 18 * * 1-5"
TAGS = ("treasury", "fiscal-data", "medallion")
OWNER = "treasury-data"
#: an Airflow connection (type postgres) used as the warehouse when TREASURY_WAREHOUSE is not set
WAREHOUSE_CONNECTION_ID = "treasury_warehouse"
ASSET_URI_PREFIX = "treasury://warehouse/"

DEFAULT_ARGS: Mapping[str, Any] = {
    "owner": OWNER,
    "retries": 3,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": 2.0,  # waits of 5-10, 10-20, 20-40 minutes (with jitter)
    "max_retry_delay": timedelta(hours=1),
    "execution_timeout": timedelta(hours=3),
}

#: connection extras passed on to libpq; others (e.g. a hook's cursor type) are not DSN parameters
LIBPQ_EXTRAS = (
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "connect_timeout",
    "application_name",
    "options",
    "target_session_attrs",
)


# ---------------------------------------------------------------- pure decisions


def gold_assets() -> dict[str, Asset]:
    """One Asset per gold table, published by the load task (``treasury://warehouse/<table>``)."""
    return {
        model.name: Asset(
            name=f"treasury.{model.name}",
            uri=f"{ASSET_URI_PREFIX}{model.name}",
            group="treasury",
            extra={"description": model.description, "grain": ", ".join(model.primary_key)},
        )
        for model in GOLD_MODELS
    }


def postgres_dsn(
    *,
    host: str | None,
    port: int | None,
    login: str | None,
    password: str | None,
    database: str | None,
    extra: Mapping[str, Any],
) -> str:
    """A ``postgresql://`` DSN from an Airflow connection's fields (every part URL-quoted)."""
    if not host:
        raise ConfigError(f"Airflow connection {WAREHOUSE_CONNECTION_ID!r} has no host")
    auth = ""
    if login:
        auth = quote(login, safe="")
        if password:
            auth += ":" + quote(password, safe="")
        auth += "@"
    netloc = f"{host}:{port}" if port else host
    params = {key: str(extra[key]) for key in LIBPQ_EXTRAS if extra.get(key) not in (None, "")}
    query = f"?{urlencode(params)}" if params else ""
    return f"postgresql://{auth}{netloc}/{quote(database or '', safe='')}{query}"


def pipeline_run_id(airflow_run_id: str) -> str:
    """The facade's run id for an Airflow run (safe in file names; traceable to the DAG run)."""
    return "airflow-" + re.sub(r"[^A-Za-z0-9._-]+", "_", airflow_run_id).strip("_")


def call_facade(step: Callable[[], T]) -> T:
    """Run one facade call; a terminal library error fails the task at once, without retries.

    Transient errors (``TreasuryError.transient``) and unexpected exceptions propagate unchanged,
    so Airflow retries them with the task's exponential backoff.
    """
    try:
        return step()
    except TreasuryError as error:
        if error.transient:
            raise
        raise AirflowFailException(f"{type(error).__name__}: {error}") from error


# ---------------------------------------------------------------- settings of a running task


def _run_moment(context: Context) -> datetime:
    """The end of the run's data interval (a run without a logical date: when it was due)."""
    moment = context.get("data_interval_end") or context["dag_run"].run_after
    if moment is None:  # pragma: no cover - Airflow always sets run_after
        raise AirflowFailException("the DAG run has neither a data interval nor run_after")
    return moment


def run_settings(context: Context, **overrides: Any) -> Settings:
    """The ``TREASURY_*`` settings, with the API window ending at the run's statement date and
    starting the lookback before it (``window_anchor="end"``), whatever the lake's watermark."""
    return call_facade(lambda: scheduled_run_settings(_run_moment(context), **overrides))


def dataset_settings(context: Context, dataset: str) -> Settings:
    """Settings limited to one dataset; skips the task when TREASURY_DATASETS leaves it out."""
    settings = run_settings(context)
    if dataset not in settings.datasets:
        raise AirflowSkipException(f"{dataset} is not in TREASURY_DATASETS")
    return settings.with_overrides(datasets=(dataset,))


def with_warehouse_connection(settings: Settings) -> Settings:
    """Use the ``treasury_warehouse`` connection when TREASURY_WAREHOUSE is not set.

    The warehouse counts as not set when it is the home's default DuckDB file.
    """
    if settings.warehouse != Settings(home=settings.home).warehouse:
        return settings
    try:
        connection = Connection.get(WAREHOUSE_CONNECTION_ID)
    except AirflowNotFoundException:
        return settings
    if connection.conn_type not in ("postgres", "postgresql"):
        raise AirflowFailException(
            f"Airflow connection {WAREHOUSE_CONNECTION_ID!r} is of type {connection.conn_type!r};"
            " the warehouse needs a postgres connection"
        )
    dsn = call_facade(
        lambda: postgres_dsn(
            host=connection.host,
            port=connection.port,
            login=connection.login,
            password=connection.password,
            database=connection.schema,
            extra=connection.extra_dejson,
        )
    )
    log.info("warehouse from connection %s: %s", WAREHOUSE_CONNECTION_ID, mask_dsn(dsn))
    return settings.with_overrides(warehouse=dsn)


# ---------------------------------------------------------------- task bodies


def ingest_dataset(dataset: str) -> dict[str, Any]:
    """Task: fetch one dataset's window (statement date − lookback .. statement date) into
    bronze."""
    from treasury_lakehouse import pipeline

    context = get_current_context()
    settings = dataset_settings(context, dataset)
    run_id = pipeline_run_id(context["run_id"])
    [result] = call_facade(lambda: pipeline.ingest(settings, run_id=run_id))
    log.info("%s: %d rows in %d pages for %s", dataset, result.rows, result.pages, result.window)
    return {
        "dataset": dataset,
        "window": result.window,
        "rows": result.rows,
        "batch_id": result.batch_id,
        "watermark": result.watermark.isoformat() if result.watermark else None,
    }


def transform_lake() -> dict[str, Any]:
    """Task: rebuild silver (and quarantine) of every dataset and every gold table from
    committed bronze, published as one lake commit."""
    from treasury_lakehouse import pipeline

    context = get_current_context()
    settings = run_settings(context)
    run_id = pipeline_run_id(context["run_id"])
    result = call_facade(lambda: pipeline.transform(settings, run_id=run_id))
    return {
        "commit": result.commit,
        "silver": {
            c.dataset: {
                "rows_in": c.rows_in,
                "silver": c.silver,
                "superseded": c.superseded,
                "deleted": c.deleted,
                "quarantined": c.quarantined,
            }
            for c in result.silver
        },
        "gold": result.gold,
    }


def run_quality_checks() -> dict[str, Any]:
    """Task: the data-quality gate; an error-level failure fails the run before the load.

    The report is kept in the lake and the warehouse's ``quality_results`` whether it passes or not.
    """
    from treasury_lakehouse import pipeline

    context = get_current_context()
    settings = with_warehouse_connection(run_settings(context))
    run_id = pipeline_run_id(context["run_id"])
    report = call_facade(lambda: pipeline.check(settings, run_id=run_id))
    call_facade(lambda: pipeline.require_passed(report))
    return {"run_id": run_id, "checks": len(report.results), "warnings": report.warning_counts()}


def load_warehouse() -> dict[str, int]:
    """Task: publish silver and gold to the warehouse (gated again by the facade); annotates each
    gold Asset's event with its row count."""
    from treasury_lakehouse import pipeline

    context = get_current_context()
    settings = with_warehouse_connection(run_settings(context))
    run_id = pipeline_run_id(context["run_id"])
    result = call_facade(lambda: pipeline.load(settings, run_id=run_id))
    events = context["outlet_events"]
    for name, asset in gold_assets().items():
        if name in result.tables:
            events[asset].extra = {
                "rows": result.tables[name],
                "statement_date": settings.end.isoformat() if settings.end else None,
                "run_id": run_id,
            }
    return result.tables


# ---------------------------------------------------------------- the DAG


def _dataset_group(dataset: str) -> TaskGroup:
    """``<dataset>.ingest``."""
    with TaskGroup(group_id=dataset, tooltip=DATASETS[dataset].title) as group:
        task(task_id="ingest")(ingest_dataset)(dataset)
    return group


def build_dag(dag_id: str = DAG_ID) -> DAG:
    """The ``treasury_medallion`` DAG: structure only; each task reads its settings when it runs."""
    with DAG(
        dag_id=dag_id,
        description="Fiscal Data API → bronze → silver → gold → quality gate → warehouse",
        doc_md=__doc__,
        schedule=CronTriggerTimetable(SCHEDULE_CRON, timezone=TIMEZONE),
        start_date=datetime(
            DEFAULT_START_DATE.year,
            DEFAULT_START_DATE.month,
            DEFAULT_START_DATE.day,
            tzinfo=ZoneInfo(TIMEZONE),
        ),
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(hours=8),
        default_args=dict(DEFAULT_ARGS),
        tags=list(TAGS),
    ) as dag:
        datasets = [_dataset_group(name) for name in DATASETS]
        transformed = task(
            task_id="transform", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS
        )(transform_lake)()
        checked = task(task_id="quality_checks")(run_quality_checks)()
        loaded = task(task_id="load", outlets=list(gold_assets().values()))(load_warehouse)()
        datasets >> transformed
        transformed >> checked >> loaded
    return dag
