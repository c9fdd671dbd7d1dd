"""The agent's program (the control plane) and each candidate's first message, from templates.

One program template serves both ways an agent runs: `builtin` (the system prompt of the built-in
agent, tools) and `external` (AGENTS.md / CLAUDE.md for a coding agent, `afr-box` commands). The
numbers in it (budget, surface, min_delta, plateau threshold, smoke budget, the profile's
guidance) come from the same files the gate and the runner enforce, so the prompt cannot drift
from the rules. The program is the same for every candidate of a campaign (a stable prefix for
prompt caching); what changes per candidate (the plateau note, literature mode, what is running)
is in the first message (`kickoff.md.j2`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from afr_box.orchestrator.pipeline.smoke import smoke_budget_text
from afr_box.policies.schema import Policy
from afr_box.orchestrator.pipeline.noise import NOISE_FACTOR
from afr_box.profiles.schema import Profile

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), undefined=StrictUndefined, trim_blocks=True,
                   lstrip_blocks=True, keep_trailing_newline=True)
_guidance_env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=False)


def _delta_text(profile: Profile) -> str:
    if profile.min_delta == "auto":
        return (f"the noise floor ({NOISE_FACTOR:g} x the untouched baseline's seed-to-seed standard deviation, "
                f"measured over {profile.noise_seeds} seeds at campaign start)")
    return f"{profile.min_delta:g}"


def render_guidance(profile: Profile) -> str:
    """The profile's `guidance:` prose, with its `{{ budget.rounds }}`-style numbers filled in from the profile."""
    if not profile.guidance.strip():
        return ""
    fields = {"task": profile.task, "title": profile.title, "budget": profile.budget, "metric": profile.metric,
              "min_delta": profile.min_delta, "smoke": profile.smoke, "plateau_threshold": profile.plateau_threshold}
    return _guidance_env.from_string(profile.guidance).render(**fields).strip()


def render_program(mode: str, profile: Profile, policy: Policy, web_search: bool = False, parallel: int = 1,
                   site_sizes: Optional[dict[str, str]] = None, workspace: Optional[dict[str, Any]] = None) -> str:
    """`workspace`: the external mode's facts about where the agent works (paths, budget, how to go
    back to the best surface: orchestrator/external/workspace.py `program_facts`)."""
    if mode not in ("builtin", "external"):
        raise ValueError(f"mode must be builtin or external, got {mode!r}")
    if mode == "external" and workspace is None:
        raise ValueError("the external program needs the workspace's facts")
    return _env.get_template("program.md.j2").render(
        mode=mode, task=profile.task, title=profile.title, metric=profile.metric, budget=profile.budget,
        policy=policy, globs=policy.globs_for(profile.task), min_delta=_delta_text(profile),
        plateau_threshold=profile.plateau_threshold, web_search=web_search, parallel=parallel,
        site_sizes=site_sizes or {}, guidance=render_guidance(profile), smoke_budget=smoke_budget_text(profile),
        ws=workspace or {}, search_space=profile.search_space)


def render_kickoff(**fields: Any) -> str:
    """A candidate's first message: see templates/kickoff.md.j2 for the fields."""
    return _env.get_template("kickoff.md.j2").render(**fields)


def site_sizes(data_dir: Path) -> dict[str, str]:
    """Samples per site from the prepared data's manifest ({} when it is not there)."""
    try:
        sites = json.loads((Path(data_dir) / "manifest.json").read_text())["sites"]
        return {site: ", ".join(f"{n} {part}" for part, n in sizes.items()) for site, sizes in sorted(sites.items())}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
