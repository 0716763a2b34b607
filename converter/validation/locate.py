"""Find the first node whose output diverges, exposing a bounded window of intermediates at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnx

from converter.core.onnx_utils import with_outputs
from converter.core.runners import ort_runner, reference_runner
from converter.core.scopes import node_scope, node_source
from converter.validation.metrics import measure
from converter.validation.tolerance import Tolerances

__all__ = ["Probe", "TensorPair", "InputError", "Located", "locate", "identity_pairs", "matched_pairs",
           "integer_operators"]

DEFAULT_BUDGET_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Probe:
    """Computes chosen intermediate tensors of a model: onnxruntime on a device, or the reference evaluator."""

    model: onnx.ModelProto
    device: str | None  # None: onnx's reference evaluator

    def values(self, tensors: Sequence[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        exposed = with_outputs(self.model, tensors)
        runner = reference_runner(exposed) if self.device is None else ort_runner(exposed, self.device)
        return runner.run(feeds)

    @property
    def name(self) -> str:
        return "onnx ReferenceEvaluator" if self.device is None else f"onnxruntime {self.device}"


@dataclass(frozen=True)
class TensorPair:
    """The same value in the expected and the actual model, and the actual node that makes it."""

    expected: str
    actual: str
    node: str


@dataclass(frozen=True)
class InputError:
    """The error at one input of the located node."""

    tensor: str
    kind: str  # 'activation' | 'weight' | 'model input'
    max_abs: float | None

    def to_dict(self) -> dict:
        return {"tensor": self.tensor, "kind": self.kind, "max_abs": self.max_abs}


@dataclass(frozen=True)
class Located:
    """The first node (in topological order) whose output diverges beyond tolerance."""

    node: str
    op_type: str
    scope: str
    source: str | None
    tensor: str
    max_abs: float
    max_rel: float
    problem: str | None
    inputs: tuple[InputError, ...]
    counterpart: str | None
    compared: int
    windows: int
    method: str

    def to_dict(self) -> dict:
        return {
            "node": self.node, "op_type": self.op_type, "scope": self.scope, "source": self.source,
            "tensor": self.tensor, "max_abs": self.max_abs, "max_rel": self.max_rel, "problem": self.problem,
            "inputs": [i.to_dict() for i in self.inputs], "counterpart": self.counterpart,
            "tensors_compared": self.compared, "windows": self.windows, "method": self.method,
        }


def identity_pairs(model: onnx.ModelProto) -> list[TensorPair]:
    """Every node output of the top-level graph, paired with itself (two runs of one model)."""
    return [TensorPair(out, out, node.name) for node in model.graph.node for out in node.output if out]


def matched_pairs(expected: onnx.ModelProto, actual: onnx.ModelProto) -> tuple[list[TensorPair], dict[str, str]]:
    """Pairs from the structural matcher, and actual -> expected weight names."""
    from converter.graphs.graph import to_graph
    from converter.graphs.match import match_graphs

    ga, gb = to_graph(expected), to_graph(actual)
    inverse = {b: a for a, b in match_graphs(ga, gb).items()}
    expected_nodes = {node.name: node for node in expected.graph.node}
    pairs = []
    for node in actual.graph.node:
        partner = inverse.get(f"op:{node.name}")
        if partner is None or ga.nodes[partner].get("parent") is not None:
            continue
        other = expected_nodes.get(ga.nodes[partner]["name"])
        if other is None:
            continue
        pairs += [TensorPair(a, b, node.name) for a, b in zip(other.output, node.output, strict=False) if a and b]
    weights = {gb.nodes[b]["name"]: ga.nodes[a]["name"] for b, a in inverse.items()
               if b.startswith("initializer:") and a.startswith("initializer:")}
    return pairs, weights


def integer_operators(model: onnx.ModelProto) -> list[str]:
    """The op types of a QOperator model that compute on int8 values (QLinearConv, ...): their outputs are
    quantized, so no float value pairs with them."""
    return sorted({node.op_type for node in model.graph.node if node.op_type.startswith("QLinear")})


def locate(
    expected: Probe,
    actual: Probe,
    pairs: Sequence[TensorPair],
    feeds: tuple[dict[str, np.ndarray], dict[str, np.ndarray]],
    tolerances: Tolerances,
    weights: dict[str, str] | None = None,
    budget_bytes: int = DEFAULT_BUDGET_BYTES,
) -> Located | None:
    """The node whose output diverges while its inputs agree, found by bisection over topological order.

    Each probe runs both models pruned to the exposed tensors, so peak memory stays near one inference
    plus one window; a located node whose own inputs diverge (an earlier divergence that later ops hid
    from the bisection) sends the search below that input.
    """
    search = _Search(expected, actual, pairs, feeds, tolerances)
    last = len(pairs) - 1
    if last < 0 or search.passed([last])[last]:
        return None  # the paired intermediates agree: the difference is only in unpaired outputs
    hi = last
    window = search.window(budget_bytes, last)
    while True:
        lo = 0
        while hi - lo + 1 > window:
            mid = (lo + hi) // 2
            if search.passed([mid])[mid]:
                lo = mid + 1
            else:
                hi = mid
        results = search.passed(list(range(lo, hi + 1)))
        found = next(i for i in range(lo, hi + 1) if not results[i])
        earlier = search.diverging_input(found)
        if earlier is None:
            return _located(actual.model, expected.model, pairs[found], search.metrics[found], search.errors,
                            weights or {}, len(search.metrics), search.runs, f"{expected.name} vs {actual.name}")
        hi = earlier


class _Search:
    """Probes of paired tensors, remembering every figure measured."""

    def __init__(self, expected: Probe, actual: Probe, pairs, feeds, tolerances: Tolerances):
        self.expected, self.actual, self.pairs, self.feeds, self.tolerances = expected, actual, pairs, feeds, tolerances
        self.index = {pair.actual: i for i, pair in enumerate(pairs)}
        self.producers = {node.name: node for node in actual.model.graph.node}
        self.metrics: dict[int, object] = {}
        self.errors: dict[str, float] = {}
        self.runs = 0
        self.last_bytes = 0

    def passed(self, indices: list[int]) -> dict[int, bool]:
        todo = [i for i in indices if i not in self.metrics]
        if todo:
            chunk = [self.pairs[i] for i in todo]
            wanted = self.expected.values([p.expected for p in chunk], self.feeds[0])
            got = self.actual.values([p.actual for p in chunk], self.feeds[1])
            self.runs += 1
            self.last_bytes = sum(a.nbytes for a in wanted) + sum(a.nbytes for a in got)
            for i, pair, want, have in zip(todo, chunk, wanted, got, strict=True):
                tolerance = self.tolerances.for_output(pair.actual, np.asarray(want).dtype.name)
                self.metrics[i] = measure(pair.actual, have, want, tolerance)
                self.errors[pair.actual] = self.metrics[i].max_abs
        return {i: self.metrics[i].passed for i in indices}

    def window(self, budget_bytes: int, probed: int) -> int:
        """How many tensors one run may expose: the budget over the size of the last probe's pair."""
        return max(1, min(256, budget_bytes // max(1, self.last_bytes)))

    def diverging_input(self, found: int) -> int | None:
        """The index of an input of the found node that itself diverges, if any."""
        node = self.producers[self.pairs[found].node]
        inputs = [self.index[name] for name in node.input if name in self.index and self.index[name] < found]
        if not inputs:
            return None
        results = self.passed(inputs)
        return next((i for i in sorted(inputs) if not results[i]), None)


def _located(actual_model, expected_model, pair, result, errors, weights, compared, windows, method) -> Located:
    node = next(n for n in actual_model.graph.node if n.name == pair.node)
    counterpart = next((n for n in expected_model.graph.node if pair.expected in n.output), None)
    inputs = [_input_error(name, index, actual_model, expected_model, counterpart, errors, weights)
              for index, name in enumerate(node.input) if name]
    return Located(
        node=node.name, op_type=node.op_type, scope=node_scope(node), source=node_source(node), tensor=pair.actual,
        max_abs=result.max_abs, max_rel=result.max_rel, problem="; ".join(result.problems) or None,
        inputs=tuple(inputs), counterpart=counterpart.name if counterpart and counterpart.name != node.name else None,
        compared=compared, windows=windows, method=method,
    )


def _input_error(name, index, actual_model, expected_model, counterpart, errors, weights) -> InputError:
    """The error at input `index` (`name`) of the located node: a weight against the expected one (a dequantized
    weight against the counterpart's float weight at the same input), an activation as probed."""
    initializers = {t.name: t for t in actual_model.graph.initializer}
    expected_init = {t.name: t for t in expected_model.graph.initializer}
    if name in initializers:
        return InputError(name, "weight", _weight_error(initializers[name], expected_init.get(weights.get(name, name))))
    if name in errors:
        return InputError(name, "activation", errors[name])
    if name in {value.name for value in actual_model.graph.input}:
        return InputError(name, "model input", 0.0)
    dequantized = _dequantized_weight(name, actual_model, initializers)
    if dequantized is None:
        return InputError(name, "activation", None)
    partner = counterpart.input[index] if counterpart is not None and index < len(counterpart.input) else None
    expected = expected_init.get(partner) if partner else None
    return InputError(name, "weight", None if expected is None else _array_error(dequantized, _array(expected)))


def _dequantized_weight(name, model, initializers) -> np.ndarray | None:
    """The float values of `name` where a DequantizeLinear makes it from stored int8 weights (QDQ)."""
    from converter.graphs.quantized import dequantize

    node = next((n for n in model.graph.node if name in n.output), None)
    if node is None or node.op_type != "DequantizeLinear" or not set(node.input) <= set(initializers):
        return None
    values, scale, *zero = (_array(initializers[i]) for i in node.input)
    axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
    return dequantize(values, scale, zero[0] if zero else None, axis)


def _array(tensor: onnx.TensorProto) -> np.ndarray:
    from onnx import numpy_helper

    return numpy_helper.to_array(tensor)


def _weight_error(actual: onnx.TensorProto, expected: onnx.TensorProto | None) -> float | None:
    if expected is None:
        return None
    return _array_error(_array(actual), _array(expected))


def _array_error(a: np.ndarray, e: np.ndarray) -> float:
    if a.shape != e.shape:
        return float("inf")
    return float(np.abs(a.astype(np.float64) - e.astype(np.float64)).max()) if a.size else 0.0
