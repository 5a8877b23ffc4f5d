"""Atomic file and directory publishing.

Files are written under a temporary name, flushed to disk and renamed into place. Whole tables
(silver, gold, quarantine) are published as versions: a new directory is written beside the old
one and a small ``_current`` pointer file is swapped by rename, so a reader sees the old or the new
version, never a mix; nothing is ever rewritten in place.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from treasury_lakehouse.errors import LakeError

TMP_MARK = ".tmp-"
CURRENT = "_current"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temporary_sibling(path: Path) -> Path:
    return path.with_name(f"{path.name}{TMP_MARK}{uuid.uuid4().hex[:8]}")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see nothing or all of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, json.dumps(value, indent=2, sort_keys=True, default=str).encode())


def publish_file(tmp: Path, final: Path) -> None:
    """Flush ``tmp`` and rename it to ``final`` (which must not exist: nothing is rewritten)."""
    if final.exists():
        raise LakeError(f"{final} already exists; committed lake files are never rewritten")
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.rename(tmp, final)
    _fsync_dir(final.parent)


def new_version_name() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"v{stamp}-{uuid.uuid4().hex[:6]}"


def current_version(table_dir: Path) -> Path | None:
    """The published version directory of a table, or ``None`` before the first publish."""
    pointer = table_dir / CURRENT
    if not pointer.exists():
        return None
    version = table_dir / pointer.read_text().strip()
    if not version.is_dir():
        raise LakeError(f"{pointer} points at {version.name}, which does not exist")
    return version


@contextmanager
def new_version(table_dir: Path, keep: int = 2) -> Iterator[Path]:
    """Yield an empty directory to fill; on success publish it as the table's current version.

    On an exception the directory is removed and the previous version stays current.
    """
    table_dir.mkdir(parents=True, exist_ok=True)
    version = table_dir / (new_version_name() + TMP_MARK + "building")
    version.mkdir()
    try:
        yield version
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise
    final = table_dir / version.name.split(TMP_MARK)[0]
    os.rename(version, final)
    atomic_write_bytes(table_dir / CURRENT, final.name.encode())
    _prune(table_dir, keep)


def _prune(table_dir: Path, keep: int) -> None:
    """Remove all but the newest ``keep`` published versions (the current one is always kept)."""
    current = current_version(table_dir)
    versions = sorted(
        p
        for p in table_dir.iterdir()
        if p.is_dir() and p.name.startswith("v") and TMP_MARK not in p.name
    )
    for old in versions[:-keep]:
        if old != current:
            shutil.rmtree(old, ignore_errors=True)


def remove_orphans(directory: Path) -> list[Path]:
    """Delete temporary files and directories a crashed run left behind (call under the lock)."""
    removed: list[Path] = []
    if not directory.exists():
        return removed
    for path in directory.rglob(f"*{TMP_MARK}*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()
        removed.append(path)
    return removed
