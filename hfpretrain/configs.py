"""Dataclass configs filled from defaults < a YAML file < command-line flags; unknown keys are errors."""

import dataclasses
import difflib
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def load_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such config file: {path}")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping of settings, got {type(data).__name__}.")
    return data


def build_config(cls: type[T], yaml_path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> T:
    """`cls` from its defaults, then the YAML file's keys, then `overrides` whose value is not None."""
    names = [f.name for f in dataclasses.fields(cls)]
    values: dict[str, Any] = {}
    sources = [(str(yaml_path), load_yaml(yaml_path))] if yaml_path else []
    sources.append(("the command line", {k: v for k, v in (overrides or {}).items() if v is not None}))
    for origin, settings in sources:
        for key, value in settings.items():
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else f" Known keys: {', '.join(names)}."
                raise ValueError(f"Unknown setting {key!r} in {origin}.{hint}")
            values[key] = value
    return cls(**values)
