"""Crash-consistency harness: run a pipeline step in a child process and SIGKILL it at a random
moment; the child reports each stage it enters (the pipeline's ``stage ...`` debug lines) to a
marker file, written unbuffered with a timestamp, so the kill point is known after the kill.

The children come from a ``forkserver`` (started before the children need it), so each child is a
cheap fork of a single-threaded process that has already imported the package.

A kill is aimed in one of two ways, both at a random moment: ``after="start"`` waits a random delay
from the child's start; ``after=<stage>`` waits until the child enters that stage, then a random
delay no longer than that stage lasted in the last rerun, so short stages (the commit) are hit too.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any

#: the stages each kill mode goes through, in order (``start``: lock and cleanup, before any stage)
MODES: dict[str, tuple[str, ...]] = {
    "run": ("start", "ingest", "silver", "gold", "commit", "check", "load"),
    "ingest": ("start", "ingest"),
    "transform": ("start", "silver", "gold", "commit"),
    "check": ("start", "check"),
    "load": ("start", "check", "load"),
}
#: the stages a crash test must have killed the child in at least once
REQUIRED_STAGES = ("ingest", "silver", "gold", "commit", "check", "load")
STAGE_PREFIX = "stage "


def _append(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, f"{time.monotonic():.6f} {text}\n".encode())
    finally:
        os.close(fd)


class MarkerHandler(logging.Handler):
    """Appends each ``stage ...`` debug line of the pipeline to the marker file."""

    def __init__(self, path: str) -> None:
        super().__init__(logging.DEBUG)
        self.path = path

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(STAGE_PREFIX):
            _append(self.path, message.removeprefix(STAGE_PREFIX))


class Timeline(logging.Handler):
    """Records when each stage group starts in this process (the in-process reruns)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.starts: dict[str, float] = {}
        self.markers: list[tuple[float, str]] = []
        self.began = self.ended = 0.0

    def begin(self) -> None:
        self.starts, self.markers, self.began = {}, [], time.monotonic()

    def end(self) -> None:
        self.ended = time.monotonic()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(STAGE_PREFIX):
            group, now = message.removeprefix(STAGE_PREFIX).split()[0], time.monotonic()
            self.starts.setdefault(group, now)
            self.markers.append((now, group))

    def durations(self) -> dict[str, float]:
        """How long each stage group lasted (until the next group started, or the run ended)."""
        ordered = sorted(self.starts.items(), key=lambda item: item[1])
        ends = [t for _, t in ordered[1:]] + [self.ended]
        durations = {group: end - t for (group, t), end in zip(ordered, ends, strict=True)}
        durations["start"] = (ordered[0][1] if ordered else self.ended) - self.began
        return durations

    def first_steps(self) -> dict[str, float]:
        """How long the first step of each stage group lasted (until the next marker): the
        ``commit`` group's first step writes the lake commit, its second prunes."""
        times = [t for t, _ in self.markers] + [self.ended]
        steps: dict[str, float] = {}
        for index, (t, group) in enumerate(self.markers):
            steps.setdefault(group, times[index + 1] - t)
        return steps


def child(settings_kwargs: dict[str, Any], mode: str, marker_path: str) -> None:
    """What a killed process runs: one facade step (or ``run``), reporting stages."""
    from treasury_lakehouse import pipeline
    from treasury_lakehouse.config import Settings

    _append(marker_path, "start")
    logger = logging.getLogger("treasury_lakehouse")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(MarkerHandler(marker_path))
    settings = Settings(**settings_kwargs)
    steps: dict[str, Callable[[Settings], object]] = {
        "run": pipeline.run,
        "ingest": pipeline.ingest,
        "transform": pipeline.transform,
        "check": pipeline.check,
        "load": pipeline.load,
    }
    step = steps[mode]
    try:
        step(settings)
    except Exception as error:  # reported; the test fails on it (no step may fail unkilled)
        _append(marker_path, f"failed {type(error).__name__}: {error}".replace("\n", " | "))
        raise SystemExit(3) from None
    _append(marker_path, "completed")


def forkserver() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["treasury_lakehouse.pipeline", "crash_harness"])
    return context


@dataclass(frozen=True)
class Kill:
    mode: str
    #: the stage the kill was aimed after (``start``: a delay from the child's start)
    after: str
    delay_s: float
    #: the last marker the child wrote: a stage (``silver public_debt_transactions``), ``start``,
    #: ``completed`` (killed after its work, before its exit) or ``failed ...``
    point: str
    killed: bool

    @property
    def stage(self) -> str:
        """The stage group of the kill point: ``ingest``, ``silver``, ... or ``exit``."""
        word = self.point.split()[0]
        return "exit" if word == "completed" else word


def _markers(path: Path) -> list[str]:
    return [line.split(" ", 1)[1] for line in path.read_text().splitlines() if " " in line]


def _wait_for(process: Any, path: Path, stage: str, timeout_s: float) -> None:
    """Wait until the child wrote a marker of ``stage`` (or ended)."""
    deadline, size = time.monotonic() + timeout_s, -1
    while process.is_alive() and time.monotonic() < deadline:
        grew = size != (size := path.stat().st_size)
        if grew and any(m.split()[0] == stage for m in _markers(path)):
            return
        time.sleep(0.002)


def kill_at_random(
    context: ForkServerContext,
    settings_kwargs: dict[str, Any],
    mode: str,
    after: str,
    delay_s: float,
    marker_path: Path,
    timeout_s: float = 120.0,
) -> Kill:
    """Start ``mode`` in a child; once it entered ``after``, SIGKILL it ``delay_s`` later unless it
    ended first."""
    marker_path.write_text("")
    process = context.Process(target=child, args=(settings_kwargs, mode, str(marker_path)))
    process.start()
    _wait_for(process, marker_path, after, timeout_s)
    process.join(delay_s)
    killed = process.is_alive()
    if killed:
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
    process.join(timeout_s)
    markers = _markers(marker_path)
    return Kill(mode, after, delay_s, markers[-1] if markers else "start", killed)
