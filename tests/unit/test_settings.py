"""Settings: validation, errors that name their variable, DSN masking, warehouse URLs, windows."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from treasury_lakehouse.config import (
    MAX_LOOKBACK_DAYS,
    Settings,
    mask_dsn,
    settings_from_env,
    strip_userinfo,
)
from treasury_lakehouse.errors import ConfigError
from treasury_lakehouse.ingest.window import ingest_window


@pytest.mark.parametrize(
    ("dsn", "masked"),
    [
        ("postgresql://user:secret@host/db", "postgresql://user:***@host/db"),
        ("postgresql://:secret@host/db", "postgresql://:***@host/db"),
        (
            "postgres://u:p%40ss@h:5432/db?sslmode=require",
            "postgres://u:***@h:5432/db?sslmode=require",
        ),
        ("host=h dbname=d user=u password=secret", "host=h dbname=d user=u password=***"),
        (
            "postgresql://h/db?password=secret&sslmode=require",
            "postgresql://h/db?password=***&sslmode=require",
        ),
        ("postgresql://user@host/db", "postgresql://user@host/db"),
        ("duckdb:////tmp/w.duckdb", "duckdb:////tmp/w.duckdb"),
    ],
)
def test_mask_dsn_hides_every_password_form(dsn: str, masked: str) -> None:
    assert mask_dsn(dsn) == masked
    assert "secret" not in mask_dsn(dsn)


def test_strip_userinfo_keeps_host_port_path_and_query() -> None:
    url = "https://user:pw@api.example:8443/services/api/?a=1"
    assert strip_userinfo(url) == "https://api.example:8443/services/api/?a=1"
    assert strip_userinfo("http://127.0.0.1:1/x") == "http://127.0.0.1:1/x"


# A bad value for every TREASURY_* variable whose value can be wrong.
BAD_VARIABLES = {
    "TREASURY_LOOKBACK_DAYS": "abc",
    "TREASURY_PAGE_SIZE": "ten",
    "TREASURY_HTTP_TIMEOUT": "abc",
    "TREASURY_RETRY_BUDGET": "soon",
    "TREASURY_LEASE_S": "a minute",
    "TREASURY_START_DATE": "2024-13-01",
    "TREASURY_ENGINE": "pandas",
    "TREASURY_DATASETS": "no_such_dataset",
    "TREASURY_WINDOW_ANCHOR": "yesterday",
    "TREASURY_API_URL": "ftp://example.com/",
    "TREASURY_WAREHOUSE": "mysql://h/db",
}
OUT_OF_RANGE = {
    "TREASURY_LOOKBACK_DAYS": "999999999",
    "TREASURY_PAGE_SIZE": "0",
    "TREASURY_HTTP_TIMEOUT": "0",
    "TREASURY_RETRY_BUDGET": "-1",
    "TREASURY_LEASE_S": "0",
}


@pytest.mark.parametrize(("variable", "value"), [*BAD_VARIABLES.items(), *OUT_OF_RANGE.items()])
def test_a_bad_variable_is_one_error_naming_it(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        settings_from_env({variable: value})
    message = str(error.value)
    assert message.startswith(f"{variable}: "), message
    assert "\n" not in message


def test_a_flag_overriding_a_bad_variable_wins_and_a_bad_flag_is_not_blamed_on_it() -> None:
    assert settings_from_env({"TREASURY_LOOKBACK_DAYS": "999999999"}, lookback_days=3)
    with pytest.raises(ConfigError) as error:
        settings_from_env({"TREASURY_LOOKBACK_DAYS": "3"}, lookback_days=MAX_LOOKBACK_DAYS + 1)
    assert not str(error.value).startswith("TREASURY_")


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "http:///no-host", "http://exa mple.com/", "http://[::1/x", "x"]
)
def test_api_urls_that_can_never_work_are_rejected_at_once(url: str) -> None:
    with pytest.raises(ConfigError, match="is not an http:// or https:// URL"):
        Settings(api_url=url)


def test_duckdb_urls_are_relative_with_three_slashes_and_absolute_with_four() -> None:
    assert Settings(warehouse="duckdb:///tmp/x.duckdb").duckdb_warehouse_path == Path(
        "tmp/x.duckdb"
    )
    assert Settings(warehouse="duckdb:////tmp/x.duckdb").duckdb_warehouse_path == Path(
        "/tmp/x.duckdb"
    )
    absolute = Settings(home=Path("/srv/treasury"))
    assert absolute.warehouse == "duckdb:////srv/treasury/warehouse.duckdb"
    assert absolute.duckdb_warehouse_path == Path("/srv/treasury/warehouse.duckdb")
    relative = Settings(home=Path("data"))
    assert relative.duckdb_warehouse_path == Path("data/warehouse.duckdb")
    assert not relative.duckdb_warehouse_path.is_absolute()
    moved = relative.with_overrides(home=Path("/elsewhere"))
    assert moved.duckdb_warehouse_path == Path("/elsewhere/warehouse.duckdb")


# ---------------------------------------------------------------- windows

WATERMARK = date(2022, 4, 21)


def _window(watermark: date | None, **values: object) -> str:
    return str(ingest_window(Settings(**values), watermark))  # type: ignore[arg-type]


def test_default_windows_start_at_the_watermark_minus_the_lookback() -> None:
    assert _window(None, initial_start=date(2022, 3, 1)) == "2022-03-01..…"
    assert _window(WATERMARK) == "2022-04-14..…"
    assert _window(WATERMARK, start=date(2022, 1, 3), end=date(2022, 1, 31)) == (
        "2022-01-03..2022-01-31"
    )


def test_a_computed_window_that_starts_after_its_end_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"start on 2022-04-14 \(the watermark 2022-04-21"):
        _window(WATERMARK, end=date(2022, 3, 14))
    with pytest.raises(ConfigError, match="after its end 2022-02-01"):
        _window(None, initial_start=date(2022, 3, 1), end=date(2022, 2, 1))
    with pytest.raises(ConfigError, match="--start 2022-03-15 is after --end 2022-03-14"):
        Settings(start=date(2022, 3, 15), end=date(2022, 3, 14))


def test_a_window_anchored_at_its_end_refetches_the_lookback_before_a_past_date() -> None:
    anchored = {"window_anchor": "end", "lookback_days": 7}
    assert _window(WATERMARK, end=date(2022, 3, 14), **anchored) == "2022-03-07..2022-03-14"
    # a lake that stopped before the window: start at its watermark, leaving no gap
    assert _window(date(2022, 3, 1), end=date(2022, 3, 31), **anchored) == (
        "2022-02-22..2022-03-31"
    )
    # an empty lake still starts at the initial start date
    assert _window(None, end=date(2022, 3, 14), initial_start=date(2022, 1, 3), **anchored) == (
        "2022-01-03..2022-03-14"
    )
    with pytest.raises(ConfigError, match="needs an end date"):
        _window(WATERMARK, window_anchor="end")


def test_lookback_is_bounded_and_huge_values_are_one_clear_error() -> None:
    with pytest.raises(ConfigError, match=f"lookback must be 0 to {MAX_LOOKBACK_DAYS} days"):
        Settings(lookback_days=999_999_999)
    oldest = ingest_window(Settings(lookback_days=MAX_LOOKBACK_DAYS), date(2005, 10, 3))
    assert oldest.start is not None and oldest.start.year < 1980


def test_settings_from_env_reads_the_new_variables() -> None:
    env = {
        "TREASURY_HTTP_TIMEOUT": "2.5",
        "TREASURY_RETRY_BUDGET": "9",
        "TREASURY_WINDOW_ANCHOR": "end",
        "TREASURY_LEASE_S": "15",
    }
    settings = settings_from_env(env)
    assert (settings.timeout_s, settings.retry_budget_s, settings.window_anchor) == (2.5, 9, "end")
    assert settings.lease_s == 15.0 and Settings().lease_s == 60.0
    assert Settings().timeout_s == 30.0 and Settings().retry_budget_s == 120.0
