"""The `afr-box` command line: help with examples that parse, one line and exit 2 for bad input."""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from afr_box.orchestrator.cli import main


def all_commands(group: click.Group = main, prefix: tuple[str, ...] = ()):
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from all_commands(cmd, prefix + (name,))
        else:
            yield prefix + (name,), cmd


COMMANDS = list(all_commands())


def examples(help_text: str) -> list[str]:
    """The example lines under `Example:`/`Examples:` in a command's --help output."""
    lines, found, inside = help_text.splitlines(), [], False
    for line in lines:
        if line.strip() in ("Example:", "Examples:"):
            inside = True
            continue
        if inside:
            if not line.strip():
                break
            found.append(line)
    return found


def test_every_command_is_listed_and_reachable():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"campaign", "bench", "clean", "replay", "repeat", "heldout", "export", "compare", "report", "tasks",
            "image build", "image os", "data prepare", "policy review", "policy diff", "audit",
            "workspace init", "workspace reset", "check", "try", "status", "literature start", "literature finish",
            "literature log"} <= names
    top = CliRunner().invoke(main, ["--help"]).output
    assert "Exit codes: 0 ok, 1 a check failed, 2 bad input" in top


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_shows_examples_one_per_line_and_click_parses_each(path, tmp_path, monkeypatch):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    lines = examples(result.output)
    assert lines, f"afr-box {' '.join(path)} --help has no Example(s) block"
    monkeypatch.chdir(tmp_path)  # example paths that must exist are made here
    for line in lines:
        assert line.lstrip().startswith("afr-box ") and line.count("afr-box") == 1, \
            f"examples must stay one per line (a \\b paragraph), got {line!r}"
        argv = shlex.split(line)[1:]
        _parse(argv, tmp_path)


def _parse(argv: list[str], tmp_path) -> None:
    """Resolve the command and parse its options and arguments as click would, without running it.
    A path argument that must exist is created (a folder, or a file for .tar/.yaml) and tried again."""
    for _ in range(5):
        try:
            cmd, rest = main, list(argv)
            while isinstance(cmd, click.Group):
                cmd, rest = cmd.commands[rest[0]], rest[1:]
            cmd.make_context(cmd.name, rest)
            return
        except click.BadParameter as exc:
            missing = str(exc).split("'")[1] if "does not exist" in str(exc) else None
            if not missing:
                raise
            target = tmp_path / missing
            if target.suffix in (".tar", ".yaml", ".yml"):
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
            else:
                target.mkdir(parents=True, exist_ok=True)
    raise AssertionError(f"could not parse {argv}")


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
    data = json.loads(CliRunner().invoke(main, ["tasks", "--data-root", str(tmp_path), "--json"]).output)
    by_task = {t["task"]: t for t in data}
    assert by_task["synthetic"]["data"] == "ready" and by_task["heart"]["data"] == "missing"
    assert "afr-box data prepare heart" in by_task["heart"]["get_it"] or "--download" in by_task["heart"]["get_it"]


def test_snapshots_proposer_without_snapshots_is_one_line_and_exit_2(tmp_path):
    CliRunner().invoke(main, ["data", "prepare", "synthetic", "--data-root", str(tmp_path / "data")])
    result = CliRunner().invoke(main, ["campaign", "synthetic", "--proposer", "snapshots", "--data-root",
                                       str(tmp_path / "data"), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "error: --proposer snapshots needs --snapshots DIR (a folder of DIR/<name>/surface/... snapshots, "
        "replayed in name order)"]
    assert "Traceback" not in result.output and not (tmp_path / "runs").exists()


def test_a_malformed_results_tsv_is_one_line_and_exit_2(tmp_path):
    """A campaign folder whose run log was edited by hand: `report` names the line, no traceback."""
    folder = tmp_path / "c"
    folder.mkdir()
    from afr_box.orchestrator.records.runlog import HEADER

    (folder / "results.tsv").write_text(HEADER + "abc\t0.5\tnot-a-number\n")
    (folder / "campaign.json").write_text(json.dumps({
        "name": "c", "task": "heart", "proposer": "hpo", "profile_sha256": "x", "policy": "scalar-hpo",
        "policy_sha256": "y", "base_image_id": "sha256:0"}))
    from afr_box.profiles.schema import profile_path

    (folder / "profile.yaml").write_text(profile_path("heart").read_text())
    for argv in (["report", str(folder)], ["audit", str(folder), "--no-images"], ["compare", str(folder)]):
        result = CliRunner().invoke(main, argv)
        out = result.output.strip().splitlines()
        if argv[0] == "audit":  # an audit reports the problem as a finding: exit 1, not a traceback
            assert result.exit_code == 1 and any("results.tsv:2: malformed row" in line for line in out), out
            continue
        assert result.exit_code == 2, (argv, result.output)
        assert len(out) == 1 and out[0].startswith("error: ") and "results.tsv:2: malformed row" in out[0], out
        assert "Traceback" not in result.output


def test_a_malformed_campaign_json_is_one_line_and_exit_2(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "campaign.json").write_text('{"name": "c"}')
    result = CliRunner().invoke(main, ["report", str(folder)])
    assert result.exit_code == 2
    line, = result.output.strip().splitlines()
    assert line.startswith("error: ") and "campaign.json" in line and "task" in line


README = Path(__file__).resolve().parents[1] / "README.md"


def readme_command_lines() -> tuple[list[str], list[str]]:
    """The `afr-box ...` commands the README shows: full lines of its code blocks (continuations
    joined, comments dropped), and inline code spans (which may name a command without its arguments)."""
    text = README.read_text()
    lines = []
    for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("afr-box "):
                lines.append(line)
    spans = [span for span in re.findall(r"`(afr-box [^`]+)`", text) if span not in lines]
    return list(dict.fromkeys(lines)), list(dict.fromkeys(spans))


README_LINES, README_SPANS = readme_command_lines()


def _concrete(line: str) -> list[str]:
    """A README line as argv: `[--images]` is an optional part (kept), <placeholders> become a word."""
    line = re.sub(r"\[([^\]]+)\]", r"\1", line)
    line = re.sub(r"<[^>]+>", "X", line)
    argv = [a for a in shlex.split(line)[1:] if a != "..."]
    while argv and argv[0] in ("-v", "--verbose"):  # the group's own option
        argv = argv[1:]
    return argv


def test_the_readme_shows_commands():
    assert len(README_LINES) > 30 and len(README_SPANS) > 10
    assert any("--keep-best" in line for line in README_LINES)


@pytest.mark.parametrize("line", README_LINES)
def test_every_command_line_the_readme_shows_parses(line, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        _parse(_concrete(line), tmp_path)
    except click.UsageError as exc:
        raise AssertionError(f"README: `{line}` does not parse: {exc.format_message()}") from None


@pytest.mark.parametrize("span", README_SPANS)
def test_every_command_and_flag_the_readme_names_exists(span):
    argv = _concrete(span)
    cmd = main
    while isinstance(cmd, click.Group):
        assert argv and argv[0] in cmd.commands, f"README: `{span}`: no command {argv[:1]} under {cmd.name}"
        cmd, argv = cmd.commands[argv[0]], argv[1:]
    known = {opt for p in cmd.params for opt in (*p.opts, *p.secondary_opts)}
    for flag in (a.split("=")[0] for a in argv if a.startswith("-")):
        assert flag in known, f"README: `{span}`: afr-box {cmd.name} has no {flag}"
