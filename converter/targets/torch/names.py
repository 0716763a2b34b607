"""Turn ONNX value and node names into unique Python identifiers for FX nodes and module attributes."""

from __future__ import annotations

import keyword
import re

__all__ = ["Namer", "sanitize"]


def sanitize(name: str, fallback: str = "v") -> str:
    """A valid Python identifier resembling `name` (no dots, so usable as an attribute name)."""
    text = re.sub(r"\W", "_", name).strip("_") or fallback
    if text[0].isdigit():
        text = f"{fallback}_{text}"
    if keyword.iskeyword(text) or text in ("self", "torch", "forward"):
        text = f"{text}_"
    return text


class Namer:
    """Hands out sanitized names, each at most once."""

    def __init__(self, taken: set[str] | None = None):
        self._taken: set[str] = set(taken or ())

    def fresh(self, name: str, fallback: str = "v") -> str:
        """`sanitize(name)`, with a numeric suffix when it is already taken."""
        base = sanitize(name, fallback)
        candidate, index = base, 1
        while candidate in self._taken:
            candidate, index = f"{base}_{index}", index + 1
        self._taken.add(candidate)
        return candidate
