"""Convert an ONNX graph (or subgraph) node by node into TensorFlow ops while tracing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import onnx

from converter.core.errors import UnsupportedOpError
from converter.core.external_data import tensor_array
from converter.core.onnx_utils import subgraphs_of
from converter.targets.attributes import read_attributes
from converter.targets.registry import OpRegistry
from converter.targets.tf.layout import Layouts
from converter.targets.tf.node import Node

__all__ = ["GraphRunner", "check_supported"]


def check_supported(graph: onnx.GraphProto, opsets: Mapping[str, int], registry: OpRegistry) -> None:
    """Raise UnsupportedOpError for the first node (in subgraphs too) without a handler."""
    for proto in graph.node:
        registry.lookup(proto, _opset(proto, opsets))
        for attr in proto.attribute:
            for sub in subgraphs_of(attr):
                check_supported(sub, opsets, registry)


def _opset(proto: onnx.NodeProto, opsets: Mapping[str, int]) -> int:
    domain = "" if proto.domain in ("", "ai.onnx") else proto.domain
    if domain not in opsets:
        raise UnsupportedOpError(proto.name, proto.op_type, 0, f"domain '{proto.domain}' is not imported")
    return opsets[domain]


class GraphRunner:
    """Runs the handlers of one model; `run` converts a graph given the values in scope."""

    def __init__(self, registry: OpRegistry, opsets: Mapping[str, int], propagate_layout: bool = True):
        self.registry = registry
        self.opsets = dict(opsets)
        self.propagate_layout = propagate_layout

    def run(self, graph: onnx.GraphProto, scope: Mapping[str, Any], inputs: Sequence[Any]) -> list[Any]:
        """Outputs of `graph` (in ONNX layout) for its inputs, seeing the enclosing `scope`."""
        env = Layouts(scope)
        for init in graph.initializer:
            env.set_onnx(init.name, tensor_array(init))
        for spec, value in zip(graph.input, inputs, strict=False):
            if value is not None or spec.name not in env:
                env.set_onnx(spec.name, value)
        for proto in graph.node:
            self._run_node(proto, env)
        return [env.onnx(output.name) for output in graph.output]

    def _run_node(self, proto: onnx.NodeProto, env: Layouts) -> None:
        opset = _opset(proto, self.opsets)
        entry = self.registry.entry(proto, opset)

        def run_graph(sub: onnx.GraphProto, values: Sequence[Any]) -> list[Any]:
            return self.run(sub, env.onnx_scope(), values)

        node = Node(proto, opset, read_attributes(proto), run_graph)
        env.apply(node, entry.handler, entry.layout, self.propagate_layout)
