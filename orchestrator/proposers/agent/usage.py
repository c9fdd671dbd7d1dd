"""What an agent's work on one candidate cost: tokens, requests, tool calls, an estimated price.

Prices come from one data file (`prices.yaml`: input, output, cache write and cache read per
million tokens, web searches per thousand). A model that matches no entry is *unpriced*: its
cost is None and `price_basis` says so, never a guess from another model's price.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field

PRICES_FILE = Path(__file__).resolve().parent / "prices.yaml"


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    match: str = Field(description="a model id, or a prefix ending in '*'")
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write: float = Field(ge=0)
    cache_read: float = Field(ge=0)

    def matches(self, model: str) -> bool:
        return model.startswith(self.match[:-1]) if self.match.endswith("*") else model == self.match


class PriceTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    web_search_usd_per_1000: float = Field(ge=0)
    models: list[Price]

    def price_of(self, model: str) -> Optional[Price]:
        return next((p for p in self.models if p.matches(model)), None)


@lru_cache(maxsize=1)
def price_table() -> PriceTable:
    return PriceTable.model_validate(yaml.safe_load(PRICES_FILE.read_text()))


def price_basis(model: str) -> str:
    price = price_table().price_of(model)
    if price is None:
        return f"unpriced model {model}: cost unknown (add it to {PRICES_FILE.name})"
    return f"list price of {price.match} ({PRICES_FILE.name})"


@dataclass(frozen=True)
class Tokens:
    """One response's usage, the same for every provider: `input` excludes cached tokens."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    web_searches: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write


@dataclass
class AgentUsage:
    model: str
    provider: str = "anthropic"
    requests: int = 0
    input_tokens: int = 0                   # uncached input
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    web_search_requests: int = 0
    tool_calls: int = 0
    refused_tool_calls: int = 0
    failed_attempts: int = 0
    checks: int = 0                         # check_candidate calls (the gate on the working copy)
    smoke_runs: int = 0                     # smoke runs through the containers (no candidate, no score)
    waited_s: float = 0.0                   # waiting out an overloaded or rate-limited API
    seconds: float = 0.0

    def add(self, tokens: Tokens) -> None:
        self.requests += 1
        self.input_tokens += tokens.input
        self.output_tokens += tokens.output
        self.cache_read_input_tokens += tokens.cache_read
        self.cache_creation_input_tokens += tokens.cache_write
        self.web_search_requests += tokens.web_searches

    @property
    def total_tokens(self) -> int:
        return (self.input_tokens + self.output_tokens + self.cache_read_input_tokens
                + self.cache_creation_input_tokens)

    def cost_usd(self) -> Optional[float]:
        """The list-price estimate, or None for an unpriced model."""
        table = price_table()
        price = table.price_of(self.model)
        if price is None:
            return None
        tokens = (self.input_tokens * price.input + self.output_tokens * price.output
                  + self.cache_creation_input_tokens * price.cache_write
                  + self.cache_read_input_tokens * price.cache_read) / 1e6
        return round(tokens + self.web_search_requests * table.web_search_usd_per_1000 / 1000, 6)

    def record(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 3), "waited_s": round(self.waited_s, 3),
                "cost_usd_estimate": self.cost_usd(), "price_basis": price_basis(self.model)}

    def summary(self) -> str:
        cost = self.cost_usd()
        return (f"{self.total_tokens} tokens ({self.cache_read_input_tokens} cached), {self.tool_calls} tool calls, "
                + (f"~${cost:.4f}" if cost is not None else "cost unknown (unpriced model)"))
