"""DuckDB connections that honour the memory budget of the settings.

Every DuckDB connection that does heavy work (the engine's, and others that adopt
:func:`connect_duckdb`) gets ``memory_limit`` from ``TREASURY_MEMORY_LIMIT`` and spills what does
not fit into a private folder under ``<home>/tmp`` (never inside the lake). The folder carries the
owner's pid, so the next run under the home's lock removes what a killed run left
(:func:`remove_spill_leftovers`) without touching a live process's files. For a lake in a bucket
the connection also reads and writes the bucket by its URIs (:mod:`.lake.bucket_fs`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import duckdb

from treasury_lakehouse.config import Settings
from treasury_lakehouse.lake.lock import pid_alive
from treasury_lakehouse.sql_quote import quote_literal as _lit

SPILL_PREFIX = "duckdb-"


def spill_directory(settings: Settings) -> Path:
    """A new private folder ``<home>/tmp/duckdb-<pid>-<random>`` (mode 0700) to spill into."""
    settings.spill_dir.mkdir(parents=True, exist_ok=True)
    prefix = f"{SPILL_PREFIX}{os.getpid()}-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=settings.spill_dir))


def configure(con: duckdb.DuckDBPyConnection, settings: Settings, spill_dir: Path) -> None:
    """Apply the memory limit (when set) and the spill folder to an open connection."""
    con.execute(f"SET temp_directory = {_lit(str(spill_dir))}")
    limit = settings.memory_limit_bytes
    if limit is not None:
        con.execute(f"SET memory_limit = '{limit}B'")


def connect_duckdb(
    settings: Settings, database: str = ":memory:", read_only: bool = False
) -> tuple[duckdb.DuckDBPyConnection, Path]:
    """A connection configured by :func:`configure`, and its spill folder (the caller removes it
    with :func:`remove_spill_directory` after closing the connection)."""
    spill_dir = spill_directory(settings)
    con = duckdb.connect(database, read_only=read_only)
    try:
        configure(con, settings, spill_dir)
        if settings.remote_lake is not None:  # its s3:// or gs:// URIs read and write the bucket
            from treasury_lakehouse.lake.bucket_fs import register_lake_filesystem
            from treasury_lakehouse.lake.remote import mirror_of

            mirror = mirror_of(settings.lake)  # its store (one client per lake), when attached
            store = (
                mirror.store if mirror is not None and mirror.uri == settings.remote_lake else None
            )
            register_lake_filesystem(con, settings.remote_lake, store)
    except BaseException:
        con.close()
        remove_spill_directory(spill_dir)
        raise
    return con, spill_dir


def remove_spill_directory(spill_dir: Path) -> None:
    shutil.rmtree(spill_dir, ignore_errors=True)


def remove_spill_leftovers(settings: Settings) -> list[Path]:
    """Remove the spill folders under ``<home>/tmp`` whose process is gone; return them."""
    removed: list[Path] = []
    if not settings.spill_dir.is_dir():
        return removed
    for entry in settings.spill_dir.iterdir():
        pid_text = entry.name.removeprefix(SPILL_PREFIX).split("-", 1)[0]
        if not entry.name.startswith(SPILL_PREFIX) or not pid_text.isdigit():
            continue
        if pid_alive(int(pid_text)):
            continue
        if entry.is_dir():
            remove_spill_directory(entry)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed
