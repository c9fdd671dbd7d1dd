"""`afr-box export-tracking`: a campaign's records into the experiment tracker a lab already uses.

    MLflow       one experiment per campaign; a parent run `campaign` (summary metrics, report
                 artifacts) and one nested run per candidate: params = its knobs (+ seed, proposer,
                 policy), metrics = score, per-client scores, runtime, per-round curves (step =
                 round), tags = status, mechanism, image id, surface hash, reason; artifacts =
                 surface.diff and record.json. Any tracking URI; a folder or file: URI is MLflow's
                 local file store (offline).
    TensorBoard  one event-file folder per candidate under DIR/<campaign>/: the same scalars.

From the records only, on the host (nothing reruns, the sandbox is not involved), through the
trackers' own clients (the optional extras `mlflow`, `tensorboard`). Re-exporting into the same
MLflow experiment skips candidates already there (tag afr.candidate), so it is safe to repeat.
"""
from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path
from typing import Any, Iterator

from afr_box.orchestrator.errors import RecordError
from afr_box.orchestrator.records.layout import PROGRESS_PLOT, REPORT_HTML, REPORT_MD, ROUNDS_PLOT
from afr_box.reports.api import Campaign, Candidate, load_campaign
from afr_box.tasks.shared.errors import AfrError

MLFLOW_KEY = re.compile(r"^[A-Za-z0-9_\-. /]{1,250}$")  # what MLflow accepts as a param/metric/tag key
TAG_CHARS = 5000


class TrackerMissing(AfrError, ImportError):
    """The tracker's client is not installed: install the matching extra."""


def _mechanism(c: Candidate) -> str:
    return ", ".join(c.mechanisms) or ("baseline" if c.row.proposer == "baseline" else "no surface change")


def scalars(c: Candidate) -> Iterator[tuple[str, float, int]]:
    """(name, value, step) of every finite number recorded for a candidate."""
    if c.row.scored:
        yield "score", c.row.score, 0
    yield "runtime_seconds", c.row.runtime_seconds, 0
    for site, value in sorted((c.score.per_client if c.score else {}).items()):
        yield f"score.{site}", value, 0
    for step, seconds in sorted(c.timings.items()):
        yield f"seconds.{step}", seconds, 0
    for entry in (c.rounds.rounds if c.rounds else []):
        for name, value in sorted(entry.aggregate.items()):
            if value is not None:
                yield f"round.{name}", value, entry.round
        for site, values in sorted(entry.clients.items()):
            for name, value in sorted(values.items()):
                if value is not None:
                    yield f"round.{site}.{name}", value, entry.round


def tags(campaign: Campaign, c: Candidate) -> dict[str, str]:
    diverged = sorted({e.round for e in (c.rounds.rounds if c.rounds else []) if e.nonfinite})
    return {"afr.campaign": campaign.name, "afr.candidate": c.id, "afr.status": str(c.status),
            "afr.mechanism": _mechanism(c), "afr.image_id": c.row.image_id, "afr.surface_hash": c.row.surface_hash,
            "afr.proposer": c.row.proposer, "afr.policy": c.row.policy, "afr.reason": c.row.reason[:TAG_CHARS],
            "afr.diverged_rounds": ",".join(map(str, diverged)), "mlflow.note.content": c.row.description[:TAG_CHARS]}


def params(c: Candidate) -> dict[str, str]:
    """Knobs as params (names MLflow would refuse are left out), plus seed, proposer and policy."""
    out = {f"knob.{k}": str(v)[:6000] for k, v in sorted(c.knobs.items()) if MLFLOW_KEY.match(f"knob.{k}")}
    return {**out, "seed": str(c.row.seed), "proposer": c.row.proposer, "policy": c.row.policy}


def _mlflow_client(uri: str):
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise TrackerMissing("MLflow is not installed: pip install 'afr-box[mlflow]' (or mlflow-skinny)") from None
    if "://" not in uri:
        uri = Path(uri).resolve().as_uri()
    if uri.startswith("file:"):
        # MLflow 3 keeps its filesystem store in maintenance mode and refuses it unless told: a
        # local, offline store is exactly what was asked for here.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MlflowClient(tracking_uri=uri), uri


def export_mlflow(campaign_dir: Path, uri: str, experiment: str = "") -> dict[str, Any]:
    """Export into MLflow at `uri`; {"experiment_id", "uri", "exported": [ids], "skipped": [ids]}."""
    from mlflow.entities import Metric, Param, RunTag

    campaign = load_campaign(campaign_dir)
    client, uri = _mlflow_client(uri)
    name = experiment or campaign.name
    found = client.get_experiment_by_name(name)
    exp_id = found.experiment_id if found else client.create_experiment(name, tags={"afr.task": campaign.meta.task})
    existing = {r.data.tags.get("afr.candidate"): r for r in client.search_runs([exp_id], max_results=5000)}
    now = int(time.time() * 1000)
    parent = existing.get("campaign")
    if parent is None:
        parent = client.create_run(exp_id, run_name=f"campaign {campaign.name}", tags={
            "afr.campaign": campaign.name, "afr.candidate": "campaign", "afr.kind": "campaign",
            "afr.base_image": campaign.meta.base_image_id, "afr.policy": campaign.meta.policy})
        base, best = campaign.baseline, campaign.best
        summary = [Metric(k, v, now, 0) for k, v in (("baseline", base.row.score if base else None),
                                                     ("best", best.row.score if best else None),
                                                     ("candidates", float(len(campaign.candidates))),
                                                     ("literature_events", float(len(campaign.literature))))
                   if v is not None and math.isfinite(v)]
        client.log_batch(parent.info.run_id, metrics=summary,
                         params=[Param("task", campaign.meta.task), Param("policy", campaign.meta.policy),
                                 Param("proposer", campaign.meta.proposer), Param("seed", str(campaign.meta.seed))])
        for artifact in (REPORT_MD, REPORT_HTML, PROGRESS_PLOT, ROUNDS_PLOT):
            if (campaign.path / artifact).is_file():
                client.log_artifact(parent.info.run_id, str(campaign.path / artifact), "report")
        client.set_terminated(parent.info.run_id)
    exported, skipped = [], []
    for c in campaign.candidates:
        if c.id in existing:
            skipped.append(c.id)
            continue
        run = client.create_run(exp_id, run_name=f"{c.id} {c.row.description[:60]}",
                                tags={**tags(campaign, c), "mlflow.parentRunId": parent.info.run_id})
        metrics = [Metric(k, float(v), now, step) for k, v, step in scalars(c) if MLFLOW_KEY.match(k)]
        plist = [Param(k, v) for k, v in params(c).items()]
        for start in range(0, max(len(metrics), 1), 1000):  # MLflow's batch limit: 1000 metrics
            client.log_batch(run.info.run_id, metrics=metrics[start:start + 1000],
                             params=plist if start == 0 else [])
        for path, folder in ((c.folder.surface_diff, ""), (c.folder.record, "")):
            if path.is_file():
                client.log_artifact(run.info.run_id, str(path), folder or None)
        client.set_terminated(run.info.run_id, status="FINISHED" if c.row.scored else "FAILED")
        exported.append(c.id)
    return {"experiment_id": exp_id, "uri": uri, "exported": exported, "skipped": skipped}


def export_tensorboard(campaign_dir: Path, logdir: Path) -> dict[str, Any]:
    """One event-file folder per candidate under `logdir`/<campaign>/ (rewritten whole)."""
    try:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError:
        raise TrackerMissing("TensorBoard is not installed: pip install 'afr-box[tensorboard]'") from None
    import shutil

    campaign = load_campaign(campaign_dir)
    root = Path(logdir) / campaign.name
    shutil.rmtree(root, ignore_errors=True)  # a re-export replaces the old events instead of doubling them
    written = []
    for c in campaign.candidates:
        writer = EventFileWriter(str(root / c.id))
        wall = time.time()
        for name, value, step in scalars(c):
            writer.add_event(Event(wall_time=wall, step=step,
                                   summary=Summary(value=[Summary.Value(tag=name, simple_value=float(value))])))
        writer.close()
        written.append(c.id)
    if not written:
        raise RecordError(f"{campaign.path} has no candidates to export")
    return {"logdir": str(root), "exported": written}
