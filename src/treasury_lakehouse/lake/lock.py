"""One writer per part of a home at a time: advisory ``flock`` files holding the owner's pid.

Each dataset (its bronze, silver and quarantine), the gold tables and the warehouse have their own
lock under ``<home>/.locks/``, so an orchestrator can ingest datasets in parallel while a second
``treasury run`` on the same home fails fast, naming the holder. The kernel drops a lock when its
process dies, so a crashed run never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from treasury_lakehouse.errors import LockHeldError


def dataset_scope(dataset: str) -> str:
    return f"dataset-{dataset}"


GOLD_SCOPE = "gold"
WAREHOUSE_SCOPE = "warehouse"
#: the lake's commit log (writing a commit, adopting an old lake, pruning): held for moments only
COMMIT_SCOPE = "lake-commit"
#: how long a step waits for the commit lock before failing (it is held for moments only)
COMMIT_WAIT_S = 120.0


@contextmanager
def home_lock(home: Path, purpose: str, scopes: Iterable[str]) -> Iterator[None]:
    """Hold the locks of ``scopes`` (taken in sorted order) or fail fast naming the holder."""
    with ExitStack() as stack:
        for scope in sorted(set(scopes)):
            stack.enter_context(_one_lock(home, scope, purpose))
        yield


@contextmanager
def commit_lock(home: Path, purpose: str) -> Iterator[None]:
    """Hold the lake's commit-log lock, waiting up to :data:`COMMIT_WAIT_S` for it."""
    with _one_lock(home, COMMIT_SCOPE, purpose, wait_s=COMMIT_WAIT_S):
        yield


@contextmanager
def _one_lock(home: Path, scope: str, purpose: str, wait_s: float = 0.0) -> Iterator[None]:
    directory = home / ".locks"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{scope}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, home, scope, path, wait_s)
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "purpose": purpose,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, home: Path, scope: str, path: Path, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
    holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "{}"
    raise LockHeldError(
        f"another treasury run holds the lock of {home} ({scope}): {_describe(holder)}; "
        "wait for it to finish (a lock is released when its process exits)",
        path=str(path),
    )


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (signal 0 probes without sending)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def _describe(holder: str) -> str:
    try:
        info = json.loads(holder)
        return f"pid {info['pid']} on {info['host']} ({info['purpose']}, since {info['since']})"
    except (ValueError, KeyError, TypeError):
        return "an unknown process"
