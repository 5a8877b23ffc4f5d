"""One frozen :class:`Settings` object: defaults, then ``TREASURY_*`` variables, then CLI flags.

This is the only module that reads ``os.environ``. Secrets come only from the environment or a DSN
and are masked whenever a setting is shown (:func:`mask_dsn`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from treasury_lakehouse.catalog import DATASETS, get_dataset
from treasury_lakehouse.errors import ConfigError

#: the schemes of a lake in a bucket (``TREASURY_LAKE``)
REMOTE_LAKE_SCHEMES = ("s3", "gs")

EngineName = Literal["duckdb", "spark"]
ENGINES: tuple[EngineName, ...] = ("duckdb", "spark")
#: where an incremental window starts: from the lake's watermark (the CLI's default), or from
#: ``end`` (the DAG: a run for a past date re-fetches that date's window)
WindowAnchor = Literal["watermark", "end"]
WINDOW_ANCHORS: tuple[WindowAnchor, ...] = ("watermark", "end")

LIVE_API_URL = "https://api.fiscaldata.treasury.gov/services/api/fiscal_service/"
#: the Airflow DAG's start date (and the fallback start of a window with no dataset to ask about)
DEFAULT_START_DATE = date(2005, 10, 1)
#: more than the whole record (it starts in 2005): a bigger lookback can only be a typo
MAX_LOOKBACK_DAYS = 10000
#: the longest grace before pruning deletes an unnamed version in a bucket: 30 days
MAX_PRUNE_GRACE_S = 30 * 86400.0


def parse_date(value: str, what: str) -> date:
    """A YYYY-MM-DD date, or a :class:`ConfigError` naming the setting."""
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(f"{what}: {value!r} is not a date in the form YYYY-MM-DD") from None


#: ``512MB``, ``2GB``, ``1.5GiB``: a number and a unit (decimal KB/MB/GB/TB or binary KiB/MiB/...)
_MEMORY_UNITS = {
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}
#: below this DuckDB cannot even run the silver model
MIN_MEMORY_LIMIT = 16 * 10**6


def parse_memory_limit(value: str) -> int:
    """``"512MB"`` → 512,000,000 bytes; a :class:`ConfigError` (without the setting's name: the
    caller adds the variable or flag) on anything else."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*", value)
    unit = _MEMORY_UNITS.get(match.group(2).upper()) if match else None
    if match is None or unit is None:
        raise ConfigError(
            f"{value!r} is not a memory size such as 512MB or 2GB (units B, KB, MB, GB, TB, "
            "KiB, MiB, GiB, TiB)"
        )
    size = int(float(match.group(1)) * unit)
    if size < MIN_MEMORY_LIMIT:
        raise ConfigError(f"{value!r} is less than the minimum of 16MB")
    return size


def mask_dsn(dsn: str) -> str:
    """``postgresql://user:secret@host/db`` → ``postgresql://user:***@host/db``.

    Also ``postgresql://:secret@host/db`` (no user) and ``password=secret`` key/value DSNs.
    """
    masked = re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", dsn)
    return re.sub(r"(password=)[^\s&]+", r"\1***", masked)


def strip_userinfo(url: str) -> str:
    """``https://user:pw@host/path`` → ``https://host/path``: what may be stored and logged."""
    return re.sub(r"^([A-Za-z][\w+.-]*://)[^/?#]*@", r"\1", url)


#: query parameters that carry credentials in a URL
_SECRET_PARAMS = r"api[_-]?key|key|token|access[_-]?token|auth|password|secret|signature|sig"


def mask_url(url: str) -> str:
    """A URL as it may be shown: user information and credential parameters as ``***``.

    ``https://user:pw@host/p?api_key=k&page=1`` → ``https://***@host/p?api_key=***&page=1``.
    """
    masked = re.sub(r"^([A-Za-z][\w+.-]*://)[^/?#]*@", r"\1***@", url)
    return re.sub(rf"([?&](?:{_SECRET_PARAMS})=)[^&#]*", r"\1***", masked, flags=re.IGNORECASE)


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    host = parts.hostname or ""
    return parts.scheme in ("http", "https") and bool(re.fullmatch(r"[\w.:%~-]+", host))


def _invalid(message: str, name: str) -> ConfigError:
    return ConfigError(message, field=name)


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, validated once and passed down.

    ``timeout_s`` bounds each HTTP request; ``retry_budget_s`` bounds everything one page may spend
    on attempts and waits, so an API that never answers fails within ``timeout_s + retry_budget_s``.
    ``window_anchor`` says where an incremental window starts (see ``pipeline.ingest_window``).
    """

    home: Path = Path("data")
    api_url: str = LIVE_API_URL
    datasets: tuple[str, ...] = tuple(DATASETS)
    start: date | None = None
    end: date | None = None
    #: where an empty bronze starts (``TREASURY_START_DATE``); ``None``: each dataset's own first
    #: date (the catalog's ``first_date``: 1993-04-01 for Debt to the Penny, 2005-10-03 for the
    #: statement). Every window is clipped to each dataset's span.
    initial_start: date | None = None
    lookback_days: int = 7
    window_anchor: WindowAnchor = "watermark"
    engine: EngineName = "duckdb"
    warehouse: str = ""
    spark_master: str = "local[*]"
    #: the address a cluster's executors reach the driver at; ``None``: 127.0.0.1 (a cluster on
    #: this machine). When set, the driver listens on every interface (containers: its host name)
    spark_driver_host: str | None = None
    page_size: int = 10000
    timeout_s: float = 30.0
    retry_budget_s: float = 120.0
    max_retries: int = 6
    progress: bool = False
    #: lake versions referenced by this many most recent commits survive pruning (at least 2)
    keep_commits: int = 3
    #: the engines' memory budget (``512MB``, ``2GB``): DuckDB's ``memory_limit``, spilling to
    #: ``<home>/tmp``, and Spark's driver memory; ``None`` keeps each engine's default
    memory_limit: str | None = None
    #: ``transform --full``: rebuild every silver partition instead of only the record years
    #: new batches hold
    full_rebuild: bool = False
    #: how long a lease on a lake in a bucket outlives its last renewal
    #: (:mod:`treasury_lakehouse.lake.lease`): the longest a dead writer blocks the next
    lease_s: float = 60.0
    #: pruning a lake in a bucket deletes a version no recent commit keeps only once its name's
    #: stamp is this old: until then it may be another home's upload for a commit not yet written
    prune_grace_s: float = 86400.0
    #: where the lake is (``TREASURY_LAKE``, ``--lake``): a local folder, ``s3://bucket/prefix``
    #: or ``gs://bucket/prefix``; empty: ``<home>/lake``. A lake in a bucket is read and written
    #: through a local cache of its immutable files at ``<home>/lake``
    #: (:mod:`treasury_lakehouse.lake.remote`)
    lake_uri: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.datasets:
            try:
                get_dataset(name)
            except ConfigError as error:
                raise _invalid(str(error), "datasets") from None
        if self.engine not in ENGINES:
            raise _invalid(f"engine {self.engine!r} is not one of {', '.join(ENGINES)}", "engine")
        if self.window_anchor not in WINDOW_ANCHORS:
            raise _invalid(
                f"window anchor {self.window_anchor!r} is not one of {', '.join(WINDOW_ANCHORS)}",
                "window_anchor",
            )
        if self.start and self.end and self.start > self.end:
            raise _invalid(f"--start {self.start} is after --end {self.end}", "start")
        if not 0 <= self.lookback_days <= MAX_LOOKBACK_DAYS:
            raise _invalid(
                f"lookback must be 0 to {MAX_LOOKBACK_DAYS} days, not {self.lookback_days}",
                "lookback_days",
            )
        if self.keep_commits < 2:
            raise _invalid(
                f"keep_commits must be 2 or more, not {self.keep_commits}", "keep_commits"
            )
        if not 1 <= self.page_size <= 10000:
            raise _invalid(
                f"page size must be between 1 and 10000, not {self.page_size}", "page_size"
            )
        for name in ("timeout_s", "retry_budget_s", "lease_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 < value <= 86400):
                raise _invalid(f"{name} must be more than 0 and at most 86400 s, not {value}", name)
        if not (math.isfinite(self.prune_grace_s) and 0 <= self.prune_grace_s <= MAX_PRUNE_GRACE_S):
            raise _invalid(
                f"prune grace must be 0 to {MAX_PRUNE_GRACE_S:.0f} s, not {self.prune_grace_s}",
                "prune_grace_s",
            )
        if self.memory_limit is not None:
            try:
                parse_memory_limit(self.memory_limit)
            except ConfigError as error:
                raise _invalid(f"memory limit {error}", "memory_limit") from None
        scheme = urlsplit(self.lake_uri).scheme
        if scheme not in ("", "file", *REMOTE_LAKE_SCHEMES):
            raise _invalid(
                f"lake {strip_userinfo(self.lake_uri)!r}: scheme {scheme!r} is not supported "
                "(a local folder, s3://bucket/prefix or gs://bucket/prefix)",
                "lake_uri",
            )
        self._normalize_urls()

    def _normalize_urls(self) -> None:
        if not _is_http_url(self.api_url):
            raise _invalid(
                f"API URL {strip_userinfo(self.api_url)!r} is not an http:// or https:// URL "
                "with a host",
                "api_url",
            )
        if not self.api_url.endswith("/"):
            object.__setattr__(self, "api_url", self.api_url + "/")
        if not self.warehouse:
            object.__setattr__(self, "warehouse", default_warehouse(self.home))
        if not self.warehouse.startswith(("duckdb://", "postgresql://", "postgres://")):
            raise _invalid(
                f"warehouse {mask_dsn(self.warehouse)!r} must start with duckdb:/// or "
                "postgresql://",
                "warehouse",
            )

    @property
    def lake(self) -> Path:
        """The lake's local root: the ``--lake`` folder, or ``<home>/lake`` (for a lake in a
        bucket, the local cache of its files)."""
        if self.lake_uri and self.remote_lake is None:
            parts = urlsplit(self.lake_uri)
            return Path(parts.path if parts.scheme == "file" else self.lake_uri)
        return self.home / "lake"

    @property
    def lock_home(self) -> Path:
        """Where the ``flock`` files live (``.locks/``): beside the lake root, so homes that
        share a lake in a folder take turns on it; ``<home>`` itself for the default lake and
        for a bucket's cache."""
        return self.lake.parent

    @property
    def remote_lake(self) -> str | None:
        """The lake's bucket URI (``s3://...``, ``gs://...``); ``None`` for a lake in a folder."""
        if urlsplit(self.lake_uri).scheme in REMOTE_LAKE_SCHEMES:
            return self.lake_uri.rstrip("/")
        return None

    @property
    def spill_dir(self) -> Path:
        """Where the engines spill what does not fit in :attr:`memory_limit` (outside the lake)."""
        return self.home / "tmp"

    @property
    def memory_limit_bytes(self) -> int | None:
        return None if self.memory_limit is None else parse_memory_limit(self.memory_limit)

    @property
    def warehouse_kind(self) -> Literal["duckdb", "postgresql"]:
        return "duckdb" if self.warehouse.startswith("duckdb://") else "postgresql"

    @property
    def duckdb_warehouse_path(self) -> Path:
        """The file of a ``duckdb://`` warehouse, as in SQLAlchemy URLs: what follows
        ``duckdb:///`` is the path, so ``duckdb:///rel/w.duckdb`` is relative to the working
        directory and ``duckdb:////abs/w.duckdb`` (four slashes) is absolute."""
        return Path(
            self.warehouse.removeprefix("duckdb://").removeprefix("/") or "warehouse.duckdb"
        )

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given non-None values replaced."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if "home" in given and "warehouse" not in given and self.warehouse_kind == "duckdb":
            given["warehouse"] = ""
        return replace(self, **given)


def default_warehouse(home: Path) -> str:
    """``<home>/warehouse.duckdb`` as a ``duckdb://`` URL (4 slashes when ``home`` is absolute)."""
    return f"duckdb:///{home / 'warehouse.duckdb'}"


_ENV_FIELDS = {
    "TREASURY_HOME": "home",
    "TREASURY_API_URL": "api_url",
    "TREASURY_WAREHOUSE": "warehouse",
    "TREASURY_ENGINE": "engine",
    "TREASURY_START_DATE": "initial_start",
    "TREASURY_LOOKBACK_DAYS": "lookback_days",
    "TREASURY_WINDOW_ANCHOR": "window_anchor",
    "TREASURY_SPARK_MASTER": "spark_master",
    "TREASURY_SPARK_DRIVER_HOST": "spark_driver_host",
    "TREASURY_DATASETS": "datasets",
    "TREASURY_PAGE_SIZE": "page_size",
    "TREASURY_HTTP_TIMEOUT": "timeout_s",
    "TREASURY_RETRY_BUDGET": "retry_budget_s",
    "TREASURY_MEMORY_LIMIT": "memory_limit",
    "TREASURY_LEASE_S": "lease_s",
    "TREASURY_PRUNE_GRACE_S": "prune_grace_s",
    "TREASURY_LAKE": "lake_uri",
}


def _convert(name: str, value: str) -> Any:
    if name == "home":
        return Path(value)
    if name == "initial_start":
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ConfigError(f"{value!r} is not a date in the form YYYY-MM-DD") from None
    if name in ("lookback_days", "page_size"):
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{value!r} is not a whole number") from None
    if name in ("timeout_s", "retry_budget_s", "lease_s", "prune_grace_s"):
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{value!r} is not a number of seconds") from None
    if name == "datasets":
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return value


def settings_from_env(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Defaults, then the ``TREASURY_*`` variables of ``env`` (the process's by default), then
    ``overrides`` (CLI flags; ``None`` means not given).

    An error in a value that came from a variable names the variable.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    source: dict[str, str] = {}
    for var, name in _ENV_FIELDS.items():
        if env.get(var):
            try:
                values[name] = _convert(name, env[var])
            except ConfigError as error:
                raise ConfigError(f"{var}: {error}", variable=var) from None
            source[name] = var
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(given)
    if "home" in values:
        values["home"] = Path(values["home"])
    try:
        return Settings(**values)
    except ConfigError as error:
        culprit = str(error.context.get("field"))
        if culprit in source and culprit not in given:
            raise ConfigError(f"{source[culprit]}: {error}", variable=source[culprit]) from None
        raise
