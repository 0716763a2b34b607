"""What changed in precision between two models (a diff's precision section) and a model's precision mix (inspect).

Both read views folded by converter.graphs.quantized: a layer is quantized when its folded op computes in another
dtype, a weight's error is its dequantized (or cast back) values against the other side's.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np
import onnx

from converter.core.onnx_utils import dtype_name, iter_graphs, iter_nodes
from converter.graphs.graph import tensor_array, to_graph
from converter.graphs.quantized import LAYER_OPS, LOW_FLOATS, SCAFFOLDING_OPS, Folded, fold, stored_bytes

__all__ = ["LayerPrecision", "WeightPrecision", "PrecisionDiff", "PrecisionMix", "compare_precision",
           "precision_mix", "describe", "fused_ids"]

_SCHEME_WORDS = {"qdq": "QDQ", "qoperator": "QOperator", "dynamic": "dynamic"}
# Activations a quantizer drops because the quantized output range already clips them.
_FUSABLE = frozenset({"Relu", "Clip"})


@dataclass(frozen=True)
class LayerPrecision:
    """An op that computes in another precision on side B than on side A, with the nodes that do it."""

    a: str | None
    b: str | None
    op_type: str
    precision_a: str
    precision_b: str
    folded: tuple[str, ...] = ()  # the Q/DQ, rescaling and Cast nodes folded into it (names, both sides)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class WeightPrecision:
    """A weight stored in another dtype, and how far its (dequantized) values are from the other side's."""

    a: str
    b: str
    dtype_a: str
    dtype_b: str
    bytes_a: int
    bytes_b: int
    max_abs_error: float
    range_error: float  # max_abs_error over the range (max - min) of the more precise side's values

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PrecisionDiff:
    """A diff's precision section: layers quantized or cast, weights changed in dtype, layers kept as they were."""

    precision_a: str
    precision_b: str
    layers: tuple[LayerPrecision, ...]
    kept: tuple[str, ...]  # compute layers (LAYER_OPS) matched in the same precision, by name in B
    fused: tuple[str, ...]  # activations one side drops into its quantized ranges (by name)
    weights: tuple[WeightPrecision, ...]
    bytes_a: int
    bytes_b: int
    compute_layers: int  # matched compute layers (LAYER_OPS)
    kept_in: str = "float32"  # the precision most kept layers compute in
    folded_a: frozenset[str] = field(default=frozenset(), compare=False)  # node ids of the scaffolding
    folded_b: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def worst_weight(self) -> WeightPrecision | None:
        """The weight whose values moved the most for their range."""
        return max(self.weights, key=lambda w: w.range_error, default=None)

    @property
    def summary(self) -> dict:
        """Counts for the one-line summary and the JSON document."""
        transitions = Counter((layer.precision_a, layer.precision_b) for layer in self.layers
                              if layer.op_type in LAYER_OPS and layer.a and layer.b)
        return {
            "compute_layers": self.compute_layers,
            "changed": {f"{old}->{new}": count for (old, new), count in transitions.most_common()},
            "kept": len(self.kept),
            "fused": len(self.fused),
            "ops_changed": len(self.layers),
            "weights_changed": len(self.weights),
            "size_ratio": round(self.bytes_a / self.bytes_b, 3) if self.bytes_b else None,
        }

    def line(self) -> str:
        """'4 of 4 Conv/MatMul layers float32 → int8, 0 kept in float32; weights 3.6x smaller; ...'."""
        transitions = Counter((layer.precision_a, layer.precision_b) for layer in self.layers
                              if layer.op_type in LAYER_OPS and layer.a and layer.b)
        parts = [f"{count} of {self.compute_layers} {self._layer_words()} {old} → {new}"
                 for (old, new), count in transitions.most_common()] or [f"0 of {self.compute_layers} layers changed"]
        parts[-1] += f", {len(self.kept)} kept in {self.kept_in}"
        if self.fused:
            parts.append(f"{len(self.fused)} activation(s) fused into quantization")
        if self.bytes_a and self.bytes_b:
            ratio = self.bytes_a / self.bytes_b
            parts.append(f"weights {ratio:.1f}x smaller" if ratio >= 1 else f"weights {1 / ratio:.1f}x larger")
        worst = self.worst_weight
        if worst is not None:
            parts.append(f"largest weight error: {worst.a} {worst.range_error * 100:.2g}% of its range")
        return "; ".join(parts)

    def _layer_words(self) -> str:
        ops = sorted({layer.op_type for layer in self.layers if layer.op_type in LAYER_OPS})
        return "/".join(ops) + " layers"

    def to_dict(self) -> dict:
        return {
            "precision_a": self.precision_a,
            "precision_b": self.precision_b,
            "summary": self.summary,
            "line": self.line(),
            "layers": [layer.to_dict() for layer in self.layers],
            "kept": list(self.kept),
            "kept_in": self.kept_in,
            "fused": list(self.fused),
            "weights": [weight.to_dict() for weight in self.weights],
            "bytes": {"a": self.bytes_a, "b": self.bytes_b},
        }


def describe(folded: Folded, g: nx.MultiDiGraph) -> str:
    """'float32', 'int8 (QDQ, static)', 'int8 (dynamic)', 'float16 (I/O float32)'."""
    if folded.scheme == "float32":
        return "float32"
    precisions = Counter(data.get("precision") for _, data in folded.graph.nodes(data=True)
                         if data["kind"] == "op" and data["op_type"] in LAYER_OPS)
    precisions.pop(None, None)
    dtype = precisions.most_common(1)[0][0] if precisions else folded.scheme.split("+")[-1]
    how = [_SCHEME_WORDS[s] for s in folded.scheme.split("+") if s in _SCHEME_WORDS]
    if how and "dynamic" not in how:
        how.append("static" if folded.static else "dynamic")
    io = {g.nodes[n]["dtype"] for n in (*g.graph["inputs"], *g.graph["outputs"])} - {None}
    if dtype in LOW_FLOATS and io and not io & LOW_FLOATS:
        how.append(f"I/O {'/'.join(sorted(io))}")
    return f"{dtype} ({', '.join(how)})" if how else dtype


def compare_precision(ga: nx.MultiDiGraph, gb: nx.MultiDiGraph, fa: Folded, fb: Folded,
                      matches: dict[str, str]) -> PrecisionDiff:
    """The precision section of a diff of the folded views `fa`, `fb` (of `ga`, `gb`), matched by `matches`."""
    va, vb = fa.graph, fb.graph
    layers, kept, weights, compute, kept_in = [], [], [], 0, Counter()
    for node_a, node_b in matches.items():
        da, db = va.nodes[node_a], vb.nodes[node_b]
        if da["kind"] == "initializer":
            weight = _weight(da, db)
            if weight is not None:
                weights.append(weight)
            continue
        if da["kind"] != "op":
            continue
        pa, pb = fa.precision(node_a), fb.precision(node_b)
        compute += db["op_type"] in LAYER_OPS
        if pa != pb:
            folded = (*_names(ga, fa.into, node_a), *_names(gb, fb.into, node_b))
            layers.append(LayerPrecision(da["name"], db["name"], db["op_type"], pa, pb, folded))
        elif db["op_type"] in LAYER_OPS:
            kept.append(db["name"])
            kept_in[pb] += 1
    order = {node: data["index"] for node, data in vb.nodes(data=True)}
    back = {b: a for a, b in matches.items()}
    layers.sort(key=lambda layer: order.get(matches.get(f"op:{layer.a}", ""), 0))
    fused = [*_fused(va, matches, fb), *_fused(vb, back, fa)]
    return PrecisionDiff(
        describe(fa, ga), describe(fb, gb), tuple(layers), tuple(kept), tuple(fused), tuple(weights),
        _bytes(ga), _bytes(gb), compute, kept_in.most_common(1)[0][0] if kept_in else "float32", frozenset(fa.into),
        frozenset(fb.into))


def fused_ids(view: nx.MultiDiGraph, matches: dict[str, str], other: Folded) -> list[str]:
    """Ids of the unmatched activations of `view` whose producer is matched to a low-precision op of `other`."""
    found = []
    for node, data in view.nodes(data=True):
        if data["kind"] != "op" or data["op_type"] not in _FUSABLE or node in matches:
            continue
        producers = [u for u, _, edge in view.in_edges(node, data=True) if edge["slot"] == 0]
        partner = matches.get(producers[0]) if producers else None
        if partner is not None and other.graph.nodes[partner]["kind"] == "op" and other.precision(partner) != \
                "float32" and other.precision(partner) not in LOW_FLOATS:
            found.append(node)
    return found


def _fused(view: nx.MultiDiGraph, matches: dict[str, str], other: Folded) -> list[str]:
    return [view.nodes[node]["name"] for node in fused_ids(view, matches, other)]


def _names(g: nx.MultiDiGraph, into: dict[str, str], node: str) -> list[str]:
    return [g.nodes[removed]["name"] for removed, target in into.items() if target == node
            and g.nodes[removed]["kind"] == "op"]


def _weight(da: dict, db: dict) -> WeightPrecision | None:
    stored_a, stored_b = da.get("stored", {}), db.get("stored", {})
    dtype_a, dtype_b = stored_a.get("dtype", da["dtype"]), stored_b.get("dtype", db["dtype"])
    if dtype_a == dtype_b or da["role"] != "weight" or db["role"] != "weight":
        return None
    values_a = tensor_array(da["tensor"], da.get("weights_dir")).astype(np.float64)
    values_b = tensor_array(db["tensor"], db.get("weights_dir")).astype(np.float64)
    if values_a.shape != values_b.shape:
        return None
    error = float(np.max(np.abs(values_a - values_b))) if values_a.size else 0.0
    reference = values_a if _bits(dtype_a) >= _bits(dtype_b) else values_b
    spread = float(np.ptp(reference)) if reference.size else 0.0
    range_error = error / spread if spread else (0.0 if error == 0 else float("inf"))
    return WeightPrecision(da["name"], stored_b.get("name", db["name"]), dtype_a, dtype_b,
                           stored_a.get("bytes", stored_bytes(da)), stored_b.get("bytes", stored_bytes(db)),
                           error, range_error)


def _bits(dtype: str) -> int:
    return 32 if dtype in ("float32", "float64") else 16 if dtype in LOW_FLOATS else 8


def _bytes(g: nx.MultiDiGraph) -> int:
    return sum(stored_bytes(data) for _, data in g.nodes(data=True) if data["kind"] == "initializer")


@dataclass(frozen=True)
class PrecisionMix:
    """What inspect says about a model's precision: weights by dtype, scaffolding ops, and one line."""

    weights: dict[str, dict[str, int]]  # dtype -> {"count", "bytes"} over every initializer
    ops: dict[str, int]  # Q/DQ, QLinear*, *Integer, Cast: how many of each
    precision: str  # 'int8 (QDQ, static)', 'float16 (I/O float32)', 'float32'
    layers: int  # compute layers (LAYER_OPS), as folded
    low_layers: int  # of which computing in less than float32

    def line(self) -> str:
        """'int8 (QDQ, static), 48/53 layers quantized' or 'float32'."""
        if self.precision == "float32" or not self.layers:
            return self.precision
        word = "quantized" if self.precision.startswith(("int", "uint")) else "in " + self.precision.split(" ")[0]
        return f"{self.precision}, {self.low_layers}/{self.layers} layers {word}"

    def to_dict(self) -> dict:
        return {"precision": self.precision, "line": self.line(), "weights": self.weights, "ops": self.ops,
                "layers": {"total": self.layers, "low_precision": self.low_layers}}


def precision_mix(model: onnx.ModelProto, weights_dir: Path | None = None) -> PrecisionMix:
    """A model's precision mix; its graph view is built (and folded) only when it holds low-precision parts."""
    weights: dict[str, dict[str, int]] = {}
    for graph in iter_graphs(model.graph):
        for tensor in graph.initializer:
            entry = weights.setdefault(dtype_name(tensor.data_type), {"count": 0, "bytes": 0})
            entry["count"] += 1
            entry["bytes"] += stored_bytes({"dtype": dtype_name(tensor.data_type), "size": math.prod(tensor.dims)})
    weights = dict(sorted(weights.items(), key=lambda item: -item[1]["bytes"]))
    ops = Counter(node.op_type for node in iter_nodes(model.graph)
                  if node.op_type in SCAFFOLDING_OPS or node.op_type.startswith("QLinear"))
    if not ops.keys() - {"Cast"} and not weights.keys() & LOW_FLOATS:
        layers = sum(1 for node in iter_nodes(model.graph) if node.op_type in LAYER_OPS)
        return PrecisionMix(weights, dict(ops.most_common()), "float32", layers, 0)
    g = to_graph(model, infer_shapes=False, weights_dir=weights_dir)
    folded = fold(g)
    layers = [data for _, data in folded.graph.nodes(data=True) if data["kind"] == "op"
              and data["op_type"] in LAYER_OPS]
    low = sum(1 for data in layers if data.get("precision", "float32") != "float32")
    return PrecisionMix(weights, dict(ops.most_common()), describe(folded, g), len(layers), low)
