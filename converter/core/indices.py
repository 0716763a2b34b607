"""Integer inputs that index a table (an embedding's rows): how far their values may go."""

from __future__ import annotations

import onnx

from converter.core.onnx_utils import iter_graphs

__all__ = ["index_bounds"]

# Ops an index passes through on its way to a Gather without leaving its range's meaning: casts, reshapes, and
# the arithmetic of a negative-index wrap (Keras' Embedding: where(ids < 0, ids + rows, ids), which tf2onnx
# writes as Less, Not, Cast, Mul and Add).
_INDEX_PATH = frozenset({
    "Cast", "Identity", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Expand", "Add", "Sub", "Mul", "Where",
    "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Equal", "Not", "Clip", "Min", "Max", "Mod", "Abs", "Neg",
})
_MAX_STEPS = 16  # how many ops back from a Gather an index is followed


def index_bounds(model: onnx.ModelProto) -> dict[str, int]:
    """Exclusive upper bounds for integer inputs used as Gather indices into a weight (embeddings), directly or
    through casts, reshapes and a negative-index wrap."""
    inputs = {v.name for v in model.graph.input if _is_integer(v)}
    graphs = list(iter_graphs(model.graph))
    shapes = {t.name: list(t.dims) for graph in graphs for t in graph.initializer}
    producers = {output: node for graph in graphs for node in graph.node for output in node.output}
    bounds: dict[str, int] = {}
    for graph in graphs:
        for node in graph.node:
            if node.op_type != "Gather" or len(node.input) < 2:
                continue
            data = shapes.get(node.input[0])
            axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
            if not data or not -len(data) <= axis < len(data):
                continue
            for name in _inputs_behind(node.input[1], producers, inputs):
                bounds[name] = min(bounds.get(name, data[axis]), data[axis])
    return bounds


def _inputs_behind(value: str, producers: dict[str, onnx.NodeProto], inputs: set[str]) -> set[str]:
    """The graph inputs `value` is computed from along _INDEX_PATH ops."""
    found, seen, frontier = set(), set(), [value]
    for _ in range(_MAX_STEPS):
        following = []
        for name in frontier:
            if name in seen:
                continue
            seen.add(name)
            if name in inputs:
                found.add(name)
            producer = producers.get(name)
            if producer is not None and producer.op_type in _INDEX_PATH:
                following.extend(producer.input)
        frontier = following
    return found


def _is_integer(value: onnx.ValueInfoProto) -> bool:
    elem_type = value.type.tensor_type.elem_type
    return elem_type in (onnx.TensorProto.INT8, onnx.TensorProto.INT16, onnx.TensorProto.INT32,
                         onnx.TensorProto.INT64, onnx.TensorProto.UINT8, onnx.TensorProto.UINT16,
                         onnx.TensorProto.UINT32, onnx.TensorProto.UINT64)
