"""What `graphtool inspect` reports about a normalized model."""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import dataclass
from operator import attrgetter

import numpy as np
import onnx

from converter.core.inputs import InputSpec, graph_input_specs
from converter.core.onnx_utils import default_opset, iter_graphs, iter_nodes
from converter.core.scopes import node_scope
from converter.core.types import LoadedModel
from converter.graphs.precision import PrecisionMix, precision_mix

__all__ = ["Summary", "summarize"]


@dataclass(frozen=True)
class Summary:
    """A model at a glance: interface, size, op mix and top-level structure."""

    source: dict
    inputs: tuple[InputSpec, ...]
    outputs: tuple[InputSpec, ...]
    opset: int
    node_count: int  # ops, as diff and render count them: control-flow bodies included, constants apart
    op_types: dict[str, int]
    parameter_count: int
    parameter_bytes: int
    scopes: dict[str, int]  # top-level scope -> number of nodes under it
    constant_count: int = 0  # initializers: weights and constants
    precision: PrecisionMix | None = None  # weights by dtype, Q/DQ and Cast counts, 'int8 (QDQ, static), 4/4 ...'

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "inputs": [s.to_dict() for s in self.inputs],
            "outputs": [s.to_dict() for s in self.outputs],
            "opset": self.opset,
            "node_count": self.node_count,
            "counts": {"ops": self.node_count, "constants": self.constant_count, "inputs": len(self.inputs),
                       "outputs": len(self.outputs)},
            "op_types": self.op_types,
            "parameters": {"count": self.parameter_count, "bytes": self.parameter_bytes},
            "scopes": self.scopes,
            "precision": self.precision.to_dict() if self.precision else None,
        }


def summarize(loaded: LoadedModel) -> Summary:
    """Count what the normalized model holds."""
    model = loaded.model
    nodes = list(iter_nodes(model.graph))
    histogram = Counter(map(attrgetter("op_type"), nodes))
    scopes = Counter(node_scope(node).lstrip("/").split("/", 1)[0] or "(top level)" for node in nodes)
    count, size = _parameters(model)
    return Summary(
        source=loaded.source.to_dict(),
        inputs=tuple(graph_input_specs(model)),
        outputs=tuple(_output_specs(model)),
        opset=default_opset(model),
        node_count=len(nodes),
        op_types=dict(histogram.most_common()),
        parameter_count=count,
        parameter_bytes=size,
        scopes=dict(scopes.most_common()),
        constant_count=sum(len(graph.initializer) for graph in iter_graphs(model.graph)),
        precision=precision_mix(model, loaded.weights_dir),
    )


def _parameters(model: onnx.ModelProto) -> tuple[int, int]:
    """Weights: floating-point initializers of rank >= 1 (scalars are constants; integers are shapes)."""
    count = size = 0
    for graph in iter_graphs(model.graph):
        for tensor in graph.initializer:
            itemsize = _float_size(tensor.data_type)
            dims = tensor.dims
            if not itemsize or not dims:
                continue
            elements = math.prod(dims)
            count += elements
            size += elements * itemsize
    return count, size


@functools.cache
def _float_size(elem_type: int) -> int:
    """Bytes per element of a floating-point type, 0 for any other: once per type, not per tensor."""
    try:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(elem_type)
    except (KeyError, TypeError, ValueError):
        return 0
    return dtype.itemsize if np.issubdtype(dtype, np.floating) else 0


def _output_specs(model: onnx.ModelProto) -> list[InputSpec]:
    swapped = onnx.ModelProto()
    swapped.graph.input.extend(model.graph.output)
    return graph_input_specs(swapped)
