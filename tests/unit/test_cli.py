"""The CLI mirrors the library: every command has help, errors are one line, usage errors exit 2."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from treasury_lakehouse.cli import echo_history_status, main
from treasury_lakehouse.testing import FakeFiscalDataApi, Fault

REPO = Path(__file__).resolve().parents[2]
COMMANDS = sorted(main.commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_and_is_documented(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert main.commands[command].help  # type: ignore[attr-defined]
    assert "--home" in result.output
    assert (
        f"treasury {command}"
        in (REPO / "README.md").read_text() + (REPO / "docs" / "cli.md").read_text()
    )


def test_bad_usage_exits_2() -> None:
    result = CliRunner().invoke(main, ["run", "--start", "2024-13-01"])
    assert result.exit_code == 2
    assert "is not a date in the form YYYY-MM-DD" in result.output


def test_pipeline_error_is_one_line_and_exits_1(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    wrong_base = fake_api.base_url.replace("fiscal_service", "no_such_service")
    result = CliRunner().invoke(main, ["ingest", "--home", str(tmp_path), "--api-url", wrong_base])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: GET {wrong_base}")
    assert "HTTP 404" in lines[0]


def test_api_4xx_fails_at_once_with_the_message(
    fake_api: FakeFiscalDataApi, tmp_path: Path
) -> None:
    fake_api.inject_faults([Fault(status=403)])
    result = CliRunner().invoke(
        main, ["run", "--home", str(tmp_path), "--api-url", fake_api.base_url]
    )
    assert result.exit_code == 1
    assert "HTTP 403" in result.output
    assert len(fake_api.requests) == 1


def test_env_variables_configure_the_run(fake_api: FakeFiscalDataApi, tmp_path: Path) -> None:
    fake_api.today = date(2022, 1, 14)
    env = {
        "TREASURY_HOME": str(tmp_path / "h"),
        "TREASURY_API_URL": fake_api.base_url,
        "TREASURY_START_DATE": "2022-01-03",
    }
    result = CliRunner(env=env).invoke(main, ["run"])
    assert result.exit_code == 0, result.output
    assert "silver     rows in" in result.output
    status = json.loads(CliRunner(env=env).invoke(main, ["status", "--json"]).output)
    assert status["datasets"]["public_debt_transactions"]["watermark"] == "2022-01-14"
    assert (tmp_path / "h" / "warehouse.duckdb").exists()


def test_demo_runs_offline_on_a_synthetic_sample(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--home", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "served a synthetic sample" in result.output
    assert (tmp_path / "demo" / "warehouse.duckdb").exists()


def test_report_command_writes_the_page(fake_api: FakeFiscalDataApi, tmp_path: Path) -> None:
    fake_api.today = date(2022, 2, 28)
    common = ["--home", str(tmp_path), "--api-url", fake_api.base_url]
    assert CliRunner().invoke(main, ["run", *common, "--start", "2022-01-03"]).exit_code == 0
    result = CliRunner().invoke(main, ["report", *common])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report" / "index.html").exists()


def test_group_help_lists_every_command() -> None:
    output = CliRunner().invoke(main, ["--help"]).output
    for command in COMMANDS:
        assert command in output
    assert isinstance(main, click.Group)


def test_status_says_when_a_commit_has_no_history_yet(capsys: pytest.CaptureFixture[str]) -> None:
    echo_history_status("debt_to_penny", None)
    echo_history_status(
        "public_debt_transactions",
        {"versions": 1204, "current_rows": 1199, "deleted_rows": 2, "revisions": 6},
    )
    none_yet, counted = capsys.readouterr().out.splitlines()
    assert none_yet.split(" ", 1)[1].strip().startswith("history: none yet")
    assert counted.split() == [
        "public_debt_transactions",
        "history",
        *("versions", "1,204", "current", "1,199", "deleted", "2", "revisions", "6"),
    ]
