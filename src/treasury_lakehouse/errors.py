"""One exception tree for the whole platform.

Every error says what went wrong and where; ``transient`` says whether trying again can help,
which is what the HTTP client and Airflow use to decide on retries.
"""

from __future__ import annotations

from typing import Any


class TreasuryError(Exception):
    """Base of every error the platform raises on purpose."""

    transient: bool = False

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def __str__(self) -> str:
        return self.message


class ConfigError(TreasuryError):
    """A setting is missing or invalid (bad date, unknown dataset, bad warehouse URL)."""


class ApiError(TreasuryError):
    """The Fiscal Data API refused a request (4xx other than 429): retrying cannot help."""


class TransientApiError(ApiError):
    """A 429, a 5xx, a dropped connection or an unreadable body: a retry may help."""

    transient = True


class IncompleteResponseError(ApiError):
    """The pages received do not add up to the ``total-count`` the API announced."""

    transient = True


class SchemaDriftError(TreasuryError):
    """The API's field set or ``dataTypes`` disagree with the catalog; silver is not built."""


class LakeError(TreasuryError):
    """The lake on disk is not in the shape the platform wrote it in."""


class CorruptLakeError(LakeError):
    """A committed lake file is unreadable, missing or altered (context ``path``);
    ``treasury repair`` can fix it."""


class LockHeldError(TreasuryError):
    """Another run holds the lock of this home (or of one of its parts).

    Transient: the holder releases it when it finishes, so an orchestrator's retry can succeed;
    the CLI still fails fast naming the holder.
    """

    transient = True


class EngineError(TreasuryError):
    """A transform engine could not run a model (missing Java, SQL error, ...)."""


class WarehouseError(TreasuryError):
    """Loading or reading the warehouse failed; the published tables are unchanged."""


class QualityGateError(TreasuryError):
    """An error-level data-quality check failed; nothing was published."""


class BrowserError(TreasuryError):
    """Headless Chromium could not render a page (the test tools' browser, the report's
    screenshot): not found, exited early, or did not answer in time."""
