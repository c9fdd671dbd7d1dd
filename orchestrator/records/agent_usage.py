"""An agent's usage over a campaign: the sum of what each candidate's proposal.json records.

Each proposal's usage is recorded once, in its candidate's `proposal.json` (failed proposals
too; literature events point there instead of copying it), so summing these files counts every
request exactly once. Used by the report, `afr-box status` and the campaign's cost cap.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from afr_box.orchestrator.records.layout import CANDIDATES, PROPOSAL
from afr_box.orchestrator.records.models import ProposalRecord, load_or

COUNTS = ("requests", "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
          "tool_calls", "refused_tool_calls", "failed_attempts", "web_search_requests", "checks", "smoke_runs")


@dataclass
class AgentTotals:
    proposals: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    cost_usd: float = 0.0                  # over the priced proposals
    unpriced: int = 0                      # proposals whose model has no price: their cost is unknown
    models: list[str] = field(default_factory=list)
    per_candidate: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        c = self.counts
        return c["input_tokens"] + c["output_tokens"] + c["cache_read_input_tokens"] + c["cache_creation_input_tokens"]

    def as_dict(self) -> dict[str, Any]:
        return {"proposals": self.proposals, **self.counts, "tokens": self.tokens, "cost_usd": round(self.cost_usd, 6),
                "unpriced_proposals": self.unpriced, "models": self.models}

    def describe(self) -> str:
        cost = f"~${self.cost_usd:.4f}" + (f" + {self.unpriced} unpriced" if self.unpriced else "")
        return (f"agent: {self.proposals} proposal(s), {self.counts['requests']} requests, {self.tokens} tokens "
                f"({self.counts['input_tokens']} in, {self.counts['output_tokens']} out, "
                f"{self.counts['cache_read_input_tokens']} cache read, {self.counts['cache_creation_input_tokens']} "
                f"cache write), {self.counts['tool_calls']} tool calls, {cost}")


def agent_totals(campaign_dir: Path) -> Optional[AgentTotals]:
    """The campaign's agent usage, or None when no proposal recorded any."""
    totals = AgentTotals()
    for path in sorted((Path(campaign_dir) / CANDIDATES).glob(f"*/{PROPOSAL}")):
        record = load_or(ProposalRecord, path)
        agent = record.agent if record else None
        if not agent:
            continue
        totals.proposals += 1
        for key in COUNTS:
            totals.counts[key] += int(agent.get(key) or 0)
        cost = agent.get("cost_usd_estimate")
        if cost is None:
            totals.unpriced += 1
        else:
            totals.cost_usd += float(cost)
        model = str(agent.get("model", ""))
        if model and model not in totals.models:
            totals.models.append(model)
        totals.per_candidate.append({"candidate": path.parent.name, "model": model, **{k: agent.get(k, 0) for k in COUNTS},
                                     "cost_usd": cost, "failed": bool(record.failed)})
    return totals if totals.proposals else None
