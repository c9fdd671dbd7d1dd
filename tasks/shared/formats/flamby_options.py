"""Data options shared by the imaging bridges (ixi, isic): values arrive as YAML values from a
profile or as strings from `afr-box data prepare --option KEY=VALUE`."""
from __future__ import annotations

TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def flag(key: str, value) -> bool:
    """A boolean option; anything but a clear yes/no is refused."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE or text in FALSE:
        return text in TRUE
    raise ValueError(f"data option {key}={value!r}: expected true or false")
