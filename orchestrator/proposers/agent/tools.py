"""The tools an agent gets: what it may read, the only files it may write, checks, and submitting.

The agent works on a working copy of the surface (paths as under `tasks/`, e.g.
`synthetic/client.py`). Every path it names goes through the gate's own checks
(`bad_path_reason`, the policy's globs); a refused call is answered with the reason, as a
tool error the model sees, never as an exception. `check_candidate` runs the gate on a copy of
the working copy; `smoke_run` sends it through the sandbox with the profile's smoke budget
(pipeline/smoke.py); neither is a candidate. Nothing else here runs candidate code.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from afr_box.orchestrator.gate import contract
from afr_box.orchestrator.gate.checks import bad_path_reason, gate_snapshot, glob_matches
from afr_box.orchestrator.gate.surface import baseline_snapshot
from afr_box.orchestrator.proposers.agent.notebook import InFlight, notebook_text
from afr_box.orchestrator.records.layout import CampaignFolder, candidate_id
from afr_box.orchestrator.records.runlog import RunLog
from afr_box.policies.schema import Policy
from afr_box.profiles.schema import Profile, load_profile

CANDIDATE_RE = re.compile(r"[0-9]{4}")
LOG_PHASES = ("train", "infer", "score")
MAX_LOG_LINES = 200
SUBMIT = "submit_candidate"
# A smoke runner: (working copy, label) -> what the agent is told (pipeline/smoke.py, bound by the campaign).
SmokeRunner = Callable[[Path, str], str]

TOOL_SPECS: list[dict[str, Any]] = [
    {"name": "list_files",
     "description": "List the surface files you may edit (writable) and the fixed files you may read.",
     "input_schema": {"type": "object", "properties": {}}},
    {"name": "read_file",
     "description": "Read a surface file (e.g. 'synthetic/client.py') or a fixed file "
                    "('profile.yaml', 'policy.yaml', 'contract.md').",
     "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}},
    {"name": "write_file",
     "description": "Replace the whole content of a surface file in your working copy. Paths outside the "
                    "policy's surface are refused.",
     "input_schema": {"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                      "required": ["path", "content"]}},
    {"name": "read_results",
     "description": "The campaign's run log (results.tsv): candidate, status, score, description, reason.",
     "input_schema": {"type": "object", "properties": {"last": {"type": "integer", "minimum": 1}}}},
    {"name": "read_candidate_log",
     "description": "The outcome and the log tail of a past candidate's container (train, infer or score).",
     "input_schema": {"type": "object", "properties": {
         "candidate": {"type": "string", "description": "candidate id, e.g. '0003'"},
         "phase": {"type": "string", "enum": list(LOG_PHASES)},
         "lines": {"type": "integer", "minimum": 1, "maximum": MAX_LOG_LINES}}, "required": ["candidate"]}},
    {"name": "read_notebook",
     "description": "The campaign notebook: every past candidate (discarded, crashed and rejected ones too) with its "
                    "description, status, score, the files it changed, their mechanism class and its diff against "
                    "the baseline, and the candidates running now. Give `candidate` for one entry's whole diff.",
     "input_schema": {"type": "object", "properties": {
         "candidate": {"type": "string", "description": "candidate id, e.g. '0003'"}}}},
    {"name": "check_candidate",
     "description": "Run the gate on your working copy now: every check's verdict (paths, surface, limits, Python "
                    "compiles, the NVFlare contract, knobs). Costs no candidate.",
     "input_schema": {"type": "object", "properties": {}}},
    {"name": "smoke_run",
     "description": "Build your working copy into its image and run it through the training, inference and scoring "
                    "containers with a tiny budget (1 round, 2 clients, a few steps). Says whether each step went "
                    "through, with the log of a failed one; never a score, never a candidate. Takes a minute or two; "
                    "use it for code changes before you submit.",
     "input_schema": {"type": "object", "properties": {}}},
    {"name": SUBMIT,
     "description": "Submit your working copy as the next candidate. It is gated, built into its own image, "
                    "trained and scored; this ends your turn.",
     "input_schema": {"type": "object", "properties": {
         "description": {"type": "string", "description": "one line: what changed and why"},
         "sources": {"type": "array", "items": {"type": "string"},
                     "description": "papers or URLs the idea comes from (required in literature mode)"}},
         "required": ["description"]}},
]


class ToolRefused(Exception):
    """A tool call the agent may not make; the message goes back to the model as a tool error."""


class MalformedCall(ToolRefused):
    """A tool call that does not fit its schema (a broken reply: it costs the agent an attempt)."""


@dataclass
class Submission:
    description: str
    sources: list[str] = field(default_factory=list)


def fixed_files(campaign_dir: Path) -> dict[str, Callable[[], str]]:
    """The read-only files every agent may read, by the name it uses."""
    return {"profile.yaml": lambda: (campaign_dir / "profile.yaml").read_text(),
            "policy.yaml": lambda: (campaign_dir / "policy.yaml").read_text(),
            "contract.md": lambda: contract.__doc__ or ""}


def _string(args: dict, key: str, required: bool = True) -> Optional[str]:
    value = args.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise MalformedCall(f"malformed call: '{key}' must be a string, got {type(value).__name__}")
    return value


def _integer(args: dict, key: str, default: int, low: int, high: int) -> int:
    value = args.get(key, default)
    if type(value) is not int:
        raise MalformedCall(f"malformed call: '{key}' must be an integer, got {value!r}")
    return max(low, min(high, value))


class AgentTools:
    """Tool calls of one agent against one working copy of one campaign."""

    def __init__(self, task: str, policy: Policy, campaign_dir: Path, working_copy: Path,
                 profile: Optional[Profile] = None, require_sources: bool = False, in_flight: tuple[InFlight, ...] = (),
                 smoke: Optional[SmokeRunner] = None, smoke_label: str = "", max_smoke_runs: int = 2):
        self.task, self.policy, self.profile = task, policy, profile
        self.campaign_dir, self.work = campaign_dir, working_copy
        self.globs = policy.globs_for(task)
        self.fixed = fixed_files(campaign_dir)
        self.require_sources = require_sources
        self.in_flight = list(in_flight)
        self.smoke, self.smoke_label, self.max_smoke_runs = smoke, smoke_label, max_smoke_runs
        self.checks = self.smoke_runs = 0

    # ----------------------------------------------------------------- path rules

    def writable_reason(self, path: str) -> Optional[str]:
        """Why the agent may not write `path`, or None: the gate's path rules and the policy's globs."""
        why = bad_path_reason(path)
        if why:
            return f"refused: {path!r}: {why}"
        if not any(glob_matches(g, path) for g in self.globs):
            return (f"refused: {path} is outside the mutation surface of policy {self.policy.name!r}; "
                    f"writable files: {', '.join(self.globs)}")
        return None

    def surface_files(self) -> list[str]:
        return sorted(p.relative_to(self.work).as_posix() for p in self.work.rglob("*") if p.is_file())

    # ----------------------------------------------------------------- the tools

    def call(self, name: str, args: Any) -> str:
        """Run tool `name`; raises ToolRefused (reason for the model) on a refused or malformed call."""
        if not isinstance(args, dict):
            raise MalformedCall(f"malformed call: the input of {name} must be a JSON object")
        handler = getattr(self, f"tool_{name}", None) if name != SUBMIT else None
        if handler is None:
            known = ", ".join(t["name"] for t in TOOL_SPECS)
            raise MalformedCall(f"unknown tool {name!r}; the tools are: {known}")
        return handler(args)

    def tool_list_files(self, args: dict) -> str:
        lines = [f"{rel} (writable, {(self.work / rel).stat().st_size} bytes)" for rel in self.surface_files()]
        lines += [f"{name} (read-only)" for name in self.fixed]
        lines.append(f"writable globs: {', '.join(self.globs)}")
        return "\n".join(lines)

    def tool_read_file(self, args: dict) -> str:
        path = _string(args, "path")
        if path in self.fixed:
            return self.fixed[path]()
        why = bad_path_reason(path)
        if why:
            raise ToolRefused(f"refused: {path!r}: {why}")
        target = self.work / path
        if not target.is_file():
            raise ToolRefused(f"no such file: {path}; readable: {', '.join(self.surface_files() + list(self.fixed))}")
        return target.read_text(encoding="utf-8", errors="replace")

    def tool_write_file(self, args: dict) -> str:
        path, content = _string(args, "path"), _string(args, "content")
        why = self.writable_reason(path)
        if why:
            raise ToolRefused(why)
        size = len(content.encode("utf-8"))
        if size > self.policy.limits.max_file_bytes:
            raise ToolRefused(f"refused: {path}: {size} bytes; the policy allows at most "
                              f"{self.policy.limits.max_file_bytes} per file")
        target = self.work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        return f"wrote {path} ({size} bytes)"

    def tool_read_results(self, args: dict) -> str:
        last = _integer(args, "last", 30, 1, 500)
        rows = RunLog(self.campaign_dir / "results.tsv").rows()
        if not rows:
            return "no rows logged yet"
        out = ["candidate\tstatus\tscore\tdescription\treason"]
        for r in rows[-last:]:
            score = "" if r.score is None else f"{r.score:.4f}"
            out.append(f"{r.candidate}\t{r.status}\t{score}\t{r.description}\t{r.reason}")
        return "\n".join(out)

    def tool_read_candidate_log(self, args: dict) -> str:
        cand = _string(args, "candidate")
        phase = _string(args, "phase", required=False) or "train"
        lines = _integer(args, "lines", 40, 1, MAX_LOG_LINES)
        if not CANDIDATE_RE.fullmatch(cand):
            raise ToolRefused(f"refused: candidate must be a 4-digit id like '0003', got {cand!r}")
        if phase not in LOG_PHASES:
            raise MalformedCall(f"malformed call: phase must be one of {', '.join(LOG_PHASES)}")
        rows = {r.candidate: r for r in RunLog(self.campaign_dir / "results.tsv").rows()}
        if cand not in rows:
            raise ToolRefused(f"candidate {cand} is not in the run log")
        row = rows[cand]
        log = self.campaign_dir / "candidates" / cand / f"{phase}.log"
        tail = log.read_text(errors="replace").splitlines()[-lines:] if log.is_file() else ["(no log for this phase)"]
        return f"candidate {cand}: {row.status} {row.score if row.score is not None else ''} {row.reason}\n" \
               f"--- {phase}.log (last {lines} lines) ---\n" + "\n".join(tail)

    def tool_read_notebook(self, args: dict) -> str:
        cand = _string(args, "candidate", required=False)
        if cand is not None and not CANDIDATE_RE.fullmatch(cand):
            raise ToolRefused(f"refused: candidate must be a 4-digit id like '0003', got {cand!r}")
        baseline = CampaignFolder(self.campaign_dir).candidate(candidate_id(0)).surface
        with tempfile.TemporaryDirectory() as tmp:
            if not baseline.is_dir():  # the baseline is still running: compare with its files
                baseline = baseline_snapshot(self.task, self.policy, Path(tmp) / "baseline")
            rows = RunLog(CampaignFolder(self.campaign_dir).results).rows()
            return notebook_text(self.campaign_dir, rows, self.in_flight, baseline, cand)

    def tool_check_candidate(self, args: dict) -> str:
        self.checks += 1
        with tempfile.TemporaryDirectory() as tmp:  # the gate's private copy, as for a candidate
            copy = Path(tmp) / "surface"
            shutil.copytree(self.work, copy, symlinks=True)
            profile = self.profile or load_profile(self.campaign_dir / "profile.yaml")
            result = gate_snapshot(copy, self.task, self.policy, profile)
        lines = [f"{'PASS' if ok else 'FAIL'} {name}: {detail}" for name, ok, detail in result.checks]
        verdict = "the gate would accept this working copy" if result.ok else f"the gate would REJECT it: {result.reason}"
        return "\n".join([verdict, *lines])

    def tool_smoke_run(self, args: dict) -> str:
        if self.smoke is None:
            raise ToolRefused("smoke runs are not available in this campaign; use check_candidate")
        if self.smoke_runs >= self.max_smoke_runs:
            raise ToolRefused(f"refused: at most {self.max_smoke_runs} smoke runs per candidate; submit, or check with "
                              "check_candidate")
        self.smoke_runs += 1
        try:
            return self.smoke(self.work, f"{self.smoke_label}-s{self.smoke_runs}")
        except Exception as exc:  # the engine, not the candidate: say so, the conversation goes on
            raise ToolRefused(f"the smoke run could not run ({type(exc).__name__}: {exc}"[:400]
                              + "); use check_candidate") from exc

    def submission(self, args: Any) -> Submission:
        """Check a submit call; raises ToolRefused when it cannot be accepted."""
        if not isinstance(args, dict):
            raise MalformedCall(f"malformed call: the input of {SUBMIT} must be a JSON object")
        description = " ".join(_string(args, "description").split())
        if not description:
            raise MalformedCall("malformed call: description is empty; say in one line what changed and why")
        sources = args.get("sources") or []
        if not isinstance(sources, list) or not all(isinstance(s, str) and s.strip() for s in sources):
            raise MalformedCall("malformed call: sources must be a list of non-empty strings")
        if self.require_sources and not sources:
            raise ToolRefused("refused: literature mode: cite at least one source (paper or URL) the idea comes from")
        return Submission(description[:300], [" ".join(s.split())[:200] for s in sources[:8]])
