"""The fixed training runner (runs inside the candidate's training container).

    python -m afr_box.sandbox.harness.init afr_box.sandbox.harness.runner

Reads the budget from the read-only run file, runs the candidate's `job.py` in a child
process to export its recipe, checks the exported job against the budget (workflow, rounds,
clients) from the outside, applies the harness's fixed simulator settings, runs the NVFlare
simulator with the budget's client count (in a sandbox with site isolation: sites.py) and
writes to /out: `model.npz` (final global weights, numpy, no pickle), `train_stats.json`, and
`round_metrics.json` (what the trusted collector it adds to the job recorded per round,
checked: round_metrics.py). After each candidate step nothing may be left running. Exits with
an ExitCode: OK, SIMULATOR_FAILED, JOB_FAILED, BUDGET_VIOLATION or OUTPUT_VIOLATION.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

from afr_box.sandbox.harness.errors import AGGREGATOR_FAILED_PREFIX, BudgetViolation, OutputViolation
from afr_box.sandbox.harness.exit_codes import ExitCode
from afr_box.sandbox.harness.export_job import ERROR_PREFIX
from afr_box.sandbox.harness.init import in_sandbox
from afr_box.sandbox.harness.landlock import abi_version
from afr_box.sandbox.harness.processes import describe, make_undumpable, strays_after
from afr_box.sandbox.harness.paths import MODEL_FILE, OUT, ROUND_METRICS, RUN_FILE, SURFACE, TMP, TRAIN_STATS
from afr_box.sandbox.harness.round_metrics import MAX_BYTES, RoundMetricsError, parse_round_metrics
from afr_box.sandbox.harness.run_file import RunFile
from afr_box.sandbox.harness.server_config import GLOBAL_MODEL, TrustedServer, make_trusted, write_allow_list
from afr_box.sandbox.harness.model_store import ROUND_SUFFIX
from afr_box.sandbox.harness.nvflare_speed import DEFAULT_POLLING_ENV
from afr_box.sandbox.harness.sites import (BROKER_ENV, ISOLATE_BARE_ENV, PLAIN_ENV, VIEW_PATH_ENV, SiteBroker,
                                           denied_site_path, denied_write_path, isolation_reason,
                                           write_isolation_reason)
from afr_box.sandbox.harness.supervise import run_with_restart
from afr_box.sandbox.harness.surface_import import activate
from afr_box.sandbox.harness.timeline import Timeline
from afr_box.tasks.shared.site_env import data_dir


class JobFailed(Exception):
    """The candidate's job.py raised or exited while building its recipe, or its aggregator failed."""

# Workflows a candidate job may use; each must carry the budget's rounds and clients.
ALLOWED_WORKFLOWS = {"nvflare.app_common.workflows.fedavg.FedAvg"}
# Where a workflow's aggregator may come from. Recipe jobs ship custom code ("BYOC"), which
# makes NVFlare skip its own class allow-list, so the runner checks this itself.
AGGREGATOR_PREFIXES = ("shared.aggregators.", "nvflare.")
# Harness speed settings (same for every candidate): faster polling, identical results.
TASK_REQUEST_INTERVAL = 0.1
TASK_CHECK_PERIOD = 0.1
# The trusted round-metrics collector every job gets, and where (in the simulator's workspace,
# so a restarted run starts a fresh file) it writes.
COLLECTOR = {"id": "afr_round_metrics", "path": "afr_box.sandbox.harness.round_collector.RoundMetricsCollector"}
COLLECTOR_FILE = "afr_round_metrics.json"


def check_job(job_dir: Path, budget: dict[str, Any], rounds_file: Optional[Path] = None,
              server: Optional[TrustedServer] = None) -> dict[str, Any]:
    """Validate the exported server config against the budget; tune its polling; add the
    round-metrics collector (writing to `rounds_file`); with `server` (every run), take the
    candidate's code out of the server (server_config.py); return it."""
    configs = list(job_dir.glob("*/config/config_fed_server.json"))
    if len(configs) != 1:
        raise BudgetViolation(f"expected one server config in the exported job, found {len(configs)}")
    cfg_path = configs[0]
    cfg = json.loads(cfg_path.read_text())
    meta_file = job_dir / "meta.json"
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    if meta.get("min_clients", budget["clients"]) != budget["clients"]:
        raise BudgetViolation(f"job sets min_clients={meta['min_clients']!r} but the budget says {budget['clients']} clients")
    if any(sites != ["@ALL"] for sites in meta.get("deploy_map", {}).values()):
        raise BudgetViolation(f"job deploys to {meta['deploy_map']}, not to every budget site (@ALL)")
    workflows = cfg.get("workflows", [])
    if len(workflows) != 1 or workflows[0].get("path") not in ALLOWED_WORKFLOWS:
        raise BudgetViolation(f"job must have exactly one workflow from {sorted(ALLOWED_WORKFLOWS)}, "
                              f"got {[w.get('path') for w in workflows]}")
    args = workflows[0].setdefault("args", {})
    aggregator = args.get("aggregator")
    if aggregator is not None:
        path = aggregator.get("path", "") if isinstance(aggregator, dict) else str(aggregator)
        if not path.startswith(AGGREGATOR_PREFIXES):
            raise BudgetViolation(f"aggregator {path!r} must come from tasks/shared/aggregators.py or NVFlare")
    # The exporter omits arguments left at their defaults: a value that is present must match
    # the budget, and the budget is then written in explicitly either way.
    for key, want in (("num_rounds", budget["rounds"]), ("num_clients", budget["clients"]), ("start_round", 0)):
        if key in args and args[key] != want:
            raise BudgetViolation(f"job sets {key}={args[key]!r} but the budget says {want}")
        args[key] = want
    if os.environ.get(DEFAULT_POLLING_ENV) != "1":  # set only by `afr-box bench`, for the comparison
        args["task_check_period"] = TASK_CHECK_PERIOD
        cfg["server"] = {**cfg.get("server", {}), "task_request_interval": TASK_REQUEST_INTERVAL}
    if rounds_file is not None:
        components = cfg.setdefault("components", [])
        if any(c.get("id") == COLLECTOR["id"] for c in components if isinstance(c, dict)):
            raise BudgetViolation(f"job defines a component with the harness's own id {COLLECTOR['id']!r}")
        components.append({**COLLECTOR, "args": {"file": str(rounds_file)}})
    if server is not None:
        make_trusted(job_dir, cfg, server)
    cfg_path.write_text(json.dumps(cfg, indent=2))
    return cfg


def export_job(run: RunFile, surface: Path, work: Path, isolate: bool = False, keep: frozenset[int] = frozenset()) -> Path:
    """Build the merged view here (trusted), run the candidate's job.py in a child process (that
    reads no site with `isolate`), and find the exported job from the outside."""
    activate(surface, run.task, work / "view")
    export = subprocess.Popen([sys.executable, "-m", "afr_box.sandbox.harness.export_job", str(work)]
                              + (["--no-site"] if isolate else []),
                              start_new_session=True, stdout=subprocess.PIPE, text=True, errors="replace")
    errors: list[str] = []

    def drain() -> None:  # the candidate's output stays in the log; the error line is kept
        for line in export.stdout:
            sys.stdout.write(line)
            if line.startswith(ERROR_PREFIX):
                errors.append(line[len(ERROR_PREFIX):].strip())

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    export.wait()  # the process, not the pipe: a leftover child may hold the pipe open...
    _no_strays("job.py", keep)  # ...until it is killed here
    reader.join(timeout=5)
    error = errors[-1] if errors else ""
    denied = denied_site_path(error, data_dir(), run.sites) if isolate else None
    if denied:
        raise BudgetViolation(isolation_reason(denied, "job.py"))
    if export.returncode == ExitCode.BUDGET_VIOLATION:
        raise BudgetViolation(error.removeprefix("budget violation: ") or "job.py reported a budget violation")
    if export.returncode != ExitCode.OK:
        raise JobFailed(error or f"job.py failed (exit code {export.returncode})")
    export_dir = work / "job"
    apps = [p for p in export_dir.iterdir() if p.is_dir()] if export_dir.is_dir() else []
    if len(apps) != 1:
        raise BudgetViolation(f"expected one exported job, found {[p.name for p in apps]}")
    return apps[0]


def _no_strays(what: str, keep: frozenset[int] = frozenset()) -> None:
    """In a sandbox container nothing but the init, this runner (and the `keep` pids: the broker's
    fork server, started by this runner) may be left running after a candidate step: a leftover
    process could rewrite the job or the outputs after the checks."""
    if not in_sandbox():
        return  # a bare run on the host (`afr-box bench`) shares the host's process table
    found = strays_after({1, os.getpid(), *keep})
    if found:
        raise BudgetViolation(f"{what} left background processes running: {describe(found)}")


# -s: no user site. HOME is /tmp, which job.py could write before this starts: a usercustomize
# there would run before the restriction in a base whose venv sees system site-packages (its
# own torch), where Python enables the user site. -P and no PYTHONPATH: likewise for the view.
SIMULATE = [sys.executable, "-s", "-P", "-m", "afr_box.sandbox.harness.simulate"]
# The last line of a Python traceback, as a client's (or the server's) exception is printed.
PYTHON_ERROR = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Violation): \S.*")


def site_broker(run: RunFile, isolate: bool, workspace: Path) -> SiteBroker:
    """The broker that starts every client worker (sites.py), each writing only beneath its own
    site's folder of the simulator's `workspace`; its fork server starts preloading at once, while
    job.py exports."""
    launcher_env = {k: os.environ[k] for k in ("PATH", "HOME", "AFR_RUN_FILE", "AFR_DATA_DIR") if k in os.environ}
    return SiteBroker(Path(TMP) / "afr-sites.sock", run.sites, launcher_env, isolate=isolate, workspace=workspace)


def run_simulator(job_dir: Path, workspace: Path, run: RunFile, stats: dict[str, Any], broker: SiteBroker,
                  isolate: bool = True, timeline: Optional[Timeline] = None
                  ) -> tuple[int, list[str], Optional[str], Optional[str]]:
    """(exit code, stall reasons, dead client, the first exception its log shows): the NVFlare simulator (simulate.py) in its own
    session (so its whole tree can be stopped together), watched for stalls (started again once)
    and dead clients (stopped at once; supervise.py), its workers started by `broker`. With
    `isolate` (every sandboxed run) the server reads no site and each client worker only its own:
    a refused read of a site is a BudgetViolation. (Each site's CPU seconds, measured by the
    broker, are complete once it has stopped: main records them.)"""
    clients = run.budget["clients"]
    cmd = [*SIMULATE, str(job_dir), "-w", str(workspace), "-n", str(clients), "-t", str(clients)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({VIEW_PATH_ENV: os.environ.get("PYTHONPATH", ""), PLAIN_ENV: "0" if isolate else "1",
                BROKER_ENV: str(broker.socket_path)})
    denied: list[str] = []
    denied_writes: list[str] = []
    aggregator_failed: list[str] = []
    first_error: list[str] = []
    data = data_dir()
    folders = broker.client_folders()

    def watch_line(line: str) -> None:
        if timeline is not None:
            timeline.see(line)
        path = denied_site_path(line, data, run.sites, folders)
        if path and isolate and not denied:
            denied.append(path)
        written = denied_write_path(line, Path(TMP))
        if written and isolate and not denied_writes:
            denied_writes.append(written)
        if AGGREGATOR_FAILED_PREFIX in line and not aggregator_failed:
            aggregator_failed.append(line.split(AGGREGATOR_FAILED_PREFIX, 1)[1].strip())
        raised = None if first_error else PYTHON_ERROR.match(line.strip())
        if raised:  # a client's exception: NVFlare runs client.py in a thread and logs only the traceback
            first_error.append(raised.group(0)[:300])

    def reset() -> None:
        broker.kill_all()
        shutil.rmtree(workspace, ignore_errors=True)

    def start() -> list[str]:
        write_allow_list(workspace)
        return cmd

    result = run_with_restart(start, reset, oom_watch=in_sandbox(), env=env, on_line=watch_line,
                              ended=broker.ended_workers)
    if denied:
        raise BudgetViolation(isolation_reason(denied[0], "a client, the server or the aggregator"))
    if denied_writes:
        raise BudgetViolation(write_isolation_reason(denied_writes[0]))
    if aggregator_failed and result[0] != 0:
        raise JobFailed(f"the candidate's aggregator failed: {aggregator_failed[0]}")
    if broker.refused:
        raise BudgetViolation(f"site isolation: the server asked for a worker the broker refused: {broker.refused[0]}")
    return (*result, first_error[0] if first_error else None)


def collect_round_metrics(rounds_file: Path, run: RunFile, out: Path) -> tuple[int, dict[str, int]]:
    """Check what the collector left (bounded read, strict JSON, finite numbers, budget rounds
    and sites) and write it to /out; the number of rounds recorded and each budget site's count of
    rounds it took part in (0 and all 0 when there is no file: a run that ended before its first aggregation). OutputViolation when the
    file breaks the rules. The collector runs in the server, where no candidate code runs
    (server_config.py): these counts are the trusted record of who trained in which round."""
    participation = {site: 0 for site in run.sites}
    if not rounds_file.is_file():
        return 0, participation
    with open(rounds_file, "rb") as f:
        data = f.read(MAX_BYTES + 1)
    try:
        metrics = parse_round_metrics(data, run.budget["rounds"], run.sites)
    except RoundMetricsError as exc:
        raise OutputViolation(f"round metrics: {exc} (not what the harness's collector writes)") from None
    tmp = out / f".{ROUND_METRICS}.tmp"
    tmp.write_text(metrics.model_dump_json())
    os.replace(tmp, out / ROUND_METRICS)  # replaces whatever candidate code may have put there
    for entry in metrics.rounds:
        for site in entry.clients:
            participation[site] = participation.get(site, 0) + 1
    return len(metrics.rounds), participation


def final_model(workspace: Path) -> tuple[dict, int]:
    """The final global weights as numpy arrays, and the round they are from, as the server's
    trusted persistor saved them (model_store.py; no candidate code ran in the server)."""
    import numpy as np

    path = workspace / GLOBAL_MODEL
    if not path.is_file():
        raise FileNotFoundError("the server saved no global model")
    with np.load(path, allow_pickle=False) as npz:
        weights = {name: npz[name] for name in npz.files}
    saved = json.loads(path.with_name(path.name + ROUND_SUFFIX).read_text())
    return weights, saved["round"] if isinstance(saved.get("round"), int) else -1


def save_weights(weights: dict, path: Path) -> None:
    """Plain numpy arrays: the scorer reads them without torch and without unpickling."""
    import numpy as np

    np.savez(path, **{key: np.asarray(value) for key, value in weights.items()})


def main(out: Path = Path(os.environ.get("AFR_OUT", OUT)), work: Path = Path(TMP) / "afr-train") -> int:
    make_undumpable()  # candidate processes run as the same user: they must not ptrace this one
    run = RunFile.read(os.environ.get("AFR_RUN_FILE", RUN_FILE))
    surface = Path(os.environ.get("AFR_SURFACE", SURFACE))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    stats: dict[str, Any] = {"phase": "train", "budget": run.budget}
    timeline = Timeline()
    isolate = in_sandbox() or os.environ.get(ISOLATE_BARE_ENV) == "1"  # on the host: `afr-box bench` only
    broker = site_broker(run, isolate, work / "ws")

    def finish(code: int, **extra) -> int:
        stats.update(broker.accounting())  # each site's local compute, counted outside the candidate
        stats.update(extra, exit_code=code, wall_s=round(time.monotonic() - timeline.start, 3),
                     timeline_s=timeline.breakdown())
        (out / TRAIN_STATS).write_text(json.dumps(stats, indent=2, sort_keys=True))
        return code

    if isolate and not abi_version():
        return finish(ExitCode.SIMULATOR_FAILED, error="site isolation needs Landlock (Linux 5.13 or later; gVisor has "
                                                       "none): this kernel or container runtime offers none")
    try:
        with broker:
            job_dir = export_job(run, surface, work, isolate, keep=frozenset({broker.fork_server_pid}))
            timeline.mark("exported")
            server = TrustedServer(view=os.environ.get("PYTHONPATH", ""), work=work, workspace=work / "ws", isolate=isolate,
                                   client_folders=tuple(map(str, broker.client_folders())))
            check_job(job_dir, run.budget, work / "ws" / COLLECTOR_FILE, server)
            timeline.mark("checked")
            rc, restarts, dead, first_error = run_simulator(job_dir, work / "ws", run, stats, broker, isolate, timeline)
            timeline.mark("simulator_exited")
        if restarts:
            stats["restarts"] = restarts
        _no_strays("the NVFlare run")
        if not dead and rc == 0:  # a run that failed says so; its partial metrics are not read
            stats["rounds_recorded"], stats["site_rounds"] = collect_round_metrics(work / "ws" / COLLECTOR_FILE, run, out)
    except BudgetViolation as exc:
        print(f"BUDGET VIOLATION: {exc}", file=sys.stderr)
        return finish(ExitCode.BUDGET_VIOLATION, error=f"budget violation: {exc}")
    except OutputViolation as exc:
        print(f"OUTPUT VIOLATION: {exc}", file=sys.stderr)
        return finish(ExitCode.OUTPUT_VIOLATION, error=str(exc))
    except JobFailed as exc:
        print(f"JOB FAILED: {exc}", file=sys.stderr)
        return finish(ExitCode.JOB_FAILED, error=str(exc))
    if dead:
        return finish(ExitCode.SIMULATOR_FAILED, error=dead, dead_client=dead)
    if rc != 0:
        error = (f"the NVFlare run never finished, on any start ({'; '.join(restarts)})" if rc == -1 and restarts
                 else f"NVFlare simulator exited with {rc}")
        if first_error:
            error += f"; the first error in its log: {first_error}"
        return finish(ExitCode.SIMULATOR_FAILED, error=error)
    try:
        weights, last_round = final_model(work / "ws")
    except Exception as exc:
        return finish(ExitCode.SIMULATOR_FAILED, error=str(exc))
    save_weights(weights, out / MODEL_FILE)
    timeline.mark("model_saved")
    return finish(ExitCode.OK, rounds_completed=last_round + 1)


if __name__ == "__main__":
    sys.exit(main())
