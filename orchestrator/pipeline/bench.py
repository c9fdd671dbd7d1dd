"""`afr-box bench`: what the sandbox costs, measured against the bare NVFlare run in one go.

(a) bare: the fixed runner as a host process on the baseline surface (no container), also
(a1) with the site isolation every sandboxed run has (sites.py), for its cost;
(b) sandboxed: the full candidate (gate, build, train, infer, score, verify) through the
same code path as a campaign, on a surface of the run's own (the baseline's plus a comment), so
that its first build is real and no other image is touched. Prints medians per phase and the ratio (b)/(a), the cost of a
rebuild-free rerun, the candidate layer's size and peak memory; checks that (a) and (b)
produce the identical final model.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from afr_box.orchestrator.gate.surface import baseline_snapshot, surface_hash as hash_of
from afr_box.orchestrator.pipeline.evaluate import Setup, evaluate
from afr_box.orchestrator.pipeline.proposal import Proposal
from afr_box.orchestrator.records.layout import CampaignFolder
from afr_box.orchestrator.records.status import Status
from afr_box.policies.schema import load_policy
from afr_box.profiles.schema import load_profile
from afr_box.sandbox.docker.metering import ProcessTreePeak
from afr_box.sandbox.harness.run_file import RunFile
from afr_box.sandbox.harness.sites import ISOLATE_BARE_ENV
from afr_box.sandbox.images import candidate_tag, find_base
from afr_box.sandbox.providers import local_sandbox
from afr_box.tasks.shared.prepared import verify_prepared

PHASES = ("gate", "build", "train", "infer", "score", "verify")


def _bare_run(profile, snapshot: Path, data_dir: Path, out: Path, default_polling: bool = False,
              isolated: bool = False) -> tuple[float, Optional[int]]:
    """(wall seconds, peak memory) of one bare runner into `out`; RuntimeError when it fails."""
    out.mkdir(parents=True)
    run_file = RunFile(task=profile.task, phase="train", budget=profile.budget.model_dump(),
                       sites=profile.budget.site_names(), eval_sites=profile.budget.eval_sites(),
                       metric=profile.metric.model_dump(exclude_none=True)).write(out / "run.json")
    env = {**os.environ, "AFR_RUN_FILE": str(run_file), "AFR_SURFACE": str(snapshot),
           "AFR_DATA_DIR": str(data_dir / "train"), "AFR_OUT": str(out),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "AFR_NVFLARE_DEFAULT_POLLING": "1" if default_polling else "0", ISOLATE_BARE_ENV: "1" if isolated else "0"}
    start = time.monotonic()
    with open(out / "train.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "afr_box.sandbox.harness.runner"], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        with ProcessTreePeak(proc.pid) as memory:
            rc = proc.wait()
    if rc != 0:
        raise RuntimeError(f"bare run failed (exit {rc}); see {out / 'train.log'}")
    return time.monotonic() - start, memory.peak


def _same_model(a: Path, b: Path) -> bool:
    with np.load(a) as x, np.load(b) as y:
        return x.files == y.files and all(np.array_equal(x[k], y[k]) for k in x.files)


def _stats(out: Path) -> dict:
    return json.loads((out / "train_stats.json").read_text()).get("timeline_s", {})


def _median_breakdown(runs: list[dict]) -> dict:
    keys = [k for k in runs[0]] if runs else []
    return {k: statistics.median(v) if (v := [r[k] for r in runs if r.get(k) is not None]) else None for k in keys}


IMPORTS = {"python": "pass", "numpy": "import numpy", "torch": "import torch",
           "torch._dynamo": "import torch, torch._dynamo",
           "nvflare (worker)": "import nvflare.private.fed.app.simulator.simulator_worker, nvflare.client"}


def import_times(repeats: int = 3) -> dict[str, float]:
    """Median wall seconds of a fresh interpreter that imports each (cumulative: torch._dynamo
    includes torch): what a process that is not forked from the preloaded fork server pays."""
    out = {}
    for name, code in IMPORTS.items():
        walls = []
        for _ in range(repeats):
            start = time.monotonic()
            subprocess.run([sys.executable, "-I", "-c", code], check=True)
            walls.append(time.monotonic() - start)
        out[name] = statistics.median(walls)
    return out


def run_bench(task: str, reps: int, data_root: Path, work: Optional[Path] = None,
              progress: Callable[[str], None] = print) -> dict:
    profile = load_profile(task)
    policy = load_policy(profile.default_policy)
    data_dir = (data_root / task).resolve()
    verify_prepared(data_dir)
    sandbox = local_sandbox()
    base = find_base(sandbox.images)
    work = Path(work or tempfile.mkdtemp(prefix="afr-bench-")).resolve()
    snapshot = baseline_snapshot(task, policy, work / "surface")
    # The baseline surface plus a comment unique to this run: its first build is a real one, and
    # removing its image afterwards takes nobody else's (the baseline's own image stays).
    knobs = snapshot / task / "knobs.yaml"
    knobs.write_text(knobs.read_text() + f"# afr-box bench {work.name}\n")

    bare, isolated = [], []
    for r in range(reps):  # interleaved, so that neither gets the cold caches of the first run
        progress(f"(a) bare runner, repetition {r + 1}/{reps}")
        wall, peak = _bare_run(profile, snapshot, data_dir, work / f"bare-{r}")
        bare.append({"wall_s": wall, "peak_memory_bytes": peak})
        progress(f"(a1) bare runner with site isolation, repetition {r + 1}/{reps}")
        isolated.append(_bare_run(profile, snapshot, data_dir, work / f"bare-isolated-{r}", isolated=True)[0])

    progress("(a0) bare runner with NVFlare's default polling, once")
    default_wall, _ = _bare_run(profile, snapshot, data_dir, work / "bare-default-polling", default_polling=True)

    campaign = f"bench-{int(time.time())}"
    setup = Setup(campaign=campaign, campaign_dir=work / "campaign", profile=profile, policy=policy,
                  policy_hash="bench", data_dir=data_dir, sandbox=sandbox, base=base)
    surface_hash = hash_of(snapshot)
    boxed = []
    for r in range(reps):
        progress(f"(b) sandboxed candidate, repetition {r + 1}/{reps}")
        outcome = evaluate(setup, f"{r:04d}", Proposal(snapshot, "bench: baseline surface", "baseline"))
        if outcome.status != Status.SCORED:
            raise RuntimeError(f"sandboxed run ended {outcome.status}: {outcome.reason}")
        folder = setup.folder.candidate(f"{r:04d}")
        resources = json.loads(folder.resources.read_text())
        train_stats = json.loads(folder.train_stats.read_text())
        boxed.append({"wall_s": outcome.runtime_s, "timings": outcome.timings, "score": outcome.score,
                      "peak_memory_bytes": resources["train"]["peak_memory_bytes"],
                      "timeline": {**train_stats.get("timeline_s", {}),
                                   "container_s": outcome.timings["train"] - train_stats["wall_s"]}})
    image = sandbox.images.image_info(candidate_tag(task, surface_hash))
    sandbox.executor.remove_containers(setup.own_containers)
    if image is not None:
        sandbox.images.remove_image(image.id)  # this run's own image

    med = lambda xs: statistics.median(xs)
    bare_wall = med([b["wall_s"] for b in bare])
    boxed_wall = med([b["wall_s"] for b in boxed])
    return {
        "task": task, "reps": reps, "bare_wall_s": bare_wall, "sandboxed_wall_s": boxed_wall,
        "ratio": boxed_wall / bare_wall, "overhead_pct": 100 * (boxed_wall / bare_wall - 1),
        "phase_medians_s": {p: med([b["timings"].get(p, 0.0) for b in boxed]) for p in PHASES},
        "build_first_s": boxed[0]["timings"]["build"],
        "build_cached_median_s": med([b["timings"]["build"] for b in boxed[1:]]) if reps > 1 else None,
        "rerun_cached_wall_median_s": med([b["wall_s"] for b in boxed[1:]]) if reps > 1 else None,
        "candidate_layer_bytes": image.size - base.size if image else None,
        "bare_peak_memory_bytes": max(b["peak_memory_bytes"] or 0 for b in bare),
        "train_container_peak_memory_bytes": max(b["peak_memory_bytes"] or 0 for b in boxed),
        "isolated_wall_s": med(isolated), "isolation_ratio": med(isolated) / bare_wall,
        "isolated_identical_model": _same_model(work / "bare-0" / "model.npz", work / "bare-isolated-0" / "model.npz"),
        "default_polling_wall_s": default_wall,
        "default_polling_identical_model": _same_model(work / "bare-0" / "model.npz",
                                                       work / "bare-default-polling" / "model.npz"),
        "identical_final_model": _same_model(work / "bare-0" / "model.npz",
                                             CampaignFolder(setup.campaign_dir).candidate("0000").model),
        "scores": [b["score"] for b in boxed],
        "breakdown": {"bare_isolated": _median_breakdown([_stats(work / f"bare-isolated-{r}") for r in range(reps)]),
                      "sandboxed": _median_breakdown([b["timeline"] for b in boxed])},
        "imports_s": import_times(),
        "work": str(work),
    }


def format_bench(r: dict) -> str:
    mib = lambda b: f"{b / 2**20:.0f} MiB" if b else "n/a"
    lines = [
        f"afr-box bench: task {r['task']}, {r['reps']} repetitions (medians)",
        f"  (a0) bare runner, NVFlare default polling (once)     {r['default_polling_wall_s']:7.2f} s"
        f"  (identical final model to (a): {'yes' if r['default_polling_identical_model'] else 'NO'})",
        f"  (a) bare runner (NVFlare simulator, host process)   {r['bare_wall_s']:7.2f} s",
        f"  (a1) bare runner with site isolation                 {r['isolated_wall_s']:7.2f} s"
        f"  (x{r['isolation_ratio']:.3f} of (a); identical final model: {'yes' if r['isolated_identical_model'] else 'NO'})",
        f"  (b) sandboxed candidate, end to end                  {r['sandboxed_wall_s']:7.2f} s",
    ]
    lines += [f"        {p:<8}{r['phase_medians_s'][p]:8.2f} s" for p in PHASES]
    lines += [
        f"  ratio (b)/(a)                                        {r['ratio']:7.3f}  (sandbox overhead {r['overhead_pct']:+.1f}%)",
        f"  image build: first {r['build_first_s']:.2f} s, cached {r['build_cached_median_s'] or 0:.3f} s; "
        f"rebuild-free rerun {r['rerun_cached_wall_median_s'] or 0:.2f} s",
        f"  candidate layer size {r['candidate_layer_bytes']} bytes",
        f"  peak memory: bare {mib(r['bare_peak_memory_bytes'])}, train container {mib(r['train_container_peak_memory_bytes'])}",
        f"  identical final model (a) vs (b): {'yes' if r['identical_final_model'] else 'NO'}",
        "  where a training run's time goes (medians, s)        (a1) bare isolated   (b) sandboxed",
    ]
    iso, box = r["breakdown"]["bare_isolated"], r["breakdown"]["sandboxed"]
    show = lambda v: f"{v:8.2f}" if isinstance(v, (int, float)) else "     n/a"
    for key, label in BREAKDOWN_LABELS.items():
        lines.append(f"        {label:<46}{show(iso.get(key))}          {show(box.get(key))}")
    lines.append("  fresh-interpreter import times (s): " + ", ".join(f"{k} {v:.2f}" for k, v in r["imports_s"].items()))
    return "\n".join(lines)


BREAKDOWN_LABELS = {
    "container_s": "container start and stop (train phase)",
    "job_export_s": "job.py export (a process of its own)",
    "simulator_start_s": "simulator and server start, to round 0",
    "round_0_s": "round 0 (client workers start)",
    "later_rounds_s": "rounds 1.. (all)",
    "per_later_round_s": "  each, on average",
    "shutdown_s": "simulator shutdown",
    "final_model_s": "checks and final model save",
}
