"""Read a JSON or YAML file a user wrote (a batch manifest, a tolerance file), with one clear line on a problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from converter.core.errors import GraphtoolError

__all__ = ["read_config"]


def read_config(path: Path, label: str | None = None) -> Any:
    """The document in `path`: .json is JSON, .yaml and .yml are YAML, anything else JSON, else YAML.

    Every problem is a GraphtoolError that starts with `label` (default: the path). The caller checks the
    document's shape, as only it can say what it expected.
    """
    where = label or str(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise GraphtoolError(f"{where}: cannot read it ({error.strerror or error})") from error
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return _yaml(text, where, "not valid YAML")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        if suffix == ".json":
            raise GraphtoolError(f"{where}: not valid JSON ({error})") from error
    return _yaml(text, where, "neither valid JSON nor valid YAML")


def _yaml(text: str, where: str, problem: str) -> Any:
    try:
        import yaml
    except ImportError as error:
        raise GraphtoolError(f"{where}: YAML needs PyYAML: pip install 'graphtool[batch]' (or pyyaml); or write "
                             "it as a .json file") from error
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        detail = " ".join(str(error).split())  # PyYAML's message spans lines; ours is one
        raise GraphtoolError(f"{where}: {problem} ({detail})") from error
