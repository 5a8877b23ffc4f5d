"""A missing service skips a test on a developer's machine and fails it under CI's
``TREASURY_REQUIRE_SERVICES=1``, so a green CI means the whole suite ran."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import require_or_skip

REPO = Path(__file__).resolve().parents[2]


def test_a_missing_service_skips_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TREASURY_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL unreachable"):
        require_or_skip("PostgreSQL unreachable")


def test_a_missing_service_fails_when_services_are_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TREASURY_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match=r"PostgreSQL unreachable .*REQUIRE_SERVICES=1"):
        require_or_skip("PostgreSQL unreachable")


def test_no_test_skips_around_the_helper() -> None:
    """Every skip for a missing service goes through ``require_or_skip``."""
    offenders = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        text = path.read_text()
        for needle in ("pytest.skip(", "importorskip(", "mark.skipif", "mark.skip("):
            if needle in text and path.name not in ("conftest.py", Path(__file__).name):
                offenders.append(f"{path.relative_to(REPO)}: {needle}")
    assert offenders == []


def fake_tools(directory: Path, pg_isready_status: int) -> Path:
    """``pg_isready``, ``pg_ctlcluster``, ``make`` and ``chromium`` stand-ins that log their calls
    (a ``chromium`` on the PATH keeps the script from installing one)."""
    directory.mkdir()
    log = directory / "calls.log"
    tools = (("pg_isready", pg_isready_status), ("pg_ctlcluster", 0), ("make", 0), ("chromium", 0))
    for name, status in tools:
        tool = directory / name
        tool.write_text(
            f'#!/bin/sh\necho "{name} $* REQUIRE=$TREASURY_REQUIRE_SERVICES" >> {log}\n'
            f"exit {status}\n"
        )
        tool.chmod(0o755)
    return log


def run_ci(tools: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}",
           "CI_POSTGRES_WAIT_S": "1", "CI_COMPOSE": "0"}  # fmt: skip
    return subprocess.run(
        ["bash", str(REPO / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60
    )


def test_ci_fails_when_postgresql_does_not_come_up(tmp_path: Path) -> None:
    log = fake_tools(tmp_path / "bin", pg_isready_status=2)
    run = run_ci(tmp_path / "bin")
    assert run.returncode == 1
    assert "PostgreSQL did not come up on 127.0.0.1:5432" in run.stderr
    calls = log.read_text()
    assert "pg_ctlcluster --skip-systemctl-redirect" in calls and "main start" in calls
    assert not [line for line in calls.splitlines() if line.startswith("make")]  # never started


def test_ci_runs_make_test_with_services_required(tmp_path: Path) -> None:
    log = fake_tools(tmp_path / "bin", pg_isready_status=0)
    run = run_ci(tmp_path / "bin")
    assert run.returncode == 0, run.stderr
    calls = log.read_text().splitlines()
    make = [line for line in calls if line.startswith("make")]
    assert make == ["make test REQUIRE=1", "make test-lakes REQUIRE=1"], calls


def test_ci_installs_chromium_when_it_is_missing(tmp_path: Path) -> None:
    """With no chromium on the PATH, .ci/run installs Debian's package before ``make test``."""
    log = fake_tools(tmp_path / "bin", pg_isready_status=0)
    tools = tmp_path / "bin"
    (tools / "chromium").unlink()
    (tools / "apt-get").write_text(  # "installs" chromium: a stand-in appears on the PATH
        f'#!/bin/sh\necho "apt-get $*" >> {log}\n'
        f'case "$*" in *install*) cp {tools}/make {tools}/chromium;; esac\n'
    )
    (tools / "apt-get").chmod(0o755)
    for name in ("dirname", "ls", "sort", "tail", "seq", "sleep", "cp", "sh"):
        (tools / name).symlink_to(shutil.which(name) or name)
    env = {"PATH": str(tools), "CI_POSTGRES_WAIT_S": "1", "CI_COMPOSE": "0"}
    run = subprocess.run(
        [shutil.which("bash") or "bash", str(REPO / ".ci" / "run")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    calls = log.read_text().splitlines()
    assert "apt-get install -y -qq chromium" in calls
    assert calls.index("apt-get install -y -qq chromium") < calls.index("make test REQUIRE=1")
