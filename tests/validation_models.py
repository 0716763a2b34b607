"""Models for the validation tests: fixtures as ONNX, and deliberately corrupted copies of them."""

from __future__ import annotations

from collections.abc import Callable

import onnx
from onnx import TensorProto, helper, numpy_helper


def copy(model: onnx.ModelProto) -> onnx.ModelProto:
    result = onnx.ModelProto()
    result.CopyFrom(model)
    return result


def scale_weight(model: onnx.ModelProto, op_type: str) -> tuple[onnx.ModelProto, str]:
    """Scale the first weight of the last `op_type` node by 1.5; returns the model and that node's name."""
    result = copy(model)
    node = [n for n in result.graph.node if n.op_type == op_type][-1]
    weights = {t.name: t for t in result.graph.initializer}
    name = next(i for i in node.input if i in weights)
    weights[name].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weights[name]) * 1.5, name))
    return result, node.name


def swap_op(model: onnx.ModelProto, op_type: str, new_type: str) -> tuple[onnx.ModelProto, str]:
    """Replace the first `op_type` node's type (e.g. Relu -> Sigmoid)."""
    result = copy(model)
    node = next(n for n in result.graph.node if n.op_type == op_type)
    node.op_type = new_type
    return result, node.name


def set_attribute(model: onnx.ModelProto, op_type: str, name: str, value) -> tuple[onnx.ModelProto, str]:
    """Set one attribute of the first `op_type` node."""
    result = copy(model)
    node = next(n for n in result.graph.node if n.op_type == op_type)
    kept = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend([*kept, helper.make_attribute(name, value)])
    return result, node.name


def two_outputs(offset: float = 0.0) -> onnx.ModelProto:
    """x -> (relu(x) + offset, -x): a model whose first output can be nudged."""
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Add", ["r", "offset"], ["first"], name="add"),
        helper.make_node("Neg", ["x"], ["second"], name="neg"),
    ]
    graph = helper.make_graph(
        nodes, "two", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("first", TensorProto.FLOAT, ["batch", 4]),
         helper.make_tensor_value_info("second", TensorProto.FLOAT, ["batch", 4])],
        [numpy_helper.from_array(__import__("numpy").float32([offset]), "offset")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)


CORRUPTIONS: dict[str, Callable[[onnx.ModelProto], tuple[onnx.ModelProto, str]]] = {
    "cnn-weight": lambda m: scale_weight(m, "Conv"),
    "cnn-op": lambda m: swap_op(m, "Relu", "Sigmoid"),
    "cnn-attribute": lambda m: set_attribute(m, "MaxPool", "kernel_shape", [3, 3]),
    "encoder-weight": lambda m: scale_weight(m, "MatMul"),
    "encoder-op": lambda m: swap_op(m, "Erf", "Tanh"),
    "encoder-attribute": lambda m: set_attribute(m, "Softmax", "axis", 1),
}
