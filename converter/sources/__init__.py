"""Anything -> normalized ONNX: `load(source, options)` is the one way in; a module per framework.

The options and results it works with (LoadOptions, LoadedModel, SourceInfo) are core types
(converter.core.types). `load` pulls in the loader, and each framework module imports its framework only
when used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load", "open_reference"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from converter.sources import loader

        return getattr(loader, name)
    raise AttributeError(f"module 'converter.sources' has no attribute '{name}'")
