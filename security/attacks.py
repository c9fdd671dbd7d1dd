"""Attack definitions (one folder each, `tests/attacks/<name>/attack.yaml`) and the hostile
surface snapshots they describe.

    threat: <which rule of the threat model it tries to break>
    description: <one line>
    files: {"{task}/job.py": {prepend|append: payload.py} | {text: "..."}}   payload code
    symlinks: {"{task}/client.py": /etc/passwd}      surface entries that are symlinks
    hardlinks: {"{task}/job.py": "{task}/client.py"}  second names for snapshot files
    raw_names: {"{task}": "<hex bytes>"}              a file whose name is these raw bytes
    pad: {"{task}/knobs.yaml": 20000000}              a file padded to this many bytes
    sparse: {"{task}/knobs.yaml": 68719476736}        a file extended to this size with a hole (no blocks)
    edits: {"../sandbox/scorer.py": "..."}            file edits as an agent would propose them
    after_gate: {"{task}/job.py": {prepend: x.py}}    written over the candidate's private copy once the
                                                      gate has passed it, before the build (a racing proposer)
    expect: [crash]             run-time outcomes that count as blocked (a gate rejection always does)
    reason: <regex>             the outcome's reason must match it: blocked for the stated cause
    blocked_by: <what stops it>

Every snapshot starts as the policy's complete baseline surface for the task, so an attack on
a file outside the surface meets the gate, and one inside it meets the runtime defences.
Whatever its outcome, what an attack leaves in the records must stay inert and bounded
(security/inert.py): the suite checks that too.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from afr_box.tasks.shared.errors import AfrError
from afr_box.orchestrator.gate.surface import baseline_snapshot
from afr_box.policies.schema import Policy
from afr_box.tasks.shared.layout import repo_file
from afr_box.orchestrator.records.status import FAILED, Status

STATUSES = FAILED  # what an attack may end as


class AttackSuiteError(AfrError, ValueError):
    """An attack folder is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class Attack:
    name: str
    folder: Path
    threat: str
    description: str
    expect: tuple[str, ...]
    reason: str
    blocked_by: str
    spec: dict[str, Any] = field(default_factory=dict)

    def build(self, task: str, policy: Policy, dest: Path) -> tuple[Path, dict[str, str]]:
        """The hostile snapshot under `dest` and the edits to propose with it."""
        snap = baseline_snapshot(task, policy, dest)
        sub = lambda rel: rel.replace("{task}", task)  # noqa: E731
        for rel, text in self._texts("files", task).items():
            _write(snap / rel, text)
        for rel, target in (self.spec.get("symlinks") or {}).items():
            _replace_with(snap / sub(rel), lambda p, t=target: os.symlink(t, p))
        for rel, other in (self.spec.get("hardlinks") or {}).items():
            _replace_with(snap / sub(rel), lambda p, o=snap / sub(other): os.link(o, p))
        for folder, hexname in (self.spec.get("raw_names") or {}).items():
            path = os.path.join(os.fsencode(snap / sub(folder)), bytes.fromhex(hexname))
            with open(path, "wb") as f:
                f.write(b"x = 1\n")
        for rel, size in (self.spec.get("pad") or {}).items():
            with open(snap / sub(rel), "ab") as f:
                f.write(b"#" * max(0, size - (snap / sub(rel)).stat().st_size))
        for rel, size in (self.spec.get("sparse") or {}).items():
            os.truncate(snap / sub(rel), size)
        edits = {sub(k): v for k, v in (self.spec.get("edits") or {}).items()}
        return snap, edits

    def after_gate(self, task: str) -> dict[str, str]:
        """{surface path: text} to write over the private copy after the gate passed it."""
        return self._texts("after_gate", task)

    def _texts(self, key: str, task: str) -> dict[str, str]:
        """The files of `key` (files, after_gate): each a payload around the baseline file, or a text."""
        texts = {}
        for rel, how in (self.spec.get(key) or {}).items():
            rel = rel.replace("{task}", task)
            base = repo_file(rel).read_text() if repo_file(rel).is_file() else ""
            if "text" in how:
                texts[rel] = how["text"]
            else:
                payload = (self.folder / (how.get("prepend") or how.get("append"))).read_text()
                texts[rel] = payload + "\n" + base if "prepend" in how else base + payload
        return texts

    def verdict(self, status: str, reason: str) -> tuple[bool, str]:
        """(blocked, by what) for an outcome: the gate, or the stated defence when the reason
        matches; anything else (scored, or failed for an unrelated reason) is not a block."""
        if status == Status.REJECTED:
            check = reason.removeprefix("gate: ").split(":", 1)[0]
            return True, f"gate ({check})"
        if status in self.expect and re.search(self.reason, reason):
            return True, self.blocked_by
        if status in STATUSES:
            return False, f"ended {status} for another reason than expected ({self.reason!r})"
        return False, "NOT BLOCKED: scored"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _replace_with(path: Path, make) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()
    make(path)


_KEYS = {"threat", "description", "files", "symlinks", "hardlinks", "raw_names", "pad", "sparse", "edits",
         "after_gate", "expect", "reason", "blocked_by"}


def load_attack(folder: Path) -> Attack:
    where = folder / "attack.yaml"
    try:
        spec = yaml.safe_load(where.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise AttackSuiteError(f"{where}: cannot be read as YAML ({exc})") from None
    unknown = set(spec) - _KEYS
    missing = {"threat", "description", "expect", "reason", "blocked_by"} - set(spec)
    if unknown or missing:
        raise AttackSuiteError(f"{where}: unknown fields {sorted(unknown)}, missing fields {sorted(missing)}")
    bad = set(spec["expect"]) - STATUSES
    if bad:
        raise AttackSuiteError(f"{where}: expect {sorted(bad)} is not one of {sorted(map(str, STATUSES))}")
    for how in [*(spec.get("files") or {}).values(), *(spec.get("after_gate") or {}).values()]:
        payload = how.get("prepend") or how.get("append")
        if payload and not (folder / payload).is_file():
            raise AttackSuiteError(f"{where}: payload file {payload} is missing")
    name = re.sub(r"^\d+-", "", folder.name)
    return Attack(name=name, folder=folder, threat=spec["threat"], description=spec["description"],
                  expect=tuple(spec["expect"]), reason=spec["reason"], blocked_by=spec["blocked_by"], spec=spec)


def load_suite(folder: Path, only: Optional[list[str]] = None) -> list[Attack]:
    if not folder.is_dir():
        raise AttackSuiteError(f"no attack suite at {folder} (expected {folder}/<name>/attack.yaml); pass --suite")
    attacks = [load_attack(d) for d in sorted(folder.iterdir()) if (d / "attack.yaml").is_file()]
    if only:
        unknown = set(only) - {a.name for a in attacks}
        if unknown:
            raise AttackSuiteError(f"unknown attacks {sorted(unknown)}; the suite has {[a.name for a in attacks]}")
        attacks = [a for a in attacks if a.name in only]
    if not attacks:
        raise AttackSuiteError(f"no attacks under {folder}")
    return attacks


def default_suite() -> Path:
    """tests/attacks of the checkout afr-box runs from (the suite is data, versioned with the tests)."""
    import afr_box.security
    return Path(afr_box.security.__file__).resolve().parents[1] / "tests" / "attacks"
