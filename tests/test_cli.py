"""The `afr-box` command line: help with examples, and clear errors that name what to fix."""
from __future__ import annotations

from click.testing import CliRunner

from afr_box.orchestrator.cli import main

COMMANDS = [["bench"], ["campaign"], ["replay"], ["repeat"], ["data", "prepare"], ["image", "build"], ["image", "os"], ["tasks"], ["report"], ["clean"]]


def test_help_lists_commands_and_each_has_an_example():
    out = CliRunner().invoke(main, ["--help"]).output
    for cmd in ("campaign", "data", "image", "tasks", "report", "clean"):
        assert cmd in out
    for cmd in COMMANDS:
        result = CliRunner().invoke(main, [*cmd, "--help"])
        assert result.exit_code == 0 and "Example" in result.output, cmd


def test_prepare_from_a_missing_folder_names_it(tmp_path):
    result = CliRunner().invoke(main, ["data", "prepare", "heart", "--source", str(tmp_path / "nope"),
                                       "--data-root", str(tmp_path / "data")])
    assert result.exit_code == 2 and "nope" in result.output
    assert not (tmp_path / "data" / "heart").exists()


def test_campaign_without_prepared_data_says_how_to_prepare(tmp_path):
    result = CliRunner().invoke(main, ["campaign", "heart", "--data-root", str(tmp_path), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2 and "afr-box data prepare" in result.output
    assert not (tmp_path / "runs").exists()  # nothing written for a campaign that could not start


def test_unknown_task_lists_the_known_ones(tmp_path):
    result = CliRunner().invoke(main, ["campaign", "nosuch", "--data-root", str(tmp_path)])
    assert result.exit_code == 2 and "heart" in result.output


def test_tasks_reports_data_status(tmp_path):
    CliRunner().invoke(main, ["data", "prepare", "synthetic", "--data-root", str(tmp_path)])
    out = CliRunner().invoke(main, ["tasks", "--data-root", str(tmp_path)]).output
    assert any(line.startswith("synthetic") and "ready" in line for line in out.splitlines())
    assert any(line.startswith("heart") and "missing" in line for line in out.splitlines())
