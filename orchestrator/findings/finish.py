"""`afr-box finish` (and `campaign --finish`): Algorithm 1's last line, "repeat selected
configurations; regenerate plots; write final report".

The baseline, the campaign's best and its top-k scored candidates are repeated over the seeds
(default 42..46) on the campaign's evaluation set, and each repeat's trained model is scored
again (infer + score only) on the held-out part and on the whole test set when the profile holds
part of each test set out:

    repeats.tsv    repeats/candidates/<id>-s<seed>/    the evaluation set (what the search scored)
    heldout.tsv    heldout/candidates/<id>-s<seed>/    the held-out part (never scored by the search)
    fulltest.tsv   fulltest/candidates/<id>-s<seed>/   the whole test set (comparable with published figures)
    findings.json  findings.md                         paired differences and labels (labels.py)

A run that already exists is not run again: a candidate's own campaign run (its seed), the
baseline's noise runs and earlier repeats count as that seed's repeat (repeats.tsv names the
record reused). Every row is appended when its run ends, so an interrupted finish resumes where
it stopped; runs go in parallel slots like a campaign's candidates.
"""
from __future__ import annotations

import logging
import math
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional

from afr_box.orchestrator.campaign.slots import host_cpus, plan_slots
from afr_box.orchestrator.errors import ReplayError
from afr_box.orchestrator.findings import labels
from afr_box.orchestrator.findings.replay import Logged, load_logged, rerun_setup
from afr_box.orchestrator.findings.repeats import select
from afr_box.orchestrator.pipeline.evaluate import Outcome, Setup, evaluate
from afr_box.orchestrator.pipeline.proposal import Proposal
from afr_box.orchestrator.records.layout import FULLTEST, HELDOUT, REPEATS, CampaignFolder, CandidateFolder
from afr_box.orchestrator.records.models import Finding, FindingsRecord, SplitResult, load, save
from afr_box.orchestrator.records.repeats import Repeat, append_repeat, read_repeats
from afr_box.orchestrator.records.runlog import RunLog, baseline_row, best_row, utc_now
from afr_box.orchestrator.records.status import Status
from afr_box.reports.findings import write_findings_summary
from afr_box.reports.stats import summarize
from afr_box.sandbox.gpus import host_gpu_ids, resolve_gpus
from afr_box.sandbox.providers import local_sandbox

log = logging.getLogger(__name__)

DEFAULT_SEEDS = (42, 43, 44, 45, 46)
DEFAULT_TOP = 3
# split -> (its tsv, the folder its records go in)
SPLIT_FILES = {"test": (REPEATS, "repeats"), "heldout": (HELDOUT, "heldout"), "full": (FULLTEST, "fulltest")}


@dataclass(frozen=True)
class Job:
    cand: str
    seed: int
    split: str
    trained: Optional[CandidateFolder] = None   # rescoring: the run whose model is scored again


def splits_of(profile) -> list[str]:
    """The evaluation set; with a held-out part also the held-out part and the whole test set."""
    return ["test", "heldout", "full"] if profile.heldout_fraction else ["test"]


def trained_run(folder: CampaignFolder, cand: str, seed: int) -> Optional[tuple[CandidateFolder, float]]:
    """An existing trained run of `cand` with `seed` on the evaluation set, and its score: the
    campaign's own run, a noise run of the baseline, or an earlier repeat."""
    rows = {r.candidate: r for r in RunLog(folder.results).rows()}
    base = baseline_row(list(rows.values()))
    row = rows.get(cand)
    found: list[tuple[CandidateFolder, Optional[float]]] = []
    if row is not None and row.seed == seed and row.scored:
        found.append((folder.candidate(cand), row.score))
    if base is not None and cand == base.candidate:
        noise = {r.seed: r for r in read_repeats(folder.noise)}
        if seed in noise and noise[seed].score is not None:
            found.append((CampaignFolder(folder.noise_runs).candidate(f"{cand}-s{seed}"), noise[seed].score))
    repeats = {(r.candidate, r.seed): r for r in read_repeats(folder / REPEATS)}
    if (cand, seed) in repeats and repeats[(cand, seed)].score is not None:
        found.append((CampaignFolder(folder / "repeats").candidate(f"{cand}-s{seed}"), repeats[(cand, seed)].score))
    for record, score in found:
        if record.model.is_file() and score is not None and math.isfinite(score):
            return record, score
    return None


def _done(folder: CampaignFolder, split: str) -> set[tuple[str, int]]:
    return {(r.candidate, r.seed) for r in read_repeats(folder / SPLIT_FILES[split][0])}


def _plan(folder: CampaignFolder, chosen: list[str], seeds: list[int], splits: list[str]) -> tuple[list[Job], list[Job]]:
    """(trainings to run, rescorings to run once they are in); existing runs are logged as reused now."""
    train, rescore = [], []
    done = {split: _done(folder, split) for split in splits}
    for cand in chosen:
        for seed in seeds:
            existing = trained_run(folder, cand, seed)
            if (cand, seed) not in done["test"]:
                if existing is None:
                    train.append(Job(cand, seed, "test"))
                else:
                    record, score = existing
                    append_repeat(folder / REPEATS, Repeat(cand, seed, score, Status.SCORED, 0.0, "",
                                                           f"reused {record.path.relative_to(folder.path)}"))
            for split in splits[1:]:
                if (cand, seed) not in done[split]:
                    rescore.append(Job(cand, seed, split))
    return train, rescore


def finish(campaign_dir: Path, data_root: Path, seeds: Optional[list[int]] = None, top: int = DEFAULT_TOP,
           parallel: int = 1, controls: tuple[Path, ...] = (),
           progress: Callable[[str], None] = print) -> FindingsRecord:
    start = time.monotonic()
    folder = CampaignFolder(Path(campaign_dir).resolve())
    seeds = list(DEFAULT_SEEDS if not seeds else seeds)
    control_records = [_control(folder, Path(c)) for c in controls]  # refused before anything runs
    rows = RunLog(folder.results).rows()
    if not rows:
        raise ReplayError(f"{folder.results} has no rows: nothing to finish")
    profile = load_logged(folder.path, baseline_row(rows).candidate).profile
    higher = profile.metric.higher_is_better
    chosen = select(folder.path, ["baseline", "best"], top, higher)
    logged = {cand: load_logged(folder.path, cand) for cand in chosen}
    splits = splits_of(profile)
    progress(f"finish {folder.name}: {', '.join(chosen)} over seeds {','.join(map(str, seeds))} on "
             f"{' + '.join(splits)}")
    sandbox = local_sandbox()
    any_logged = next(iter(logged.values()))
    name = f"finish-{any_logged.meta.name}"[:60]
    setups = {}
    for split in splits:
        setup, base_changed = rerun_setup(any_logged, name, folder.path / SPLIT_FILES[split][1], data_root, sandbox)
        setups[split] = replace(setup, eval_split=split)
        if base_changed and split == "test":
            progress("notice: the recorded base image is gone; repeats run on the current base")
    train, rescore = _plan(folder, chosen, seeds, splits)
    try:
        _run(setups, logged, train, folder, parallel, progress)
        rescore = [replace(j, trained=(trained_run(folder, j.cand, j.seed) or (None,))[0]) for j in rescore]
        _run(setups, logged, [j for j in rescore if j.trained is not None], folder, parallel, progress)
    finally:
        sandbox.executor.remove_containers({"afr.campaign": name})
    record = compute_findings(folder, profile, seeds, chosen, control_records,
                              wall_s=round(time.monotonic() - start, 1))
    save(record, folder.findings)
    write_findings_summary(folder.path)
    return record


def _run(setups: dict[str, Setup], logged: dict[str, Logged], jobs: list[Job], folder: CampaignFolder,
         parallel: int, progress: Callable[[str], None]) -> None:
    """Run `jobs` in up to `parallel` slots; each row is appended as its run ends."""
    if not jobs:
        return
    setup = setups["test"]
    gpu_ids, _ = resolve_gpus(setup.policy.container.gpus, host_gpu_ids())
    slots, _ = plan_slots(parallel, host_cpus(), gpu_ids, setup.policy.container.gpus, setup.profile.candidates_per_gpu)
    # one engine connection per slot, as in a campaign
    free = [(setup.sandbox if i == 0 else setup.sandbox.for_another_slot(), slot) for i, slot in enumerate(slots)]
    pending = iter(jobs)
    running: dict[Future, tuple[Job, tuple]] = {}
    with ThreadPoolExecutor(max_workers=len(slots), thread_name_prefix="afr-finish") as pool:
        while True:
            while free and (job := next(pending, None)) is not None:
                slot = free.pop(0)
                slot_setup = replace(setups[job.split], sandbox=slot[0], gpu_ids=slot[1].gpu_ids, cpuset=slot[1].cpuset)
                kind = SPLIT_FILES[job.split][1]
                progress(f"  {kind} {job.cand} seed {job.seed}" + (" (trained model reused)" if job.trained else ""))
                proposal = Proposal(logged[job.cand].snapshot, f"{kind} of {job.cand}", kind)
                running[pool.submit(evaluate, slot_setup, f"{job.cand}-s{job.seed}", proposal, job.seed,
                                    trained=job.trained)] = (job, slot)
            if not running:
                break
            for future in wait(running, return_when=FIRST_COMPLETED).done:
                job, slot = running.pop(future)
                free.append(slot)
                outcome = _outcome_of(future, job)
                append_repeat(folder / SPLIT_FILES[job.split][0],
                              Repeat(job.cand, job.seed, outcome.score if outcome.status == Status.SCORED else None,
                                     outcome.status, outcome.runtime_s, outcome.image_id, outcome.reason))
                if outcome.status != Status.SCORED:
                    progress(f"  {job.cand} seed {job.seed} ({job.split}): {outcome.status}: {outcome.reason[:200]}")


def _outcome_of(future: Future, job: Job) -> Outcome:
    try:
        return future.result()
    except Exception as exc:
        log.exception("finish %s seed %s: orchestrator error", job.cand, job.seed)
        return Outcome(cand=job.cand, status=Status.CRASH, reason=f"orchestrator error: {type(exc).__name__}: {exc}")


def _control(folder: CampaignFolder, control_dir: Path) -> FindingsRecord:
    control = CampaignFolder(control_dir.resolve())
    if not control.findings.is_file():
        raise ReplayError(f"control campaign {control_dir} is not finished (no {control.findings.name}): "
                          f"run `afr-box finish {control_dir}` first")
    record = load(FindingsRecord, control.findings)
    task = load_logged(folder.path, baseline_row(RunLog(folder.results).rows()).candidate).profile.task
    if record.task != task:
        raise ReplayError(f"control campaign {control_dir} is for task {record.task}, not {task}")
    return record


def _split_result(scores: dict[int, float], baseline: Optional[dict[int, float]]) -> SplitResult:
    if not scores:
        return SplitResult()
    s = summarize(list(scores.values()))
    d = labels.paired(scores, baseline) if baseline is not None else None
    return SplitResult(n=s.n, scores={str(k): v for k, v in scores.items()}, mean=s.mean, std=s.std,
                       half_width=s.half_width, diff=d.mean if d else None, diff_half_width=d.half_width if d else None,
                       diff_n=d.n if d else 0)


def split_scores(folder: CampaignFolder, split: str, seeds: list[int]) -> dict[str, dict[int, float]]:
    """cand -> {seed: score} of one split's tsv, the finite scores of the given seeds only."""
    out: dict[str, dict[int, float]] = {}
    for r in read_repeats(folder / SPLIT_FILES[split][0]):
        if r.seed in seeds and r.score is not None and math.isfinite(r.score):
            out.setdefault(r.candidate, {})[r.seed] = r.score
    return out


def compute_findings(folder: CampaignFolder, profile, seeds: list[int], chosen: list[str],
                     controls: list[FindingsRecord], wall_s: float = 0.0) -> FindingsRecord:
    """Paired differences and labels of the chosen candidates, from the records alone."""
    rows = RunLog(folder.results).rows()
    higher = profile.metric.higher_is_better
    base, best = baseline_row(rows), best_row(rows, higher)
    by_cand = {r.candidate: r for r in rows}
    splits = splits_of(profile)
    scores = {split: split_scores(folder, split, seeds) for split in splits}
    findings = []
    for cand in chosen:
        results = {split: _split_result(scores[split].get(cand, {}),
                                        None if cand == base.candidate else scores[split].get(base.candidate, {}))
                   for split in splits}
        if cand == base.candidate:
            text, by = labels.BASELINE, None
        else:
            evaluation = labels.paired(scores["test"].get(cand, {}), scores["test"].get(base.candidate, {}))
            held = (labels.paired(scores["heldout"].get(cand, {}), scores["heldout"].get(base.candidate, {}))
                    if "heldout" in scores else None)
            text = labels.label(evaluation, held, higher, has_heldout="heldout" in scores)
            by = _recovered_by(text, cand, scores, controls, higher)
            if by:
                text = f"{text}; {labels.RECOVERED}"
        row = by_cand[cand]
        findings.append(Finding(candidate=cand, description=row.description, proposer=row.proposer,
                                campaign_score=row.score, selected=best is not None and cand == best.candidate,
                                splits=results, label=text, recovered_by=by))
    return FindingsRecord(campaign=folder.name, task=profile.task, metric=profile.metric.name, higher_is_better=higher,
                          seeds=seeds, splits=splits, heldout_fraction=profile.heldout_fraction,
                          baseline=base.candidate, best=best.candidate if best else "",
                          controls=[c.campaign for c in controls], findings=findings, finished_at=utc_now(),
                          wall_s=wall_s)


def _recovered_by(text: str, cand: str, scores: dict, controls: list[FindingsRecord], higher: bool) -> Optional[str]:
    """The first control campaign whose best repeated candidate reaches this robust gain."""
    if not text.startswith(labels.ROBUST):
        return None
    for control in controls:
        split = "heldout" if "heldout" in scores and "heldout" in control.splits else "test"
        candidates = [f for f in control.findings if f.candidate != control.baseline and f.splits.get(split)
                      and f.splits[split].mean is not None]
        if not candidates:
            continue
        top = max(candidates, key=lambda f: f.splits[split].mean if higher else -f.splits[split].mean)
        control_scores = {int(s): v for s, v in top.splits[split].scores.items()}
        if labels.recovered(scores[split].get(cand, {}), control_scores, higher):
            return f"{control.campaign}/{top.candidate}"
    return None
