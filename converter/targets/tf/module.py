"""ONNX ModelProto -> a tf.Module: initializers as tf.Variables, `__call__` as a traced tf.function."""

from __future__ import annotations

from typing import Any

import onnx
import tensorflow as tf

from converter.core.errors import UnsupportedOpError
from converter.core.external_data import tensor_array
from converter.targets.tf.conv_weights import Kernel, KernelLayout, kernel_layouts
from converter.targets.tf.dtypes import is_float_array, tf_dtype
from converter.targets.tf.fusion import FUSED_DOMAIN, fold_pads, fuse_gelu
from converter.targets.tf.graph import GraphRunner, check_supported
from converter.targets.tf.names import sanitize_all
from converter.targets.tf.registry import load_handlers

__all__ = ["OnnxModule", "build_module", "WEIGHT_MIN_SIZE"]

# Smaller float initializers (scales, shape-like arguments) stay constants so handlers can read them
# at trace time; larger ones are weights and live in tf.Variables.
WEIGHT_MIN_SIZE = 64


class OnnxModule(tf.Module):
    """A converted ONNX model; calling it returns a dict keyed by ONNX output name, in graph order."""

    def __init__(self, model: onnx.ModelProto, propagate_layout: bool = True):
        super().__init__(name="onnx_model")
        graph = fold_pads(fuse_gelu(model.graph))
        self.input_names = tuple(i.name for i in graph.input if i.name not in _initializer_names(graph))
        self.output_names = tuple(o.name for o in graph.output)
        self.tf_input_names = sanitize_all(list(self.input_names))
        # Refuses unsupported ops before any weight is copied.
        self._runner = _runner(graph, model.opset_import, propagate_layout)
        kernels = kernel_layouts(graph)
        self.kernel_names = frozenset(kernels)
        self.depthwise_names = frozenset(n for n, layout in kernels.items() if layout.depthwise_groups)
        self.onnx_weights = _weights(graph, kernels)
        self._graph = graph
        specs = [_spec(i, self.tf_input_names[i.name]) for i in graph.input if i.name in self.tf_input_names]
        self.call = tf.function(self._forward, input_signature=specs, autograph=False)

    def _forward(self, *inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        scope: dict[str, Any] = {n: v.read_value() for n, v in self.onnx_weights.items()}
        scope.update({n: Kernel(scope[n], n in self.depthwise_names) for n in self.kernel_names if n in scope})
        values = dict(zip(self.input_names, inputs, strict=True))
        ordered = [values.get(i.name) for i in self._graph.input]
        graph = _without_weights(self._graph, set(self.onnx_weights))
        outputs = self._runner.run(graph, scope, ordered)
        return {name: tf.identity(v) for name, v in zip(self.output_names, outputs, strict=True)}

    def __call__(self, *inputs: Any) -> dict[str, tf.Tensor]:
        return self.call(*inputs)


def build_module(model: onnx.ModelProto, propagate_layout: bool = True) -> OnnxModule:
    """Convert `model` and trace it once, so unsupported ops and attributes fail here."""
    module = OnnxModule(model, propagate_layout)
    module.call.get_concrete_function()
    return module


def _runner(graph: onnx.GraphProto, opset_import, propagate_layout: bool) -> GraphRunner:
    registry = load_handlers()
    opsets = {("" if o.domain == "ai.onnx" else o.domain): o.version for o in opset_import}
    opsets.setdefault(FUSED_DOMAIN, 1)
    check_supported(graph, opsets, registry)
    return GraphRunner(registry, opsets, propagate_layout)


def _initializer_names(graph: onnx.GraphProto) -> set[str]:
    return {init.name for init in graph.initializer}


def _weights(graph: onnx.GraphProto, kernels: dict[str, KernelLayout]) -> dict[str, tf.Variable]:
    """Large float initializers as variables; convolution kernels already in TensorFlow's layout."""
    weights = {}
    for index, init in enumerate(graph.initializer):
        array = tensor_array(init)
        if init.name in kernels:
            weights[init.name] = tf.Variable(kernels[init.name].apply(array), trainable=False, name=f"k{index}")
        elif is_float_array(array) and array.size >= WEIGHT_MIN_SIZE:
            weights[init.name] = tf.Variable(array, trainable=False, name=f"w{index}")
    return weights


def _without_weights(graph: onnx.GraphProto, weights: set[str]) -> onnx.GraphProto:
    if not weights:
        return graph
    stripped = onnx.GraphProto()
    stripped.CopyFrom(graph)
    del stripped.initializer[:]
    stripped.initializer.extend(i for i in graph.initializer if i.name not in weights)
    return stripped


def _spec(value: onnx.ValueInfoProto, name: str) -> tf.TensorSpec:
    tensor = value.type.tensor_type
    if not value.type.HasField("tensor_type"):
        raise UnsupportedOpError(value.name, "graph input", 0, "only tensor inputs are supported")
    dtype = tf_dtype(tensor.elem_type)
    if dtype is None:
        raise UnsupportedOpError(value.name, "graph input", 0, f"element type {tensor.elem_type}")
    shape = None
    if tensor.HasField("shape"):
        shape = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    return tf.TensorSpec(shape, dtype, name=name)
