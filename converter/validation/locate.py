"""Find the first node whose output diverges, exposing a bounded window of intermediates at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnx

from converter.scopes import node_scope, node_source
from converter.validation.metrics import measure
from converter.validation.runners import ort_runner, reference_runner, with_outputs
from converter.validation.tolerance import Tolerances

__all__ = ["Probe", "TensorPair", "InputError", "Located", "locate", "identity_pairs", "matched_pairs"]

DEFAULT_BUDGET_BYTES = 64 * 2**20
_FIRST_WINDOW = 4  # doubles while windows stay well under budget


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
    from converter.graph import to_graph
    from converter.match import match_graphs

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


def locate(
    expected: Probe,
    actual: Probe,
    pairs: Sequence[TensorPair],
    feeds: tuple[dict[str, np.ndarray], dict[str, np.ndarray]],
    tolerances: Tolerances,
    weights: dict[str, str] | None = None,
    budget_bytes: int = DEFAULT_BUDGET_BYTES,
) -> Located | None:
    """Compare paired intermediates window by window; the window shrinks or grows to stay within budget."""
    errors: dict[str, float] = {}
    start, window, windows = 0, _FIRST_WINDOW, 0
    while start < len(pairs):
        chunk = pairs[start:start + window]
        wanted = expected.values([p.expected for p in chunk], feeds[0])
        got = actual.values([p.actual for p in chunk], feeds[1])
        windows += 1
        size = sum(a.nbytes for a in wanted) + sum(a.nbytes for a in got)
        for pair, want, have in zip(chunk, wanted, got, strict=True):
            result = measure(pair.actual, have, want, tolerances.for_output(pair.actual, np.asarray(want).dtype.name))
            errors[pair.actual] = result.max_abs
            if not result.passed:
                compared = len(errors)
                return _located(actual.model, expected.model, pair, result, errors, weights or {}, compared, windows,
                                f"{expected.name} vs {actual.name}")
        del wanted, got
        start += len(chunk)
        window = max(1, min(window * 2, 4096)) if size * 4 < budget_bytes else max(1, window // 2)
    return None


def _located(actual_model, expected_model, pair, result, errors, weights, compared, windows, method) -> Located:
    node = next(n for n in actual_model.graph.node if n.name == pair.node)
    initializers = {t.name: t for t in actual_model.graph.initializer}
    expected_init = {t.name: t for t in expected_model.graph.initializer}
    inputs = []
    for name in node.input:
        if not name:
            continue
        if name in initializers:
            inputs.append(InputError(name, "weight", _weight_error(initializers[name], expected_init.get(weights.get(
                name, name)))))
        elif name in errors:
            inputs.append(InputError(name, "activation", errors[name]))
        else:
            inputs.append(InputError(name, "model input", 0.0))
    counterpart = next((n.name for n in expected_model.graph.node if pair.expected in n.output), None)
    return Located(
        node=node.name, op_type=node.op_type, scope=node_scope(node), source=node_source(node), tensor=pair.actual,
        max_abs=result.max_abs, max_rel=result.max_rel, problem="; ".join(result.problems) or None,
        inputs=tuple(inputs), counterpart=counterpart if counterpart != node.name else None,
        compared=compared, windows=windows, method=method,
    )


def _weight_error(actual: onnx.TensorProto, expected: onnx.TensorProto | None) -> float | None:
    if expected is None:
        return None
    from onnx import numpy_helper

    a, e = numpy_helper.to_array(actual), numpy_helper.to_array(expected)
    if a.shape != e.shape:
        return float("inf")
    return float(np.abs(a.astype(np.float64) - e.astype(np.float64)).max()) if a.size else 0.0
