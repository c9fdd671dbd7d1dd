"""The agent's program (the control plane): rendered from the profile and the policy.

One template serves both ways an agent runs: `builtin` (the Claude proposer's system prompt,
tools) and `external` (AGENTS.md / CLAUDE.md for a coding agent, `afr-box` commands). The
numbers in it (budget, surface, min_delta, plateau threshold) come from the same files the
gate and the runner enforce, so the prompt cannot drift from the rules.
"""
from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from afr_box.policies.schema import Policy
from afr_box.profiles.schema import Profile

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), undefined=StrictUndefined, trim_blocks=True,
                   lstrip_blocks=True, keep_trailing_newline=True)


def render_program(mode: str, profile: Profile, policy: Policy, literature_mode: bool = False,
                   plateau_note: str = "", web_search: bool = False) -> str:
    if mode not in ("builtin", "external"):
        raise ValueError(f"mode must be builtin or external, got {mode!r}")
    return _env.get_template("program.md.j2").render(
        mode=mode, task=profile.task, title=profile.title, metric=profile.metric, budget=profile.budget,
        policy=policy, globs=policy.globs_for(profile.task), min_delta=profile.min_delta,
        plateau_threshold=profile.plateau_threshold, literature_mode=literature_mode,
        plateau_note=plateau_note, web_search=web_search)
