"""The ONNX chores, written once: subgraph walks, unique names, symbolic dims, value-info lookups."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import onnx

__all__ = [
    "DimValue",
    "default_opset",
    "dim_label",
    "dtype_name",
    "element_size",
    "graph_inputs",
    "iter_graphs",
    "iter_nodes",
    "shape_of",
    "subgraphs_of",
    "symbolic_dim_name",
    "unique_name",
    "value_infos",
    "value_names",
    "with_outputs",
]

DimValue = int | str | None  # a fixed size, a symbolic name, or unknown


def subgraphs_of(attribute: onnx.AttributeProto) -> tuple[onnx.GraphProto, ...]:
    """The graphs an attribute holds (If branches, Loop and Scan bodies); none for other attributes."""
    if attribute.type == onnx.AttributeProto.GRAPH:
        return (attribute.g,)
    if attribute.type == onnx.AttributeProto.GRAPHS:
        return tuple(attribute.graphs)
    return ()


_GRAPH_OPS = frozenset({"If", "Loop", "Scan", "SequenceMap"})
_STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})


def iter_graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """The graph and every subgraph inside it, depth first."""
    yield graph
    for node in graph.node:
        # only these standard ops hold graphs; skipping the others' attributes halves a 100k-node walk
        if node.op_type in _GRAPH_OPS or node.domain not in _STANDARD_DOMAINS:
            for attribute in node.attribute:
                for sub in subgraphs_of(attribute):
                    yield from iter_graphs(sub)


def iter_nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    """Every node of the graph and of its subgraphs."""
    for sub in iter_graphs(graph):
        yield from sub.node


def value_names(graph: onnx.GraphProto) -> set[str]:
    """Every tensor name used anywhere in the graph or its subgraphs."""
    names: set[str] = set()
    for sub in iter_graphs(graph):
        names.update(v.name for v in (*sub.input, *sub.output, *sub.value_info))
        names.update(t.name for t in sub.initializer)
        for node in sub.node:
            names.update(node.input)
            names.update(node.output)
    names.discard("")
    return names


def unique_name(base: str, taken: set[str], separator: str = "_", first: int = 1) -> str:
    """`base`, else `base_1`, `base_2`, ... (counting from `first`) whichever is free; it is added to `taken`."""
    candidate, index = base, first
    while candidate in taken:
        candidate, index = f"{base}{separator}{index}", index + 1
    taken.add(candidate)
    return candidate


def symbolic_dim_name(input_name: str, axis: int) -> str:
    """The name graphtool gives an unnamed dynamic dim: `batch` first, then `INPUT_dimAXIS`."""
    return "batch" if axis == 0 else f"{input_name}_dim{axis}"


def dim_label(dim: onnx.TensorShapeProto.Dimension) -> DimValue:
    """A dim as a size, its symbolic name, or None when unknown."""
    kind = dim.WhichOneof("value")  # one call, not a HasField per case: 100k-node graphs have 400k dims
    if kind == "dim_value":
        return int(dim.dim_value)
    if kind == "dim_param" and dim.dim_param:
        return dim.dim_param
    return None


@functools.cache
def dtype_name(elem_type: int) -> str:
    """numpy's name for an ONNX element type (`float32`), or ONNX's own for types numpy lacks."""
    try:
        return str(np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)))
    except (KeyError, TypeError, ValueError):
        return onnx.TensorProto.DataType.Name(elem_type).lower()


@functools.cache
def element_size(elem_type: int) -> int:
    """Bytes per element of an ONNX element type; 0 for strings and types numpy lacks."""
    if elem_type in (onnx.TensorProto.UNDEFINED, onnx.TensorProto.STRING):
        return 0
    try:
        return onnx.helper.tensor_dtype_to_np_dtype(elem_type).itemsize
    except (KeyError, TypeError, ValueError):
        return 0


def shape_of(value_type: onnx.TypeProto) -> tuple[str | None, list[DimValue] | None]:
    """(dtype name, dims) of a tensor type; None for what the type leaves unknown."""
    if not value_type.HasField("tensor_type"):
        return None, None
    tensor_type = value_type.tensor_type
    dtype = dtype_name(tensor_type.elem_type) if tensor_type.elem_type else None
    if not tensor_type.HasField("shape"):
        return dtype, None
    return dtype, [dim_label(d) for d in tensor_type.shape.dim]


def value_infos(graph: onnx.GraphProto, recursive: bool = True) -> dict[str, onnx.ValueInfoProto]:
    """Name -> declared value info (inputs, outputs and value_info), the first declaration winning."""
    infos: dict[str, onnx.ValueInfoProto] = {}
    graphs: Iterable[onnx.GraphProto] = iter_graphs(graph) if recursive else (graph,)
    for sub in graphs:
        for value in (*sub.input, *sub.value_info, *sub.output):
            infos.setdefault(value.name, value)
    return infos


def graph_inputs(graph: onnx.GraphProto) -> list[onnx.ValueInfoProto]:
    """The graph inputs that are not initializers, in order."""
    initializers = {t.name for t in graph.initializer}
    return [value for value in graph.input if value.name not in initializers]


def default_opset(model: onnx.ModelProto) -> int:
    """The model's opset for the default ONNX domain (0 when it imports none)."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    return 0


def with_outputs(model: onnx.ModelProto, tensors: Sequence[str]) -> onnx.ModelProto:
    """A copy of the model computing only `tensors` (intermediates exposed for --locate): nodes they need."""
    needed = set(tensors)
    kept = []
    for node in reversed(model.graph.node):
        if needed.intersection(node.output):
            kept.append(node)
            needed.update(_reads(node))
    graph = onnx.helper.make_graph(
        list(reversed(kept)), model.graph.name,
        [value for value in model.graph.input if value.name in needed],
        [onnx.helper.make_empty_tensor_value_info(name) for name in tensors],
        [tensor for tensor in model.graph.initializer if tensor.name in needed],
    )
    copy = onnx.helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)
    copy.functions.extend(model.functions)
    return copy


def _reads(node: onnx.NodeProto) -> set[str]:
    """Every tensor a node reads, including outer-scope names its subgraphs use."""
    names = {name for name in node.input if name}
    for attribute in node.attribute:
        for graph in subgraphs_of(attribute):
            names.update(name for inner in iter_nodes(graph) for name in inner.input if name)
    return names
