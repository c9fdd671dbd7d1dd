"""The exported server config, made to run no candidate code (the runner applies this in check_job).

A candidate's recipe names two pieces of its own code for the server: its aggregator
(`shared.aggregators.*`) and its model class (the PT persistor's `model`). Both are swapped for
trusted harness components: the aggregator for aggregator_proxy.SandboxedAggregator, which runs
the candidate's class in a restricted process of its own; the persistor for
model_store.TrustedPersistor, which starts from the initial weights job.py's process built
(export_job.py) and saves each global model with its round. The job's custom code folders are
removed (the clients import the surface view from their import path; the server must not find it
on its own), and every other component must come from NVFlare or the harness.
"""
from __future__ import annotations

import importlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from afr_box.sandbox.harness.errors import BudgetViolation

PT_PERSISTOR = "nvflare.app_opt.pt.file_model_persistor.PTFileModelPersistor"
PT_LOCATOR = "nvflare.app_opt.pt.file_model_locator.PTFileModelLocator"  # cross-site validation only; needs PT_PERSISTOR
PROXY = "afr_box.sandbox.harness.aggregator_proxy.SandboxedAggregator"
PERSISTOR = "afr_box.sandbox.harness.model_store.TrustedPersistor"
CANDIDATE_AGGREGATORS = "shared.aggregators."
TRUSTED = ("nvflare.", "afr_box.sandbox.harness.")
INITIAL_WEIGHTS = "initial_model.npz"
GLOBAL_MODEL = "afr_global_model.npz"


@dataclass(frozen=True)
class TrustedServer:
    view: str      # the surface view's import path (for the aggregator worker)
    work: Path     # the runner's work folder: the initial weights are here, the aggregator's folder goes here
    workspace: Path  # the simulator's workspace: the global model is saved here
    isolate: bool = True
    client_folders: tuple[str, ...] = ()  # what the sites' clients write (sites.client_folders): the aggregator reads none


def build(spec: Any):
    """What NVFlare's config builder makes of {"path": ..., "args": {...}} (nested specs too), or a
    class path given alone."""
    if isinstance(spec, str):
        spec = {"path": spec}
    path, args = spec.get("path"), spec.get("args") or {}
    if not isinstance(path, str) or "." not in path or not isinstance(args, dict):
        raise ValueError(f"not a component spec: {str(spec)[:200]}")
    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    return cls(**{k: build(v) if isinstance(v, dict) and "path" in v else v for k, v in args.items()})


def model_spec(cfg: dict) -> Any:
    """The candidate model the PT persistor would build in the server (None when there is none)."""
    for component in cfg.get("components", []):
        if isinstance(component, dict) and component.get("path") == PT_PERSISTOR:
            return (component.get("args") or {}).get("model")
    return None


def _class_paths(component: Any, where: str) -> Iterator[tuple[str, str]]:
    """The class paths NVFlare's component builder would import for `component`: its own, and
    those of the argument values it builds as components in turn (a bare "name" resolves within
    NVFlare's own packages)."""
    if not isinstance(component, dict):
        return
    for key in ("path", "class_path"):
        if isinstance(component.get(key), str):
            yield component[key], where
    for name, value in (component.get("args") or {}).items() if isinstance(component.get("args"), dict) else ():
        if isinstance(value, dict) and any(k in value for k in ("path", "class_path", "name")):
            yield from _class_paths(value, f"{where}.args.{name}")


def _server_classes(cfg: dict) -> Iterator[tuple[str, str]]:
    for section in ("workflows", "components"):
        for i, component in enumerate(cfg.get(section) or []):
            yield from _class_paths(component, f"{section}[{i}]")
    for section in ("task_data_filters", "task_result_filters"):
        for i, entry in enumerate(cfg.get(section) or []):
            for j, component in enumerate(entry.get("filters") or [] if isinstance(entry, dict) else []):
                yield from _class_paths(component, f"{section}[{i}].filters[{j}]")


def make_trusted(job_dir: Path, cfg: dict, server: TrustedServer) -> dict:
    """`cfg` (the job's server config) with the candidate's aggregator and model swapped for the
    harness's components; BudgetViolation for anything else that would load candidate code."""
    args = cfg["workflows"][0].setdefault("args", {})
    aggregator = args.get("aggregator")
    if isinstance(aggregator, dict) and str(aggregator.get("path", "")).startswith(CANDIDATE_AGGREGATORS):
        args["aggregator"] = {"path": PROXY, "args": {
            "spec": json.dumps(aggregator), "view": server.view, "work": str(server.work / "aggregator"),
            "isolate": server.isolate, "denied": list(server.client_folders)}}
    if model_spec(cfg) is None:
        raise BudgetViolation(f"the server config has no {PT_PERSISTOR.rsplit('.', 1)[1]} with a model "
                              "(build the recipe with the task's model, as the baseline's job.py does)")
    if not (server.work / INITIAL_WEIGHTS).is_file():
        raise BudgetViolation("job.py's process wrote no initial weights for the model")
    components = []
    for component in cfg.get("components", []):
        path = component.get("path") if isinstance(component, dict) else None
        if path == PT_LOCATOR:
            continue
        if path == PT_PERSISTOR:
            component = {"id": component.get("id", "persistor"), "path": PERSISTOR, "args": {
                "initial": str(server.work / INITIAL_WEIGHTS), "final": str(server.workspace / GLOBAL_MODEL)}}
        components.append(component)
    cfg["components"] = components
    for path, where in _server_classes(cfg):
        if not path.startswith(TRUSTED):
            raise BudgetViolation(f"the server config's {where} loads {path[:200]!r} in the server: the server runs no candidate code "
                                  f"(aggregators come from {CANDIDATE_AGGREGATORS.rstrip('.')}, run in a process of "
                                  "their own; other components from NVFlare)")
    for custom in job_dir.glob("*/custom"):
        shutil.rmtree(custom)
    return cfg


def write_allow_list(workspace: Path) -> None:
    """NVFlare's class allow-list applies to a job without custom code, and its default list has
    neither the harness's components nor the client API executor. What keeps candidate code out of
    the server is that none is importable there and make_trusted's check of every class path, so
    the list allows every class, as it did while the job carried custom code. Written where the
    simulator copies every site's local configuration from (`<workspace>/local`), before each start."""
    local = workspace / "local"
    local.mkdir(parents=True, exist_ok=True)
    (local / "resources.json").write_text(json.dumps({"class_allow_list": ["*"]}))
