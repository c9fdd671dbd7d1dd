"""`afr-box policy review`: what a policy lets a candidate change and run, in one readable page.

For each task: the surface globs resolved to the real files, every container of a candidate
with its image, command, mounts (and their modes) and settings, the gate checks and the
run-time checks that apply. The attack-suite verdicts are appended when they were run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from afr_box.orchestrator.gate.checks import GATE_CHECKS, glob_matches
from afr_box.orchestrator.gate.surface import resolve_surface
from afr_box.orchestrator.pipeline.phases import PHASE_IMAGES, phase_inputs, phase_spec
from afr_box.orchestrator.records.layout import CandidateFolder
from afr_box.policies.schema import Policy, load_policy, policy_path
from afr_box.profiles.schema import available_tasks, load_profile
from afr_box.sandbox import seccomp
from afr_box.sandbox.spec import describe
from afr_box.tasks.shared.hashing import sha256_file
from afr_box.tasks.shared.layout import TASKS_DIR, repo_file

# Checks made while and after a candidate runs (sandbox/harness/ and orchestrator/pipeline/).
RUNTIME_CHECKS = {
    "job export": "job.py runs in its own process; the runner checks the exported job from outside "
                  "(one FedAvg workflow, rounds, clients, min_clients, deploy map, aggregator origin)",
    "leftover processes": "nothing may be left running after job.py or the NVFlare run; the PID-1 init "
                          "kills and reports leftovers after every phase (violation)",
    "outputs": "each phase's /out holds only the files the harness writes, as plain files (violation otherwise)",
    "out filesystem": "each container's /out is a tmpfs of out_size bytes and out_inodes files that the kernel "
                      "enforces (writes past it fail); its plain files are copied to the record after the run",
    "logs": "the engine keeps at most log_size of a container's output; the host reads a bounded tail",
    "records": "candidate text (descriptions, error texts, file names) is truncated and stripped of control "
               "characters before it enters a row, a record, the display or a report",
    "scorer": "runs in the base image only; refuses a run with fewer rounds than the budget, more parameters "
              "than max_model_params (every numeric array of the final weights, any dtype) or more bytes than "
              "max_model_bytes (violation)",
    "verify": "no filesystem changes outside /tmp and /out; data hashes match the manifest; the image is the "
              "base plus one surface layer whose content hashes to the gated snapshot",
}


def _placeholder_mounts(phase: str) -> list:
    return phase_inputs(Path("<prepared data>"), CandidateFolder(Path("<candidate record>")))[phase]


def containers(policy: Policy, timeout_s: float) -> dict[str, dict[str, Any]]:
    out = {}
    for phase, image in PHASE_IMAGES.items():
        spec = phase_spec(phase, f"<{image} image>", Path(f"<record>/run-{phase}.json"), _placeholder_mounts(phase),
                          Path(f"<candidate record>/{phase}"), policy.container, timeout_s)
        record = describe(spec)
        record["mounts"] = [f"{m['target']} <- {m['source']} ({'ro' if m['read_only'] else 'rw'})"
                            for m in record["mounts"]]
        out[phase] = record
    return out


def review(policy_ref: str, tasks: Optional[list[str]] = None) -> dict[str, Any]:
    policy = load_policy(policy_ref)
    tasks = tasks or available_tasks()
    per_task = {}
    for task in tasks:
        profile = load_profile(task)
        files = resolve_surface(task, policy)
        unmatched = [g for g in policy.globs_for(task) if not any(glob_matches(g, f) for f in files)]
        per_task[task] = {
            "surface_files": files, "globs_matching_nothing": unmatched,
            "repository_files": [f"tasks/{repo_file(f).relative_to(TASKS_DIR).as_posix()}" for f in files],
            "budget": {"rounds": profile.budget.rounds, "clients": profile.budget.clients,
                       "max_model_params": profile.budget.max_model_params, "timeout_s": profile.budget.timeout_s},
            "containers": containers(policy, profile.budget.timeout_s),
        }
    return {
        "policy": policy.name, "description": policy.description, "file": str(policy_path(policy_ref)),
        "sha256": sha256_file(policy_path(policy_ref)), "surface_globs": policy.surface,
        "surface_limits": policy.limits.model_dump(), "container_limits": policy.container.model_dump(),
        "always_on": ["read-only root filesystem", "network none", "all capabilities dropped", "no-new-privileges",
                      "non-root user", "private IPC",
                      "afr-box's seccomp profile (the engine's default minus " + ", ".join(sorted(seccomp.DENIED)) + ")",
                      "non-dumpable harness processes", "PID-1 init that reaps and kills leftovers"],
        "gate_checks": GATE_CHECKS, "runtime_checks": RUNTIME_CHECKS, "tasks": per_task,
    }


def render(data: dict[str, Any], attacks: Optional[dict] = None) -> str:
    lines = [f"Policy {data['policy']}  ({data['file']}, sha256 {data['sha256'][:16]})",
             f"  {data['description']}", "",
             "Surface globs (surface paths: {task}/X is tasks/{task}/surface/X): " + ", ".join(data["surface_globs"]),
             "Surface limits: " + ", ".join(f"{k}={v}" for k, v in data["surface_limits"].items()), ""]
    for task, t in data["tasks"].items():
        lines.append(f"Task {task}: a candidate may replace {len(t['surface_files'])} file(s)")
        lines += [f"    {f}  ({repo})" for f, repo in zip(t["surface_files"], t["repository_files"])]
        if t["globs_matching_nothing"]:
            lines.append(f"    (globs matching no file: {', '.join(t['globs_matching_nothing'])})")
        lines.append("  budget (fixed, from the profile): " + ", ".join(f"{k}={v}" for k, v in t["budget"].items()))
        for phase, c in t["containers"].items():
            lines.append(f"  container {phase}: image {c['image']}, user {c['user']}, command {' '.join(c['command'])}")
            lines += [f"      mount {m}" for m in c["mounts"]]
            lines.append(f"      tmpfs {c['tmpfs']}; read-only root {c['read_only']}; network {c['network_mode']}; "
                         f"cap_drop {c['cap_drop']}; {', '.join(c['security_opt'])}")
            lines.append(f"      limits: memory {c['mem_limit']} (swap included), cpus {c['nano_cpus'] / 1e9:g}, "
                         f"pids {c['pids_limit']}, ulimits {c['ulimits']}, /out {c['out_fs']}, "
                         f"log {c['log_config']['Config']['max-size']} B x {c['log_config']['Config']['max-file']}, "
                         f"timeout {c['timeout_s']:.0f} s, runtime {c['runtime']}, GPUs {c['gpu_ids'] or 'none'}")
        lines.append("")
    lines.append("Always on: " + ", ".join(data["always_on"]))
    lines.append("Gate checks (host, before any build; candidate code never runs):")
    lines += [f"  {name:<14} {what}" for name, what in data["gate_checks"].items()]
    lines.append("Run-time checks:")
    lines += [f"  {name:<19} {what}" for name, what in data["runtime_checks"].items()]
    if attacks:
        lines += ["", render_attacks(attacks)]
    return "\n".join(lines)


def render_attacks(report: dict) -> str:
    lines = [f"Attack suite against {report['policy']} on {report['task']} (base {report['base_image_id'][:19]}, "
             f"{report['created_at']}):"]
    for r in report["results"]:
        mark = "blocked" if r["blocked"] else "NOT BLOCKED"
        lines.append(f"  {r['name']:<22} {mark:<11} {r['status']:<9} by {r['blocked_by']}")
    lines.append(report["summary"])
    return "\n".join(lines)
