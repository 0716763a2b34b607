"""Anything -> normalized ONNX: `load(source, options)` is the one way in; a module per framework.

The options and results are importable without onnx or numpy (the CLI's --help needs them);
`load` pulls in the loader, and each framework module imports its framework only when used.
"""

from __future__ import annotations

from typing import Any

from converter.core.types import Attempt, LoadedModel, LoadOptions, Reference, SourceInfo

__all__ = ["load", "LoadOptions", "LoadedModel", "SourceInfo", "Attempt", "Reference"]


def __getattr__(name: str) -> Any:
    if name == "load":
        from converter.sources.loader import load

        return load
    raise AttributeError(f"module 'converter.sources' has no attribute '{name}'")
