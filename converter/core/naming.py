"""One naming rule for every output: what a source is called (a file's stem, a file.py:factory's factory)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = ["output_stem", "looks_like_reference"]


def output_stem(source: Any) -> str:
    """The name every command gives its outputs for SOURCE: a file's stem, a file.py:factory's factory."""
    if not isinstance(source, (str, Path)):
        return "model"
    text = str(source)
    target, sep, name = text.rpartition(":")
    if sep and target and not Path(text).exists() and looks_like_reference(text):
        stem = name.rsplit(".", 1)[-1]
    else:
        path = Path(text.rstrip("/\\"))
        stem = path.stem if path.suffix else path.name
    return re.sub(r"[^\w.-]+", "_", stem) or "model"


def looks_like_reference(location: str) -> bool:
    """Whether LOCATION reads as a Python reference, file.py:name or package.module:name."""
    target, sep, name = location.rpartition(":")
    return bool(sep and target and name.isidentifier())
