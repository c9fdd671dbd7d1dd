"""`afr-box repeat`: rerun selected candidates' images over several seeds (everything else
fixed, same sandbox and scorer), and summarise them with paired differences to the baseline.

    runs/<campaign>/repeats.tsv         one row per (candidate, seed), appended durably; resumable
    runs/<campaign>/repeats.md          the summary table (descriptive, not confirmatory)
    runs/<campaign>/repeats/candidates/<id>-s<seed>/   a full record per rerun
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional

from afr_box.orchestrator.durable import atomic_write_text
from afr_box.orchestrator.evaluate import Proposal, evaluate
from afr_box.orchestrator.replay import ReplayError, load_logged, rerun_setup
from afr_box.orchestrator.runlog import RunLog, baseline_row, best_row
from afr_box.orchestrator.stats import Summary, paired_difference, summarize
from afr_box.sandbox.docker_provider import DockerProvider

COLUMNS = ("candidate", "seed", "score", "status", "runtime_seconds", "image_id", "reason")


@dataclass(frozen=True)
class Repeat:
    candidate: str
    seed: int
    score: Optional[float]
    status: str
    runtime_seconds: float
    image_id: str
    reason: str = ""

    def to_line(self) -> str:
        score = "" if self.score is None else repr(self.score)
        reason = " ".join(self.reason.split())
        return "\t".join([self.candidate, str(self.seed), score, self.status, f"{self.runtime_seconds:.1f}",
                          self.image_id, reason]) + "\n"

    @classmethod
    def from_line(cls, line: str) -> "Repeat":
        c, seed, score, status, runtime, image, reason = line.rstrip("\n").split("\t")
        return cls(c, int(seed), float(score) if score else None, status, float(runtime), image, reason)


def read_repeats(path: Path) -> list[Repeat]:
    if not path.is_file():
        return []
    lines = path.read_text().splitlines(keepends=True)
    return [Repeat.from_line(line) for line in lines[1:] if line.strip()]


def scores_by_candidate(path: Path) -> dict[str, dict[int, float]]:
    """The finite scores of a repeats-style file: candidate -> {seed: score}, in file order."""
    out: dict[str, dict[int, float]] = {}
    for r in read_repeats(path):
        if r.score is not None and not math.isnan(r.score):
            out.setdefault(r.candidate, {})[r.seed] = r.score
    return out


def select(campaign_dir: Path, names: list[str], top: int, higher_is_better: bool) -> list[str]:
    """`baseline`, `best` and explicit ids, plus the `top` best scored candidates; in order, unique."""
    rows = RunLog(campaign_dir / "results.tsv").rows()
    chosen: list[str] = []
    for name in names:
        row = baseline_row(rows) if name == "baseline" else best_row(rows, higher_is_better) if name == "best" else None
        cand = row.candidate if row is not None else name
        if name in ("baseline", "best") and row is None:
            raise ReplayError(f"no {name} candidate in {campaign_dir / 'results.tsv'}")
        chosen.append(cand)
    scored = sorted((r for r in rows if r.score is not None and r.status in ("keep", "discard")),
                    key=lambda r: r.score, reverse=higher_is_better)
    chosen += [r.candidate for r in scored[:top]]
    return list(dict.fromkeys(chosen))


SPLITS = {"test": ("repeats.tsv", "repeats"), "heldout": ("heldout.tsv", "heldout")}


def run_repeats(campaign_dir: Path, candidates: list[str], seeds: list[int], data_root: Path,
                progress: Callable[[str], None] = print, split: str = "test") -> Path:
    """Rerun each candidate with each seed; `split` "heldout" scores the held-out part instead of
    the campaign's evaluation set (into heldout.tsv)."""
    campaign_dir = Path(campaign_dir).resolve()
    out_name, kind = SPLITS[split]
    out = campaign_dir / out_name
    done = {(r.candidate, r.seed) for r in read_repeats(out)}
    provider = DockerProvider()
    for cand in candidates:
        logged = load_logged(campaign_dir, cand)
        if split == "heldout" and not logged.profile.heldout_fraction:
            raise ReplayError(f"campaign {campaign_dir.name} holds nothing out (its profile's heldout_fraction is 0): "
                              f"run the campaign with a profile that sets heldout_fraction")
        setup, base_changed = rerun_setup(logged, f"{kind}-{logged.meta['name']}", campaign_dir / kind,
                                          data_root, provider)
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
                provider.remove_containers({"afr.campaign": setup.campaign})
            row = Repeat(cand, seed, outcome.score if outcome.status == "scored" else None, outcome.status,
                         outcome.runtime_s, outcome.image_id, outcome.reason)
            text = out.read_text() if out.is_file() else "\t".join(COLUMNS) + "\n"
            atomic_write_text(out, text + row.to_line())
    return out


def format_summary(s: Optional[Summary], digits: int = 4) -> tuple[str, str, str, str]:
    if s is None:
        return ("-",) * 4
    f = lambda v: "-" if v is None else f"{v:.{digits}f}"
    interval = "-" if s.interval is None else f"[{s.interval[0]:.{digits}f}, {s.interval[1]:.{digits}f}]"
    return f(s.mean), f(s.std), f(s.sem), interval


def repeat_table(campaign_dir: Path) -> list[dict]:
    """One row per repeated candidate: label, n, mean/std/s.e./interval (formatted), the paired
    difference to the baseline over matched seeds with its half-width, and the per-seed scores."""
    by_cand = scores_by_candidate(campaign_dir / "repeats.tsv")
    base = baseline_row(RunLog(campaign_dir / "results.tsv").rows())
    table = []
    for cand, scores in by_cand.items():
        mean, std, sem, interval = format_summary(summarize(list(scores.values())))
        diff, half = "-", "-"
        if base is not None and cand != base.candidate and base.candidate in by_cand:
            try:
                d = paired_difference(scores, by_cand[base.candidate])
                diff, half = f"{d.mean:+.4f}", "-" if d.half_width is None else f"{d.half_width:.4f}"
            except ValueError:
                pass
        is_base = base is not None and cand == base.candidate
        table.append({"candidate": cand, "label": f"{cand} (baseline)" if is_base else cand, "baseline": is_base,
                      "n": len(scores), "mean": mean, "std": std, "sem": sem, "interval": interval,
                      "diff": diff, "half": half, "scores": scores})
    return table


def summary_markdown(campaign_dir: Path) -> str:
    lines = ["# Repeats", "",
             "Per-seed reruns of each candidate's image (everything else fixed). Intervals: 95%, Student's t "
             "with n-1 degrees of freedom. Paired differences are candidate minus baseline over matched "
             "seeds. These figures describe these runs; they are not a confirmatory test.", "",
             "| candidate | seeds | mean | std | s.e. | 95% interval | paired diff vs baseline | ± half-width |",
             "|---|---|---|---|---|---|---|---|"]
    for r in repeat_table(campaign_dir):
        lines.append(f"| {r['label']} | {r['n']} | {r['mean']} | {r['std']} | {r['sem']} | {r['interval']} | "
                     f"{r['diff']} | {r['half']} |")
    return "\n".join(lines) + "\n"


def write_summary(campaign_dir: Path) -> Path:
    return atomic_write_text(Path(campaign_dir) / "repeats.md", summary_markdown(Path(campaign_dir)))
