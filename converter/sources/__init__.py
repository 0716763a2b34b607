"""Anything -> normalized ONNX: `load(source, options)` is the one way in; a module per framework.

The options and results it works with (LoadOptions, LoadedModel, SourceInfo) are core types
(converter.core.types). `load` pulls in the loader, and each framework module imports its framework only
when used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load"]


def __getattr__(name: str) -> Any:
    if name == "load":
        from converter.sources.loader import load

        return load
    raise AttributeError(f"module 'converter.sources' has no attribute '{name}'")
