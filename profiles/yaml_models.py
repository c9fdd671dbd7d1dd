"""Reading a YAML file into a pydantic model with errors a person can act on."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, TypeVar, Union

import yaml
from pydantic import BaseModel, ValidationError

from afr_box.tasks.shared.errors import AfrError

M = TypeVar("M", bound=BaseModel)


class ConfigError(AfrError, ValueError):
    """A profile or policy file is missing or malformed. The message names the file,
    the field and what was expected; fix the file and run again."""


def named_yaml(name_or_path: Union[str, Path], folder: Path) -> Path:
    """`heart` means folder/heart.yaml; anything ending in .yaml/.yml is a path."""
    path = Path(name_or_path)
    return path if path.suffix in (".yaml", ".yml") else folder / f"{name_or_path}.yaml"


def load_yaml_model(path: Path, model: type[M], what: str, known: Optional[list[str]] = None) -> M:
    if not path.is_file():
        hint = f" (known: {', '.join(known)})" if known else ""
        raise ConfigError(f"{what} file not found: {path}{hint}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of {what} fields at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(top level)"
            got = err.get("input")
            got_text = "" if isinstance(got, dict) or err["type"] == "missing" else f" (got {got!r})"
            lines.append(f"  {field}: {err['msg']}{got_text}")
        raise ConfigError(f"{path}: invalid {what}:\n" + "\n".join(lines)) from None
