"""The campaign folder and the candidate record folder: every file name, once (the folder is the API).

    runs/<campaign>/
        campaign.json       the campaign's identity: task, proposer, seed, cap, profile and policy hashes,
                            base image and harness it is pinned to (models.CampaignMeta)
        profile.yaml        the profile as used
        policy.yaml         the policy as used
        results.tsv         the run log, one row per outcome, hash-chained (runlog.py)
        campaign.log        what the campaign did, line by line (`-v` also prints it)
        campaign.lock       held (shared flock) while a campaign, try, repeat or replay writes here (owner.py)
        data_checks.json    the full re-hashes of the prepared data at campaign start and each --resume
                            (files, bytes, seconds) and the check run after each candidate (identity|full)
        candidates/<id>/    one record per candidate (below)
        literature/L00n/literature.json   literature events (sources, elapsed time)
        workspace/          proposals as proposers write them (the gate reads a private copy)
        smoke/candidates/<id>-s<n>/   an agent's smoke runs (1 round, 2 clients, few steps: never a row)
        noise.tsv noise/candidates/0000-s<seed>/                  the baseline over its noise seeds (campaign start)
        compute.json compute/candidates/0000-steps<max>-<key>/     the local-compute bound, calibrated on the
                            baseline at local_steps.max (pipeline/compute.py): one entry per machine and budget,
                            reused from the afr-box cache when made before; "not needed" under a data-only policy
        repeats.tsv repeats.md repeats/candidates/<id>-s<seed>/   `afr-box repeat` (and finish): the evaluation set
        heldout.tsv heldout.md heldout/candidates/<id>-s<seed>/   `afr-box heldout` (and finish): the held-out part
        fulltest.tsv fulltest/candidates/<id>-s<seed>/            finish: the whole test set (with a held-out part)
        findings.json findings.md                                 `afr-box finish`: labelled findings
        agents/<session>/   an external agent's jail session (`afr-box agent run`): session.json
                            (models.AgentSession), jail.json (the jail's settings), proxy.log (every
                            egress attempt, allowed or refused), channel.log (every request to the
                            host), transcript.jsonl (the agent's stdout: stream-json / --json events),
                            agent-stderr.log, view/candidates/<id>/ (the records the jail may read:
                            external/jail_view.py)
        replays/<id>-<n>/   `afr-box replay`
        progress.png repeats.png rounds.png report.md report.html `afr-box report`
        pruned.json         what `afr-box clean --keep-best/--older-than` removed (heavy outputs only)

    candidates/<id>/
        proposal.json       proposer, description, sources, seed (an agent's tokens, tool calls, cost)
        agent.jsonl         an agent's conversation for this candidate: every request, response, tool
                            call and result (proposers/agent/transcript.py), failed proposals too
        surface/            the gated surface snapshot (exactly what went into the image)
        surface.diff        unified diff of the effective surface files against the baseline
        gate.json           every gate check with its result (models.GateRecord)
        image.json          image id, tags, base id, layers, whether it was built now (cluster: repo_digest)
        run-<phase>.json    the read-only run file each container was given
        containers.json     the hardened settings of each container (train, infer, score)
        resources.json      per container: wall time, exit, timeout/OOM, peak memory: total, anon (+tmpfs)
                            and page cache, from its cgroup (cluster: placement =
                            node, digest reference pulled, GPUs, start/end)
        train/ train.log    training outputs (model.npz, train_stats.json, round_metrics.json: per round,
                            the clients' reported metrics and the aggregate) and log
        infer/ infer.log    predictions/<site>.npy, infer_stats.json and log
        score/ score.log    score.json from the trusted scorer (models.ScoreRecord), and log
        verification.json   filesystem diffs, data check (which ran: identity or full; files, seconds),
                            image layers, surface hash
        trained_from.json   a rescore (infer + score only): the record whose trained model it scored, and the split
        timings.json        seconds per step (gate, build, train, infer, score, verify)
        record.json         the outcome (models.CandidateRecord); written last: its presence means "done"

A repeat, held-out or replay run is itself laid out as a campaign folder of its own (one record
per rerun), so the same names hold there.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from afr_box.sandbox.harness.paths import MODEL_FILE, PREDICTIONS, ROUND_METRICS, SCORE_FILE, TRAIN_STATS

# The campaign folder.
CAMPAIGN = "campaign.json"
PROFILE = "profile.yaml"
POLICY = "policy.yaml"
RESULTS = "results.tsv"
LOG = "campaign.log"
LOCK = "campaign.lock"
PRUNED = "pruned.json"
DATA_CHECKS = "data_checks.json"
CANDIDATES = "candidates"
LITERATURE = "literature"
WORKSPACE = "workspace"
NOISE = "noise.tsv"
NOISE_RUNS = "noise"
COMPUTE = "compute.json"
COMPUTE_RUNS = "compute"
SMOKE = "smoke"
AGENTS = "agents"
REPEATS = "repeats.tsv"
REPEATS_SUMMARY = "repeats.md"
HELDOUT = "heldout.tsv"
HELDOUT_SUMMARY = "heldout.md"
FULLTEST = "fulltest.tsv"
FINDINGS = "findings.json"
FINDINGS_SUMMARY = "findings.md"
REPLAYS = "replays"
PROGRESS_PLOT = "progress.png"
REPEATS_PLOT = "repeats.png"
ROUNDS_PLOT = "rounds.png"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"

# A candidate record folder.
PROPOSAL = "proposal.json"
AGENT_TRANSCRIPT = "agent.jsonl"
SURFACE = "surface"
SURFACE_DIFF = "surface.diff"
GATE = "gate.json"
IMAGE = "image.json"
CONTAINERS = "containers.json"
RESOURCES = "resources.json"
VERIFICATION = "verification.json"
TIMINGS = "timings.json"
RECORD = "record.json"
TRAINED_FROM = "trained_from.json"
LITERATURE_RECORD = "literature.json"
PHASES = ("train", "infer", "score")

# An agent's jail session folder (agents/<session>/).
SESSION = "session.json"
JAIL = "jail.json"
PROXY_LOG = "proxy.log"
CHANNEL_LOG = "channel.log"
SESSION_TRANSCRIPT = "transcript.jsonl"
AGENT_STDERR = "agent-stderr.log"
SESSION_VIEW = "view"


def candidate_id(index: int) -> str:
    return f"{index:04d}"


class CampaignFolder:
    """A campaign folder's paths."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def meta(self) -> Path:
        return self.path / CAMPAIGN

    @property
    def profile(self) -> Path:
        return self.path / PROFILE

    @property
    def policy(self) -> Path:
        return self.path / POLICY

    @property
    def results(self) -> Path:
        return self.path / RESULTS

    @property
    def log(self) -> Path:
        return self.path / LOG

    @property
    def workspace(self) -> Path:
        return self.path / WORKSPACE

    @property
    def data_checks(self) -> Path:
        return self.path / DATA_CHECKS

    @property
    def noise(self) -> Path:
        return self.path / NOISE

    @property
    def noise_runs(self) -> Path:
        """The noise runs, laid out as a campaign folder of their own."""
        return self.path / NOISE_RUNS

    @property
    def compute(self) -> Path:
        return self.path / COMPUTE

    @property
    def compute_runs(self) -> Path:
        """The local-compute calibration runs, laid out as a campaign folder of their own."""
        return self.path / COMPUTE_RUNS

    @property
    def findings(self) -> Path:
        return self.path / FINDINGS

    @property
    def smoke(self) -> Path:
        """Where an agent's smoke runs go: a campaign folder of its own (no run log)."""
        return self.path / SMOKE

    def session(self, session_id: str) -> "SessionFolder":
        return SessionFolder(self.path / AGENTS / session_id)

    def candidate(self, cand: str) -> "CandidateFolder":
        return CandidateFolder(self.path / CANDIDATES / cand)

    def artifacts(self, rel: str) -> "CandidateFolder":
        """The record a row's `artifacts` cell names (candidates/<id> or literature/<id>)."""
        return CandidateFolder(self.path / rel)

    def literature(self, lit_id: str) -> Path:
        return self.path / LITERATURE / lit_id

    def is_campaign(self) -> bool:
        return self.meta.is_file()


class CandidateFolder:
    """A candidate record folder's paths."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    proposal = property(lambda self: self.path / PROPOSAL)
    transcript = property(lambda self: self.path / AGENT_TRANSCRIPT)
    surface = property(lambda self: self.path / SURFACE)
    surface_diff = property(lambda self: self.path / SURFACE_DIFF)
    gate = property(lambda self: self.path / GATE)
    image = property(lambda self: self.path / IMAGE)
    containers = property(lambda self: self.path / CONTAINERS)
    resources = property(lambda self: self.path / RESOURCES)
    verification = property(lambda self: self.path / VERIFICATION)
    timings = property(lambda self: self.path / TIMINGS)
    record = property(lambda self: self.path / RECORD)
    trained_from = property(lambda self: self.path / TRAINED_FROM)
    literature = property(lambda self: self.path / LITERATURE_RECORD)
    model = property(lambda self: self.path / "train" / MODEL_FILE)
    train_stats = property(lambda self: self.path / "train" / TRAIN_STATS)
    round_metrics = property(lambda self: self.path / "train" / ROUND_METRICS)
    predictions = property(lambda self: self.path / "infer" / PREDICTIONS)
    score = property(lambda self: self.path / "score" / SCORE_FILE)

    def phase_out(self, phase: str) -> Path:
        """The phase's /out, bind-mounted into its container."""
        return self.path / phase

    def phase_log(self, phase: str) -> Path:
        return self.path / f"{phase}.log"

    def run_file(self, phase: str) -> Path:
        return self.path / f"run-{phase}.json"

    def phase_stats(self, phase: str) -> Path:
        return self.path / phase / f"{phase}_stats.json"

    def is_complete(self) -> bool:
        return self.record.is_file()

    def fresh(self) -> "CandidateFolder":
        """An empty record folder; a half-written one from an interrupted run is discarded (its
        read-only snapshot too)."""
        for folder in ([self.surface, *(p for p in self.surface.rglob("*") if p.is_dir())]
                       if self.surface.is_dir() and not self.surface.is_symlink() else []):
            os.chmod(folder, 0o755)
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True)
        return self


class SessionFolder:
    """An external agent's jail session: what it was given, and every way it reached out."""

    def __init__(self, path: Path):
        self.path = Path(path)

    session = property(lambda self: self.path / SESSION)
    jail = property(lambda self: self.path / JAIL)
    proxy_log = property(lambda self: self.path / PROXY_LOG)
    channel_log = property(lambda self: self.path / CHANNEL_LOG)
    transcript = property(lambda self: self.path / SESSION_TRANSCRIPT)
    stderr = property(lambda self: self.path / AGENT_STDERR)
    view = property(lambda self: self.path / SESSION_VIEW / "candidates")
