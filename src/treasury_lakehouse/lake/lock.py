"""One run per home at a time: an advisory ``flock`` on ``<home>/.lock`` holding the owner's pid.

The kernel drops the lock when its process dies, so a crashed run never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from treasury_lakehouse.errors import LockHeldError


@contextmanager
def home_lock(home: Path, purpose: str) -> Iterator[None]:
    """Hold the home's lock for the duration of the block, or fail fast naming the holder."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "{}"
            raise LockHeldError(
                f"another treasury run holds the lock of {home}: {_describe(holder)}; "
                "wait for it to finish (a lock is released when its process exits)",
                path=str(path),
            ) from None
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "purpose": purpose,
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
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


def _describe(holder: str) -> str:
    try:
        info = json.loads(holder)
        return f"pid {info['pid']} on {info['host']} ({info['purpose']}, since {info['since']})"
    except (ValueError, KeyError, TypeError):
        return "an unknown process"
