"""One frozen :class:`Settings` object: defaults, then ``TREASURY_*`` variables, then CLI flags.

This is the only module that reads ``os.environ``. Secrets come only from the environment or a DSN
and are masked whenever a setting is shown (:func:`mask_dsn`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Literal

from treasury_lakehouse.catalog import DATASETS, get_dataset
from treasury_lakehouse.errors import ConfigError

EngineName = Literal["duckdb", "spark"]
ENGINES: tuple[EngineName, ...] = ("duckdb", "spark")

LIVE_API_URL = "https://api.fiscaldata.treasury.gov/services/api/fiscal_service/"
DEFAULT_START_DATE = date(2005, 10, 1)


def parse_date(value: str, what: str) -> date:
    """A YYYY-MM-DD date, or a :class:`ConfigError` naming the setting."""
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(f"{what}: {value!r} is not a date in the form YYYY-MM-DD") from None


def mask_dsn(dsn: str) -> str:
    """``postgresql://user:secret@host/db`` → ``postgresql://user:***@host/db``."""
    masked = re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", dsn)
    return re.sub(r"(password=)\S+", r"\1***", masked)


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, validated once and passed down."""

    home: Path = Path("data")
    api_url: str = LIVE_API_URL
    datasets: tuple[str, ...] = tuple(DATASETS)
    start: date | None = None
    end: date | None = None
    initial_start: date = DEFAULT_START_DATE
    lookback_days: int = 7
    engine: EngineName = "duckdb"
    warehouse: str = ""
    spark_master: str = "local[*]"
    page_size: int = 10000
    timeout_s: float = 60.0
    max_retries: int = 6
    max_retry_wait_s: float = 120.0
    progress: bool = False
    #: lake versions referenced by this many most recent commits survive pruning (at least 2)
    keep_commits: int = 3
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.datasets:
            get_dataset(name)
        if self.engine not in ENGINES:
            raise ConfigError(f"engine {self.engine!r} is not one of {', '.join(ENGINES)}")
        if self.start and self.end and self.start > self.end:
            raise ConfigError(f"--start {self.start} is after --end {self.end}")
        if self.lookback_days < 0:
            raise ConfigError(f"lookback must be 0 days or more, not {self.lookback_days}")
        if self.keep_commits < 2:
            raise ConfigError(f"keep_commits must be 2 or more, not {self.keep_commits}")
        if not 1 <= self.page_size <= 10000:
            raise ConfigError(f"page size must be between 1 and 10000, not {self.page_size}")
        if not self.api_url.endswith("/"):
            object.__setattr__(self, "api_url", self.api_url + "/")
        if not self.warehouse:
            object.__setattr__(self, "warehouse", f"duckdb:///{self.home / 'warehouse.duckdb'}")
        if not self.warehouse.startswith(("duckdb://", "postgresql://", "postgres://")):
            raise ConfigError(
                f"warehouse {mask_dsn(self.warehouse)!r} must start with duckdb:/// or postgresql://"
            )

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    @property
    def warehouse_kind(self) -> Literal["duckdb", "postgresql"]:
        return "duckdb" if self.warehouse.startswith("duckdb://") else "postgresql"

    @property
    def duckdb_warehouse_path(self) -> Path:
        """The file of a ``duckdb:///path`` warehouse."""
        return Path(
            self.warehouse.removeprefix("duckdb://").removeprefix("/") or "warehouse.duckdb"
        )

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given non-None values replaced."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if "home" in given and "warehouse" not in given and self.warehouse_kind == "duckdb":
            given["warehouse"] = ""
        return replace(self, **given)


_ENV_FIELDS = {
    "TREASURY_HOME": "home",
    "TREASURY_API_URL": "api_url",
    "TREASURY_WAREHOUSE": "warehouse",
    "TREASURY_ENGINE": "engine",
    "TREASURY_START_DATE": "initial_start",
    "TREASURY_LOOKBACK_DAYS": "lookback_days",
    "TREASURY_SPARK_MASTER": "spark_master",
    "TREASURY_DATASETS": "datasets",
    "TREASURY_PAGE_SIZE": "page_size",
}


def _convert(name: str, value: str) -> Any:
    if name == "home":
        return Path(value)
    if name == "initial_start":
        return parse_date(value, "TREASURY_START_DATE")
    if name in ("lookback_days", "page_size"):
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{name}: {value!r} is not a whole number") from None
    if name == "datasets":
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return value


def settings_from_env(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Defaults, then the ``TREASURY_*`` variables of ``env`` (the process's by default), then
    ``overrides`` (CLI flags; ``None`` means not given)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for var, name in _ENV_FIELDS.items():
        if env.get(var):
            values[name] = _convert(name, env[var])
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "home" in values:
        values["home"] = Path(values["home"])
    return Settings(**values)
