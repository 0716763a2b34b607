"""A pt2 program whose weights and compute are float16 or bfloat16, built from the half-precision ONNX graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from converter.core.inputs import graph_inputs
from converter.core.precision import PrecisionRequest
from converter.core.types import LoadedModel
from converter.targets.precision.half_graph import half_graph, precision_details

__all__ = ["write_pt2_half"]


def write_pt2_half(loaded: LoadedModel, path: Path, force: bool, request: PrecisionRequest) -> dict:
    """The program at `path`, with the float writer's details and the precision's."""
    from converter.targets.pt2 import write_pt2

    half = half_graph(loaded, request)
    program = write_pt2(half, path, example_inputs=_examples(loaded, half), force=force)
    return {**program.to_dict(), **precision_details(request)}


def _examples(loaded: LoadedModel, half) -> list:
    """The example inputs as the half graph takes them (half where its inputs are, with --io-types native)."""
    from converter.targets.torch.dtypes import tensor_of, torch_dtype

    examples = []
    for value in graph_inputs(half.graph):
        tensor = tensor_of(np.asarray(loaded.example_inputs[value.name]))
        declared = torch_dtype(value.type.tensor_type.elem_type)
        examples.append(tensor.to(declared) if tensor.is_floating_point() and declared is not None else tensor)
    return examples
