"""Small seeded ONNX models for the low-precision build tests, and the LoadedModel around them."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from converter.core.types import LoadedModel, SourceInfo

OPSET = 18


def _model(nodes, inputs, outputs, weights) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "model", inputs, outputs,
                              [numpy_helper.from_array(np.asarray(value), name) for name, value in weights.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=10)


def _input(name: str, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def cnn(classes: int = 10) -> onnx.ModelProto:
    """conv-relu-conv-relu-pool-gemm on 3x16x16 images."""
    rng = np.random.default_rng(0)
    weights = {
        "w1": rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32), "b1": rng.normal(0, 0.1, 8).astype(np.float32),
        "w2": rng.normal(0, 0.2, (16, 8, 3, 3)).astype(np.float32), "b2": rng.normal(0, 0.1, 16).astype(np.float32),
        "wf": rng.normal(0, 0.3, (classes, 16)).astype(np.float32),
        "bf": rng.normal(0, 0.1, classes).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["pooled"], name="pool"),
        helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "wf", "bf"], ["logits"], name="fc", transB=1),
    ]
    return _model(nodes, [_input("x", ["batch", 3, 16, 16])], [_input("logits", ["batch", classes])], weights)


def overflowing_norm() -> onnx.ModelProto:
    """x*300 -> Pow 2 -> ReduceMean -> Sqrt -> Div: a norm whose squares pass float16's 65504."""
    weights = {"scale": np.float32(300.0), "two": np.float32(2.0), "axes": np.int64([-1])}
    nodes = [
        helper.make_node("Mul", ["x", "scale"], ["scaled"], name="scale"),
        helper.make_node("Pow", ["scaled", "two"], ["squares"], name="square"),
        helper.make_node("ReduceMean", ["squares", "axes"], ["mean"], name="mean"),
        helper.make_node("Sqrt", ["mean"], ["rms"], name="root"),
        helper.make_node("Div", ["scaled", "rms"], ["y"], name="normalize"),
    ]
    return _model(nodes, [_input("x", ["batch", 32])], [_input("y", ["batch", 32])], weights)


def transformer_block(hidden: int = 128, inner: int = 512) -> onnx.ModelProto:
    """x @ W1 + b1 -> Gelu (Erf form) -> @ W2 + b2 -> + x -> LayerNormalization, on [batch, seq, hidden]."""
    rng = np.random.default_rng(0)
    weights = {
        "w1": rng.normal(0, hidden ** -0.5, (hidden, inner)).astype(np.float32),
        "b1": rng.normal(0, 0.02, inner).astype(np.float32),
        "w2": rng.normal(0, inner ** -0.5, (inner, hidden)).astype(np.float32),
        "b2": rng.normal(0, 0.02, hidden).astype(np.float32),
        "gamma": np.ones(hidden, np.float32), "beta": np.zeros(hidden, np.float32),
        "root2": np.float32(2 ** 0.5), "one": np.float32(1.0), "half": np.float32(0.5),
    }
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h1"], name="up"),
        helper.make_node("Add", ["h1", "b1"], ["h2"], name="up_bias"),
        helper.make_node("Div", ["h2", "root2"], ["g1"], name="gelu_div"),
        helper.make_node("Erf", ["g1"], ["g2"], name="gelu_erf"),
        helper.make_node("Add", ["g2", "one"], ["g3"], name="gelu_add"),
        helper.make_node("Mul", ["h2", "g3"], ["g4"], name="gelu_mul"),
        helper.make_node("Mul", ["g4", "half"], ["g5"], name="gelu_half"),
        helper.make_node("MatMul", ["g5", "w2"], ["d1"], name="down"),
        helper.make_node("Add", ["d1", "b2"], ["d2"], name="down_bias"),
        helper.make_node("Add", ["d2", "x"], ["res"], name="residual"),
        helper.make_node("LayerNormalization", ["res", "gamma", "beta"], ["y"], name="norm", axis=-1),
    ]
    return _model(nodes, [_input("x", ["batch", "seq", hidden])], [_input("y", ["batch", "seq", hidden])], weights)


def loaded(model: onnx.ModelProto, example: dict[str, np.ndarray]) -> LoadedModel:
    return LoadedModel(model, SourceInfo("model.onnx", "onnx", "onnx"), example)
