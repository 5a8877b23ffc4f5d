"""Where the platform may write, checked before anything is written; paths safe in DuckDB globs.

Every writing command calls :func:`require_writable_home` first, so a home that is a file, lies
under a file or under ``/proc``, or cannot be written ends in one :class:`ConfigError` line with
nothing stored changed. :func:`glob_escape` keeps a home whose name holds ``*?[]`` from being read
as a pattern by DuckDB's ``read_parquet`` (which globs even a plain file name).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from treasury_lakehouse.config import Settings
from treasury_lakehouse.errors import ConfigError, LakeError
from treasury_lakehouse.sql_quote import quote_literal

#: virtual file systems of the kernel: nothing there is storage
VIRTUAL_ROOTS = (Path("/proc"), Path("/sys"))
_GLOB_ESCAPES = {"*": "[*]", "?": "[?]", "[": "[[]", "]": "[]]"}


def glob_escape(path: Path | str) -> str:
    """``path`` with DuckDB's glob characters escaped (``*`` → ``[*]``, ``[`` → ``[[]``, ...).

    Use it for every path handed to ``read_parquet``, explicit file names included; append the
    wildcard part of a pattern after escaping: ``glob_escape(directory) + "/**/*.parquet"``.
    """
    return "".join(_GLOB_ESCAPES.get(char, char) for char in str(path))


def parquet_list_sql(paths: Iterable[Path | str]) -> str:
    """A DuckDB list literal of ``paths``, each escaped (:func:`glob_escape`) and quoted: what
    ``read_parquet([...])`` takes."""
    return "[" + ", ".join(quote_literal(glob_escape(p)) for p in paths) + "]"


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path(path.anchor or ".")


def _check_location(path: Path, what: str) -> None:
    """Raise when ``path`` is under /proc or /sys, or under something that is not a folder."""
    absolute = Path(os.path.abspath(path))
    for root in VIRTUAL_ROOTS:
        if absolute == root or root in absolute.parents:
            raise ConfigError(
                f"{what} {path} is under {root}, a virtual file system of the kernel; "
                "choose a folder on a disk"
            )
    existing = _nearest_existing(absolute)
    if existing != absolute and not existing.is_dir():
        raise ConfigError(f"{what} {path} is under {existing}, which is a file, not a folder")


def check_home(settings: Settings) -> None:
    """Raise when the home cannot be a folder: it is a file, under a file, or under /proc."""
    home = settings.home
    _check_location(home, "home")
    if home.exists() and not home.is_dir():
        raise ConfigError(f"home {home} is a file, not a folder; choose a folder")


def require_writable_home(settings: Settings) -> None:
    """Create the home if needed and prove it writable (and the DuckDB warehouse's folder).

    Root ignores permission bits, so ``os.access`` cannot tell; a probe file (created and removed
    at once) catches read-only mounts and, for other users, missing permissions.
    """
    check_home(settings)
    folders = [settings.home]
    if settings.warehouse_kind == "duckdb":
        warehouse = settings.duckdb_warehouse_path
        _check_location(warehouse, "warehouse")
        if warehouse.is_dir():
            raise ConfigError(f"warehouse {warehouse} is a folder; the warehouse is a file")
        if "?" in os.path.abspath(warehouse):
            raise ConfigError(
                f"the DuckDB warehouse {os.path.abspath(warehouse)} has a '?' in its path, which "
                "DuckDB cannot write (it misplaces the file's write-ahead log, duckdb issue "
                "13472); give --warehouse duckdb:////a/path/without/it.duckdb"
            )
        folders.append(warehouse.parent)
    for folder in folders:  # checked all before creating any
        _require_writable_dir(folder, "home" if folder == settings.home else "warehouse folder")


def _require_writable_dir(directory: Path, what: str) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # the probe, not os.access: root passes os.access on any folder whose mount is writable
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-probe-"):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError(
            f"{what} {directory} cannot be written ({reason}); choose a folder you can write to"
        ) from None


def require_lake(settings: Settings) -> None:
    """Raise when the home holds no lake (``status`` and other readers; nothing is created)."""
    check_home(settings)
    if not settings.lake.is_dir():
        raise LakeError(
            f"no lake at {settings.home}: run `treasury run` (or `treasury demo` for an offline "
            "sample), or give the right --home / TREASURY_HOME"
        )
