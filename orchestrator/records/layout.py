"""The campaign folder and the candidate record folder: every file name, once (the folder is the API).

    runs/<campaign>/
        campaign.json       the campaign's identity: task, proposer, seed, cap, profile and policy hashes,
                            base image and harness it is pinned to (models.CampaignMeta)
        profile.yaml        the profile as used
        policy.yaml         the policy as used
        results.tsv         the run log, one row per outcome, hash-chained (runlog.py)
        campaign.log        what the campaign did, line by line (`-v` also prints it)
        candidates/<id>/    one record per candidate (below)
        literature/L00n/literature.json   literature events (sources, elapsed time)
        workspace/          proposals as proposers write them (the gate reads a private copy)
        repeats.tsv repeats.md repeats/candidates/<id>-s<seed>/   `afr-box repeat`
        heldout.tsv heldout.md heldout/candidates/<id>-s<seed>/   `afr-box heldout`
        replays/<id>-<n>/   `afr-box replay`
        progress.png repeats.png report.md report.html            `afr-box report`

    candidates/<id>/
        proposal.json       proposer, description, sources, seed (an agent's tokens, tool calls, cost)
        surface/            the gated surface snapshot (exactly what went into the image)
        surface.diff        unified diff of the effective surface files against the baseline
        gate.json           every gate check with its result (models.GateRecord)
        image.json          image id, tags, base id, layers, whether it was built now (cluster: repo_digest)
        run-<phase>.json    the read-only run file each container was given
        containers.json     the hardened settings of each container (train, infer, score)
        resources.json      per container: wall time, exit, timeout/OOM, peak memory (cluster: placement =
                            node, digest reference pulled, GPUs, start/end)
        train/ train.log    training outputs (model.npz, train_stats.json) and log
        infer/ infer.log    predictions/<site>.npy, infer_stats.json and log
        score/ score.log    score.json from the trusted scorer (models.ScoreRecord), and log
        verification.json   filesystem diffs, data hashes, image layers, surface hash
        timings.json        seconds per step (gate, build, train, infer, score, verify)
        record.json         the outcome (models.CandidateRecord); written last: its presence means "done"

A repeat, held-out or replay run is itself laid out as a campaign folder of its own (one record
per rerun), so the same names hold there.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from afr_box.sandbox.harness.paths import MODEL_FILE, PREDICTIONS, SCORE_FILE, TRAIN_STATS

# The campaign folder.
CAMPAIGN = "campaign.json"
PROFILE = "profile.yaml"
POLICY = "policy.yaml"
RESULTS = "results.tsv"
LOG = "campaign.log"
CANDIDATES = "candidates"
LITERATURE = "literature"
WORKSPACE = "workspace"
REPEATS = "repeats.tsv"
REPEATS_SUMMARY = "repeats.md"
HELDOUT = "heldout.tsv"
HELDOUT_SUMMARY = "heldout.md"
REPLAYS = "replays"
PROGRESS_PLOT = "progress.png"
REPEATS_PLOT = "repeats.png"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"

# A candidate record folder.
PROPOSAL = "proposal.json"
SURFACE = "surface"
SURFACE_DIFF = "surface.diff"
GATE = "gate.json"
IMAGE = "image.json"
CONTAINERS = "containers.json"
RESOURCES = "resources.json"
VERIFICATION = "verification.json"
TIMINGS = "timings.json"
RECORD = "record.json"
LITERATURE_RECORD = "literature.json"
PHASES = ("train", "infer", "score")


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
    surface = property(lambda self: self.path / SURFACE)
    surface_diff = property(lambda self: self.path / SURFACE_DIFF)
    gate = property(lambda self: self.path / GATE)
    image = property(lambda self: self.path / IMAGE)
    containers = property(lambda self: self.path / CONTAINERS)
    resources = property(lambda self: self.path / RESOURCES)
    verification = property(lambda self: self.path / VERIFICATION)
    timings = property(lambda self: self.path / TIMINGS)
    record = property(lambda self: self.path / RECORD)
    literature = property(lambda self: self.path / LITERATURE_RECORD)
    model = property(lambda self: self.path / "train" / MODEL_FILE)
    train_stats = property(lambda self: self.path / "train" / TRAIN_STATS)
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
        """An empty record folder; a half-written one from an interrupted run is discarded."""
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True)
        return self
