"""What the report adds for a reader deciding what to do next, drawn from the records only:
campaign totals (runtime, agent tokens and cost), the ideas that did not help (grouped by
mechanism), and next steps (search-space axes never tried, findings that need more seeds).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Optional

from afr_box.orchestrator.records.status import FAILED, Status
from afr_box.reports.analysis import change_between
from afr_box.reports.api import Campaign, Candidate
from afr_box.reports.plot import duration
from afr_box.reports.stats import paired_difference, summarize


def totals(campaign: Campaign, wall_s: Optional[float]) -> dict[str, str]:
    """Runtime total and average per candidate, wall time, literature time, agent tokens and cost."""
    cands = campaign.candidates
    runtime = sum(c.row.runtime_seconds for c in cands)
    usage = [c.agent for c in cands if c.agent]
    lit = sum(e.row.runtime_seconds for e in campaign.literature)
    out = {"candidates": str(len(cands)),
           "runtime, all candidates": duration(runtime),
           "runtime per candidate (mean)": duration(runtime / len(cands)) if cands else "n/a",
           "wall time": duration(wall_s) if wall_s is not None else "n/a",
           "literature time": f"{duration(lit)} ({len(campaign.literature)} event(s))"}
    if usage:
        tokens_in = sum(int(u.get("input_tokens") or 0) for u in usage)
        tokens_out = sum(int(u.get("output_tokens") or 0) for u in usage)
        cost = sum(float(u.get("cost_usd_estimate") or 0.0) for u in usage)
        out["agent tokens (in / out)"] = f"{tokens_in:,} / {tokens_out:,} over {len(usage)} proposal(s)"
        out["agent tool calls"] = str(sum(int(u.get("tool_calls") or 0) for u in usage))
        out["agent cost (estimate)"] = f"${cost:.4f}"
    else:
        out["agent tokens"] = "none (scripted proposer)"
    return out


def _mechanism(campaign: Campaign, cand: Candidate) -> str:
    base = campaign.baseline
    if base is None or not cand.folder.surface.is_dir():
        return "no snapshot (refused before the gate)"
    change = change_between(base.folder.surface, cand.folder.surface)
    if not change.files:
        return "no surface change"
    parts = []
    for cls in change.classes:
        if cls == "knobs" and change.knobs:
            parts.append("knobs: " + ", ".join(sorted(change.knobs)))
        else:
            parts.append(cls)
    return "; ".join(parts)


@dataclass
class Idea:
    mechanism: str
    tried: int
    discarded: int
    failed: int
    best: Optional[float]           # the best score among its discarded tries
    candidates: list[str]


def ideas_not_helped(campaign: Campaign) -> list[Idea]:
    """Discarded and failed candidates grouped by what they changed against the baseline."""
    groups: dict[str, list[Candidate]] = defaultdict(list)
    for c in campaign.candidates:
        if c.status == Status.DISCARD or c.status in FAILED:
            groups[_mechanism(campaign, c)].append(c)
    better = max if campaign.higher_is_better else min
    ideas = []
    for mech, members in groups.items():
        scores = [c.row.score for c in members if c.status == Status.DISCARD and c.row.scored]
        ideas.append(Idea(mech, len(members), sum(c.status == Status.DISCARD for c in members),
                          sum(c.status in FAILED for c in members), better(scores) if scores else None,
                          [c.id for c in members]))
    return sorted(ideas, key=lambda i: (-i.tried, i.mechanism))


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def untested_axes(campaign: Campaign) -> list[str]:
    """Search-space knobs no scored candidate moved from the baseline, and choices never scored.
    A conditional knob (`when`) counts only the candidates that met its condition."""
    defaults = {"local_steps": campaign.profile.budget.local_steps.baseline}  # site_env.knobs() does the same
    knobs = lambda c: {**defaults, **c.knobs}  # noqa: E731
    scored = [knobs(c) for c in campaign.candidates if c.row.scored]
    base = knobs(campaign.baseline) if campaign.baseline else dict(defaults)
    notes = []
    for dim in campaign.profile.search_space:
        when = dim.when or {}
        cond = " (when " + ", ".join(f"{k}={_fmt(v)}" for k, v in when.items()) + ")" if when else ""
        met = [k for k in scored if all(k.get(w) == v for w, v in when.items())]
        values = [k.get(dim.knob) for k in met if dim.knob in k]
        if when and not met:
            notes.append(f"`{dim.knob}`{cond}: its condition was never met by a scored candidate")
            continue
        if dim.choices is not None:
            untried = [v for v in dim.choices if v not in values]
            if {str(v) for v in values} <= {str(base.get(dim.knob))}:
                notes.append(f"`{dim.knob}`{cond} was never changed from the baseline ({_fmt(base.get(dim.knob))}); "
                             f"choices: {', '.join(map(_fmt, dim.choices))}")
            elif untried:
                notes.append(f"`{dim.knob}`{cond}: {', '.join(map(_fmt, untried))} never scored")
        else:
            nums = sorted(float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool))
            if not {v for v in nums if v != base.get(dim.knob)}:
                notes.append(f"`{dim.knob}`{cond} was never changed from the baseline ({_fmt(base.get(dim.knob))}); "
                             f"range [{_fmt(dim.low)}, {_fmt(dim.high)}]")
            elif nums[0] > dim.low or nums[-1] < dim.high:
                notes.append(f"`{dim.knob}`{cond} scored only in [{_fmt(nums[0])}, {_fmt(nums[-1])}] of "
                             f"[{_fmt(dim.low)}, {_fmt(dim.high)}]")
    return notes


def seed_findings(campaign: Campaign) -> list[str]:
    """Kept gains that need (more) seeds: never repeated, or repeated with an interval that includes 0."""
    base, best = campaign.baseline, campaign.best
    by_cand: dict[str, dict[int, float]] = defaultdict(dict)
    for r in campaign.repeats:
        if r.score is not None:
            by_cand[r.candidate][r.seed] = r.score
    name = campaign.path.name
    notes = []
    kept = [c for c in campaign.candidates if c.status == Status.KEEP and base and c.id != base.id]
    if best is not None and base is not None and best.id != base.id and best.id not in by_cand:
        notes.append(f"the best candidate {best.id} ({best.row.score:.4g}) ran on one seed: "
                     f"`afr-box repeat runs/{name} --candidates baseline,best --seeds 42,43,44,45,46`")
    if base is not None and base.id in by_cand:
        for c in kept:
            if c.id not in by_cand:
                continue
            try:
                diff = paired_difference(by_cand[c.id], by_cand[base.id])
            except ValueError:
                continue
            gain = diff.mean if campaign.higher_is_better else -diff.mean
            if diff.half_width is None or diff.half_width >= abs(diff.mean) or gain <= 0:
                spread = summarize(list(by_cand[c.id].values()))
                notes.append(f"{c.id} is seed-sensitive: paired difference {diff.mean:+.4f}"
                             + (f" ± {diff.half_width:.4f}" if diff.half_width is not None else "")
                             + f" over {diff.n} seed(s) (std {spread.std or 0:.4f}); repeat it with more seeds "
                               f"before calling it a finding")
    return notes


def next_steps(campaign: Campaign) -> list[str]:
    steps = seed_findings(campaign) + [f"untested axis: {n}" for n in untested_axes(campaign)]
    failed = [c for c in campaign.candidates if c.status == Status.CRASH]
    if failed:
        steps.append(f"{len(failed)} crash(es) ({', '.join(c.id for c in failed[:6])}): their reasons are under "
                     "'Crashes, rejections and violations'; an idea that crashed was not tested")
    return steps
