"""A SavedModel whose weights and compute are float16 or bfloat16, built from the half-precision ONNX graph."""

from __future__ import annotations

from pathlib import Path

from converter.core.precision import PrecisionRequest
from converter.core.types import LoadedModel
from converter.targets.precision.half_graph import half_graph, precision_details

__all__ = ["write_savedmodel_half"]


def write_savedmodel_half(loaded: LoadedModel, path: Path, force: bool, request: PrecisionRequest) -> dict:
    """The SavedModel at `path`, with the float writer's details (signature renames) and the precision's."""
    from converter.targets.savedmodel import write_savedmodel

    saved = write_savedmodel(half_graph(loaded, request), path, force=force)
    return {**saved.to_dict(), **precision_details(request)}
