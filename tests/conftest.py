"""Shared fixtures: the fake Fiscal Data API (real HTTP on 127.0.0.1), records folders, settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from treasury_lakehouse.config import Settings
from treasury_lakehouse.testing import FakeFiscalDataApi, generate_records

REPO = Path(__file__).resolve().parents[1]
SHARED_RECORDS = Path(os.environ.get("TREASURY_SHARED_DATA", REPO.parent / "shared" / "fiscaldata"))


@pytest.fixture(scope="session")
def shared_records() -> Path:
    """The real Fiscal Data records of ../shared/fiscaldata; tests using it skip when absent."""
    if not (SHARED_RECORDS / "records").is_dir():
        pytest.skip(f"real records not found at {SHARED_RECORDS} (set TREASURY_SHARED_DATA)")
    return SHARED_RECORDS


@pytest.fixture(scope="session")
def synthetic_records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated records folder 2021-09-01..2022-05-31 (all three cash-balance layouts)."""
    out = tmp_path_factory.mktemp("synthetic") / "records"
    generate_records(out, date(2021, 9, 1), date(2022, 5, 31), seed=7)
    return out


@pytest.fixture
def fake_api(synthetic_records: Path) -> Iterator[FakeFiscalDataApi]:
    with FakeFiscalDataApi(synthetic_records) as api:
        yield api


@pytest.fixture
def real_api(shared_records: Path) -> Iterator[FakeFiscalDataApi]:
    with FakeFiscalDataApi(shared_records) as api:
        yield api


def make_settings(home: Path, api: FakeFiscalDataApi, **overrides: object) -> Settings:
    """Settings for a test home against a fake API (fast retries)."""
    values: dict[str, object] = {
        "home": home,
        "api_url": api.base_url,
        "retry_budget_s": 10.0,
        "timeout_s": 10.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
