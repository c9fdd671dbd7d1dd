"""`afr-box repeat`: rerun selected candidates' images over several seeds (everything else
fixed, same sandbox and scorer), and summarise them with paired differences to the baseline.

    runs/<campaign>/repeats.tsv         one row per (candidate, seed), appended durably; resumable
    runs/<campaign>/repeats.md          the summary table (reports/findings.py; descriptive, not confirmatory)
    runs/<campaign>/repeats/candidates/<id>-s<seed>/   a full record per rerun
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

from afr_box.orchestrator.errors import ReplayError
from afr_box.orchestrator.findings.replay import load_logged, rerun_setup
from afr_box.orchestrator.pipeline.evaluate import evaluate
from afr_box.orchestrator.pipeline.proposal import Proposal
from afr_box.orchestrator.records.layout import HELDOUT, REPEATS, CampaignFolder
from afr_box.orchestrator.records.models import ScoreRecord, load
from afr_box.orchestrator.records.owner import in_use
from afr_box.orchestrator.records.repeats import Repeat, append_repeat, read_repeats
from afr_box.orchestrator.records.runlog import RunLog, baseline_row, best_row
from afr_box.orchestrator.records.status import Status
from afr_box.sandbox.providers import local_sandbox


def select(campaign_dir: Path, names: list[str], top: int, higher_is_better: bool) -> list[str]:
    """`baseline`, `best` and explicit ids, plus the `top` best scored candidates; in order, unique."""
    rows = RunLog(CampaignFolder(campaign_dir).results).rows()
    chosen: list[str] = []
    for name in names:
        row = baseline_row(rows) if name == "baseline" else best_row(rows, higher_is_better) if name == "best" else None
        cand = row.candidate if row is not None else name
        if name in ("baseline", "best") and row is None:
            raise ReplayError(f"no {name} candidate in {CampaignFolder(campaign_dir).results}")
        chosen.append(cand)
    scored = sorted((r for r in rows if r.score is not None and r.status in (Status.KEEP, Status.DISCARD)),
                    key=lambda r: r.score, reverse=higher_is_better)
    chosen += [r.candidate for r in scored[:top]]
    return list(dict.fromkeys(chosen))


SPLITS = {"test": (REPEATS, "repeats"), "heldout": (HELDOUT, "heldout")}


def run_repeats(campaign_dir: Path, candidates: list[str], seeds: list[int], data_root: Path,
                progress: Callable[[str], None] = print, split: str = "test") -> Path:
    """Rerun each candidate with each seed; `split` "heldout" scores the held-out part instead of
    the campaign's evaluation set (into heldout.tsv)."""
    campaign_dir = Path(campaign_dir).resolve()
    out_name, kind = SPLITS[split]
    out = campaign_dir / out_name
    with in_use(campaign_dir):
        _rerun(campaign_dir, candidates, seeds, data_root, progress, split, out, kind)
    return out


def _rerun(campaign_dir: Path, candidates: list[str], seeds: list[int], data_root: Path,
           progress: Callable[[str], None], split: str, out: Path, kind: str) -> None:
    done = {(r.candidate, r.seed) for r in read_repeats(out)}
    sandbox = local_sandbox()
    for cand in candidates:
        logged = load_logged(campaign_dir, cand)
        if split == "heldout" and not logged.profile.heldout_fraction:
            raise ReplayError(f"campaign {campaign_dir.name} holds nothing out (its profile's heldout_fraction is 0): "
                              f"run the campaign with a profile that sets heldout_fraction")
        setup, base_changed = rerun_setup(logged, f"{kind}-{logged.meta.name}", campaign_dir / kind,
                                          data_root, sandbox)
        setup = replace(setup, eval_split=split)
        if base_changed:
            progress(f"notice: the recorded base image is gone; {cand} is rerun on the current base")
        for seed in seeds:
            if (cand, seed) in done:
                continue
            progress(f"{kind} {cand} seed {seed}")
            try:
                outcome = evaluate(setup, f"{cand}-s{seed}",
                                   Proposal(logged.snapshot, f"{kind} of {cand}", kind), seed=seed)
            finally:
                sandbox.executor.remove_containers(setup.own_containers)
            scored = outcome.status == Status.SCORED
            weights = load(ScoreRecord, setup.folder.candidate(f"{cand}-s{seed}").score).weights_sha256 if scored else ""
            append_repeat(out, Repeat(cand, seed, outcome.score if scored else None, outcome.status,
                                      outcome.runtime_s, outcome.image_id, outcome.reason, weights))
