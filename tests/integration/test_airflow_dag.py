"""The ``treasury_medallion`` DAG on real Airflow 3: parsing, the run, backfills, failure handling.

A session fixture gives Airflow a fresh AIRFLOW_HOME (``airflow db migrate``) before Airflow is
first imported in this process, so nothing here touches ``~/airflow``. Full runs go through
``dag.test()`` (in process, a few seconds each) and once through the ``airflow dags test`` command
a new user types. Gold is compared with ``tests/independent_gold.py`` (plain Python over the JSON
records).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import psycopg
import pytest

from conftest import require_or_skip
from independent_gold import apply_restatement, expected_gold, read_records
from lineage_receiver import LineageReceiver, assert_spec_fields, by_job
from treasury_lakehouse import pipeline
from treasury_lakehouse.catalog import DATASETS
from treasury_lakehouse.config import Settings
from treasury_lakehouse.errors import ApiError, TransientApiError
from treasury_lakehouse.lineage import parent_run_id
from treasury_lakehouse.models.registry import GOLD_MODELS
from treasury_lakehouse.testing import FakeFiscalDataApi, Fault

pytestmark = [
    pytest.mark.airflow,
    # Airflow's in-process execution API (dag.test) uses Starlette's test client
    pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient` is deprecated"),
]

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "dags"
AIRFLOW_BIN = Path(sys.executable).parent / "airflow"
DAG_ID = "treasury_medallion"
PDT, OCB = "public_debt_transactions", "operating_cash_balance"
DSL, REFUNDS = "debt_subject_to_limit", "income_tax_refunds_issued"
GOLD_TABLES = [m.name for m in GOLD_MODELS]
POSTGRES_ADMIN_DSN = os.environ.get(
    "TREASURY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
NEW_YORK_18H_EDT = "22:00:00+00:00"  # 18:00 America/New_York in summer time


def _at(day: str, time: str = NEW_YORK_18H_EDT) -> datetime:
    return datetime.fromisoformat(f"{day}T{time}")


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A migrated AIRFLOW_HOME for this session, set before Airflow is imported here."""
    if "airflow.configuration" in sys.modules:
        pytest.fail("Airflow was imported before the airflow_home fixture could configure it")
    home = tmp_path_factory.mktemp("airflow_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_HOME", str(home))
        patch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        patch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS_FOLDER))
        patch.delenv("AIRFLOW_CONN_TREASURY_WAREHOUSE", raising=False)
        migrated = subprocess.run(
            [str(AIRFLOW_BIN), "db", "migrate"], capture_output=True, text=True, timeout=300
        )
        assert migrated.returncode == 0, migrated.stderr[-3000:]
        yield home


@pytest.fixture(scope="session")
def medallion(airflow_home: Path) -> Any:
    """The DAG as Airflow's DagBag parses it from dags/."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=DAGS_FOLDER)
    assert bag.import_errors == {}
    return bag.get_dag(DAG_ID)


@pytest.fixture
def treasury_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No TREASURY_* variable from the outer shell leaks into the DAG's tasks."""
    for name in list(os.environ):
        if name.startswith("TREASURY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TREASURY_HOME", str(tmp_path / "treasury"))
    return monkeypatch


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database on the test server (dropped afterwards), as a DSN."""
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        require_or_skip(
            f"PostgreSQL unreachable ({type(error).__name__}); set TREASURY_TEST_POSTGRES"
        )
    name = f"treasury_airflow_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield POSTGRES_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run_dag(dag: Any, logical_date: datetime) -> Any:
    """One ``dag.test()`` run; fails the test naming the tasks that did not succeed."""
    run = dag.test(logical_date=logical_date)
    if run.state != "success":
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        pytest.fail(f"DAG run for {logical_date} ended {run.state}: {states}")
    return run


def _warehouse_gold(home: Path) -> dict[str, list[tuple[Any, ...]]]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall()) for t in GOLD_TABLES}


def _expected(records: Path, start: date, end: date) -> dict[str, list[tuple[Any, ...]]]:
    return expected_gold(*(read_records(records, d, start, end) for d in (PDT, OCB, DSL, REFUNDS)))


# ---------------------------------------------------------------- the DAG as parsed


def test_dagbag_parses_the_dag_with_schedule_retries_and_structure(medallion: Any) -> None:
    from airflow.sdk import CronTriggerTimetable

    dag = medallion
    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.timetable.expression == "0 18 * * 1-5"
    timezone = dag.timetable.timezone
    assert str(getattr(timezone, "name", timezone)) == "America/New_York"
    assert (dag.catchup, dag.max_active_runs) == (False, 1)
    assert {"treasury", "medallion"} <= set(dag.tags)
    for t in dag.tasks:
        assert (t.owner, t.retries, t.retry_exponential_backoff) == ("treasury-data", 3, 2.0)
    upstream = {t.task_id: t.upstream_task_ids for t in dag.tasks}
    ingests = {f"{name}.ingest" for name in DATASETS}  # one ingest task per catalog dataset
    assert len(ingests) == 8 and {f"{PDT}.ingest", f"{OCB}.ingest"} <= ingests
    assert upstream == {
        **{task: set() for task in ingests},
        "transform": ingests,  # silver and gold: one lake commit
        "quality_checks": {"transform"},
        "load": {"quality_checks"},
    }
    outlets = {a.uri for a in dag.get_task("load").outlets}
    assert outlets == {f"treasury://warehouse/{name}" for name in GOLD_TABLES}


def test_the_dag_file_imports_neither_the_pipeline_nor_duckdb(airflow_home: Path) -> None:
    """No logic and no I/O at parse time: engines and warehouses load only when a task runs."""
    probe = (
        "import runpy, sys; runpy.run_path(sys.argv[1]); "
        "print(sorted(m for m in ('duckdb', 'pyarrow', 'treasury_lakehouse.pipeline') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(DAGS_FOLDER / "treasury_medallion.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


# ---------------------------------------------------------------- pure decisions


@pytest.mark.parametrize(
    ("run_moment", "statement"),
    [
        (_at("2024-04-01"), date(2024, 3, 29)),  # Monday 18:00 New York: Friday's statement
        (_at("2024-04-02"), date(2024, 4, 1)),
        (_at("2024-01-16", "23:00:00+00:00"), date(2024, 1, 12)),  # after MLK day (EST)
        (_at("2024-01-15", "23:00:00+00:00"), date(2024, 1, 12)),  # MLK day itself
        (_at("2024-03-11"), date(2024, 3, 8)),  # first Monday of summer time
        (datetime(2024, 4, 1, tzinfo=UTC), date(2024, 3, 29)),  # `airflow dags test … 2024-04-01`
    ],
)
def test_statement_date_is_the_business_day_before_the_runs_new_york_day(
    airflow_home: Path, run_moment: datetime, statement: date
) -> None:
    from treasury_lakehouse.orchestration.airflow import statement_date

    assert statement_date(run_moment) == statement


def test_the_schedule_fires_at_18h_new_york_in_winter_and_summer(medallion: Any) -> None:
    from airflow.timetables.base import DataInterval, TimeRestriction
    from airflow.timetables.trigger import CronTriggerTimetable

    timetable = CronTriggerTimetable("0 18 * * 1-5", timezone="America/New_York")
    fires = []
    for last in (_at("2024-01-12", "23:00:00+00:00"), _at("2024-07-05")):  # Fridays
        info = timetable.next_dagrun_info(
            last_automated_data_interval=DataInterval.exact(last),
            restriction=TimeRestriction(earliest=None, latest=None, catchup=True),
        )
        assert info is not None
        fires.append(info.run_after.isoformat())
    assert fires == ["2024-01-15T23:00:00+00:00", "2024-07-08T22:00:00+00:00"]
    assert medallion.timetable.expression == timetable.serialize()["expression"]


def test_terminal_errors_fail_at_once_transient_ones_are_retried(airflow_home: Path) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from treasury_lakehouse.orchestration.airflow import call_facade

    def refused() -> None:
        raise ApiError("400 Bad Request for v1/accounting/dts/x: unknown field")

    def throttled() -> None:
        raise TransientApiError("429 Too Many Requests")

    with pytest.raises(AirflowFailException, match="ApiError: 400 Bad Request"):
        call_facade(refused)
    with pytest.raises(TransientApiError):
        call_facade(throttled)
    with pytest.raises(KeyError):  # unexpected: Airflow's retries decide
        call_facade(lambda: {}["missing"])


def test_warehouse_connection_becomes_a_dsn_only_when_treasury_warehouse_is_unset(
    airflow_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from treasury_lakehouse.config import Settings, mask_dsn
    from treasury_lakehouse.orchestration import airflow as orchestration

    connection = SimpleNamespace(
        conn_type="postgres",
        host="db.internal",
        port=5432,
        login="loader",
        password="p@ss:w/rd",
        schema="treasury",
        extra_dejson={"sslmode": "require", "cursor": "dictcursor"},
    )
    monkeypatch.setattr(orchestration.Connection, "get", lambda conn_id: connection)
    default = Settings(home=tmp_path)
    dsn = orchestration.with_warehouse_connection(default).warehouse
    assert dsn == "postgresql://loader:p%40ss%3Aw%2Frd@db.internal:5432/treasury?sslmode=require"
    assert "p%40ss" not in mask_dsn(dsn)
    explicit = Settings(home=tmp_path, warehouse="duckdb:///elsewhere.duckdb")
    assert orchestration.with_warehouse_connection(explicit) == explicit


def test_pipeline_run_ids_are_file_name_safe(airflow_home: Path) -> None:
    from treasury_lakehouse.orchestration.airflow import pipeline_run_id

    run_id = pipeline_run_id("scheduled__2024-04-01T22:00:00+00:00")
    assert run_id == "airflow-scheduled__2024-04-01T22_00_00_00_00"


# ---------------------------------------------------------------- runs on real Airflow


@pytest.mark.slow
def test_dag_run_on_synthetic_records_leaves_independent_gold_in_the_warehouse(
    medallion: Any,
    fake_api: FakeFiscalDataApi,
    synthetic_records: Path,
    treasury_env: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    treasury_env.setenv("TREASURY_API_URL", fake_api.base_url)
    treasury_env.setenv("TREASURY_START_DATE", "2022-03-01")
    _run_dag(medallion, _at("2022-04-20"))  # Wednesday: Tuesday 2022-04-19's statement

    expected = _expected(synthetic_records, date(2022, 3, 1), date(2022, 4, 19))
    assert _warehouse_gold(tmp_path / "treasury") == expected


@pytest.mark.slow
def test_dag_run_sends_the_lineage_events_of_the_cli_under_the_dag_runs_parent(
    medallion: Any,
    fake_api: FakeFiscalDataApi,
    treasury_env: pytest.MonkeyPatch,
) -> None:
    """The tasks call the library that sends the events: with OPENLINEAGE_URL set, each step's
    job reports START and COMPLETE (``check`` twice: the quality_checks task and load's gate),
    all children of one parent run derived from the DAG run."""
    from treasury_lakehouse.orchestration.airflow import pipeline_run_id

    for name in list(os.environ):
        if name.startswith("OPENLINEAGE"):
            treasury_env.delenv(name)
    treasury_env.setenv("TREASURY_API_URL", fake_api.base_url)
    treasury_env.setenv("TREASURY_START_DATE", "2022-04-01")
    try:
        with LineageReceiver() as receiver:
            treasury_env.setenv("OPENLINEAGE_URL", receiver.url)
            run = _run_dag(medallion, _at("2022-04-20"))
    finally:  # the client copies OPENLINEAGE_URL into variables of its own
        for name in [n for n in os.environ if n.startswith("OPENLINEAGE__")]:
            del os.environ[name]

    events = receiver.events
    for event in events:
        assert_spec_fields(event)
    steps = [f"{step}.{name}" for step in ("ingest", "silver") for name in DATASETS]
    expected = {job: ["START", "COMPLETE"] for job in [*steps, "gold", "load"]}
    assert by_job(events) == {**expected, "check": ["START", "COMPLETE"] * 2}
    parents = {e["run"]["facets"]["parent"]["run"]["runId"] for e in events}
    assert parents == {parent_run_id(pipeline_run_id(run.run_id))}


@pytest.mark.slow
@pytest.mark.spark
def test_dag_run_with_the_spark_engine_passes_treasury_engine_through(
    medallion: Any,
    fake_api: FakeFiscalDataApi,
    synthetic_records: Path,
    treasury_env: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from treasury_lakehouse.lake.layout import Lake, read_build_info

    # py4j says goodbye at interpreter exit, after Airflow's log handlers lost their stream
    logging.getLogger("py4j").setLevel(logging.WARNING)
    treasury_env.setenv("TREASURY_ENGINE", "spark")
    treasury_env.setenv("TREASURY_API_URL", fake_api.base_url)
    treasury_env.setenv("TREASURY_START_DATE", "2022-04-01")
    _run_dag(medallion, _at("2022-04-21"))

    home = tmp_path / "treasury"
    gold_versions = Lake(home / "lake").published_gold().values()
    assert {read_build_info(v)["engine"] for v in gold_versions} == {"spark"}
    expected = _expected(synthetic_records, date(2022, 4, 1), date(2022, 4, 20))
    assert _warehouse_gold(home) == expected


@pytest.mark.slow
@pytest.mark.postgres
def test_dag_run_loads_postgresql_through_the_treasury_warehouse_connection(
    medallion: Any,
    fake_api: FakeFiscalDataApi,
    synthetic_records: Path,
    treasury_env: pytest.MonkeyPatch,
    postgres_database: str,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """TREASURY_WAREHOUSE unset: the load task builds its DSN from the Airflow connection."""
    password = "s3cret-Pw"  # the test server trusts local connections; the password must not leak
    uri = postgres_database.replace("://postgres@", f"://postgres:{password}@") + "?sslmode=disable"
    treasury_env.setenv("AIRFLOW_CONN_TREASURY_WAREHOUSE", uri)
    treasury_env.setenv("TREASURY_API_URL", fake_api.base_url)
    treasury_env.setenv("TREASURY_START_DATE", "2022-04-01")
    _run_dag(medallion, _at("2022-04-21"))

    expected = _expected(synthetic_records, date(2022, 4, 1), date(2022, 4, 20))
    with psycopg.connect(postgres_database) as con:
        for table, rows in expected.items():
            assert sorted(con.execute(f"SELECT * FROM {table}").fetchall()) == rows, table
        run_ids = con.execute("SELECT DISTINCT run_id FROM load_manifest").fetchall()
    assert [r[0][: len("airflow-manual__")] for r in run_ids] == ["airflow-manual__"]
    output = "".join(capfd.readouterr()) + caplog.text
    assert "warehouse from connection treasury_warehouse: postgresql://postgres:***@" in caplog.text
    assert password not in output


@pytest.mark.slow
def test_backfill_of_past_dates_yields_the_gold_of_one_run_over_the_range(
    medallion: Any,
    fake_api: FakeFiscalDataApi,
    synthetic_records: Path,
    treasury_env: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    treasury_env.setenv("TREASURY_API_URL", fake_api.base_url)
    treasury_env.setenv("TREASURY_START_DATE", "2022-03-01")
    daily_home, single_home = tmp_path / "daily", tmp_path / "single"

    treasury_env.setenv("TREASURY_HOME", str(daily_home))
    for day, statement in [
        ("2022-03-15", date(2022, 3, 14)),
        ("2022-03-31", date(2022, 3, 30)),
        ("2022-04-19", date(2022, 4, 18)),  # Tuesday: the first day of the new cash layout
        ("2022-04-22", date(2022, 4, 21)),
    ]:
        _run_dag(medallion, _at(day))
        daily = _warehouse_gold(daily_home)
        assert max(r[0] for r in daily["gold_daily_totals"]) == statement, day

    treasury_env.setenv("TREASURY_HOME", str(single_home))
    _run_dag(medallion, _at("2022-04-22", "23:30:00+00:00"))  # same New York day, 19:30

    assert daily == _warehouse_gold(single_home)
    assert daily == _expected(synthetic_records, date(2022, 3, 1), date(2022, 4, 21))


@pytest.mark.slow
def test_a_backfill_after_a_later_run_refetches_its_window_and_its_restatement(
    medallion: Any,
    fake_api: FakeFiscalDataApi,
    synthetic_records: Path,
    treasury_env: pytest.MonkeyPatch,
) -> None:
    """Reproduction: a past date's window started at the watermark, after its own end, so the
    run fetched nothing and published the current lake as that date's statement."""
    treasury_env.setenv("TREASURY_API_URL", fake_api.base_url)
    treasury_env.setenv("TREASURY_START_DATE", "2022-03-01")
    _run_dag(medallion, _at("2022-04-22"))  # statement 2022-04-21
    restated = {
        "record_date": "2022-03-14",
        "transaction_type": "Redemptions",
        "security_market": "Marketable",
        "security_type": "Bills",
    }
    fake_api.restate(PDT, restated, {"transaction_today_amt": "1"})
    fake_api.clear_requests()

    _run_dag(medallion, _at("2022-03-15"))  # statement 2022-03-14, 38 days before the watermark

    assert fake_api.requests and all(
        "record_date%3Agte%3A2022-03-07%2Crecord_date%3Alte%3A2022-03-14" in r
        for r in fake_api.requests
    ), fake_api.requests
    pdt = read_records(synthetic_records, PDT, date(2022, 3, 1), date(2022, 4, 21))
    assert apply_restatement(pdt, restated, {"transaction_today_amt": "1"}) == 1
    ocb, dsl, refunds = (
        read_records(synthetic_records, d, date(2022, 3, 1), date(2022, 4, 21))
        for d in (OCB, DSL, REFUNDS)
    )
    home = Path(os.environ["TREASURY_HOME"])
    assert _warehouse_gold(home) == expected_gold(pdt, ocb, dsl, refunds)


@pytest.mark.slow
@pytest.mark.timeout(180)  # a retried task would wait its 5-minute retry delay
def test_a_terminal_api_error_fails_its_task_at_once_and_nothing_is_loaded(
    medallion: Any,
    fake_api: FakeFiscalDataApi,
    treasury_env: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    treasury_env.setenv("TREASURY_API_URL", fake_api.base_url)
    treasury_env.setenv("TREASURY_START_DATE", "2022-03-01")
    fake_api.inject_faults([Fault(status=400, times=50, path_contains=OCB)])

    run = medallion.test(logical_date=_at("2022-03-16"))

    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    assert run.state == "failed"
    assert (tis[f"{OCB}.ingest"].state, tis[f"{OCB}.ingest"].try_number) == ("failed", 1)
    assert tis[f"{PDT}.ingest"].state == "success"  # the other dataset ran in parallel
    assert {tis[t].state for t in ("transform", "quality_checks", "load")} == {"upstream_failed"}
    assert not (tmp_path / "treasury" / "warehouse.duckdb").exists()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_failed_quality_gate_stops_the_run_before_the_load(
    medallion: Any,
    fake_api: FakeFiscalDataApi,
    synthetic_records: Path,
    treasury_env: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    treasury_env.setenv("TREASURY_API_URL", fake_api.base_url)
    treasury_env.setenv("TREASURY_START_DATE", "2022-05-02")
    closing = {
        "record_date": "2022-05-17",
        "account_type": "Treasury General Account (TGA) Closing Balance",
    }
    day = date(2022, 5, 17)
    rows = read_records(synthetic_records, OCB, day, day)
    [row] = [r for r in rows if r["account_type"] == closing["account_type"]]
    fake_api.restate(OCB, closing, {"open_today_bal": str(int(row["open_today_bal"]) + 2_000)})

    run = medallion.test(logical_date=_at("2022-05-20"))

    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    assert run.state == "failed"
    assert (tis["transform"].state, tis["quality_checks"].state) == ("success", "failed")
    assert tis["quality_checks"].try_number == 1
    assert tis["load"].state == "upstream_failed"
    with duckdb.connect(str(tmp_path / "treasury" / "warehouse.duckdb"), read_only=True) as con:
        tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    assert "quality_results" in tables  # the findings are kept
    assert not tables & set(GOLD_TABLES)  # nothing was published


@pytest.mark.slow
@pytest.mark.shared_data
def test_airflow_dags_test_on_the_real_records_as_a_new_user_types_it(
    airflow_home: Path,
    real_api: FakeFiscalDataApi,
    shared_records: Path,
    tmp_path: Path,
) -> None:
    """The issue's "done when": ``airflow dags test treasury_medallion 2024-04-01``."""
    real_api.today = date(2024, 3, 29)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREASURY_")}
    env |= {
        "TREASURY_API_URL": real_api.base_url,
        "TREASURY_START_DATE": "2024-01-02",
        "TREASURY_HOME": str(tmp_path / "treasury"),
    }
    # the shared Debt to the Penny sample has no 2024 (only 1993 and 2025 Q1): its 1993 page goes
    # into bronze first, else the first transform has no bronze of it
    pipeline.ingest(
        Settings(
            home=tmp_path / "treasury",
            api_url=real_api.base_url,
            datasets=("debt_to_penny",),
            end=date(1993, 8, 31),
        )
    )
    result = subprocess.run(
        [str(AIRFLOW_BIN), "dags", "test", DAG_ID, "2024-04-01"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    assert "state=success" in result.stdout + result.stderr

    expected = _expected(shared_records, date(2024, 1, 2), date(2024, 3, 29))
    assert _warehouse_gold(tmp_path / "treasury") == expected
