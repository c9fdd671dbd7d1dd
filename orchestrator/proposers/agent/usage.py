"""What an agent's work on one candidate cost: tokens, requests, tool calls, an estimated price.

Prices are list prices in USD per million tokens as published when this was written; they
are an estimate for the report, not a bill (cache and batch discounts are ignored). A model
not in the table is priced by its family name and says so in `price_basis`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# model prefix -> (input, output) USD per million tokens; first matching prefix wins.
PRICES: list[tuple[str, tuple[float, float]]] = [
    ("claude-opus-4-0", (15.0, 75.0)), ("claude-opus-4-1", (15.0, 75.0)), ("claude-opus-4-2", (15.0, 75.0)),
    ("claude-opus", (5.0, 25.0)), ("claude-sonnet", (3.0, 15.0)),
    ("claude-haiku-3", (0.8, 4.0)), ("claude-haiku", (1.0, 5.0)),
]
FAMILY_FALLBACK = {"opus": (5.0, 25.0), "sonnet": (3.0, 15.0), "haiku": (1.0, 5.0)}
DEFAULT_PRICE = (3.0, 15.0)
WEB_SEARCH_USD = 10.0 / 1000  # per search


def price_of(model: str) -> tuple[tuple[float, float], str]:
    for prefix, price in PRICES:
        if model.startswith(prefix):
            return price, f"list price of {prefix}*"
    for family, price in FAMILY_FALLBACK.items():
        if family in model:
            return price, f"unknown model {model}: priced as {family}"
    return DEFAULT_PRICE, f"unknown model {model}: priced as sonnet"


@dataclass
class AgentUsage:
    model: str
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    web_search_requests: int = 0
    tool_calls: int = 0
    refused_tool_calls: int = 0
    failed_attempts: int = 0
    seconds: float = 0.0

    def add_response(self, usage: Any) -> None:
        """Add one Messages API `usage` object (fields may be missing or None)."""
        self.requests += 1
        self.input_tokens += getattr(usage, "input_tokens", 0) or 0
        self.output_tokens += getattr(usage, "output_tokens", 0) or 0
        self.cache_read_input_tokens += getattr(usage, "cache_read_input_tokens", 0) or 0
        self.cache_creation_input_tokens += getattr(usage, "cache_creation_input_tokens", 0) or 0
        server = getattr(usage, "server_tool_use", None)
        self.web_search_requests += (getattr(server, "web_search_requests", 0) or 0) if server else 0

    def cost_usd(self) -> float:
        (inp, out), _ = price_of(self.model)
        tokens_in = self.input_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens
        return round((tokens_in * inp + self.output_tokens * out) / 1e6 + self.web_search_requests * WEB_SEARCH_USD, 6)

    def record(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 3), "cost_usd_estimate": self.cost_usd(),
                "price_basis": price_of(self.model)[1]}

    def summary(self) -> str:
        return (f"{self.input_tokens} in / {self.output_tokens} out tokens, {self.tool_calls} tool calls, "
                f"~${self.cost_usd():.4f}")
