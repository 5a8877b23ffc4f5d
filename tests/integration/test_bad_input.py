"""Every bad input ends in one clear line, exit 1 (2 for bad usage), no traceback, and nothing
stored changed. Commands run through the real CLI (CliRunner; a subprocess where a mount or
another user is needed)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from conftest import require_or_skip
from treasury_lakehouse.cli import main
from treasury_lakehouse.testing import FakeFiscalDataApi

REPO = Path(__file__).resolve().parents[2]
PDT, OCB = "public_debt_transactions", "operating_cash_balance"


def _one_line(result: Result, exit_code: int = 1) -> str:
    """The single line a failed command printed (asserting there is exactly one, no traceback)."""
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.strip().splitlines() if line]
    if exit_code == 2:  # click's usage errors: "Usage: ...", "Try ...", blank, "Error: ..."
        lines = [line for line in lines if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def _snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under root with its content (None for folders)."""
    if root.is_file():
        return {str(root): root.read_bytes()}
    return {str(p): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))} | {
        str(root): None
    }


def _invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    clean: dict[str, str | None] = {n: None for n in os.environ if n.startswith("TREASURY_")}
    return CliRunner(env={**clean, **(env or {})}).invoke(main, list(args))


@pytest.fixture
def lake_home(fake_api: FakeFiscalDataApi, tmp_path: Path) -> Path:
    """A home with one committed run (2022-01-03..2022-01-14)."""
    fake_api.today = date(2022, 1, 14)
    home = tmp_path / "home"
    result = _invoke(
        "run", "--home", str(home), "--api-url", fake_api.base_url, "--start", "2022-01-03"
    )
    assert result.exit_code == 0, result.output
    return home


# ---------------------------------------------------------------- homes


@pytest.mark.parametrize("command", ["run", "ingest", "transform", "load", "check", "status"])
def test_a_home_that_is_a_file_is_one_line(command: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder")
    line = _one_line(_invoke(command, "--home", str(home)))
    assert line == f"Error: home {home} is a file, not a folder; choose a folder"
    assert home.read_text() == "not a folder"


def test_a_home_under_a_file_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    line = _one_line(_invoke("run", "--home", str(blocker / "home")))
    assert (
        line == f"Error: home {blocker / 'home'} is under {blocker}, which is a file, not a folder"
    )
    assert _snapshot(tmp_path) == {str(tmp_path): None, str(blocker): b"x"}


@pytest.mark.parametrize("home", ["/proc/treasury", "/proc/self/treasury", "/sys/kernel/treasury"])
def test_a_home_under_proc_or_sys_is_one_line(home: str) -> None:
    line = _one_line(_invoke("ingest", "--home", home))
    assert "a virtual file system of the kernel; choose a folder on a disk" in line
    assert not Path(home).exists()


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder other users can enter (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="treasury-bad-input-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _cli_subprocess(
    *args: str, prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREASURY_")}
    env["PYTHONPATH"] = str(REPO / "src")
    code = "from treasury_lakehouse.cli import main; main()"
    return subprocess.run(
        [*(prefix or []), sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd="/",
    )


def test_a_read_only_home_is_one_line_even_for_root(shared_tmp: Path) -> None:
    """A read-only bind mount in a private mount namespace: root cannot write there either."""
    if shutil.which("unshare") is None:
        require_or_skip("needs unshare (util-linux) for a read-only bind mount")
    home = shared_tmp / "home"
    (home / "lake").mkdir(parents=True)
    before = _snapshot(home)
    code = "from treasury_lakehouse.cli import main; main()"
    script = (
        f"mount --bind {home} {home} && mount -o remount,bind,ro {home} && "
        f"exec {sys.executable} -c '{code}' run --home {home}"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREASURY_")}
    env["PYTHONPATH"] = str(REPO / "src")
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    if "mount:" in done.stderr:
        require_or_skip(f"no read-only bind mounts here: {done.stderr.strip()}")
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"Error: home {home} cannot be written (Read-only file system); "
        "choose a folder you can write to"
    ]
    assert _snapshot(home) == before


def test_a_home_the_user_may_not_write_is_one_line(shared_tmp: Path) -> None:
    """Run as nobody: permission bits then apply (root ignores them, hence the probe)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        require_or_skip("needs root and setpriv to run as nobody")
    home = shared_tmp / "home"
    home.mkdir(mode=0o555)
    home.chmod(0o555)
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    done = _cli_subprocess("ingest", "--home", str(home), prefix=nobody)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"Error: home {home} cannot be written (Permission denied); "
        "choose a folder you can write to"
    ]
    assert list(home.iterdir()) == []
    under = _cli_subprocess("ingest", "--home", str(home / "new"), prefix=nobody)
    assert under.returncode == 1 and "Traceback" not in under.stderr
    assert "cannot be written (Permission denied)" in under.stderr


def test_a_warehouse_under_a_file_is_one_line_before_anything_is_fetched(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    home = tmp_path / "home"
    warehouse = f"duckdb:///{blocker / 'sub' / 'w.duckdb'}"
    result = _invoke(
        "run", "--home", str(home), "--api-url", fake_api.base_url, "--warehouse", warehouse
    )
    line = _one_line(result)
    target = blocker / "sub" / "w.duckdb"
    assert line == f"Error: warehouse {target} is under {blocker}, which is a file, not a folder"
    assert fake_api.requests == [] and not home.exists()


def test_status_of_a_home_without_a_lake_says_so_and_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "nowhere"
    line = _one_line(_invoke("status", "--home", str(home)))
    assert line.startswith(f"Error: no lake at {home}: run `treasury run`")
    assert not home.exists()
    assert _one_line(_invoke("status", "--json", "--home", str(home))).startswith("Error: no lake")
    assert not home.exists()


# ---------------------------------------------------------------- windows and numbers


def test_huge_lookback_is_a_usage_error_from_the_flag_and_names_the_variable(
    lake_home: Path,
) -> None:
    before = _snapshot(lake_home)
    line = _one_line(_invoke("ingest", "--home", str(lake_home), "--lookback-days", "999999999"), 2)
    assert "--lookback-days" in line and "999999999 is not in the range 0<=x<=10000" in line
    env = {"TREASURY_LOOKBACK_DAYS": "999999999"}
    line = _one_line(_invoke("ingest", "--home", str(lake_home), env=env))
    assert line == "Error: TREASURY_LOOKBACK_DAYS: lookback must be 0 to 10000 days, not 999999999"
    line = _one_line(
        _invoke("status", "--home", str(lake_home), env={"TREASURY_LOOKBACK_DAYS": "abc"})
    )
    assert line == "Error: TREASURY_LOOKBACK_DAYS: 'abc' is not a whole number"
    assert _snapshot(lake_home) == before


def test_a_start_later_than_today_is_a_usage_error(tmp_path: Path) -> None:
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    line = _one_line(_invoke("run", "--home", str(tmp_path / "h"), "--start", tomorrow), 2)
    assert f"{tomorrow} is later than today" in line
    assert not (tmp_path / "h").exists()


def test_an_end_before_the_computed_start_is_an_error_and_fetches_nothing(
    fake_api: FakeFiscalDataApi, lake_home: Path
) -> None:
    """Reproduction: --end before watermark − lookback built gte:2022-01-07,lte:2021-12-31 and
    the run succeeded without fetching anything."""
    before = _snapshot(lake_home)
    fake_api.clear_requests()
    common = ["--home", str(lake_home), "--api-url", fake_api.base_url]
    line = _one_line(_invoke("run", *common, "--end", "2021-12-31"))
    assert line.startswith("Error: the window would start on 2022-01-07 (the watermark 2022-01-14")
    assert "after its end 2021-12-31" in line and "--window-anchor end" in line
    assert fake_api.requests == [] and _snapshot(lake_home) == before
    line = _one_line(_invoke("ingest", *common, "--start", "2022-01-10", "--end", "2022-01-07"))
    assert line == "Error: --start 2022-01-10 is after --end 2022-01-07"
    anchored = _invoke("ingest", *common, "--end", "2021-12-31", "--window-anchor", "end")
    assert anchored.exit_code == 0, anchored.output
    assert "[2021-12-24..2021-12-31]" in anchored.output


def test_a_first_run_whose_window_is_empty_for_one_dataset_says_why(
    synthetic_records: Path, tmp_path: Path
) -> None:
    records = tmp_path / "records"
    shutil.copytree(synthetic_records, records)
    ocb = records / "records" / f"{OCB}.jsonl.gz"
    with gzip.open(ocb, "rt") as handle:
        rows = [json.loads(line) for line in handle]
    with gzip.open(ocb, "wt") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows if r["record_date"] < "2022-01-01")
    home = tmp_path / "home"
    with FakeFiscalDataApi(records, today=date(2022, 1, 14)) as api:
        result = _invoke(
            "run", "--home", str(home), "--api-url", api.base_url, "--start", "2022-01-03"
        )
    assert result.exit_code == 1 and "Traceback" not in result.output
    [line] = [line for line in result.output.splitlines() if "Error" in line]  # after progress
    assert "run `treasury ingest` first" not in line
    assert line.startswith(f"Error: the API has no records of {OCB} in 2022-01-03..… and bronze")
    assert "ask for an earlier --start (or TREASURY_START_DATE)" in line
    assert f"committed meanwhile: {PDT} " in line
    assert not (home / "warehouse.duckdb").exists()


# ---------------------------------------------------------------- paths and help


def test_demo_help_shows_its_real_default_home_which_git_ignores() -> None:
    output = CliRunner().invoke(main, ["demo", "--help"]).output
    assert "default ./data-demo" in " ".join(output.split())
    assert "/data-demo/" in (REPO / ".gitignore").read_text().splitlines()


def test_warehouse_help_says_which_duckdb_urls_are_relative_and_absolute() -> None:
    output = " ".join(CliRunner().invoke(main, ["run", "--help"]).output.split())
    assert "duckdb:///relative/path, duckdb:////absolute/path (4 slashes)" in output


@pytest.mark.slow
def test_a_home_with_glob_characters_works_end_to_end(tmp_path: Path) -> None:
    """Reproduction: DuckDB read `my*lake[1]/lake/...` as a pattern (matching `my-lake1`), so
    silver, quality and the load found no files."""
    home = tmp_path / "my*lake[1]"
    result = _invoke("demo", "--home", str(home))
    assert result.exit_code == 0, result.output
    for command in ("status", "check", "load"):
        assert _invoke(command, "--home", str(home)).exit_code == 0, command
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT COUNT(*) FROM gold_daily_totals").fetchone()
    assert rows is not None and rows[0] > 100


@pytest.mark.slow
def test_a_home_with_a_question_mark_works_with_its_warehouse_elsewhere(tmp_path: Path) -> None:
    home = tmp_path / "what?"
    inside = _invoke("demo", "--home", str(home))
    line = _one_line(inside)
    assert "has a '?' in its path, which DuckDB cannot write" in line and not home.exists()
    warehouse = tmp_path / "w.duckdb"
    result = _invoke("demo", "--home", str(home), "--warehouse", f"duckdb:///{warehouse}")
    assert result.exit_code == 0, result.output
    assert warehouse.exists() and (home / "lake").is_dir()
