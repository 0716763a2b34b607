"""Quantized and half-precision graph views folded back into the float graph they stand for.

A quantizer wraps a float model in scaffolding: Q/DQ pairs around activations and a DequantizeLinear on each weight
(QDQ format), QLinear* ops that take scales and zero points (QOperator format), DynamicQuantizeLinear with
ConvInteger/MatMulInteger and a rescaling Cast and Mul (dynamic quantization), Casts around float16 blocks. `fold`
removes that scaffolding from a copy of a graph view, so that diff matches layer to layer: each op that ran in low
precision keeps its node id and says so in ``precision`` ('int8', 'uint8', 'float16', ...), every weight becomes a
float32 tensor of its dequantized values (``stored``: the dtype and bytes it is kept in) and ``Folded.into`` says
which layer each removed node belonged to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import onnx
from onnx import numpy_helper

from converter.core.onnx_utils import dtype_name
from converter.graphs.graph import tensor_array, tensor_hash

__all__ = ["Folded", "fold", "LAYER_OPS", "SCAFFOLDING_OPS", "LOW_FLOATS", "scheme_of", "dequantize", "stored_bytes"]

LAYER_OPS = frozenset({"Conv", "ConvTranspose", "MatMul", "Gemm"})  # what "layers" counts
LOW_FLOATS = frozenset({"float16", "bfloat16"})
_FLOATS = LOW_FLOATS | {"float32", "float64"}
_QDQ = frozenset({"QuantizeLinear", "DequantizeLinear"})
_INTEGER = {"ConvInteger": ("Conv", 0), "MatMulInteger": ("MatMul", -1)}  # float op, the weight scale's axis
# QOperator ops: the float op, (data, scale, zero point) slots of each quantized input, the weight scale's axis,
# the output's scale and zero point slots and the int32 bias slot (its scale: input scale x weight scale).
_QLINEAR = {
    "QLinearConv": ("Conv", ((0, 1, 2), (3, 4, 5)), 0, (6, 7), 8),
    "QLinearMatMul": ("MatMul", ((0, 1, 2), (3, 4, 5)), -1, (6, 7), None),
    "QLinearAdd": ("Add", ((0, 1, 2), (3, 4, 5)), None, (6, 7), None),
    "QLinearMul": ("Mul", ((0, 1, 2), (3, 4, 5)), None, (6, 7), None),
    "QLinearGlobalAveragePool": ("GlobalAveragePool", ((0, 1, 2),), None, (3, 4), None),
    "QLinearAveragePool": ("AveragePool", ((0, 1, 2),), None, (3, 4), None),
    "QLinearSigmoid": ("Sigmoid", ((0, 1, 2),), None, (3, 4), None),
    "QLinearLeakyRelu": ("LeakyRelu", ((0, 1, 2),), None, (3, 4), None),
}
SCAFFOLDING_OPS = _QDQ | {"DynamicQuantizeLinear", "Cast"} | set(_INTEGER) | set(_QLINEAR)


@dataclass(frozen=True)
class Folded:
    """A graph view without its precision scaffolding, how it was quantized, and where each removed node went."""

    graph: nx.MultiDiGraph
    scheme: str  # 'float32', 'qdq', 'qoperator', 'dynamic', 'float16' or 'bfloat16' ('+'-joined when mixed)
    static: bool  # activations quantized with fixed scales (calibrated)
    into: dict[str, str] = field(default_factory=dict)  # removed node id -> the node it belonged to ('' if none)

    def precision(self, node: str) -> str:
        """The dtype an op computes in: 'float32' unless it was folded from a low-precision op."""
        return self.graph.nodes[node].get("precision", "float32")


def scheme_of(g: nx.MultiDiGraph) -> tuple[str, bool]:
    """How a graph view is stored: 'float32' or its low-precision schemes, and whether activations are static."""
    ops = {data["op_type"] for _, data in g.nodes(data=True) if data["kind"] == "op"}
    schemes = []
    if ops & set(_QLINEAR):
        schemes.append("qoperator")
    if ops & _QDQ and not ops & set(_QLINEAR):
        schemes.append("qdq")
    if ops & ({"DynamicQuantizeLinear"} | set(_INTEGER)):
        schemes.append("dynamic")
    lows = {data["dtype"] for _, data in g.nodes(data=True) if data["kind"] == "initializer"} & LOW_FLOATS
    schemes.extend(sorted(lows))
    static = bool(ops & _QDQ or ops & set(_QLINEAR)) and "dynamic" not in schemes
    return "+".join(schemes) or "float32", static


def fold(g: nx.MultiDiGraph) -> Folded:
    """A copy of the view with its scaffolding folded into the layers (the view itself when it is float32)."""
    scheme, static = scheme_of(g)
    if scheme == "float32":
        return Folded(g, scheme, static)
    folder = _Folder(g.copy())
    folder.run()
    return Folded(folder.g, scheme, static, _resolved(folder.into, folder.g))


def _resolved(into: dict[str, str], g: nx.MultiDiGraph) -> dict[str, str]:
    """Each removed node's layer: a Q folded into the DQ after it belongs where that DQ went."""
    resolved = {}
    for node, target in into.items():
        seen = {node}
        while target and target not in g and target not in seen:
            seen.add(target)
            target = into.get(target, "")
        resolved[node] = target if target in g else ""
    return resolved


def dequantize(values: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, axis: int | None,
               block: int = 0) -> np.ndarray:
    """(values - zero) * scale as float32; a 1-D scale applies along `axis` (per channel), or per block of it."""
    values = values.astype(np.float64)
    scale = scale.astype(np.float64)
    zero = np.zeros(1) if zero is None else zero.astype(np.float64)
    if scale.size > 1 and values.ndim > 1 and axis is not None:
        axis = axis % values.ndim
        if block:
            scale = np.repeat(scale, block, axis=axis).take(range(values.shape[axis]), axis=axis)
            zero = np.repeat(zero, block, axis=axis).take(range(values.shape[axis]), axis=axis) if zero.size > 1 \
                else zero
        else:
            shape = [1] * values.ndim
            shape[axis] = -1
            scale = scale.reshape(shape)
            zero = zero.reshape(shape) if zero.size > 1 else zero
    return ((values - zero) * scale).astype(np.float32)


def stored_bytes(data: dict) -> int:
    """The bytes an initializer's values take (bfloat16 and other types numpy lacks: by their bits)."""
    dtype = data["dtype"]
    try:
        itemsize = np.dtype(dtype).itemsize
    except TypeError:
        itemsize = 2 if dtype in LOW_FLOATS else 1
    return int(data["size"] or 0) * itemsize


class _Folder:
    """Rewrites one copied view in place; ``into`` records where each removed node went."""

    def __init__(self, g: nx.MultiDiGraph):
        self.g = g
        self.into: dict[str, str] = {}
        self.used = {node for node, data in g.nodes(data=True) if data["kind"] == "initializer" and g.out_degree(node)}

    def run(self) -> None:
        g = self.g
        self._mark_low_floats()
        for node in [n for n, data in g.nodes(data=True) if data["kind"] == "initializer"]:
            if g.nodes[node]["dtype"] in LOW_FLOATS:
                self._restore(node, tensor_array(g.nodes[node]["tensor"], g.nodes[node].get("weights_dir")))
        for node in self._ops():
            op_type = g.nodes[node]["op_type"] if node in g else None
            if op_type in _QLINEAR:
                self._qlinear(node)
            elif op_type in _INTEGER:
                self._integer(node)
        for node in self._ops():
            if g.nodes[node]["op_type"] == "DequantizeLinear" and self._initializer(node, 0):
                self._weight(node)
        for node in self._ops():
            if node in g and self._transparent(node):
                self._bypass(node)
        for node in [n for n in self.used if n in g and not g.out_degree(n)]:
            self._remove(node, "")

    def _ops(self) -> list[str]:
        return [node for node, data in self.g.nodes(data=True) if data["kind"] == "op"]

    def _input(self, node: str, slot: int) -> tuple[str, dict] | None:
        """The producer feeding an input slot, and the edge."""
        for u, _, data in self.g.in_edges(node, data=True):
            if data["slot"] == slot:
                return u, data
        return None

    def _initializer(self, node: str, slot: int) -> str | None:
        found = self._input(node, slot)
        return found[0] if found and self.g.nodes[found[0]]["kind"] == "initializer" else None

    def _values(self, node: str | None) -> np.ndarray | None:
        if node is None:
            return None
        data = self.g.nodes[node]
        return tensor_array(data["tensor"], data.get("weights_dir"))

    def _consumers(self, node: str, out_slot: int = 0) -> list[tuple[str, object, dict]]:
        return [(v, key, data) for _, v, key, data in self.g.out_edges(node, keys=True, data=True)
                if data["out_slot"] == out_slot]

    def _quantized_dtype(self, node: str, slot: int, zero_slot: int) -> str:
        """A quantized input's integer type: its zero point's (uint8 when absent, as ONNX says), else the edge's."""
        zero = self._initializer(node, zero_slot)
        if zero is not None:
            return self.g.nodes[zero]["dtype"]
        found = self._input(node, slot)
        return (found[1]["dtype"] if found else None) or "uint8"

    def _mark(self, node: str, precision: str, weight: bool = False) -> None:
        """An op computes in `precision`; a weight's dtype wins over its activations'."""
        data = self.g.nodes[node]
        if data["kind"] == "op" and (weight or "precision" not in data):
            data["precision"] = precision

    def _mark_low_floats(self) -> None:
        g = self.g
        for node in self._ops():
            if g.nodes[node]["op_type"] == "Cast":
                continue
            for u, _, edge in g.in_edges(node, data=True):
                dtype = g.nodes[u]["dtype"] if g.nodes[u]["kind"] == "initializer" else edge["dtype"]
                if dtype in LOW_FLOATS:
                    self._mark(node, dtype)

    def _restore(self, node: str, values: np.ndarray, stored: dict | None = None, name: str | None = None) -> None:
        """Make an initializer the float32 tensor of `values`, remembering how it is stored."""
        data = self.g.nodes[node]
        if "stored" in data:
            return
        stored = stored or {"dtype": data["dtype"], "bytes": stored_bytes(data)}
        tensor = numpy_helper.from_array(np.asarray(values, dtype=np.float32), name or data["name"])
        data.update(tensor=tensor, dtype="float32", hash=tensor_hash(tensor), role="weight", stored=stored,
                    name=name or data["name"], shape=list(tensor.dims))
        data.pop("weights_dir", None)

    def _dequantized(self, node: str, scale: str | None, zero: str | None, axis: int | None, block: int = 0,
                     extra: Iterable[str] = ()) -> None:
        """Make a quantized initializer its float values, named without ORT's '_quantized' suffix."""
        data = self.g.nodes[node]
        if "stored" in data or scale is None:
            return
        parts = [node, scale, *(n for n in (zero, *extra) if n)]
        stored = {"dtype": data["dtype"], "bytes": sum(stored_bytes(self.g.nodes[n]) for n in parts),
                  "name": data["name"]}
        scales = self._values(scale)
        for other in extra:
            scales = scales * self._values(other)
        values = dequantize(self._values(node), scales, self._values(zero), axis, block)
        self._restore(node, values, stored, data["name"].removesuffix("_quantized"))

    def _weight(self, node: str) -> None:
        """A DequantizeLinear of an initializer: that initializer becomes the weight, read by the layers."""
        weight = self._initializer(node, 0)
        dtype = self.g.nodes[weight]["dtype"]
        attrs = self.g.nodes[node]["attributes"]
        self._dequantized(weight, self._initializer(node, 1), self._initializer(node, 2), attrs.get("axis", 1),
                          attrs.get("block_size", 0))
        for consumer, _, _ in self._consumers(node):
            self._mark(consumer, dtype, weight=True)
        self._bypass(node)

    def _qlinear(self, node: str) -> None:
        """A QLinear* op becomes its float op, reading the dequantized weights and the activations directly."""
        float_op, inputs, axis, _, bias_slot = _QLINEAR[self.g.nodes[node]["op_type"]]
        moves = {}
        for new_slot, (slot, scale, zero) in enumerate(inputs):
            weight = self._initializer(node, slot)
            if weight is not None:
                self._mark(node, self.g.nodes[weight]["dtype"], weight=True)
                self._dequantized(weight, self._initializer(node, scale), self._initializer(node, zero), axis)
            elif self._input(node, slot) is not None:
                self._mark(node, self._quantized_dtype(node, slot, zero))
            moves[slot] = new_slot
        bias = self._initializer(node, bias_slot) if bias_slot is not None else None
        if bias is not None:
            x_scale, w_scale = self._initializer(node, inputs[0][1]), self._initializer(node, inputs[1][1])
            if x_scale and w_scale:
                self._dequantized(bias, w_scale, None, 0, extra=(x_scale,))
            moves[bias_slot] = len(inputs)
        self._reslot(node, moves)
        self._become(node, float_op)

    def _integer(self, node: str) -> None:
        """ConvInteger/MatMulInteger with its rescaling Cast and Muls (dynamic quantization) become Conv/MatMul."""
        g = self.g
        float_op, axis = _INTEGER[g.nodes[node]["op_type"]]
        weight = self._initializer(node, 1)
        chain = self._rescaling(node)
        if weight is None or chain is None:
            return
        cast, mul, scales, w_scale = chain
        self._mark(node, g.nodes[weight]["dtype"], weight=True)
        self._dequantized(weight, w_scale, self._initializer(node, 3), axis)
        for v, key, data in self._consumers(mul):
            self._rewire(v, key, data, node, 0)
        for removed in (cast, mul, scales):
            self._remove(removed, node)
        self._reslot(node, {0: 0, 1: 1})
        self._become(node, float_op)
        if float_op == "Conv":
            self._fold_bias(node)

    def _rescaling(self, node: str) -> tuple[str, str, str, str] | None:
        """The Cast, the Mul by the scales, the Mul making them and the weight scale after an integer op."""
        g = self.g
        after = self._consumers(node)
        if len(after) != 1 or g.nodes[after[0][0]].get("op_type") != "Cast":
            return None
        cast = after[0][0]
        after = self._consumers(cast)
        if len(after) != 1 or g.nodes[after[0][0]].get("op_type") != "Mul":
            return None
        mul = after[0][0]
        other = self._input(mul, 1 - after[0][2]["slot"])
        if other is None or g.nodes[other[0]].get("op_type") != "Mul":
            return None
        scales = other[0]
        w_scale = next((u for u, _, _ in g.in_edges(scales, data=True) if g.nodes[u]["kind"] == "initializer"), None)
        return (cast, mul, scales, w_scale) if w_scale else None

    def _fold_bias(self, node: str) -> None:
        """Conv's bias, which dynamic quantization moves to an Add of the reshaped bias, back into the Conv."""
        g = self.g
        after = self._consumers(node)
        if len(after) != 1 or g.nodes[after[0][0]].get("op_type") != "Add":
            return
        add = after[0][0]
        other = self._input(add, 1 - after[0][2]["slot"])
        if other is None or g.nodes[other[0]].get("op_type") != "Reshape":
            return
        reshape = other[0]
        bias = self._initializer(reshape, 0)
        if bias is None or len(g.nodes[bias]["shape"]) != 1 or g.out_degree(bias) != 1:
            return
        self._rewire(node, 2, {**next(iter(g.get_edge_data(bias, reshape).values())), "slot": 2}, bias, 0)
        for v, key, data in self._consumers(add):
            self._rewire(v, key, data, node, 0)
        self._remove(add, node)
        self._remove(reshape, node)

    def _transparent(self, node: str) -> bool:
        """A Q/DQ of an activation, a DynamicQuantizeLinear or a Cast between float types: it passes values on."""
        data = self.g.nodes[node]
        op_type = data["op_type"]
        if op_type in _QDQ or op_type == "DynamicQuantizeLinear":
            if op_type == "DequantizeLinear":
                for consumer, _, _ in self._consumers(node):
                    self._mark(consumer, self._quantized_dtype(node, 0, 2))
            return not any(edge["out_slot"] for _, _, edge in self.g.out_edges(node, data=True))
        if op_type != "Cast":
            return False
        to = data["attributes"].get("to")
        source = self._input(node, 0)
        return (isinstance(to, int) and dtype_name(to) in _FLOATS and source is not None
                and source[1]["dtype"] in (_FLOATS | {None}))

    def _bypass(self, node: str) -> None:
        """Remove an op, its consumers reading what fed its first input instead."""
        source = self._input(node, 0)
        consumers = self._consumers(node)
        into = next((v for v, _, _ in consumers if self.g.nodes[v]["kind"] == "op"), "")
        if source is not None:
            for v, key, data in consumers:
                self._rewire(v, key, data, source[0], source[1]["out_slot"], source[1]["tensor"])
        self._remove(node, into)

    def _rewire(self, consumer: str, key: object, data: dict, producer: str, out_slot: int,
                tensor: str | None = None) -> None:
        """Feed a consumer's input (edge `key`, `data`) from another producer's output."""
        g = self.g
        for u, _, k in list(g.in_edges(consumer, keys=True)):
            if k == key:
                g.remove_edge(u, consumer, k)
        g.add_edge(producer, consumer, key=key, **{**data, "out_slot": out_slot,
                                                   "tensor": tensor or data["tensor"]})

    def _reslot(self, node: str, moves: dict[int, int]) -> None:
        """Keep the inputs at the slots in `moves` (renumbered), drop the others (scales and zero points)."""
        g = self.g
        for u, _, key, data in list(g.in_edges(node, keys=True, data=True)):
            g.remove_edge(u, node, key)
            if data["slot"] in moves:
                slot = moves[data["slot"]]
                g.add_edge(u, node, key=slot, **{**data, "slot": slot})

    def _become(self, node: str, op_type: str) -> None:
        """Make an op its float counterpart, keeping the attributes that one has."""
        data = self.g.nodes[node]
        try:
            known = set(onnx.defs.get_schema(op_type).attributes)
        except onnx.defs.SchemaError:
            known = set(data["attributes"])
        data.update(op_type=op_type, domain="", attributes={k: v for k, v in data["attributes"].items() if k in known})

    def _remove(self, node: str, into: str) -> None:
        if node in self.g:
            self.into[node] = into
            self.g.remove_node(node)

