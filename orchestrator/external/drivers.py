"""Drivers: how each kind of coding agent is started in the jail, with the same limits.

    claude-code   `claude -p` with the program (CLAUDE.md, read from the workspace), tools limited to
                  reading, editing `surface/**` and the afr-box verbs (and git for diff and undo),
                  `--max-turns`, optional `--max-budget-usd`, `--output-format stream-json` (the
                  transcript); its shell tool's timeout raised to what a `try` can take
    codex         `codex exec --json` with the program (AGENTS.md, read from the workspace); its own
                  sandbox off (it needs user namespaces the jail does not give; the jail confines it).
                  Codex exec has no turn cap: the session's wall clock and the campaign's candidate
                  budget bound it
    script        any executable (tests, other agents), given the kickoff prompt in $AFR_KICKOFF

The API key named by the driver is passed from afr-box's environment to the jail, and nowhere else
(the session record says only that it was set). The allowed hosts default to the driver's API.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from afr_box.orchestrator.errors import CampaignError

KICKOFF = ("You are the researcher of an afr-box Auto-FL-Research campaign, working in this workspace. Your "
           "program is {program} (read it first, then contract.md): improve the score by editing surface/ and "
           "running `afr-box check`, `afr-box try --smoke` and `afr-box try` as it says, one idea per candidate, "
           "until the candidate budget is spent or you are stopped. Finish with one paragraph: the best candidate "
           "and why.")
# Claude Code's permission rules: read anything it can see, write surface/ only, run only these.
CLAUDE_TOOLS = ("Read", "Glob", "Grep", "Edit(surface/**)", "Write(surface/**)",
                "Bash(afr-box try:*)", "Bash(afr-box check:*)", "Bash(afr-box status:*)",
                "Bash(afr-box literature:*)", "Bash(git diff:*)", "Bash(git status:*)", "Bash(git log:*)",
                "Bash(git show:*)", "Bash(git checkout:*)", "Bash(git add:*)", "Bash(git commit:*)",
                "Bash(git stash:*)", "Bash(cp:*)", "Bash(tail:*)", "Bash(cat:*)", "Bash(ls:*)")


@dataclass(frozen=True)
class DriverOptions:
    model: Optional[str] = None
    max_turns: int = 200
    max_budget_usd: Optional[float] = None
    command_timeout_s: int = 1800          # a shell tool's limit per command (a try must fit)
    extra: tuple[str, ...] = ()            # after `--`: more CLI arguments, or the script and its arguments


@dataclass(frozen=True)
class Driver:
    name: str
    cli: str                               # the executable in the jail ("" for script)
    program: str                           # the program file the agent reads
    hosts: tuple[str, ...]                 # allowed by default
    keys: tuple[str, ...]                  # environment variables passed to the jail only
    env: dict[str, str] = field(default_factory=dict)

    def kickoff(self) -> str:
        return KICKOFF.format(program=self.program)

    def command(self, opts: DriverOptions, script: Optional[str] = None) -> list[str]:
        if self.name == "claude-code":
            argv = ["claude", "-p", self.kickoff(), "--output-format", "stream-json", "--verbose",
                    "--max-turns", str(opts.max_turns)]
            argv += ["--model", opts.model] if opts.model else []
            argv += ["--max-budget-usd", f"{opts.max_budget_usd:g}"] if opts.max_budget_usd else []
            return argv + list(opts.extra) + ["--allowedTools", *CLAUDE_TOOLS]
        if self.name == "codex":
            argv = ["codex", "exec", "--json", "--skip-git-repo-check", "--sandbox", "danger-full-access"]
            argv += ["--model", opts.model] if opts.model else []
            return argv + list(opts.extra) + [self.kickoff()]
        if script is None:
            raise CampaignError("--driver script needs the executable after `--`: "
                                "afr-box agent run heart --driver script -- ./my-agent.sh")
        return [script, *opts.extra[1:]]

    def environment(self, opts: DriverOptions, host_env: Optional[dict[str, str]] = None) -> dict[str, str]:
        host_env = os.environ if host_env is None else host_env
        env = {**self.env, "AFR_KICKOFF": self.kickoff()}
        if self.name == "claude-code":
            ms = str(opts.command_timeout_s * 1000)
            env.update(BASH_DEFAULT_TIMEOUT_MS=ms, BASH_MAX_TIMEOUT_MS=ms)
        env.update({k: host_env[k] for k in self.keys if host_env.get(k)})
        return env

    def has_key(self, host_env: Optional[dict[str, str]] = None) -> bool:
        host_env = os.environ if host_env is None else host_env
        return not self.keys or any(host_env.get(k) for k in self.keys)


DRIVERS = {
    "claude-code": Driver("claude-code", "claude", "CLAUDE.md", ("api.anthropic.com",),
                          ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_BASE_URL"),
                          {"DISABLE_AUTOUPDATER": "1", "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1",
                           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}),
    "codex": Driver("codex", "codex", "AGENTS.md", ("api.openai.com",), ("OPENAI_API_KEY", "CODEX_API_KEY",
                                                                         "OPENAI_BASE_URL")),
    "script": Driver("script", "", "AGENTS.md", (), ()),
}


def driver(name: str) -> Driver:
    try:
        return DRIVERS[name]
    except KeyError:
        raise CampaignError(f"unknown driver {name!r} (known: {', '.join(DRIVERS)})") from None
