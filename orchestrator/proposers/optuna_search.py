"""Optuna-backed scalar controls: random, TPE, CMA-ES, QMC or GP search over the profile's space.

The same-budget controls the paper asks for ("randomized, Bayesian, or evolutionary HPO under the
same candidate budget"), with Optuna's samplers rather than hand-written ones. Each candidate is
one Optuna trial asked define-by-run over `search_space`: a dimension is suggested only when its
`when:` matches the values suggested before it (the AdamW lr range only when optimizer == adamw),
and a knob that two dimensions share gets one Optuna name per dimension (`lr|optimizer=adamw`),
so its ranges are never mixed. Only the knobs file changes, as with `hpo`.

What the study learns comes from the run log: before asking for candidate `index`, every
proposed candidate logged since the last ask is told (its score, or a failed trial for a crash,
rejection or violation), in log order. Each proposal records its trial (`proposal.json:
search`: sampler, trial number, params, the candidates told just before it was asked). On
`--resume` a new process rebuilds the study by replaying exactly that sequence of tells and asks
from the campaign's own records, so the sampler's state (its random stream, CMA-ES's generation,
QMC's sequence index) is the one an uninterrupted campaign would have: a resumed campaign
proposes exactly what an uninterrupted one would (with `--parallel 1`; with more slots the
uninterrupted order itself depends on which candidate finishes first).
"""
from __future__ import annotations

import logging
import math
import warnings
from pathlib import Path
from typing import Any, Optional

import yaml

from afr_box.orchestrator.errors import ProposerError
from afr_box.orchestrator.gate.surface import baseline_snapshot
from afr_box.orchestrator.pipeline.proposal import Proposal
from afr_box.orchestrator.records.layout import CampaignFolder, candidate_id
from afr_box.orchestrator.records.models import ProposalRecord, load_or
from afr_box.orchestrator.records.runlog import Row
from afr_box.profiles.schema import Dimension, Profile

log = logging.getLogger(__name__)

SAMPLERS = ("random", "tpe", "cmaes", "qmc", "gp")
DEFAULT_SAMPLER = "tpe"
PROPOSER = "optuna"
# Model-based samplers start guided search after this many trials (Optuna's default is 10,
# meant for long studies; a campaign of 24 candidates would spend almost half of it at random).
STARTUP_TRIALS = 5


def make_sampler(name: str, seed: int):
    import optuna

    with warnings.catch_warnings():  # TPE's `group`, QMC: "experimental" in Optuna's terms, stable here
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _sampler(optuna, name, seed)


def _sampler(optuna, name: str, seed: int):
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=STARTUP_TRIALS, multivariate=True, group=True)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, scramble=True, warn_independent_sampling=False)
    if name == "gp":
        try:
            import torch  # noqa: F401  (Optuna's GP sampler runs on torch)
        except ImportError:
            raise ProposerError("--sampler gp needs torch on this machine: pip install -e '.[runtime]'") from None
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=STARTUP_TRIALS, warn_independent_sampling=False)
    raise ProposerError(f"unknown sampler {name!r}; available: {', '.join(SAMPLERS)}")


def param_names(space: list[Dimension]) -> list[str]:
    """One Optuna parameter name per dimension: the knob, qualified by its `when:` where several
    dimensions set the same knob (a parameter keeps one distribution across the study)."""
    counts: dict[str, int] = {}
    for dim in space:
        counts[dim.knob] = counts.get(dim.knob, 0) + 1
    names: list[str] = []
    for dim in space:
        name = dim.knob
        if counts[dim.knob] > 1:
            name += "|" + ",".join(f"{k}={v}" for k, v in sorted(dim.when.items()))
        while name in names:
            name += "'"
        names.append(name)
    return names


def suggest_knobs(trial, space: list[Dimension], base: dict[str, Any]) -> dict[str, Any]:
    """Define-by-run: each dimension in order, when its `when:` matches the values so far."""
    knobs = dict(base)
    sampled: set[str] = set()
    for dim, name in zip(space, param_names(space)):
        if dim.knob in sampled or any(knobs.get(k) != v for k, v in dim.when.items()):
            continue
        if dim.choices is not None:
            value: Any = trial.suggest_categorical(name, dim.choices)
        elif dim.integer:
            value = trial.suggest_int(name, int(math.ceil(dim.low)), int(math.floor(dim.high)), log=dim.log)
        else:
            value = trial.suggest_float(name, dim.low, dim.high, log=dim.log)
        knobs[dim.knob] = value
        sampled.add(dim.knob)
    return knobs


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class OptunaProposer:
    name = PROPOSER

    def __init__(self, task: str, policy, profile: Profile, seed: int, sampler: str, folder: CampaignFolder):
        import optuna

        if not profile.search_space:
            raise ProposerError(f"profile for {task} has no search_space: --proposer optuna has nothing to search")
        self.task, self.policy, self.profile, self.seed, self.folder = task, policy, profile, seed, folder
        self.sampler_name = sampler
        self._sampler = make_sampler(sampler, seed)  # an unknown name fails here, before anything runs
        self._optuna = optuna
        self._study = None
        self._trials: dict[str, Any] = {}   # candidate id -> its (asked) trial
        self._told: set[str] = set()

    # ------------------------------------------------------------------ the study
    def _new_study(self):
        optuna = self._optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        direction = "maximize" if self.profile.metric.higher_is_better else "minimize"
        return optuna.create_study(direction=direction, sampler=self._sampler)

    def _ask(self, cand: str, fixed: Optional[dict] = None):
        """Ask the next trial for `cand` (with `fixed`: one whose params are given, not sampled)."""
        if fixed is not None:
            self._study.enqueue_trial(fixed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", self._optuna.exceptions.ExperimentalWarning)
            trial = self._study.ask()
            knobs = suggest_knobs(trial, self.profile.search_space, self._base_knobs())
        self._trials[cand] = trial
        return trial, knobs

    def _tell(self, cand: str, row: Row) -> None:
        trial = self._trials[cand]
        if row.scored:
            self._study.tell(trial, row.score)
        else:  # a crash, rejection or violation: the study learns that this region failed
            self._study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
        self._told.add(cand)

    def _to_tell(self, history: list[Row]) -> list[Row]:
        """Rows of this study's candidates logged since they were asked and not told yet, in log order."""
        return [r for r in history if r.candidate in self._trials and r.candidate not in self._told]

    def _recorded(self, index: int, history: list[Row]) -> list[tuple[str, dict]]:
        """(candidate, recorded search) of this study's logged candidates before `index`, in index order."""
        logged = {r.candidate for r in history}
        out = []
        for j in range(1, index):
            cand = candidate_id(j)
            record = load_or(ProposalRecord, self.folder.candidate(cand).proposal)
            search = record.search if record is not None else None
            if cand in logged and search and search.get("sampler") == self.sampler_name:
                out.append((cand, search))
        return out

    def _rebuild(self, index: int, history: list[Row]) -> None:
        """A resumed campaign: replay the recorded tells and asks of the candidates before `index`,
        so the sampler is where an uninterrupted campaign's would be. Should a trial replay other
        params than were recorded (another Optuna version; an interrupted --parallel campaign whose
        later candidates finished first), the study is rebuilt from the recorded observations
        instead: the same trials and scores, the sampler's own state starting afresh."""
        rows = {r.candidate: r for r in history}
        recorded = self._recorded(index, history)
        for cand, search in recorded:
            for told in search.get("told_before", []):
                if told in self._trials and told not in self._told:
                    self._tell(told, rows[told])
            trial, _ = self._ask(cand)
            if trial.params != search.get("params"):
                log.warning("optuna study of %s: candidate %s replays as %s, not the recorded %s; rebuilding the "
                            "study from the recorded trials (later proposals may differ from an uninterrupted "
                            "campaign's)", self.folder.name, cand, trial.params, search.get("params"))
                self._study, self._trials, self._told = self._new_study(), {}, set()
                for c, s in recorded:
                    self._ask(c, fixed=s.get("params", {}))
                    self._tell(c, rows[c])
                return

    def _base_knobs(self) -> dict[str, Any]:
        from afr_box.tasks.shared.layout import repo_file

        return yaml.safe_load(repo_file(f"{self.task}/knobs.yaml").read_text()) or {}

    # ------------------------------------------------------------------ proposing
    def propose(self, index: int, workspace: Path, history: Optional[list[Row]] = None) -> Proposal:
        history = history or []
        if self._study is None:
            self._study = self._new_study()
            self._rebuild(index, history)
        told_before = []
        for row in self._to_tell(history):
            self._tell(row.candidate, row)
            told_before.append(row.candidate)
        cand = candidate_id(index)
        trial, knobs = self._ask(cand)
        snap = baseline_snapshot(self.task, self.policy, workspace / f"proposal-{index:04d}")
        knobs_file = snap / self.task / "knobs.yaml"
        base = yaml.safe_load(knobs_file.read_text())
        knobs_file.write_text(f"# sampled by afr-box optuna (sampler {self.sampler_name}, seed {self.seed}, "
                              f"trial {trial.number}, candidate {index})\n"
                              + yaml.safe_dump(knobs, sort_keys=False, default_flow_style=None))
        changed = " ".join(f"{k}={_short(v)}" for k, v in knobs.items() if base.get(k) != v)
        search = {"sampler": self.sampler_name, "trial": trial.number, "params": dict(trial.params),
                  "told_before": told_before, "optuna": self._optuna.__version__}
        return Proposal(snapshot=snap, description=f"optuna-{self.sampler_name}: {changed or 'baseline knobs'}",
                        proposer=self.name, search=search)
