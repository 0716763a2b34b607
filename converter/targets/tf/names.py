"""Make ONNX value names acceptable to TensorFlow, keeping the mapping."""

from __future__ import annotations

import re

__all__ = ["sanitize", "sanitize_all"]

_VALID = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/]*$")


def sanitize(name: str) -> str:
    """`name` unchanged when TensorFlow accepts it as an op or signature name, else a cleaned form."""
    if _VALID.match(name):
        return name
    cleaned = re.sub(r"[^A-Za-z0-9_.\-/]", "_", name)
    return cleaned if cleaned and cleaned[0].isalnum() else f"t{cleaned}"


def sanitize_all(names: list[str]) -> dict[str, str]:
    """ONNX name -> unique TensorFlow name, changed only where needed."""
    result: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        candidate = base = sanitize(name)
        suffix = 1
        while candidate in used:
            candidate, suffix = f"{base}_{suffix}", suffix + 1
        used.add(candidate)
        result[name] = candidate
    return result
