"""Render a local HTML page in headless Chromium (Debian's ``chromium``) and report what it saw.

Drives Chromium through the DevTools protocol over ``--remote-debugging-pipe``: Chromium reads
NUL-separated JSON commands on its fd 3 and writes replies and events on fd 4, so no WebSocket
client (and no pip package) is needed. :func:`render_page` opens one page and returns a
:class:`Rendering`: each ``<img>`` with its ``naturalWidth`` (0: it did not load), every console
error (``console.error``, uncaught exceptions, failed resource loads) and a PNG of the full page.

Chromium is started with :func:`os.posix_spawn` (thread-safe, unlike ``preexec_fn``, which matters
in a test process serving the fake API from threads) in its own session, and the whole session is
killed if it does not close in time. ``--no-sandbox``: the page is our own local file, and CI runs
as root, where Chromium refuses to start sandboxed.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from treasury_lakehouse.errors import BrowserError

#: the names Chromium goes by on the PATH (Debian's package installs ``chromium``)
CHROMIUM_NAMES = ("chromium", "chromium-browser")
_IMAGES = "JSON.stringify([...document.images].map(i => [i.currentSrc || i.src, i.naturalWidth]))"


@dataclass(frozen=True)
class PageImage:
    src: str
    natural_width: int


@dataclass(frozen=True)
class Rendering:
    """What Chromium saw of one page."""

    images: list[PageImage]
    console_errors: list[str]
    screenshot: bytes = field(repr=False)  # PNG of the whole page


def find_chromium() -> str | None:
    """The Chromium executable on the PATH, or ``None``."""
    return next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)


def render_page(page: Path, width: int = 1100, timeout_s: float = 60.0) -> Rendering:
    """Open ``page`` (a local HTML file) in headless Chromium at ``width`` CSS pixels."""
    executable = find_chromium()
    if executable is None:
        raise BrowserError("Chromium not found on the PATH (apt-get install chromium)")
    deadline = time.monotonic() + timeout_s
    with (
        tempfile.TemporaryDirectory(prefix="treasury-chromium-") as profile,
        _DevTools(executable, Path(profile), width, deadline) as tools,
    ):
        return tools.render(page.resolve().as_uri())


def _console_error(event: dict[str, Any]) -> str | None:
    """The text of an event that is a console error, else ``None``."""
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        return " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
    if method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        return str(details.get("exception", {}).get("description", details.get("text")))
    if method == "Log.entryAdded" and params["entry"].get("level") == "error":
        entry = params["entry"]
        return f"{entry.get('text')} ({entry.get('url', '')})"
    return None


class _DevTools:
    """One Chromium process and its DevTools pipe; a context manager that always ends it."""

    def __init__(self, executable: str, profile: Path, width: int, deadline: float) -> None:
        self.deadline, self.profile = deadline, profile
        self.events: list[dict[str, Any]] = []
        self._buffer, self._next_id = b"", 0
        commands_read, self._commands = _high_pipe()
        self._replies, replies_write = _high_pipe()
        args = [executable, "--headless", "--no-sandbox", "--remote-debugging-pipe",
                f"--user-data-dir={profile}", f"--window-size={width},900", "--hide-scrollbars",
                "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--mute-audio", "about:blank"]  # fmt: skip
        stderr = str(profile / "stderr.log")
        actions = [
            (os.POSIX_SPAWN_DUP2, commands_read, 3),
            (os.POSIX_SPAWN_DUP2, replies_write, 4),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, stderr, os.O_WRONLY | os.O_CREAT, 0o600),
        ]
        self.pid = os.posix_spawnp(executable, args, os.environ, file_actions=actions, setsid=True)
        os.close(commands_read)
        os.close(replies_write)

    def __enter__(self) -> _DevTools:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call("Browser.close")
        except BrowserError:
            pass
        finally:
            os.close(self._commands)
            os.close(self._replies)
            self._reap()

    def _reap(self) -> None:
        """Wait up to 10 s for Chromium to exit, then kill its session (renderers included)."""
        for _ in range(100):
            if os.waitpid(self.pid, os.WNOHANG)[0]:
                return
            time.sleep(0.1)
        os.killpg(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)

    def render(self, url: str) -> Rendering:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        sid = session["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=sid)
        seen = len(self.events)
        loader = self.call("Page.navigate", {"url": url}, sid)["loaderId"]
        self._wait_for_load(loader, seen)
        found = self.call("Runtime.evaluate", {"expression": _IMAGES, "returnByValue": True}, sid)
        images = [PageImage(src, int(w)) for src, w in json.loads(found["result"]["value"])]
        size = self.call("Page.getLayoutMetrics", session=sid)["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.call(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": clip},
            sid,
        )
        errors = [text for text in map(_console_error, self.events) if text is not None]
        return Rendering(images, errors, base64.b64decode(shot["data"]))

    def call(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> Any:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._write(json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") != self._next_id:
                self.events.append(reply)
            elif "error" in reply:
                raise BrowserError(f"Chromium refused {method}: {reply['error']}")
            else:
                return reply.get("result", {})

    def _wait_for_load(self, loader: str, seen: int) -> None:
        """Until the load event (every image loaded or failed) of the document ``loader`` loads;
        events from ``seen`` on, so the blank first page's own load event cannot count."""
        navigated, index = False, seen
        while True:
            while index >= len(self.events):
                self.events.append(self._read())
            event, index = self.events[index], index + 1
            method, params = event.get("method"), event.get("params", {})
            if method == "Page.frameNavigated" and params["frame"].get("loaderId") == loader:
                navigated = True
            elif method == "Page.loadEventFired" and navigated:
                return

    def _write(self, data: bytes) -> None:
        try:
            while data:
                data = data[os.write(self._commands, data) :]
        except BrokenPipeError:
            raise BrowserError(f"Chromium exited early; {self._stderr_tail()}") from None

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self._replies], [], [], left)[0]:
                raise BrowserError(f"Chromium did not answer in time; {self._stderr_tail()}")
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium closed its DevTools pipe; {self._stderr_tail()}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        reply: dict[str, Any] = json.loads(message)
        return reply

    def _stderr_tail(self) -> str:
        try:
            lines = (self.profile / "stderr.log").read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        return "its stderr ends: " + (" | ".join(lines[-5:]) or "(empty)")


def _high_pipe() -> tuple[int, int]:
    """A pipe whose ends are above fd 9 (close-on-exec), so the dup2 onto fds 3 and 4 in
    the child can never overwrite the other end before it is duplicated."""
    ends = os.pipe()
    try:
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in ends]
    finally:
        for fd in ends:
            os.close(fd)
    return high[0], high[1]
