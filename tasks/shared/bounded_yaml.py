"""YAML from a candidate (its knobs file), loaded with limits: size, aliases, nesting.

`yaml.safe_load` builds aliases as shared references, so an alias bomb ("billion laughs": nine
levels of nine references) loads in microseconds and then explodes in whatever walks or dumps
it: the report renderer that prints the best candidate's knobs, a JSON dump of a record. A knobs
file needs no such structure: a handful of aliases and a shallow tree are plenty.
"""
from __future__ import annotations

from typing import Any

import yaml

MAX_BYTES = 1024 * 1024
MAX_ALIASES = 8
MAX_DEPTH = 32


class YamlLimitError(ValueError):
    """The YAML text exceeds a limit (size, aliases, nesting); the message says which."""


class _BoundedLoader(yaml.SafeLoader):
    def __init__(self, stream: str, max_aliases: int, max_depth: int):
        super().__init__(stream)
        self.max_aliases, self.max_depth = max_aliases, max_depth
        self.aliases, self.depth = 0, 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > self.max_aliases:
                raise YamlLimitError(f"more than {self.max_aliases} aliases (an alias bomb expands exponentially)")
        self.depth += 1
        if self.depth > self.max_depth:
            raise YamlLimitError(f"nested deeper than {self.max_depth} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def load_bounded(text: str, max_bytes: int = MAX_BYTES, max_aliases: int = MAX_ALIASES,
                 max_depth: int = MAX_DEPTH) -> Any:
    """Like yaml.safe_load, within the limits (YamlLimitError otherwise; yaml.YAMLError as usual)."""
    size = len(text.encode("utf-8", "surrogateescape"))
    if size > max_bytes:
        raise YamlLimitError(f"{size} bytes (at most {max_bytes})")
    loader = _BoundedLoader(text, max_aliases, max_depth)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
