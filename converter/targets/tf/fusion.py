"""Graph rewrites before conversion: the exact-GELU subgraph becomes one node that lowers to tf.nn.gelu, and a
zero Pad of the spatial axes that only Convs read becomes their own padding (one op, no copy of the data)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import onnx
from onnx import numpy_helper

from converter.core.external_data import tensor_array
from converter.core.onnx_utils import subgraphs_of

__all__ = ["FUSED_DOMAIN", "fuse_gelu", "fold_pads"]

# A private domain, so the fused node needs no particular ai.onnx opset (ONNX's Gelu is opset 20).
FUSED_DOMAIN = "graphtool.tf"


def fuse_gelu(graph: onnx.GraphProto) -> onnx.GraphProto:
    """A copy of `graph` where each x * 0.5 * (1 + erf(x / sqrt(2))) is one FUSED_DOMAIN Gelu node.

    TFLite has no builtin Erf but a builtin GELU, which tf.nn.gelu converts to.
    """
    constants = _scalar_constants(graph)
    consumers = _consumers(graph)
    producers = {out: node for node in graph.node for out in node.output}
    outputs = {o.name for o in graph.output}
    fused: dict[int, onnx.NodeProto] = {}
    removed: set[int] = set()
    for erf in graph.node:
        if erf.op_type != "Erf" or erf.domain not in ("", "ai.onnx"):
            continue
        match = _match(erf, constants, consumers, producers, outputs)
        if match is not None and not removed.intersection(map(id, match[1])):
            x, chain, last = match
            removed.update(map(id, chain))
            fused[id(last)] = onnx.helper.make_node("Gelu", [x], list(last.output), last.name, domain=FUSED_DOMAIN)
    if not fused:
        return graph
    result = onnx.GraphProto()
    result.CopyFrom(graph)
    del result.node[:]
    result.node.extend(fused.get(id(n), n) for n in graph.node if id(n) not in removed or id(n) in fused)
    return result


def fold_pads(graph: onnx.GraphProto) -> onnx.GraphProto:
    """A copy of `graph` where each constant-zero Pad of spatial axes read only by Convs (as data) is in their pads."""
    consumers = _consumers(graph)
    outputs = {o.name for o in graph.output}
    arrays = _small_arrays(graph)
    folded: dict[int, onnx.NodeProto] = {}
    removed: set[int] = set()
    for pad in graph.node:
        spatial = _spatial_zero_pads(pad, arrays)
        readers = consumers.get(pad.output[0], []) if len(pad.output) == 1 else []
        if spatial is None or pad.output[0] in outputs or not readers:
            continue
        if not all(_takes_pads(conv, pad.output[0], len(spatial) // 2) for conv in readers):
            continue
        removed.add(id(pad))
        for conv in readers:
            folded[id(conv)] = _padded_conv(conv, pad.input[0], spatial)
    if not removed:
        return graph
    result = onnx.GraphProto()
    result.CopyFrom(graph)
    del result.node[:]
    result.node.extend(folded.get(id(n), n) for n in graph.node if id(n) not in removed)
    return result


def _spatial_zero_pads(pad: onnx.NodeProto, arrays: Mapping[str, np.ndarray]) -> list[int] | None:
    """The spatial (begins..., ends...) of a constant-mode, zero-valued Pad of batch and channels by 0, else None."""
    if pad.op_type != "Pad" or pad.domain not in ("", "ai.onnx"):
        return None
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in pad.attribute}
    if attrs.get("mode", b"constant") not in (b"constant", "constant"):
        return None
    if "pads" in attrs:  # before opset 11
        raw, value = list(attrs["pads"]), np.asarray(attrs.get("value", 0.0))
    else:
        if len(pad.input) < 2 or pad.input[1] not in arrays or (len(pad.input) > 3 and pad.input[3]):
            return None
        raw = arrays[pad.input[1]].reshape(-1).tolist()
        value = arrays.get(pad.input[2]) if len(pad.input) > 2 and pad.input[2] else np.zeros(())
    rank = len(raw) // 2
    if value is None or value.size != 1 or value.reshape(-1)[0] != 0 or rank < 3 or min(raw) < 0:
        return None
    if raw[0] or raw[1] or raw[rank] or raw[rank + 1]:
        return None
    return raw[2:rank] + raw[rank + 2 :]


def _takes_pads(node: onnx.NodeProto, name: str, n: int) -> bool:
    """Whether `node` is a Conv that reads `name` only as its data and pads explicitly (n spatial axes)."""
    if node.op_type != "Conv" or node.domain not in ("", "ai.onnx") or list(node.input).count(name) != 1:
        return False
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    pads = attrs.get("pads", [0] * 2 * n)
    return node.input[0] == name and attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET") and len(pads) == 2 * n


def _padded_conv(conv: onnx.NodeProto, data: str, spatial: list[int]) -> onnx.NodeProto:
    node = onnx.NodeProto()
    node.CopyFrom(conv)
    node.input[0] = data
    pads = next((list(a.ints) for a in conv.attribute if a.name == "pads"), [0] * len(spatial))
    kept = [a for a in node.attribute if a.name != "pads"]
    del node.attribute[:]
    summed = [a + b for a, b in zip(pads, spatial, strict=True)]
    node.attribute.extend([*kept, onnx.helper.make_attribute("pads", summed)])
    return node


def _small_arrays(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """Values of up to 16 elements, from initializers and Constant nodes (pads, pad values)."""
    arrays: dict[str, np.ndarray] = {i.name: tensor_array(i) for i in graph.initializer if np.prod(i.dims) <= 16}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            arrays[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return arrays


def _match(erf, constants, consumers, producers, outputs):
    """(x, the nodes to replace, the last of them) when `erf` is the heart of an exact GELU, else None."""
    scaled = producers.get(erf.input[0])
    x = _scaled_input(scaled, constants)
    plus_one = _only_consumer(erf, consumers, outputs)
    if x is None or _only_consumer(scaled, consumers, outputs) is not erf:
        return None
    if not _is_binary(plus_one, "Add", erf.output[0], 1.0, constants):
        return None
    first = _only_consumer(plus_one, consumers, outputs)
    if first is None or first.op_type != "Mul":
        return None
    other = _rest(first, plus_one.output[0])
    if other == x or _close(constants.get(other), 0.5):
        # (1 + erf) * x, then * 0.5; or (1 + erf) * 0.5, then * x.
        last = _only_consumer(first, consumers, outputs)
        done = (
            _is_binary(last, "Mul", first.output[0], 0.5, constants)
            if other == x
            else (last is not None and last.op_type == "Mul" and _rest(last, first.output[0]) == x)
        )
        return (x, [scaled, erf, plus_one, first, last], last) if done else None
    half = producers.get(other)
    if _is_binary(half, "Mul", x, 0.5, constants) and _only_consumer(half, consumers, outputs) is first:
        return x, [half, scaled, erf, plus_one, first], first
    return None


def _scaled_input(node, constants) -> str | None:
    """x when `node` is x / sqrt(2) or x * (1 / sqrt(2))."""
    if node is None or node.domain not in ("", "ai.onnx"):
        return None
    if node.op_type == "Div" and _close(constants.get(node.input[1]), math.sqrt(2)):
        return node.input[0]
    if node.op_type == "Mul":
        for mine, theirs in ((0, 1), (1, 0)):
            if _close(constants.get(node.input[theirs]), 1 / math.sqrt(2)):
                return node.input[mine]
    return None


def _is_binary(node, op_type: str, value: str, constant: float, constants) -> bool:
    """Whether `node` is op_type(value, constant) in either order."""
    if node is None or node.op_type != op_type or node.domain not in ("", "ai.onnx") or value not in node.input:
        return False
    return _close(constants.get(_rest(node, value)), constant)


def _rest(node, value: str) -> str:
    """The input of a binary node that is not `value` (or `value` for x op x)."""
    return node.input[1] if node.input[0] == value else node.input[0]


def _only_consumer(node, consumers, outputs):
    """The single node reading `node`'s single output, which no graph output may expose."""
    if node is None or len(node.output) != 1 or node.output[0] in outputs:
        return None
    readers = consumers.get(node.output[0], [])
    return readers[0] if len(readers) == 1 else None


def _close(value: float | None, want: float) -> bool:
    return value is not None and abs(value - want) <= 1e-6 * abs(want)


def _scalar_constants(graph: onnx.GraphProto) -> dict[str, float]:
    """Float values with one element, from initializers and Constant nodes."""
    arrays: dict[str, np.ndarray] = {i.name: tensor_array(i) for i in graph.initializer if _small(i.dims)}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            arrays[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return {name: float(a.reshape(-1)[0]) for name, a in arrays.items() if a.size == 1 and a.dtype.kind == "f"}


def _small(dims) -> bool:
    return int(np.prod(dims)) == 1


def _consumers(graph: onnx.GraphProto) -> Mapping[str, list[onnx.NodeProto]]:
    """Readers of each value, counting subgraphs' reads of outer values as the node holding them."""
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in set(node.input) | _subgraph_reads(node):
            readers.setdefault(name, []).append(node)
    return readers


def _subgraph_reads(node: onnx.NodeProto) -> set[str]:
    names: set[str] = set()
    for attr in node.attribute:
        for sub in subgraphs_of(attr):
            for inner in sub.node:
                names.update(inner.input)
                names.update(_subgraph_reads(inner))
    return names
